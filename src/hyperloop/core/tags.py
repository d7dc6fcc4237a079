"""Package tags: register a built tag with its workflow introspection; look workflows up."""

from __future__ import annotations

import importlib.metadata as md
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.disabling import notify_inconsistent
from hyperloop.core.enabling import retest_failed_after_new_tag
from hyperloop.core.errors import Conflict, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.tag_lookup import (  # noqa: F401 - part of this module's API too
    first_tag_with_pr,
    get_tag,
    latest_tag,
)
from hyperloop.core.tag_workflows import (  # noqa: F401 - part of this module's API too
    WorkflowInfo,
    find_workflow,
    workflow_dependencies,
    workflow_info,
    workflow_names,
)
from hyperloop.db.base import utcnow
from hyperloop.db.models import PackageTag

#: the ``artifact`` of a tag whose code is the package installed where jobs run (the demo
#: without a source checkout, development set-ups): declared at registration, never implied
INSTALLED = "installed"


def code_folder(artifact: str | None) -> str | None:
    """Where a tag's code is: its artifact folder, or None for the installed package (an
    artifact that is empty or ``installed``). A folder that is missing where the job runs
    makes the job fail naming it — never a silent fall-back to the installed package."""
    if not artifact or artifact == INSTALLED:
        return None
    return artifact


def _check_introspection(doc: Any) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("workflows"), list):
        raise ValidationError("tag introspection must be a JSON object with a 'workflows' list")
    pkg = doc.get("package")
    if not isinstance(pkg, dict) or not pkg.get("name") or not pkg.get("version"):
        raise ValidationError("tag introspection needs package.name and package.version")
    seen: set[str] = set()
    for i, wf in enumerate(doc["workflows"]):
        if not isinstance(wf, dict) or not wf.get("name") or not isinstance(wf.get("tasks"), list):
            raise ValidationError(f"workflow #{i} of the introspection needs a name and tasks")
        if wf["name"] in seen:
            raise ValidationError(f"workflow {wf['name']!r} appears twice in the introspection")
        seen.add(wf["name"])
        for task in wf["tasks"]:
            for conf in task.get("configurables", []):
                if "name" not in conf or "kind" not in conf or "default" not in conf:
                    raise ValidationError(
                        f"workflow {wf['name']!r}, task {task.get('name')!r}: a configurable "
                        "needs name, kind and default"
                    )


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class ArtifactCheck:
    """What registration learnt from a tag's folder."""

    digest: str
    tag: str | None  # the tag name its tag.json records (None: no tag.json)


def check_artifact(artifact: str, introspection: dict[str, Any]) -> ArtifactCheck:
    """A tag's artifact must be the absolute path of an existing folder holding exactly the
    package the introspection describes (its ``*.dist-info`` name and version), unchanged
    since it was built when it carries a ``tag.json``; returns its content hash."""
    from hyperloop.analysis.tags import TAG_FILE, tree_digest

    _check_introspection(introspection)
    path = Path(artifact)
    if not path.is_absolute():
        raise ValidationError(
            f"artifact {artifact!r} is a relative path; give the absolute path of the tag's "
            "folder on the server (e.g. /srv/hyperloop/tags/daily-2026-11-29)"
        )
    if not path.is_dir():
        raise ValidationError(f"artifact {artifact}: no such folder on the server")
    infos = sorted(p.name for p in path.glob("*.dist-info") if p.is_dir())
    if not infos:
        raise ValidationError(
            f"artifact {artifact} holds no installed package (no *.dist-info folder); "
            "build it with `hyperloop package build`"
        )
    if len(infos) > 1:
        raise ValidationError(f"artifact {artifact} holds several packages: {', '.join(infos)}")
    meta = md.PathDistribution(path / infos[0]).metadata
    have = (str(meta["Name"] or ""), str(meta["Version"] or ""))
    pkg = introspection["package"]
    want = (str(pkg["name"]), str(pkg["version"]))
    if _canonical(have[0]) != _canonical(want[0]) or have[1] != want[1]:
        raise ValidationError(
            f"artifact {artifact} holds {have[0]} {have[1]}, but the introspection describes "
            f"{want[0]} {want[1]}"
        )
    digest = tree_digest(path)
    tag_name = None
    tag_file = path / TAG_FILE
    if tag_file.is_file():
        try:
            info = json.loads(tag_file.read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError(f"artifact {artifact}: unreadable {TAG_FILE} ({exc})") from None
        if isinstance(info, dict):
            if info.get("digest") and info["digest"] != digest:
                raise ValidationError(
                    f"artifact {artifact}: its files changed since the tag was built "
                    f"(content hash differs from {TAG_FILE}); build a new tag"
                )
            tag_name = str(info["tag"]) if info.get("tag") else None
    return ArtifactCheck(digest=digest, tag=tag_name)


def register_tag(
    s: Session,
    actor: Actor | None,
    introspection: dict[str, Any],
    *,
    artifact: str,
    version: str | None = None,
    pull_requests: Iterable[str] = (),
    released_at: datetime | None = None,
    check: bool = False,
) -> PackageTag:
    """Store a released tag; ``version`` defaults to the tag name (``introspection['tag']``,
    else the artifact's ``tag.json``) or the package version. Tags are immutable:
    registering the same one twice is refused. ``check`` validates the artifact folder
    (:func:`check_artifact`) and records its content hash (``POST /api/tags`` does)."""
    if actor is not None:
        require(actor, Action.TAG_REGISTER)
    _check_introspection(introspection)
    checked = check_artifact(artifact, introspection) if check else None
    name = introspection["package"]["name"]
    version = (
        version
        or introspection.get("tag")
        or (checked.tag if checked else None)
        or introspection["package"]["version"]
    )
    prs = [str(p) for p in [*introspection.get("pull_requests", []), *pull_requests]]
    existing = s.scalars(
        select(PackageTag).where(PackageTag.name == name, PackageTag.version == version)
    ).first()
    if existing is not None:
        raise Conflict(f"package tag {name} {version} is already registered (tags are immutable)")
    tag = PackageTag(
        name=name,
        version=version,
        artifact=artifact,
        introspection={
            "package": introspection["package"],
            "workflows": introspection["workflows"],
        },
        pull_requests=sorted(set(prs)),
        released_at=released_at or utcnow(),
        digest=checked.digest if checked else None,
    )
    s.add(tag)
    s.flush()
    notify_inconsistent(s, tag)
    retest_failed_after_new_tag(s, tag)
    return tag
