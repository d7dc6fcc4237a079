"""Wagon history and comparisons: any two states of the history ("Unselect all"), any wagon
the user can read, the differences in tabs, dependencies by name (each comparable between the
same two times)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from tests.web_pages.accounts import ADMIN, ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import READER, seeded_copy

from hyperloop.core import wagons
from hyperloop.core.actor import Actor
from hyperloop.db.models import User, Wagon
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path):
    """The seeded analyses, then: the service wagon evsel renamed evsel_renamed; spectra
    (version 1 depends on evsel) loses the dependency (version 2), then is renamed spectra2
    and depends on it again (version 3)."""
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    tmp = tmp_path_factory.mktemp("wagon-compare")
    url, outputs, seeded = seeded_copy(template, tmp, realdata)
    ids = dict(seeded.ids)
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        admin = Actor(s.scalars(select(User).where(User.username == ADMIN)).one())
        alice = Actor(s.scalars(select(User).where(User.username == ANALYZER)).one())
        evsel = s.get(Wagon, ids["evsel"])
        wagons.edit_wagon(s, admin, evsel.id, expected_version=evsel.version, name="evsel_renamed")
        spectra = s.get(Wagon, ids["spectra"])
        assert spectra.version == 1
        wagons.edit_wagon(s, alice, spectra.id, expected_version=1, dependencies=[])
        wagons.edit_wagon(
            s, alice, spectra.id, expected_version=2, name="spectra2", dependencies=[evsel.id]
        )
    engine.dispose()
    app = create_app(load_settings(database_url=url, outputs_root=outputs, work_dir=outputs))
    return app, ids


def _login(app, username: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


@pytest.fixture(scope="module")
def alice(world) -> Iterator[TestClient]:
    with _login(world[0], ANALYZER) as c:
        yield c


@pytest.fixture(scope="module")
def reader(world) -> Iterator[TestClient]:
    with _login(world[0], READER) as c:
        yield c


def _row(html: str, path: str) -> tuple[str, str] | None:
    m = re.search(
        rf'<th scope="row" class="mono">{re.escape(path)}</th><td class="diff-old">(.*?)</td>'
        r'<td class="diff-new">(.*?)</td>',
        html,
        re.S,
    )
    return (m[1].strip(), m[2].strip()) if m else None


def test_any_two_versions_compare_with_dependencies_by_name(world, alice) -> None:
    ids = world[1]
    api = f"/api/wagons/{ids['spectra']}/compare"
    data = alice.get(api, params={"version": 2, "version2": 3}).json()
    assert (data["left"], data["right"]) == (
        f"wagon {ids['spectra']} version 2",
        f"wagon {ids['spectra']} version 3",
    )
    settings = {c["path"]: (c["old"], c["new"]) for c in data["tabs"]["settings"]}
    assert settings == {"name": ("spectra", "spectra2"), "dependencies": ([], ["evsel_renamed"])}
    assert data["tabs"]["configuration"] == [] and data["tabs"]["derived"] == []
    assert data["left_state"]["dependencies"] == []
    assert [d["name"] for d in data["right_state"]["dependencies"]] == ["evsel_renamed"]
    # the two versions in either order: the older one on the left
    assert alice.get(api, params={"version": 3, "version2": 2}).json()["tabs"] == data["tabs"]
    same = alice.get(api, params={"version": 2, "version2": 2})
    assert same.status_code == 422 and "two different versions" in same.json()["message"]


def test_a_dependency_compares_between_the_same_two_times(world, alice) -> None:
    ids = world[1]
    data = alice.get(
        f"/api/wagons/{ids['spectra']}/compare", params={"version": 1, "version2": 3}
    ).json()
    (dep,) = data["left_state"]["dependencies"]
    assert dep["id"] == ids["evsel"] and dep["name"] == "evsel_renamed"
    link = urlsplit(dep["compare"])
    assert link.path == f"/wagon/{ids['evsel']}/compare"
    assert link.query.startswith("at=") and "until=" in link.query
    html = alice.get(dep["compare"]).text
    assert _row(html, "name") == ("evsel", "evsel_renamed")  # renamed between the two times
    page = alice.get(f"/wagon/{ids['spectra']}/compare", params={"version": 1, "version2": 3})
    assert f'href="{dep["compare"].replace("&", "&amp;")}"' in page.text


def test_history_ticks_two_states_and_unselects_all(world, alice) -> None:
    ids = world[1]
    html = alice.get(f"/wagon/{ids['spectra']}/history").text
    assert '<form id="history-compare" method="get" action="/wagon/' in html
    for version in (1, 2, 3):
        assert f'name="v" value="{version}" aria-label="Compare version {version}"' in html
    assert '<button type="reset">Unselect all</button>' in html
    compared = alice.get(f"/wagon/{ids['spectra']}/compare?v=3&v=1")
    assert compared.status_code == 200
    assert "version 1 → wagon" in compared.text and "version 3" in compared.text
    for key, text in (("settings", "Wagon settings"), ("configuration", "Configuration")):
        assert re.search(rf'data-tab="{key}"[^>]*>{text} \(\d+\)</button>', compared.text)
    huge = alice.get(f"/wagon/{ids['spectra']}/compare?v=2&v=999999999999")
    assert huge.status_code == 404 and "no wagon or version 999999999999" in huge.text
    one = alice.get(f"/wagon/{ids['spectra']}/compare?v=2")
    assert one.status_code == 422
    assert "choose two states of the history to compare (1 chosen)" in one.text


def test_compare_with_a_wagon_of_another_analysis(world, alice, reader) -> None:
    ids = world[1]
    # ursula is a member of no analysis: she may still read, and compare, every wagon
    data = reader.get(
        f"/api/wagons/{ids['corr']}/compare", params={"other_id": ids["charm"]}
    ).json()
    assert data["right_state"]["analysis"] == "HF-charm"
    assert data["left_state"]["analysis"] == "LF-spectra"
    paths = {tab: [c["path"] for c in rows] for tab, rows in data["tabs"].items()}
    assert "workflow" in paths["settings"] and "name" in paths["settings"]
    assert any(p.startswith("base_config.") for p in paths["configuration"])
    assert any(p.startswith("subwagons.") for p in paths["configuration"])
    # the choice lists every wagon, grouped by analysis, the user's own analyses first
    html = alice.get(f"/wagon/{ids['corr']}/compare").text
    groups = re.findall(r'<optgroup label="([^"]+)">', html)
    yours = [g for g in groups if g.endswith(" (yours)")]
    assert "LF-spectra (yours)" in yours and groups[: len(yours)] == yours
    assert len(yours) < len(groups)  # the service analysis (alice is no member) comes last
    assert f'<option value="{ids["charm"]}">charm · pid</option>' in html
    page = reader.get(f"/wagon/{ids['corr']}/compare", params={"other_id": ids["charm"]})
    assert page.status_code == 200 and 'id="compare-settings"' in page.text
    unknown = reader.get(f"/api/wagons/{ids['corr']}/compare", params={"other_id": 999999})
    assert unknown.status_code == 404 and "wagon 999999 does not exist" in unknown.text
