"""Forging sessions: no secret is written in the source; each installation generates its
own (kept with its data, readable by its owner alone) and production refuses to start
without a configured one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from contextlib import closing

from itsdangerous import URLSafeTimedSerializer
from tests.security.conftest import Served, ServeFactory

# the secret every installation used before it generated its own
OLD_BUILT_IN_SECRET = "hyperloop-development-secret-do-not-use-in-production"


def _session_as(served: Served, cookie: str) -> int:
    with served.client(cookies={"hyperloop_session": cookie}) as c:
        return c.get("/api/auth/session").status_code


def test_a_session_cookie_signed_with_the_old_built_in_secret_is_refused(
    server: Served,
) -> None:
    admin = server.world.user_ids["admin"]
    forged_old = URLSafeTimedSerializer(OLD_BUILT_IN_SECRET, salt="hyperloop-session").dumps(
        {"u": admin, "i": None}
    )
    assert _session_as(server, forged_old) == 401
    forged_new = URLSafeTimedSerializer(OLD_BUILT_IN_SECRET, salt="hyperloop-session-key").dumps(
        "any-session-key"
    )
    assert _session_as(server, forged_new) == 401


def test_each_installation_generates_its_own_secret_readable_by_its_owner_only(
    serve: ServeFactory,
) -> None:
    secrets = []
    for _ in range(2):
        with serve() as served:
            path = served.data_dir / "secret_key"
            assert path.is_file()
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            secrets.append(path.read_text().strip())
            assert len(secrets[-1]) >= 32
            assert OLD_BUILT_IN_SECRET not in secrets[-1]
            # the server signs its sessions with it
            with closing(served.login("user")) as user:
                assert _session_as(served, user.cookies["hyperloop_session"]) == 200
    assert secrets[0] != secrets[1]


def test_a_configured_secret_is_used_and_nothing_is_generated(serve: ServeFactory) -> None:
    with serve(secret_key="k" * 40) as served:
        assert not (served.data_dir / "secret_key").exists()
        with closing(served.login("user")) as user:
            assert user.get("/api/auth/session").status_code == 200


def test_production_refuses_to_start_without_a_configured_secret(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
    env |= {
        "HYPERLOOP_ENVIRONMENT": "production",
        "HYPERLOOP_DATABASE_URL": f"sqlite:///{tmp_path}/prod.db",
        "HYPERLOOP_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "hyperloop", "serve", "--no-scheduler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "HYPERLOOP_SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "prod.db").exists()
