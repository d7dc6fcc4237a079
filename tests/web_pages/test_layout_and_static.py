"""Base layout (menu of SPEC §6, landmarks, skip link, status icons) and static assets."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ADMIN, ANALYZER, PASSWORD

MENU = [
    ("/", "My Analyses"),
    ("/all-analyses", "All Analyses"),
    ("/dashboard", "Dashboard"),
    ("/train-submission", "Train Submission"),
    ("/train-runs", "Train Runs"),
    ("/datasets", "Datasets"),
    ("/runlists", "DPG Runlists"),
]


def test_menu_landmarks_and_icons(client):
    html = client.get("/profile-viewer").text
    nav = html.split('<nav class="menu" aria-label="Main">')[1].split("</nav>")[0]
    assert re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav) == MENU
    # The bell counts the analyzer's two unread notifications.
    assert 'href="/notifications"' in html and 'aria-label="Notifications: 2 unread"' in html
    assert '<span class="badge" aria-hidden="true">2</span>' in html
    assert 'href="/documentation"' in html
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    for label in ("queued", "running", "done", "warning", "failed"):
        assert f'role="img" aria-label="{label}"' in html
    assert f'<span class="menu-label">{ANALYZER}</span>' in html and "Log out" in html
    assert "Impersonate" not in html  # only admins act as other users


def test_admin_user_menu_offers_impersonation(app):
    with TestClient(app) as c:
        c.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        html = c.get("/performance-graphs").text
    assert 'aria-label="Notifications: 0 unread"' in html
    assert '<label for="impersonate-user">Act as user</label>' in html


@pytest.mark.parametrize(
    "page", ["/performance-graphs", "/outputs/browse?path=x", "/profile-viewer"]
)
def test_anonymous_visitors_are_sent_to_login(anonymous, page):
    r = anonymous.get(page, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?" + urlencode({"next": page})
    login = anonymous.get(r.headers["location"])
    assert "<title>Log in · Hyperloop</title>" in login.text
    assert f'data-next="{page.replace("&", "&amp;")}"' in login.text
    assert "Not logged in" in login.text


@pytest.mark.parametrize(
    "url", ["/api/outputs/browse", "/outputs/file?path=work/trains/1/AnalysisResults_o2.root"]
)
def test_anonymous_api_and_files_401(anonymous, url):
    assert anonymous.get(url).status_code == 401


def test_login_next_must_stay_on_this_server(anonymous):
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil"]:
        assert 'data-next="/"' in anonymous.get("/login", params={"next": target}).text


@pytest.mark.parametrize(
    "asset, mime",
    [
        ("vendor/jsroot/modules/core.mjs", "text/javascript"),
        ("vendor/uplot/uPlot.iife.min.js", "text/javascript"),
        ("vendor/uplot/uPlot.min.css", "text/css"),
        ("vendor/htmx/htmx.min.js", "text/javascript"),
        ("vendor/speedscope/index.html", "text/html"),
        ("js/outputs_browse.mjs", "text/javascript"),
    ],
)
def test_static_assets_with_mime_types(client, asset, mime):
    r = client.get(f"/static/{asset}")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == mime


def test_speedscope_wasm_mime(client):
    from hyperloop.web.pages.templating import STATIC_DIR

    wasm = next((STATIC_DIR / "vendor" / "speedscope").glob("*.wasm"))
    r = client.get(f"/static/vendor/speedscope/{wasm.name}")
    assert r.headers["content-type"] == "application/wasm"


def test_profile_viewer_points_speedscope_at_the_file(client):
    html = client.get("/profile-viewer?path=work/trains/1/output/profile.speedscope.json").text
    assert (
        "/static/vendor/speedscope/index.html#profileURL=%2Foutputs%2Ffile%3Fpath%3D"
        "work%252Ftrains%252F1%252Foutput%252Fprofile.speedscope.json" in html
    )
    assert client.get("/profile-viewer?url=https://evil.example/p.json").status_code == 400
    assert client.get("/profile-viewer?path=../x.json").status_code == 400
