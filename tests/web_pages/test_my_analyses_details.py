"""Issue 18 item 10: what My Analyses and the analysis page add to the grid — who enabled a
cell with which tag and when (the hover text and the API), the analysis's notifications on
its page and the notification filter by analysis, and the dataset search of "Enable
dataset" by data type, collision system, anchor and period (page and JSON)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import OPERATOR, Seeded, seeded_copy

from hyperloop.core import datasets
from hyperloop.core.actor import Actor
from hyperloop.db.models import User
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process

#: extra active datasets: (name, data type, collision system, anchor, period)
EXTRA = [
    ("LHC24f3_mc_pp", "mc", "pp", "LHC22o", "LHC24f3"),
    ("LHC24g1_mc_PbPb", "mc", "PbPb", "LHC23zzh", "LHC24g1"),
    ("LHC22o_pp_data", "data", "pp", "", "LHC22o"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> tuple[object, Seeded]:
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    url, outputs, seeded = seeded_copy(template, tmp_path_factory.mktemp("details"), realdata)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        op = Actor(s.query(User).filter_by(username=OPERATOR).one())
        for name, kind, system, anchor, period in EXTRA:
            ds = datasets.create_dataset(
                s, op, name, data_type=kind, collision_system=system, anchor=anchor, period=period
            )
            datasets.set_active(s, op, ds.id, True)
    engine.dispose()
    settings = load_settings(database_url=url, outputs_root=outputs, work_dir=outputs)
    return create_app(settings), seeded


@pytest.fixture(scope="module")
def ids(world) -> dict[str, int]:
    return world[1].ids


def _login(app, username: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


@pytest.fixture(scope="module")
def alice(world) -> Iterator[TestClient]:
    with _login(world[0], ANALYZER) as c:
        yield c


def _cell(grid: list[dict], wagon_id: int, dataset_id: int) -> dict:
    for analysis in grid:
        for wagon in analysis["wagons"]:
            if wagon["id"] == wagon_id:
                return next(c for c in wagon["cells"] if c["dataset_id"] == dataset_id)
    raise AssertionError(f"wagon {wagon_id} not on My Analyses")


def test_an_enabled_cell_says_which_tag_when_and_who(alice, ids) -> None:
    grid = alice.get("/api/my-analyses").json()
    fixed = _cell(grid, ids["strange"], ids["dataset"])
    assert fixed["enabled"] is True
    assert fixed["tag"] == "hyperloop-physics 0.2.0"
    assert fixed["enabled_by"] == "alice"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", fixed["enabled_at"])
    latest = _cell(grid, ids["udrho"], ids["dataset"])
    assert latest["tag"].startswith("latest (hyperloop-physics ")  # the current test's tag
    off = _cell(grid, ids["corr"], ids["dataset"])
    assert off["enabled"] is False
    assert (off["tag"], off["enabled_at"], off["enabled_by"]) == (None, None, None)
    # the page: hovering ✅ shows the same (title), ❌ only offers to enable
    html = alice.get("/").text
    stamp = fixed["enabled_at"][:19].replace("T", " ")
    assert f'title="tag: hyperloop-physics 0.2.0 · enabled {stamp} UTC by alice' in html
    assert 'title="Enable corr on LHC22_ud_pass4"' in html
    # the live cell partial (polled while a test runs) says the same
    part = alice.get(f"/partials/analyses/cell/{ids['strange']}/{ids['dataset']}").text
    assert f"tag: hyperloop-physics 0.2.0 · enabled {stamp} UTC by alice" in part


def test_the_analysis_page_lists_my_notifications_about_it(alice, ids) -> None:
    failed = f"wagon test {ids['test_failed']} of wagon &#39;strange&#39; failed"
    lf = alice.get(f"/analysis/{ids['lf']}").text
    assert "My notifications about this analysis" in lf
    assert failed in lf
    assert "dataset changed" not in lf  # alice's notification about no object is elsewhere
    assert f'href="/notifications?analysis_id={ids["lf"]}"' in lf
    hf = alice.get(f"/analysis/{ids['hf']}").text
    assert failed not in hf
    assert "No notifications about this analysis" in hf
    view = alice.get(f"/api/analyses/{ids['lf']}/view").json()
    assert [n["message"] for n in view["notifications"]] == [
        f"wagon test {ids['test_failed']} of wagon 'strange' failed: "
        "execution_error: ZeroDivisionError"
    ]


def test_notifications_filter_by_analysis(alice, ids) -> None:
    every = alice.get("/api/notifications").json()["items"]
    assert len(every) >= 3
    lf = alice.get("/api/notifications", params={"analysis_id": ids["lf"]}).json()["items"]
    assert [n["object_type"] for n in lf] == ["wagon_test"]
    assert alice.get("/api/notifications", params={"analysis_id": ids["hf"]}).json()["items"] == []
    missing = alice.get("/api/notifications", params={"analysis_id": 999999})
    assert missing.status_code == 404
    assert "analysis 999999 does not exist" in missing.json()["message"]
    page = alice.get("/notifications", params={"analysis_id": ids["lf"]}).text
    assert f'<option value="{ids["lf"]}" selected>LF-spectra</option>' in page
    assert "of wagon &#39;strange&#39; failed" in page
    assert "dataset changed" not in page
    empty = alice.get("/notifications", params={"analysis_id": ids["hf"]}).text
    assert "No notification matches these filters" in empty
    bad = alice.get("/notifications", params={"analysis_id": "abc"})
    assert bad.status_code == 404 and "analysis &#39;abc&#39; does not exist" not in bad.text
    assert "does not exist" in bad.text


def test_enable_dataset_searches_by_type_system_anchor_and_period(alice, ids) -> None:
    url = f"/api/analyses/{ids['hf']}/view"
    every = alice.get(url).json()
    names = [d["name"] for d in every["addable_datasets"]]
    assert names == sorted(["LHC23_pp_pass4", *(e[0] for e in EXTRA)])
    choices = every["dataset_search"]["choices"]
    assert choices["data_type"] == ["data", "mc"]
    assert choices["collision_system"] == ["PbPb", "pp"]
    assert choices["anchor"] == ["LHC22o", "LHC23zzh"]
    assert choices["period"] == ["LHC22o", "LHC24f3", "LHC24g1"]

    def found(**search) -> list[str]:
        r = alice.get(url, params=search)
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json()["addable_datasets"]]

    assert found(data_type="mc") == ["LHC24f3_mc_pp", "LHC24g1_mc_PbPb"]
    assert found(data_type="mc", collision_system="pp") == ["LHC24f3_mc_pp"]
    assert found(anchor="LHC23zzh") == ["LHC24g1_mc_PbPb"]
    assert found(period="LHC22o") == ["LHC22o_pp_data"]
    assert found(data_type="data", collision_system="PbPb") == []
    bad = alice.get(url, params={"data_type": "simulation"})
    assert bad.status_code == 422
    # the page: four drop-downs, the search kept, the matches offered to add
    html = alice.get(f"/analysis/{ids['hf']}", params={"data_type": "mc", "anchor": "LHC22o"}).text
    assert '<option value="mc" selected>mc</option>' in html
    assert '<option value="LHC22o" selected>LHC22o</option>' in html
    assert "Dataset (1 found)" in html
    assert "LHC24f3_mc_pp (mc, pp, anchor LHC22o, LHC24f3)" in html
    assert "LHC24g1_mc_PbPb" not in html.split('id="add-dataset-form"')[1].split("</form>")[0]
    none = alice.get(f"/analysis/{ids['hf']}", params={"period": "LHC99x"}).text
    assert "no other active dataset matches the search" in none
    wrong = alice.get(f"/analysis/{ids['hf']}", params={"data_type": "simulation"})
    assert wrong.status_code == 422
    assert "unknown data type &#39;simulation&#39;" in wrong.text


def test_adding_a_found_dataset_puts_it_on_my_analyses(alice, ids) -> None:
    url = f"/api/analyses/{ids['hf']}/view"
    view = alice.get(url, params={"collision_system": "PbPb"}).json()
    [found] = view["addable_datasets"]
    assert found["name"] == "LHC24g1_mc_PbPb"
    r = alice.post(f"/api/analyses/{ids['hf']}/datasets", json={"dataset_id": found["id"]})
    assert r.status_code == 201, r.text
    hf = next(a for a in alice.get("/api/my-analyses").json() if a["id"] == ids["hf"])
    assert "LHC24g1_mc_PbPb" in [d["name"] for d in hf["datasets"]]
    assert alice.get(url, params={"collision_system": "PbPb"}).json()["addable_datasets"] == []
