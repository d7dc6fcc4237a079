"""The API fuzzer (schemathesis) against a real server (uvicorn, HTTP, each backend): whatever
the generated input, every answer is documented — no 5xx, a documented status code, content
type and headers, a body matching the documented model (``tests/api/fuzzing.py``). A bounded
stateful run then chains operations through the links schemathesis infers from the document
(an id one answer returns is the path parameter of the next call), reaching objects the
fuzzer created. HYPERLOOP_FUZZ_EXAMPLES=50 (and HYPERLOOP_FUZZ_STEPS) for a deeper run."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from tests.api.fuzzing import (
    BOUNDED,
    CHECKS,
    EXAMPLES,
    fuzzer_still_admin,
    headers,
    keep_the_fuzzer_in,
)
from tests.security.conftest import Served

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow

# The document the server serves (checked below), read at import: schemathesis parametrises
# the operations at collection, before any server runs.
DOCUMENT = create_app(load_settings(database_url="sqlite://")).openapi()
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)
# the chains: links inferred from the document (schemathesis writes them into its copy)
CHAINS = SchemathesisConfig.from_dict({"phases": {"stateful": {"enabled": True}}})
chain_schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CHAINS)
STEPS = int(os.environ.get("HYPERLOOP_FUZZ_STEPS", "6"))
TIMEOUT = 30  # seconds per call: a call that hangs fails the test (no answer is a bug too)


@pytest.fixture(scope="module")
def fuzzed(server: Served) -> Iterator[tuple[Served, requests.Session]]:
    """The module's server and one keep-alive HTTP session; afterwards the fuzzer must still
    be an admin (otherwise the run stopped at 401/403 without saying so)."""
    with requests.Session() as session:
        yield server, session
        me = session.get(f"{server.base}/api/users/me", headers=headers(server.world))
        fuzzer_still_admin(me)


def test_the_fuzzed_document_is_the_served_one(server: Served) -> None:
    with server.bearer("admin") as admin:
        served = admin.get("/openapi.json")
    assert served.status_code == 200, served.text
    assert served.json() == DOCUMENT


def test_a_nul_character_in_a_text_is_not_a_server_error(server: Served) -> None:
    """Found by the chained run on PostgreSQL, whose text columns cannot hold NUL: was a 500.
    PostgreSQL refuses the value with a 422 naming it; SQLite keeps the text as sent."""
    body = {"name": "nul-test", "pwg": "PWGLF", "description": "before\u0000after"}
    with server.bearer("admin") as admin:
        created = admin.post("/api/analyses", json=body)
        found = admin.get("/api/analyses", params={"limit": 200}).json()["items"]
    names = [a["name"] for a in found]
    if server.backend == "sqlite":
        assert created.status_code == 201, created.text
        assert created.json()["description"] == "before\u0000after"
    else:
        assert created.status_code == 422, created.text
        assert created.json()["message"] == "text values may not contain NUL (\\0) characters"
        assert "nul-test" not in names  # nothing was written


@schema.parametrize()
@BOUNDED
def test_served_answers_are_documented(case, fuzzed: tuple[Served, requests.Session]) -> None:
    served, session = fuzzed
    keep_the_fuzzer_in(case, served.world)
    case.call_and_validate(
        base_url=served.base,
        session=session,
        headers=headers(served.world),
        checks=CHECKS,
        timeout=TIMEOUT,
    )


def test_chained_calls_are_documented(fuzzed: tuple[Served, requests.Session]) -> None:
    """Scenarios of up to STEPS calls, each feeding the ids an answer returns into the next
    call (links inferred from the document), run by schemathesis' engine: hypothesis' own
    state machine replays scenarios and cannot against a server that keeps their effects.
    The two calls that could take the fuzzer's credentials away are left out here."""
    served, _ = fuzzed
    config = SchemathesisConfig.from_dict(
        {
            "base-url": served.base,
            "headers": headers(served.world),
            "request-timeout": TIMEOUT,
            "workers": 1,
            "generation": {"max-examples": EXAMPLES * 5, "deterministic": True},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "fuzzing": {"enabled": False},
                "stateful": {"enabled": True, "max-steps": STEPS},
            },
            "checks": {"enabled": False, **{check.__name__: {"enabled": True} for check in CHECKS}},
        }
    )
    chains = (
        schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=config)
        .exclude(path="/api/users/me/tokens/{token_id}", method="DELETE")
        .exclude(path="/api/users/{username}/roles", method="PUT")
    )
    calls, problems = 0, []
    for event in engine.from_schema(chains).execute():
        if isinstance(event, events.ScenarioFinished):
            calls += len(event.recorder.cases)
            problems += _failures(event)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"{type(event).__name__}: {event.info}")
    assert calls >= EXAMPLES * 5, f"only {calls} calls: the chains did not run"
    assert problems == [], "\n".join(problems)


def _failures(event: events.ScenarioFinished) -> list[str]:
    """Each failed check of a scenario: what failed and the call reproducing it."""
    return [
        f"{check.failure_info.failure.title}: {check.failure_info.code_sample}"
        for checks in event.recorder.checks.values()
        for check in checks
        if check.status is engine.Status.FAILURE and check.failure_info is not None
    ]
