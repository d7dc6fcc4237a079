"""Property-based test of the whole API from its OpenAPI schema (schemathesis): whatever the
generated input, the server never answers 5xx.  Runs as an admin so every operation is
reached past authorisation; bounded to a few examples per operation (set
HYPERLOOP_FUZZ_EXAMPLES=50 for a deeper local run)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from tests.api.conftest import copy_world
from tests.api.world import World

from hyperloop.db.session import make_engine
from hyperloop.settings import load_settings
from hyperloop.web.app import bind_database, create_app

# The schema is read from an application built at import time (schemathesis parametrises at
# collection); the seeded database is bound to it by the fixture below.
APP = create_app(load_settings(database_url="sqlite://"))
# Bounded run: the (exhaustive) coverage phase is off; hypothesis generates a few examples
# per operation, valid and invalid, so the whole API takes about a minute.
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_world(template_world: World, tmp_path_factory: pytest.TempPathFactory):
    world = copy_world(template_world, tmp_path_factory.mktemp("fuzz"))
    engine = make_engine(world.url)
    bind_database(APP, engine)
    yield world
    engine.dispose()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("HYPERLOOP_FUZZ_EXAMPLES", "4")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_on_generated_input(case, fuzz_world: World) -> None:
    response = case.call(headers={"Authorization": f"Bearer {fuzz_world.tokens['admin']}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert {"error", "message", "details"} <= set(body), body
