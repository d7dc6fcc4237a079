"""The security suite attacks a real server: the application under uvicorn on a loopback port,
called over real HTTP, on a seeded database of each backend (SQLite, and PostgreSQL when
``HYPERLOOP_TEST_DATABASE_URL`` is set).

``serve(**settings)`` starts a server with extra ``HYPERLOOP_*`` settings (lower-case names,
e.g. ``serve(environment="production", secret_key="...")``) on a fresh copy of the seeded
world; the module-scoped ``server`` is one with the defaults, shared by a module's tests that
do not change state they depend on."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.factories import PASSWORD, USERNAMES, ApiWorld, seed_api_world
from tests.served import uvicorn_app

from hyperloop.db.testing import backends, private_postgres_database

_counter = itertools.count()


@dataclass
class Served:
    """A running server: its base URL, backend, data folder and the seeded world."""

    base: str
    backend: str
    data_dir: Path
    world: ApiWorld

    def client(self, **kwargs) -> httpx.Client:
        """An HTTP client for this server (no credentials)."""
        return httpx.Client(base_url=self.base, timeout=30, **kwargs)

    def login(self, role: str, password: str = PASSWORD) -> httpx.Client:
        """A client holding the login session (cookies) of the seeded user of ``role``."""
        c = self.client()
        r = c.post("/api/auth/login", json={"username": USERNAMES[role], "password": password})
        assert r.status_code == 200, r.text
        return c

    def bearer(self, role: str) -> httpx.Client:
        """A client sending the API token of the seeded user of ``role``."""
        return self.client(headers={"Authorization": f"Bearer {self.world.tokens[role]}"})


def _template(tmp_path_factory: pytest.TempPathFactory) -> ApiWorld:
    path = tmp_path_factory.getbasetemp() / "security-template.db"
    if not path.exists():
        seed_api_world(f"sqlite:///{path}")
    return ApiWorld(url=f"sqlite:///{path}")


@contextmanager
def _database(backend: str, folder: Path, template: Path) -> Iterator[tuple[str, ApiWorld]]:
    if backend == "sqlite":
        target = folder / "hyperloop.db"
        shutil.copyfile(template, target)
        url = f"sqlite:///{target}"
        yield url, seed_ids(url)
        return
    with private_postgres_database(f"sec{os.getpid()}_{next(_counter)}") as url:
        yield url, seed_api_world(url)


_SEEDED: dict[str, ApiWorld] = {}


def seed_ids(url: str) -> ApiWorld:
    """The world of a copied SQLite template (ids and tokens are the template's)."""
    world = _SEEDED["sqlite"]
    return ApiWorld(
        url=url,
        tokens=world.tokens,
        user_ids=world.user_ids,
        token_ids=world.token_ids,
        notification_ids=world.notification_ids,
        ids=world.ids,
    )


ServeFactory = Callable[..., AbstractContextManager[Served]]


@pytest.fixture(scope="module", params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def serve(backend: str, tmp_path_factory: pytest.TempPathFactory) -> ServeFactory:
    """Factory: ``with serve(**settings) as served:`` a fresh server on a fresh seeded copy."""
    template = tmp_path_factory.getbasetemp() / "security-template.db"
    if "sqlite" not in _SEEDED:
        if template.exists():
            template.unlink()
        _SEEDED["sqlite"] = seed_api_world(f"sqlite:///{template}")

    @contextmanager
    def start(**settings: object) -> Iterator[Served]:
        folder = tmp_path_factory.mktemp("served")
        data_dir = folder / "data"
        data_dir.mkdir()
        with _database(backend, folder, template) as (url, world):
            env = {
                "HYPERLOOP_DATABASE_URL": url,
                "HYPERLOOP_DATA_DIR": str(data_dir),
                "HYPERLOOP_SCHEDULER_IN_SERVER": "false",
                "HYPERLOOP_RUN_MIGRATIONS_ON_START": "false",
            }
            for key, value in settings.items():
                env[f"HYPERLOOP_{key.upper()}"] = value if isinstance(value, str) else _json(value)
            with uvicorn_app(env, folder) as base:
                yield Served(base=base, backend=backend, data_dir=data_dir, world=world)

    return start


def _json(value: object) -> str:
    import json

    return json.dumps(value)


@pytest.fixture(scope="module")
def server(serve: ServeFactory) -> Iterator[Served]:
    """One server with the default settings for the module's tests."""
    with serve() as served:
        yield served


# --- identity suite: the server as `hyperloop serve` starts it ----------------------------


@pytest.fixture(scope="module")
def serve_command(
    serve: ServeFactory, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> ServeFactory:
    """Factory like ``serve``, but the server is started by the real command line
    (``hyperloop serve --no-scheduler --no-migrate``): its own uvicorn configuration (proxy
    headers, …) is part of what is attacked."""
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.served import REPO_ROOT, free_port

    template = tmp_path_factory.getbasetemp() / "security-template.db"

    @contextmanager
    def start(**settings: object) -> Iterator[Served]:
        folder = tmp_path_factory.mktemp("served-cli")
        data_dir = folder / "data"
        data_dir.mkdir()
        with _database(backend, folder, template) as (url, world):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLOOP_")}
            env |= {
                "HYPERLOOP_DATABASE_URL": url,
                "HYPERLOOP_DATA_DIR": str(data_dir),
                "HYPERLOOP_HOST": "127.0.0.1",
                "HYPERLOOP_PORT": str(port),
            }
            for key, value in settings.items():
                env[f"HYPERLOOP_{key.upper()}"] = value if isinstance(value, str) else _json(value)
            cmd = [sys.executable, "-m", "hyperloop", "serve", "--no-scheduler", "--no-migrate"]
            log_path = folder / "serve.log"
            with log_path.open("w") as log:
                proc = subprocess.Popen(
                    cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
                )
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 90
                while True:
                    try:
                        with urllib.request.urlopen(base + "/api/health", timeout=1):
                            break
                    except OSError:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            proc.kill()
                            proc.wait(timeout=10)
                            pytest.fail(f"hyperloop serve did not start: {log_path.read_text()}")
                        time.sleep(0.1)
                try:
                    yield Served(base=base, backend=backend, data_dir=data_dir, world=world)
                finally:
                    proc.terminate()
                    proc.wait(timeout=20)

    return start
