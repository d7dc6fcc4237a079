"""API test fixtures: the world is seeded once into a SQLite file; each test gets its own
copy of the file (a fresh database, no state leaks) bound to one shared application."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import ApiWorld, seed_api_world

from hyperloop.db.session import make_engine
from hyperloop.settings import load_settings
from hyperloop.web.app import bind_database, create_app


@pytest.fixture(scope="session")
def template_world(tmp_path_factory: pytest.TempPathFactory) -> ApiWorld:
    path = tmp_path_factory.mktemp("template") / "world.db"
    return seed_api_world(f"sqlite:///{path}")


def copy_world(template: ApiWorld, folder: Path) -> ApiWorld:
    """A private copy of the seeded database file."""
    target = folder / "world.db"
    shutil.copyfile(Path(template.url.removeprefix("sqlite:///")), target)
    return ApiWorld(
        url=f"sqlite:///{target}",
        tokens=template.tokens,
        user_ids=template.user_ids,
        token_ids=template.token_ids,
        notification_ids=template.notification_ids,
        ids=template.ids,
    )


@pytest.fixture
def world(template_world: ApiWorld, tmp_path: Path) -> ApiWorld:
    """A private copy of the seeded database for this test."""
    return copy_world(template_world, tmp_path)


@pytest.fixture(scope="session")
def shared_app(template_world: ApiWorld):
    """One application for the whole session (building it takes ~0.5 s); each test binds
    it to its own database copy."""
    return create_app(load_settings(database_url=template_world.url, storage_roots=["/data"]))


@pytest.fixture(scope="session")
def session_client(shared_app) -> Iterator[TestClient]:
    """One in-process client (one event-loop thread) for the session."""
    with TestClient(shared_app) as c:
        yield c


@pytest.fixture
def app(shared_app, world: ApiWorld):
    engine = make_engine(world.url)
    bind_database(shared_app, engine)
    yield shared_app
    engine.dispose()


class RoleClient:
    """Sends every request with one role's credentials through the session's client."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self._client, self.headers = client, headers

    def request(self, method: str, url: str, **kwargs):
        headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
        return self._client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kw):
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw):
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw):
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw):
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw):
        return self.request("DELETE", url, **kw)


def role_client(client: TestClient, world: ApiWorld, role: str) -> RoleClient:
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {world.tokens[role]}"}
    return RoleClient(client, headers)


@pytest.fixture
def client(app, session_client: TestClient) -> TestClient:
    """The session client, bound to this test's database (no credentials)."""
    session_client.cookies.clear()
    return session_client


@pytest.fixture
def as_role(app, session_client: TestClient, world: ApiWorld) -> Callable[[str], RoleClient]:
    """``as_role("operator")`` -> a client sending that role's API token."""
    session_client.cookies.clear()
    return lambda role: role_client(session_client, world, role)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """test_schemathesis.py reads the API description from its application without a login
    while it is imported (schemathesis parametrises at collection); only that import sees
    the setting that makes /openapi.json public."""
    if collector.nodeid.endswith("test_schemathesis.py"):
        import os

        key = "HYPERLOOP_API_DESCRIPTION_PUBLIC"
        old = os.environ.get(key)
        os.environ[key] = "true"
        try:
            return (yield)
        finally:
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    return (yield)
