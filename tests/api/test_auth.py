"""Authentication and impersonation through the real application: session cookies with CSRF,
API tokens, impersonation recorded with both names, trusted-proxy certificates, OIDC."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.factories import PASSWORD, ApiWorld

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

GOOD_SECRET = "s" * 40


def _login(client, username: str = "alice") -> str:
    response = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def test_login_sets_a_signed_httponly_samesite_cookie(client) -> None:
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("hyperloop_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    csrf = next(c for c in cookies if c.startswith("hyperloop_csrf="))
    assert "HttpOnly" not in csrf
    me = client.get("/api/users/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"


def test_wrong_password_is_refused(client) -> None:
    response = client.post("/api/auth/login", json={"username": "alice", "password": "nope"})
    assert response.status_code == 401
    assert response.json()["error"] == "login_failed"
    assert client.get("/api/users/me").status_code == 401


def test_tampered_session_cookie_is_anonymous(client) -> None:
    _login(client)
    value = client.cookies.get("hyperloop_session")
    client.cookies.clear()
    tampered = {"Cookie": f"hyperloop_session={value[:-3]}abc"}
    assert client.get("/api/users/me", headers=tampered).status_code == 401
    assert (
        client.get("/api/users/me", headers={"Cookie": f"hyperloop_session={value}"}).json()[
            "username"
        ]
        == "alice"
    )


def test_unsafe_request_with_session_needs_the_csrf_token(client, world: ApiWorld) -> None:
    csrf = _login(client)
    refused = client.post("/api/notifications/dismiss-all")
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_failed"
    wrong = client.post("/api/notifications/dismiss-all", headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = client.post("/api/notifications/dismiss-all", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["dismissed"] == 1


def test_form_post_may_carry_the_csrf_token_as_a_field(client) -> None:
    csrf = _login(client)
    ok = client.post("/api/notifications/dismiss-all", data={"csrf_token": csrf})
    assert ok.status_code == 200
    bad = client.post("/api/notifications/dismiss-all", data={"csrf_token": "x"})
    assert bad.status_code == 403


def test_logout_ends_the_session(client) -> None:
    _login(client)
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/users/me").status_code == 401


def test_api_token_is_shown_once_works_and_can_be_revoked(as_role, client) -> None:
    alice = as_role("analyzer")
    created = alice.post("/api/users/me/tokens", json={"name": "laptop"})
    assert created.status_code == 201
    token = created.json()["token"]
    listed = alice.get("/api/users/me/tokens").json()
    assert listed["total"] == 2
    assert all("token" not in item for item in listed["items"])
    assert any(token.startswith(item["prefix"]) for item in listed["items"])

    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/users/me", headers=bearer).json()["username"] == "alice"
    revoked = alice.delete(f"/api/users/me/tokens/{created.json()['id']}")
    assert revoked.status_code == 204
    refused = client.get("/api/users/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"


def test_other_users_tokens_cannot_be_revoked(as_role, world: ApiWorld) -> None:
    response = as_role("user").delete(f"/api/users/me/tokens/{world.token_ids['analyzer']}")
    assert response.status_code == 403


def test_malformed_authorization_header(client) -> None:
    response = client.get("/api/users/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert "Bearer" in response.json()["message"]


def test_admin_impersonation_records_both_names(as_role, world: ApiWorld) -> None:
    ada = as_role("admin")
    as_alice = {"X-Hyperloop-Impersonate": "alice"}
    me = ada.get("/api/users/me", headers=as_alice).json()
    assert me["username"] == "alice" and me["impersonator"]["username"] == "ada"
    wid = world.ids["wagon"]
    edit = ada.patch(
        f"/api/wagons/{wid}",
        headers=as_alice,
        json={"expected_version": 1, "base_config": {"spectra-task": {"cutZ": "3"}}},
    )
    assert edit.status_code == 200, edit.text
    last = ada.get(f"/api/wagons/{wid}/history").json()["items"][-1]
    assert last["user_id"] == world.user_ids["analyzer"]
    assert last["impersonator_id"] == world.user_ids["admin"]


def test_impersonated_admin_has_only_the_users_rights(as_role, world: ApiWorld) -> None:
    as_ursula = {"X-Hyperloop-Impersonate": "ursula"}
    response = as_role("admin").patch(
        f"/api/wagons/{world.ids['wagon']}", headers=as_ursula, json={"expected_version": 1}
    )
    assert response.status_code == 403


def test_non_admins_cannot_impersonate(as_role) -> None:
    response = as_role("operator").get(
        "/api/users/me", headers={"X-Hyperloop-Impersonate": "alice"}
    )
    assert response.status_code == 403
    unknown = as_role("admin").get("/api/users/me", headers={"X-Hyperloop-Impersonate": "nobody"})
    assert unknown.status_code == 404


def test_session_impersonation_switch(client) -> None:
    csrf = _login(client, "ada")
    started = client.post(
        "/api/auth/impersonate", json={"username": "alice"}, headers={"X-CSRF-Token": csrf}
    )
    assert started.status_code == 200
    csrf = client.cookies.get("hyperloop_csrf")
    session = client.get("/api/auth/session").json()
    assert session["user"]["username"] == "alice"
    assert session["impersonator"]["username"] == "ada"
    stopped = client.delete("/api/auth/impersonate", headers={"X-CSRF-Token": csrf})
    assert stopped.status_code == 200
    assert client.get("/api/auth/session").json()["impersonator"] is None


def _app(world: ApiWorld, **settings):
    app = create_app(load_settings(database_url=world.url, **settings))
    return app


PROXY = {"proxy_auth_enabled": True, "trusted_proxies": ["10.0.0.0/8"]}
DN = {"X-SSL-Client-S-DN": "/DC=ch/DC=cern/OU=Users/CN=alice/CN=123/CN=Alice A"}


def test_certificate_identity_from_a_trusted_proxy(world: ApiWorld) -> None:
    app = _app(world, **PROXY)
    try:
        with TestClient(app, client=("10.1.2.3", 4000)) as trusted:
            me = trusted.get("/api/users/me", headers=DN)
            assert me.status_code == 200 and me.json()["username"] == "alice"
            unknown = {"X-SSL-Client-S-DN": "/DC=org/CN=stranger"}
            assert trusted.get("/api/users/me", headers=unknown).status_code == 401
        with TestClient(app, client=("192.168.0.9", 4000)) as untrusted:
            refused = untrusted.get("/api/users/me", headers=DN)
            assert refused.status_code == 401
            assert "untrusted" in refused.json()["message"]
    finally:
        app.state.engine.dispose()


def test_certificate_header_is_ignored_when_proxy_auth_is_off(client) -> None:
    assert client.get("/api/users/me", headers=DN).status_code == 401


OIDC = {
    "oidc_enabled": True,
    "oidc_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    "oidc_client_id": "hyperloop",
    "oidc_client_secret": "secret",
}


def test_oidc_login_redirects_to_the_provider_with_state(world: ApiWorld) -> None:
    app = _app(world, **OIDC)
    app.state.oidc_metadata = {
        "issuer": "https://idp.example.org",
        "authorization_endpoint": "https://idp.example.org/auth",
        "token_endpoint": "https://idp.example.org/token",
        "userinfo_endpoint": "https://idp.example.org/userinfo",
    }
    try:
        with TestClient(app, follow_redirects=False) as c:
            response = c.get("/auth/oidc/login")
            assert response.status_code == 302
            assert response.headers["location"].startswith("https://idp.example.org/auth?")
            assert "code_challenge=" in response.headers["location"]
            assert c.cookies.get("hyperloop_oidc")
            mismatch = c.get("/auth/oidc/callback", params={"code": "x", "state": "forged"})
            assert mismatch.status_code == 400
            assert mismatch.json()["error"] == "oidc_error"
    finally:
        app.state.engine.dispose()


def test_oidc_routes_do_not_exist_when_disabled(client) -> None:
    assert client.get("/auth/oidc/login", follow_redirects=False).status_code == 404


def test_production_cookies_are_secure(world: ApiWorld) -> None:
    app = _app(world, environment="production", secret_key=GOOD_SECRET)
    try:
        with TestClient(app) as c:
            response = c.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
            assert all("Secure" in h for h in response.headers.get_list("set-cookie"))
    finally:
        app.state.engine.dispose()


@pytest.mark.parametrize("path", ["/api/users/me", "/api/wagons", "/api/train-runs"])
def test_anonymous_requests_get_401(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
