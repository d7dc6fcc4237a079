"""Issue 18 item 14: guided tours of the main pages — the steps of each page's tour, "don't
show again" remembered per user, showing them again (API), and the pages that load the
tour script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ADMIN, ANALYZER, PASSWORD, seed_accounts

from hyperloop.core import preferences
from hyperloop.readmodels.tours import TOURS, tour_page
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('tours') / 'tours.db'}"
    seed_accounts(url)
    return create_app(load_settings(database_url=url))


def _login(app, username: str) -> Iterator[TestClient]:
    with TestClient(app) as c:
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield c


@pytest.fixture(scope="module")
def alice(app):
    yield from _login(app, ANALYZER)


@pytest.fixture(scope="module")
def admin(app):
    yield from _login(app, ADMIN)


def test_every_main_page_has_a_tour() -> None:
    assert set(TOURS) == set(preferences.TOUR_PAGES)
    paths = ["/", "/wagon/3", "/train-submission", "/train-run/12", "/datasets", "/dashboard"]
    assert [tour_page(p) for p in paths] == list(preferences.TOUR_PAGES)
    assert tour_page("/notifications") is None and tour_page("/wagon/3/history") is None
    assert all(step["selector"] and step["text"] for steps in TOURS.values() for step in steps)


def test_dont_show_again_is_remembered_per_user(alice, admin) -> None:
    tour = alice.get("/api/tours/my-analyses").json()
    assert tour["dismissed"] is False
    assert [s["title"] for s in tour["steps"]][0] == "Your analyses"
    r = alice.post("/api/tours/my-analyses/dismiss")
    assert r.status_code == 200 and r.json() == {"dismissed": ["my-analyses"]}
    assert alice.get("/api/tours/my-analyses").json()["dismissed"] is True
    assert alice.get("/api/tours/dashboard").json()["dismissed"] is False
    assert admin.get("/api/tours/my-analyses").json()["dismissed"] is False  # alice's choice
    alice.post("/api/tours/dashboard/dismiss")
    assert alice.post("/api/tours/my-analyses/dismiss").json() == {
        "dismissed": ["dashboard", "my-analyses"]
    }
    assert alice.post("/api/tours/restore").json() == {"dismissed": []}
    assert alice.get("/api/tours/my-analyses").json()["dismissed"] is False


def test_unknown_pages_are_refused(alice, app) -> None:
    assert alice.get("/api/tours/nowhere").status_code == 422
    assert alice.post("/api/tours/nowhere/dismiss").status_code == 422
    with TestClient(app) as anonymous:
        assert anonymous.get("/api/tours/my-analyses").status_code == 401


def test_the_api_offers_exactly_the_pages_with_a_tour(alice) -> None:
    """One list of pages: the API's page parameter is ``core.preferences.TOUR_PAGES``."""
    doc = alice.get("/openapi.json").json()
    for path in ("/api/tours/{page}", "/api/tours/{page}/dismiss"):
        op = next(iter(doc["paths"][path].values()))
        [param] = [p for p in op["parameters"] if p["name"] == "page"]
        schema = param["schema"]
        schema = doc["components"]["schemas"].get(schema.get("$ref", "").split("/")[-1], schema)
        assert schema["enum"] == list(preferences.TOUR_PAGES), path
    for page in preferences.TOUR_PAGES:
        assert alice.get(f"/api/tours/{page}").status_code == 200, page


def test_pages_with_a_tour_load_the_script(alice) -> None:
    home = alice.get("/").text
    assert 'data-tour-page="my-analyses"' in home and "/static/js/tour.js" in home
    assert 'data-tour-page="datasets"' in alice.get("/datasets").text
    notes = alice.get("/notifications").text
    assert "data-tour-page" not in notes and "/static/js/tour.js" not in notes
    assert alice.get("/static/js/tour.js").status_code == 200
