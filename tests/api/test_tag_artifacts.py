"""``POST /api/tags`` checks the artifact before a tag (immutable) is registered: an absolute
folder on the server holding the package the introspection describes; its content hash is
recorded and the tag's name is shown in every tag listing (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.factories import ApiWorld, api_introspection, tag_artifact

from hyperloop.analysis.tags import tree_digest


def _post(admin, artifact: str, version: str = "v7"):
    return admin.post(
        "/api/tags", json={"introspection": api_introspection(version), "artifact": artifact}
    )


def test_bad_artifacts_are_refused_and_nothing_is_registered(as_role, world: ApiWorld, tmp_path):
    admin = as_role("admin")
    before = admin.get("/api/tags").json()["total"]
    # the releasing guide's old example: a path relative to wherever the server runs
    relative = _post(admin, "var/tags/daily-2026-11-29")
    assert relative.status_code == 422
    assert (
        "relative path" in relative.json()["message"] and "absolute" in relative.json()["message"]
    )
    missing = _post(admin, str(tmp_path / "no-such-tag"))
    assert missing.status_code == 422 and "no such folder" in missing.json()["message"]
    (tmp_path / "empty").mkdir()
    empty = _post(admin, str(tmp_path / "empty"))
    assert empty.status_code == 422 and "no *.dist-info" in empty.json()["message"]
    other = _post(admin, tag_artifact("v6"))  # a folder of another version of the package
    assert other.status_code == 422
    assert "holds physics v6, but the introspection describes physics v7" in other.json()["message"]
    assert admin.get("/api/tags").json()["total"] == before
    # the same request with the right folder is registered
    assert _post(admin, tag_artifact("v7")).status_code == 201


def test_a_built_tag_registers_under_its_tag_name_with_its_content_hash(as_role, tmp_path):
    folder = Path(tag_artifact("v8"))
    (folder / "physics.py").write_text("WORKFLOWS = []\n")
    digest = tree_digest(folder)
    (folder / "tag.json").write_text(json.dumps({"tag": "daily-2026-12-06", "digest": digest}))
    admin = as_role("admin")
    created = _post(admin, str(folder), "v8")
    assert created.status_code == 201, created.text
    tag = created.json()
    assert tag["tag"] == tag["version"] == "daily-2026-12-06"  # the name, not the version
    assert tag["package_version"] == "v8" and tag["label"] == "physics daily-2026-12-06"
    assert tag["digest"] == digest
    listed = {t["id"]: t for t in admin.get("/api/tags").json()["items"]}
    assert listed[tag["id"]]["tag"] == "daily-2026-12-06"
    assert admin.get(f"/api/tags/{tag['id']}").json()["digest"] == digest

    # a folder edited after it was built is refused
    changed = Path(tag_artifact("v9"))
    (changed / "tag.json").write_text(json.dumps({"tag": "t9", "digest": "0" * 64}))
    refused = _post(admin, str(changed), "v9")
    assert (
        refused.status_code == 422
        and "changed since the tag was built" in refused.json()["message"]
    )
