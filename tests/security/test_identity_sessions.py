"""Sessions end when they should: logout, a password change, a role change, idle expiry.
A copied session cookie is worth nothing afterwards."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

from sqlalchemy import update
from tests.factories import USERNAMES
from tests.security.conftest import Served, ServeFactory

from hyperloop.core import users
from hyperloop.db import models as m
from hyperloop.db.base import utcnow
from hyperloop.db.session import make_engine, make_sessionmaker


def _replay(served: Served, cookie: str) -> int:
    with served.client(cookies={"hyperloop_session": cookie}) as stolen:
        return stolen.get("/api/auth/session").status_code


def _in_database(served: Served, work) -> None:
    engine = make_engine(served.world.url)
    try:
        with make_sessionmaker(engine)() as s:
            work(s)
            s.commit()
    finally:
        engine.dispose()


def test_logout_ends_the_session_on_the_server(server: Served) -> None:
    with closing(server.login("user")) as browser:
        cookie = browser.cookies["hyperloop_session"]
        assert _replay(server, cookie) == 200
        token = browser.cookies["hyperloop_csrf"]
        assert browser.post("/api/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
    assert _replay(server, cookie) == 401


def test_a_role_change_ends_the_users_sessions(serve: ServeFactory) -> None:
    with serve() as served, closing(served.login("operator")) as operator:
        cookie = operator.cookies["hyperloop_session"]
        with closing(served.bearer("admin")) as admin:
            demoted = admin.put(f"/api/users/{USERNAMES['operator']}/roles", json={"roles": []})
            assert demoted.status_code == 200, demoted.text
        assert operator.get("/api/auth/session").status_code == 401
        assert _replay(served, cookie) == 401
        # a login afterwards works, with the new roles
        with closing(served.login("operator")) as again:
            assert again.get("/api/auth/session").json()["user"]["roles"] == []


def test_a_password_change_ends_the_users_sessions(serve: ServeFactory) -> None:
    with serve() as served, closing(served.login("analyzer")) as browser:
        cookie = browser.cookies["hyperloop_session"]

        def change(s) -> None:
            users.set_password(s, users.get_user(s, USERNAMES["analyzer"]), "a new password 42")

        _in_database(served, change)
        assert _replay(served, cookie) == 401
        with closing(served.login("analyzer", password="a new password 42")) as again:
            assert again.get("/api/auth/session").status_code == 200


def test_an_idle_session_ends(serve: ServeFactory) -> None:
    with (
        serve(session_idle_timeout_seconds=600) as served,
        closing(served.login("user")) as idle,
        closing(served.login("analyzer")) as busy,
    ):
        cookie = idle.cookies["hyperloop_session"]
        user_id = served.world.user_ids["user"]

        def age(s) -> None:  # eleven minutes without a request
            s.execute(
                update(m.LoginSession)
                .where(m.LoginSession.user_id == user_id)
                .values(last_seen_at=utcnow() - timedelta(minutes=11))
            )

        _in_database(served, age)
        assert _replay(served, cookie) == 401
        assert busy.get("/api/auth/session").status_code == 200
