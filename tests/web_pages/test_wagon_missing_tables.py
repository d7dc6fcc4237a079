"""Issue 18 item 15: the wagon's Settings tab names the tables its workflow reads that no
dependency provides and the workflows (and wagons) that produce them, before a test fails
(page and ``GET /api/wagons/{id}/view``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import Seeded, seeded_copy

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> tuple[object, Seeded]:
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    url, outputs, seeded = seeded_copy(template, tmp_path_factory.mktemp("tables"), realdata)
    settings = load_settings(database_url=url, outputs_root=outputs, work_dir=outputs)
    return create_app(settings), seeded


@pytest.fixture(scope="module")
def alice(world) -> Iterator[TestClient]:
    with TestClient(world[0]) as c:
        r = c.post("/api/auth/login", json={"username": ANALYZER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield c


def test_missing_tables_name_the_workflows_and_wagons_that_provide_them(alice, world) -> None:
    ids = world[1].ids
    view = alice.get(f"/api/wagons/{ids['spectra']}/view").json()
    missing = {m["table"]: m for m in view["missing_tables"]}
    # spectra-charged reads EvSels (its dependency evsel provides it), Mults, TrackSelection
    # and Tracks, which other workflows of the tag produce
    assert sorted(missing) == ["Mults", "TrackSelection", "Tracks"]
    assert missing["Mults"]["providers"] == ["multiplicity"]
    assert [w["name"] for w in missing["Mults"]["wagons"]] == ["mult"]
    assert missing["Tracks"]["providers"] == ["track-propagation"]
    assert missing["Tracks"]["wagons"] == []
    html = alice.get(f"/wagon/{ids['spectra']}").text
    assert 'id="missing-tables"' in html
    assert "Tables spectra-charged reads that no dependency provides" in html
    assert (
        f'<span class="mono">Mults</span>: produced by workflow <span class="mono">multiplicity</span> — wagons that can provide it: <a href="/wagon/{ids["mult"]}">mult</a>'
        in html
    )
    assert "no wagon of LF-spectra or of a service analysis runs it yet: create one" in html
    # adding the multiplicity wagon as a dependency takes Mults off the list
    r = alice.put(
        f"/api/wagons/{ids['spectra']}/dependencies",
        json={
            "dependencies": [ids["evsel"], ids["mult"]],
            "expected_version": view["wagon"]["version"],
        },
    )
    assert r.status_code == 200, r.text
    after = alice.get(f"/api/wagons/{ids['spectra']}/view").json()["missing_tables"]
    assert [m["table"] for m in after] == ["TrackSelection", "Tracks"]


def test_a_self_contained_workflow_has_no_warning(alice, world) -> None:
    ids = world[1].ids
    assert alice.get(f"/api/wagons/{ids['udrho']}/view").json()["missing_tables"] == []
    assert 'id="missing-tables"' not in alice.get(f"/wagon/{ids['udrho']}").text
