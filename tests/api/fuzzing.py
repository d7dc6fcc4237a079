"""What the property-based API tests (schemathesis) share, in-process and served: the checks
every response must pass, the bounded example count and the caller the fuzzer acts as.

The checks: no 5xx; the status code is documented for the operation (errors come from the
shared ``ERROR_RESPONSES``); the content type is the documented one; documented headers are
present; the body matches the documented schema (the response model, or ``ErrorBody``).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.factories import USERNAMES, ApiWorld

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Examples per operation: a few in CI; HYPERLOOP_FUZZ_EXAMPLES=50 for a deeper local run.
EXAMPLES = int(os.environ.get("HYPERLOOP_FUZZ_EXAMPLES", "4"))

BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

FUZZER = "admin"  # every operation is reached past authorisation


def headers(world: ApiWorld) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[FUZZER]}"}


def keep_the_fuzzer_in(case: Any, world: ApiWorld) -> None:
    """The fuzzer must not revoke its own token nor take away its own admin role, or every
    later call would stop at 401/403 (documented answers: the run would pass, testing
    nothing): such a generated call is pointed at another user."""
    params = case.path_parameters or {}
    own_token = params.get("token_id") == world.token_ids[FUZZER]
    if case.path == "/api/users/me/tokens/{token_id}" and own_token:
        params["token_id"] = world.token_ids["user"]  # somebody else's: 404
    own_name = str(params.get("username", "")).strip() == USERNAMES[FUZZER]
    if case.path == "/api/users/{username}/roles" and own_name:
        params["username"] = "bob"


def fuzzer_still_admin(me: Any) -> None:
    """After a run: the fuzzer's token still authenticates an admin."""
    assert me.status_code == 200, f"the fuzzer lost its credentials: {me.text}"
    assert "admin" in me.json()["roles"], f"the fuzzer lost its admin role: {me.text}"
