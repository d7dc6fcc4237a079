"""Profile (API tokens, e-mail policy of one's analyses) and admin pages (users, roles,
analysis members, targets): content, permissions, errors that change nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.web_pages.seed_datasets import Site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site.create(tmp_path_factory.mktemp("profile"), tmp_path_factory.getbasetemp())
    yield s
    s.close()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("path", ["/profile", "/admin"])
def test_anonymous_is_redirected(site: Site, path: str) -> None:
    r = site.client("anonymous").get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_profile_shows_account_and_email_policies(site: Site) -> None:
    page = site.client("analyzer").get("/profile")
    assert page.status_code == 200
    assert "<title>Profile of alice · Hyperloop</title>" in page.text
    text = text_of(page.text)
    assert "alice@example.org" in text
    assert 'data-api="/api/analyses/' in page.text and "LF-spectra" in text
    assert '<option value="all" selected>all analyzers of the analysis</option>' in page.text
    assert "No token yet." in text


def test_email_policy_change_shows_on_the_profile(site: Site) -> None:
    c = site.client("analyzer")
    r = c.put(f"/api/analyses/{site.ids['lf']}/email-policy", json={"policy": "enabler"})
    assert r.status_code == 200, r.text
    page = c.get("/profile").text
    assert '<option value="enabler" selected>only the user who enabled the wagon</option>' in page
    bad = c.put(f"/api/analyses/{site.ids['lf']}/email-policy", json={"policy": "everyone"})
    assert bad.status_code == 422 and "policy" in bad.json()["message"]
    assert '<option value="enabler" selected>' in c.get("/profile").text


def test_token_is_shown_once_listed_and_revocable(site: Site) -> None:
    c = site.client("user")
    created = c.post("/api/users/me/tokens", json={"name": "laptop scripts"})
    assert created.status_code == 201
    token = created.json()
    page = c.get("/profile").text
    assert "laptop scripts" in page and f"{token['prefix']}…" in page
    assert token["token"] not in page  # only the prefix, never the token again
    assert "Revoke token laptop scripts" in page
    # the token works for scripts until it is revoked
    me = c.get("/api/users/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "outsider"
    assert c.delete(f"/api/users/me/tokens/{token['id']}").status_code == 204
    revoked = c.get("/profile").text
    assert ">revoked<" in revoked and "Revoke token laptop scripts" not in revoked
    bad = c.post("/api/users/me/tokens", json={"name": "x", "expires_at": "2030-01-01T00:00"})
    assert bad.status_code == 422 and "expires_at" in bad.json()["message"]
    assert c.get("/profile").text.count("<tr data-token-id=") == 1


@pytest.mark.parametrize("role", ["operator", "analyzer", "dpg_expert", "user"])
def test_admin_page_is_for_admins_only(site: Site, role: str) -> None:
    r = site.client(role).get("/admin")
    assert r.status_code == 403
    assert "is not an admin" in r.text
    assert 'id="users"' not in r.text


def test_admin_page_lists_users_roles_analyses_and_targets(site: Site) -> None:
    page = site.client("admin").get("/admin")
    assert page.status_code == 200
    assert "<title>Administration · Hyperloop</title>" in page.text
    text = text_of(page.text)
    for name in ("alice", "operator", "dpg", "convener"):
        assert name in text
    assert 'data-api="/api/users/operator/roles"' in page.text
    assert 'value="operator" data-type="str-set" checked' in page.text
    assert "LF-spectra" in text and "Core-services" in text
    assert "Remove alice from LF-spectra" in page.text
    assert "2core" in text and "8,000 MB" in text
    dpg_only = site.client("admin").get("/admin", params={"role": "dpg_expert"}).text
    assert 'data-api="/api/users/dpg/roles"' in dpg_only
    assert 'data-api="/api/users/alice/roles"' not in dpg_only


def test_admin_changes_go_through_the_api_and_bad_input_changes_nothing(site: Site) -> None:
    c = site.client("admin")
    r = c.put("/api/users/outsider/roles", json={"roles": ["dpg_expert"]})
    assert r.status_code == 200
    page = c.get("/admin", params={"q": "outsider"}).text
    assert 'value="dpg_expert" data-type="str-set" checked' in page
    bad_role = c.put("/api/users/outsider/roles", json={"roles": ["wizard"]})
    assert bad_role.status_code == 422
    assert c.get("/api/users/outsider").json()["roles"] == ["dpg_expert"]
    added = c.post(f"/api/analyses/{site.ids['hf']}/members", json={"username": "outsider"})
    assert added.status_code in (200, 201), added.text
    assert "Remove outsider from HF-charm" in c.get("/admin").text
    nobody = c.post(f"/api/analyses/{site.ids['hf']}/members", json={"username": "ghost"})
    assert nobody.status_code == 404 and "ghost" in nobody.json()["message"]
    bad_target = c.post("/api/targets", json={"name": "big", "cores": 0, "memory_limit_mb": 100})
    assert bad_target.status_code == 422 and "cores" in bad_target.json()["message"]
    assert ">big<" not in c.get("/admin").text
    ok = c.post("/api/targets", json={"name": "af-8core", "cores": 8, "memory_limit_mb": 32000})
    assert ok.status_code == 201
    assert "af-8core" in c.get("/admin").text
