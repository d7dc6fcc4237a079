"""An attacker who guesses a user's password locks that username (429); an admin ends the
lock at once with ``hyperloop user unlock`` and the user logs in again."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic import command
from tests.factories import PASSWORD, USERNAMES
from tests.security.conftest import ServeFactory

from hyperloop.db.migrate import alembic_config


def _unlock(url: str, name: str) -> subprocess.CompletedProcess[str]:
    # the seeded world was built from the models: mark it as migrated for the admin command
    command.stamp(alembic_config(url), "head")
    return subprocess.run(
        [sys.executable, "-m", "hyperloop", "user", "unlock", name],
        env=os.environ | {"HYPERLOOP_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_admin_unlocks_a_username_locked_by_guessing(serve: ServeFactory) -> None:
    name = USERNAMES["analyzer"]
    with serve(login_account_failures=3) as served, served.client() as attacker:
        for _ in range(3):
            r = attacker.post("/api/auth/login", json={"username": name, "password": "guess"})
            assert r.status_code in (401, 429)
        with served.client() as user:
            locked = user.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            assert locked.status_code == 429 and locked.headers["Retry-After"]
            done = _unlock(served.world.url, name)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == f"user {name}: login unlocked"
            again = user.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            assert again.status_code == 200, again.text
        nothing = _unlock(served.world.url, name)
        assert nothing.returncode == 0 and "no failed logins recorded" in nothing.stdout
