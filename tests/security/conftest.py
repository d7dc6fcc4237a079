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
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.api.world import PASSWORD, USERNAMES, World, seed
from tests.served import uvicorn_app

from hyperloop.db.session import make_engine
from hyperloop.db.testing import ENV, backends

_counter = itertools.count()


@dataclass
class Served:
    """A running server: its base URL, backend, data folder and the seeded world."""

    base: str
    backend: str
    data_dir: Path
    world: World

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


def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    path = tmp_path_factory.getbasetemp() / "security-template.db"
    if not path.exists():
        seed(f"sqlite:///{path}")
    return World(url=f"sqlite:///{path}")


@contextmanager
def _database(backend: str, folder: Path, template: Path) -> Iterator[tuple[str, World]]:
    if backend == "sqlite":
        target = folder / "hyperloop.db"
        shutil.copyfile(template, target)
        url = f"sqlite:///{target}"
        yield url, seed_ids(url)
        return
    base = make_url(os.environ[ENV])
    name = f"{base.database}_sec{os.getpid()}_{next(_counter)}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url, seed(url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_SEEDED: dict[str, World] = {}


def seed_ids(url: str) -> World:
    """The world of a copied SQLite template (ids and tokens are the template's)."""
    world = _SEEDED["sqlite"]
    return World(
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
        _SEEDED["sqlite"] = seed(f"sqlite:///{template}")

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
