"""Password guessing: failed logins are throttled per account and per address (HTTP 429 with
Retry-After, even for the right password while it lasts), unknown users cost the same
password verification as known ones, and a refusal looks the same for both."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.factories import PASSWORD, USERNAMES
from tests.security.conftest import Served, ServeFactory
from tests.served import free_port

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


def test_pending_password_checks_neither_multiply_nor_hold_up_the_api(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logins wait for one of ``login_hash_workers`` verification slots without holding an API
    thread: while verifications hang, the rest of the API still answers."""
    settings = load_settings(
        database_url=server.world.url,
        data_dir=tmp_path,
        api_threads=2,
        login_hash_workers=1,
        login_account_failures=100,
        login_address_failures=100,
    )
    app = create_app(settings)
    started: list[str] = []
    release = threading.Event()
    real = PasswordHasher.verify

    def hanging(self, hash: str, password: str) -> bool:
        started.append(hash)
        release.wait(timeout=120)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", hanging)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _answers(base + "/api/health"))
        body = {"username": USERNAMES["user"], "password": "wrong password"}
        with ThreadPoolExecutor(6) as pool:
            logins = [
                pool.submit(httpx.post, base + "/api/auth/login", json=body, timeout=120)
                for _ in range(6)
            ]
            _wait_until(lambda: len(started) >= 1)
            headers = {"Authorization": f"Bearer {server.world.tokens['user']}"}
            for _ in range(3):  # more requests than API threads
                me = httpx.get(base + "/api/users/me", headers=headers, timeout=60)
                assert me.status_code == 200
            assert len(started) == 1  # the other five wait for the one slot
            release.set()
            assert [f.result().status_code for f in logins] == [401] * 6
        assert len(started) == 6
    finally:
        release.set()
        uv.should_exit = True
        thread.join(timeout=30)
        app.state.engine.dispose()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(condition, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


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
