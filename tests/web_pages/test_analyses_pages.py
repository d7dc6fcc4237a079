"""My Analyses, All Analyses and the analysis page as users of each role see them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ADMIN, ANALYZER, PASSWORD
from tests.web_pages.seed_analyses import READER, Seeded, seeded_copy

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeding runs a real wagon test (run-train) once per process


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> tuple[object, Seeded]:
    template = tmp_path_factory.getbasetemp() / "analyses-pages-template"
    url, outputs, seeded = seeded_copy(template, tmp_path_factory.mktemp("analyses"), realdata)
    return create_app(
        load_settings(database_url=url, outputs_root=outputs, work_dir=outputs)
    ), seeded


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


@pytest.fixture(scope="module")
def reader(world) -> Iterator[TestClient]:
    with _login(world[0], READER) as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(world) -> Iterator[TestClient]:
    with TestClient(world[0]) as c:
        yield c


def sections(html: str) -> list[str]:
    """Analysis names in page order."""
    return re.findall(r'<span class="name">([^<]+)</span>', html)


@pytest.mark.parametrize("path", ["/", "/all-analyses", "/analysis/1"])
def test_anonymous_visitors_are_sent_to_the_login_page(anonymous, path) -> None:
    r = anonymous.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


def test_my_analyses_shows_the_grid_with_statuses_slots_and_toggles(alice, ids) -> None:
    r = alice.get("/")
    assert r.status_code == 200
    html = r.text
    assert "<title>My Analyses · Hyperloop</title>" in html
    # the service analysis first (read-only for alice), then her analyses in saved order
    assert sections(html)[0] == "Core-services"
    assert set(sections(html)[1:]) == {"LF-spectra", "HF-charm"}
    assert "service analysis · read-only" in html
    for wagon in ("spectra", "corr", "udrho", "strange", "o2strange"):
        assert f'href="/wagon/{ids[wagon]}">{wagon}</a>' in html
    assert "LHC22_ud_pass4" in html and "LHC23_pp_pass4" in html
    assert "slots 0/4" in html  # train slots used / allowed this week per dataset
    # live statuses with text alternatives, linking to the tests
    assert f'href="/wagon-test/{ids["test_queued"]}"' in html
    assert 'aria-label="queued"' in html and 'aria-label="failed"' in html
    assert re.search(r'aria-label="(warning|done)"', html)
    # the queued test's cell polls; finished ones do not
    cell = f"/partials/analyses/cell/{ids['spectra']}/{ids['dataset']}"
    assert f'hx-get="{cell}"' in html
    assert f'hx-get="/partials/analyses/cell/{ids["udrho"]}/{ids["dataset"]}"' not in html
    # alice may enable wagons of her analyses, not those of the service analysis
    assert 'aria-label="Not enabled: enable corr on LHC22_ud_pass4"' in html
    assert 'aria-label="Not enabled: enable evsel' not in html
    assert 'data-action="delete-wagon"' in html and "Add wagon" in html
    assert 'id="enable-dialog"' in html and "Future tag containing a pull request" in html


def test_a_user_of_no_analysis_sees_read_only_service_analyses(reader) -> None:
    html = reader.get("/").text
    assert sections(html) == ["Core-services"]
    assert 'data-action="toggle-enable"' not in html
    assert 'data-action="delete-wagon"' not in html
    assert 'data-action="move-up"' not in html
    assert "Add wagon" not in html


def test_order_and_collapse_are_saved_per_user(world, ids) -> None:
    with _login(world[0], ANALYZER) as alice:
        for aid, order in ((ids["hf"], 0), (ids["lf"], 1)):
            r = alice.put(f"/api/analyses/{aid}/display", json={"order": order})
            assert r.status_code == 200, r.text
        assert alice.put(f"/api/analyses/{ids['lf']}/display", json={"collapsed": True}).is_success
        html = alice.get("/").text
        assert sections(html)[1:] == ["HF-charm", "LF-spectra"]
        lf = re.search(rf'<details class="analysis" id="analysis-{ids["lf"]}"[^>]*>', html).group(0)
        assert " open" not in lf
        hf = re.search(rf'<details class="analysis" id="analysis-{ids["hf"]}"[^>]*>', html).group(0)
        assert " open" in hf
        # another member keeps their own layout
        with _login(world[0], "bob") as bob:
            bob_lf = re.search(
                rf'<details class="analysis" id="analysis-{ids["lf"]}"[^>]*>', bob.get("/").text
            ).group(0)
            assert " open" in bob_lf
        alice.put(f"/api/analyses/{ids['lf']}/display", json={"collapsed": False, "order": 0})


def test_enabling_shows_a_polling_queued_cell_and_disabling_stops_it(alice, ids) -> None:
    url = f"/api/wagons/{ids['corr']}/datasets/{ids['dataset2']}"
    r = alice.put(url, json={"policy": "pull_request", "pull_request": "1234"})
    assert r.status_code == 200, r.text
    cell = alice.get(f"/partials/analyses/cell/{ids['corr']}/{ids['dataset2']}").text
    assert 'aria-pressed="true"' in cell and 'aria-label="queued"' in cell
    assert "hx-trigger=" in cell and "future tag (PR)" in cell
    assert alice.delete(url).status_code == 204
    cell = alice.get(f"/partials/analyses/cell/{ids['corr']}/{ids['dataset2']}").text
    assert 'aria-pressed="false"' in cell and "hx-trigger=" not in cell


def test_enable_errors_come_back_with_a_message(alice, ids) -> None:
    # the service wagon belongs to the service analysis: alice may not enable it
    r = alice.put(
        f"/api/wagons/{ids['evsel']}/datasets/{ids['dataset']}", json={"policy": "latest"}
    )
    assert r.status_code == 403 and r.json()["message"]
    r = alice.put(f"/api/wagons/{ids['corr']}/datasets/{ids['dataset']}", json={"policy": "fixed"})
    assert r.status_code == 422 and "tag_id" in r.json()["message"]


def test_my_analyses_api_has_the_page_data(alice, ids) -> None:
    data = {a["name"]: a for a in alice.get("/api/my-analyses").json()}
    lf = data["LF-spectra"]
    assert lf["can_edit"] is True and data["Core-services"]["can_edit"] is False
    assert [d["name"] for d in lf["datasets"]] == ["LHC22_ud_pass4", "LHC23_pp_pass4"]
    assert {s["dataset_id"]: (s["used"], s["allowed"]) for s in lf["slots"]} == {
        ids["dataset"]: (0, 4),
        ids["dataset2"]: (0, 4),
    }
    cells = {(w["name"], c["dataset_id"]): c for w in lf["wagons"] for c in w["cells"]}
    assert cells[("strange", ids["dataset"])]["tag_policy"] == "fixed"
    assert cells[("strange", ids["dataset"])]["test_id"] == ids["test_failed"]


def test_all_analyses_filters_and_paginates(reader) -> None:
    html = reader.get("/all-analyses").text
    assert "<title>All Analyses · Hyperloop</title>" in html
    assert "33 analyses, showing 1–25" in html
    assert 'rel="next"' in html and 'rel="prev"' not in html
    second = reader.get("/all-analyses", params={"offset": 25}).text
    assert "showing 26–33" in second and 'rel="prev"' in second and 'rel="next"' not in second
    only_lf = reader.get("/all-analyses", params={"pwg": "PWG-LF"}).text
    assert "1 analysis, showing 1–1" in only_lf and "LF-spectra" in only_lf
    assert "Extra-0" not in only_lf
    named = reader.get("/all-analyses", params={"name": "charm"}).text
    assert "HF-charm" in named and "LF-spectra" not in named
    service = reader.get("/all-analyses", params={"service": "yes"}).text
    assert "Core-services" in service and "HF-charm" not in service
    assert "No analysis matches" in reader.get("/all-analyses", params={"mine": "true"}).text


def test_analysis_page_lists_members_wagons_datasets_and_create_form(alice, reader, ids) -> None:
    html = alice.get(f"/analysis/{ids['lf']}").text
    assert "<title>Analysis LF-spectra · Hyperloop</title>" in html
    assert "alice" in html and "bob" in html
    assert f'href="/wagon/{ids["udrho"]}">udrho</a>' in html
    assert "LHC22_ud_pass4" in html
    assert 'id="create-wagon-form"' in html and "two-particle-correlations" in html
    assert 'id="add-dataset-form"' in html and "Remove dataset LHC23_pp_pass4" in html
    as_reader = reader.get(f"/analysis/{ids['lf']}").text
    for form in ("create-wagon-form", "email-policy-form", "add-dataset-form"):
        assert f'id="{form}"' not in as_reader
    assert "Remove dataset" not in as_reader
    view = alice.get(f"/api/analyses/{ids['lf']}/view").json()
    assert view["permissions"] == {"create_wagon": True, "edit": True}
    # LHC23_pp_pass4 and LHC22_ud_pass4 are both added already: nothing left to add
    assert view["addable_datasets"] == []
    hf = alice.get(f"/api/analyses/{ids['hf']}/view").json()
    assert [d["name"] for d in hf["addable_datasets"]] == ["LHC23_pp_pass4"]


def test_unknown_analysis_is_a_404_page(alice) -> None:
    r = alice.get("/analysis/999999")
    assert r.status_code == 404
    assert "Analysis 999999 does not exist" in r.text


def test_creating_a_wagon_through_the_api_shows_it_on_the_pages(world, ids) -> None:
    with _login(world[0], ADMIN) as admin:
        r = admin.post(
            "/api/wagons",
            json={"analysis_id": ids["hf"], "name": "newwagon", "workflow": "pid"},
        )
        assert r.status_code == 201, r.text
        assert "newwagon" in admin.get(f"/analysis/{ids['hf']}").text
