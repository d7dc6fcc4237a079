"""Impersonation leaves no lasting power and reveals nobody: an admin acting as another user
cannot mint that user's API token, and a non-admin's impersonation header gets the same
answer whether the named user exists or not."""

from __future__ import annotations

from contextlib import closing

from tests.factories import USERNAMES
from tests.security.conftest import Served

HEADER = "X-Hyperloop-Impersonate"


def test_no_api_token_while_impersonating_in_a_session(server: Served) -> None:
    with closing(server.login("admin")) as admin:
        csrf = {"X-CSRF-Token": admin.cookies["hyperloop_csrf"]}
        switched = admin.post(
            "/api/auth/impersonate", json={"username": USERNAMES["user"]}, headers=csrf
        )
        assert switched.status_code == 200, switched.text
        csrf = {"X-CSRF-Token": admin.cookies["hyperloop_csrf"]}
        minted = admin.post("/api/users/me/tokens", json={"name": "keep"}, headers=csrf)
        assert minted.status_code == 403, minted.text
        assert "impersonat" in minted.json()["message"]
        # ursula has no token she did not make
        stopped = admin.delete("/api/auth/impersonate", headers=csrf)
        assert stopped.status_code == 200
    with closing(server.bearer("user")) as ursula:
        names = [t["name"] for t in ursula.get("/api/users/me/tokens").json()["items"]]
        assert "keep" not in names


def test_no_api_token_while_impersonating_by_header(server: Served) -> None:
    with closing(server.bearer("admin")) as admin:
        minted = admin.post(
            "/api/users/me/tokens",
            json={"name": "keep"},
            headers={HEADER: USERNAMES["analyzer"]},
        )
        assert minted.status_code == 403
        own = admin.post("/api/users/me/tokens", json={"name": "admin's own"})
        assert own.status_code == 201


def test_the_impersonation_header_does_not_reveal_who_exists(server: Served) -> None:
    with closing(server.bearer("analyzer")) as alice:
        known = alice.get("/api/auth/session", headers={HEADER: USERNAMES["admin"]})
        unknown = alice.get("/api/auth/session", headers={HEADER: "no-such-person"})
        assert known.status_code == unknown.status_code == 403
        assert known.json() == unknown.json()
