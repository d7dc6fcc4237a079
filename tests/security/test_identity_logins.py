"""Password guessing: failed logins are throttled per account and per address (HTTP 429 with
Retry-After, even for the right password while it lasts), unknown users cost the same
password verification as known ones, and a refusal looks the same for both."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.api.world import PASSWORD, USERNAMES
from tests.security.conftest import Served, ServeFactory

from hyperloop.db import models as m
from hyperloop.db.base import utcnow
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

BEHIND_PROXY = {"trusted_proxies": ["127.0.0.1"]}


def _login(served: Served, username: str, password: str, address: str | None = None):
    headers = {"X-Forwarded-For": address} if address else {}
    with served.client(headers=headers) as c:
        return c.post("/api/auth/login", json={"username": username, "password": password})


def _assert_throttled(response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "too_many_logins"
    assert int(response.headers["Retry-After"]) > 0


def test_failed_logins_lock_the_account_from_every_address(serve: ServeFactory) -> None:
    with serve(login_account_failures=3, **BEHIND_PROXY) as served:
        alice = USERNAMES["analyzer"]
        for n in range(3):
            bad = _login(served, alice, f"guess {n}", address=f"198.51.100.{n + 1}")
            assert bad.status_code == 401
        # the right password from yet another address is refused while the lock lasts
        _assert_throttled(_login(served, alice, PASSWORD, address="198.51.100.50"))
        # other accounts are not affected
        assert _login(served, USERNAMES["user"], PASSWORD, "198.51.100.51").status_code == 200


def test_failed_logins_lock_the_address_for_every_account(serve: ServeFactory) -> None:
    with serve(login_address_failures=3, login_account_failures=100) as served:
        for name in ("ursula", "alice", "nobody-at-all"):
            assert _login(served, name, "wrong password").status_code == 401
        _assert_throttled(_login(served, USERNAMES["admin"], PASSWORD))


def test_the_address_behind_a_trusted_proxy_is_the_clients(serve: ServeFactory) -> None:
    with serve(login_address_failures=2, login_account_failures=100, **BEHIND_PROXY) as served:
        for name in ("ursula", "alice"):
            assert _login(served, name, "wrong", address="203.0.113.66").status_code == 401
        _assert_throttled(_login(served, USERNAMES["admin"], PASSWORD, address="203.0.113.66"))
        ok = _login(served, USERNAMES["admin"], PASSWORD, address="203.0.113.67")
        assert ok.status_code == 200


def test_unknown_usernames_are_locked_like_existing_ones(serve: ServeFactory) -> None:
    with serve(login_account_failures=2, **BEHIND_PROXY) as served:
        answers = {}
        for name in ("no-such-user", USERNAMES["user"]):
            for n in range(2):
                assert _login(served, name, "x", address=f"192.0.2.{n + 1}").status_code == 401
            answers[name] = _login(served, name, "x", address="192.0.2.9")
            _assert_throttled(answers[name])
        unknown, known = answers.values()
        assert unknown.json()["message"] == known.json()["message"]


def test_a_correct_login_clears_the_accounts_failures(serve: ServeFactory) -> None:
    with serve(login_account_failures=3, **BEHIND_PROXY) as served:
        alice = USERNAMES["analyzer"]
        for round_ in range(3):
            for n in range(2):
                address = f"198.51.100.{10 * round_ + n + 1}"
                assert _login(served, alice, "guess", address).status_code == 401
            assert (
                _login(served, alice, PASSWORD, f"198.51.100.{10 * round_ + 9}").status_code == 200
            )


@pytest.fixture
def counted_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification the server performs, by the hash it checked against."""
    calls: list[str] = []
    real = PasswordHasher.verify

    def counting(self, hash: str, password: str) -> bool:
        calls.append(hash)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


def test_every_failed_login_verifies_a_real_password_hash(
    server: Served, tmp_path: Path, counted_verifications: list[str]
) -> None:
    """Unknown users, users without a password and deactivated users cost one argon2
    verification like a wrong password does, so the answer's timing tells nothing."""
    with closing(server.bearer("admin")) as admin:  # an account without a password
        created = admin.post("/api/users", json={"username": "certificate-only"})
        assert created.status_code == 201, created.text
    app = create_app(load_settings(database_url=server.world.url, data_dir=tmp_path))
    try:
        with TestClient(app) as c:
            for username in ("nobody-at-all", "certificate-only", "ursula"):
                counted_verifications.clear()
                response = c.post(
                    "/api/auth/login", json={"username": username, "password": "not it 123"}
                )
                assert response.status_code == 401
                assert response.json()["message"] == "unknown username or wrong password"
                assert len(counted_verifications) == 1
                assert counted_verifications[0].startswith("$argon2")
    finally:
        app.state.engine.dispose()


def test_the_refusal_period_doubles_with_every_further_failure(tmp_path: Path) -> None:
    from hyperloop.core import login_throttle

    engine = make_engine(f"sqlite:///{tmp_path / 'throttle.db'}")
    m.Base.metadata.create_all(engine)
    policy = login_throttle.ThrottlePolicy(
        account_failures=3,
        address_failures=10,
        delay=timedelta(seconds=30),
        max_delay=timedelta(seconds=100),
    )
    now = utcnow()
    key = login_throttle.account_key("alice")
    try:
        with make_sessionmaker(engine)() as s:
            waits = []
            for _ in range(6):
                login_throttle.record_failure(s, key, policy.account_failures, policy, now)
                waits.append(login_throttle.retry_after(s, [key], now))
            assert waits == [0, 0, 30, 60, 100, 100]
            # failures older than the longest delay are forgotten
            later = now + timedelta(seconds=101)
            login_throttle.record_failure(s, key, policy.account_failures, policy, later)
            assert login_throttle.retry_after(s, [key], later) == 0
    finally:
        engine.dispose()
