"""Property-based test of the whole API from its OpenAPI schema (schemathesis), in-process:
whatever the generated input, the answer is documented (no 5xx; documented status code,
content type and headers; the body matches the documented model). Runs as an admin so every
operation is reached past authorisation; bounded to a few examples per operation (see
``tests/api/fuzzing.py``; ``tests/security/test_fuzz_served.py`` runs it over HTTP)."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from tests.api.conftest import copy_world
from tests.api.fuzzing import BOUNDED, CHECKS, fuzzer_still_admin, headers, keep_the_fuzzer_in
from tests.factories import ApiWorld

from hyperloop.db.session import make_engine
from hyperloop.settings import load_settings
from hyperloop.web.app import bind_database, create_app

# The schema is read from an application built at import time (schemathesis parametrises at
# collection); the seeded database is bound to it by the fixture below.
APP = create_app(load_settings(database_url="sqlite://"))
# Bounded run: the (exhaustive) coverage phase is off; hypothesis generates a few examples
# per operation, valid and invalid, so the whole API takes about ten seconds.
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_world(template_world: ApiWorld, tmp_path_factory: pytest.TempPathFactory):
    world = copy_world(template_world, tmp_path_factory.mktemp("fuzz"))
    engine = make_engine(world.url)
    bind_database(APP, engine)
    yield world
    with TestClient(APP) as client:
        fuzzer_still_admin(client.get("/api/users/me", headers=headers(world)))
    engine.dispose()


@pytest.mark.slow
@schema.parametrize()
@BOUNDED
def test_answers_are_documented_whatever_the_input(case, fuzz_world: ApiWorld) -> None:
    keep_the_fuzzer_in(case, fuzz_world)
    case.call_and_validate(headers=headers(fuzz_world), checks=CHECKS)
