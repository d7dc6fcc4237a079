"""The permission matrix against a real server (uvicorn, HTTP, each backend): every endpoint is
called by every caller the matrix denies and by its least privileged allowed caller, and must
answer as ``tests/api/permission_matrix.py`` says (the in-process test runs every caller).

Denied calls change nothing, so they run first; the allowed calls that change state follow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from tests.api.permission_matrix import (
    CASES,
    Case,
    allowed_caller,
    coverage_problems,
    credentials,
    denied_callers,
    problem,
    request_args,
)
from tests.security.conftest import Served, ServeFactory

pytestmark = pytest.mark.slow


class Callers:
    """One keep-alive HTTP client per caller, sending its API token and no cookies."""

    def __init__(self, served: Served, stack: ExitStack) -> None:
        self.served, self.stack = served, stack
        self.clients: dict[str, httpx.Client] = {}

    def call(self, case: Case, caller: str) -> str | None:
        """Send ``case`` as ``caller``; what is wrong with the answer (None: as expected)."""
        world = self.served.world
        if caller not in self.clients:
            client = self.served.client(headers=credentials(world, caller))
            self.clients[caller] = self.stack.enter_context(client)
        client = self.clients[caller]
        args = request_args(case, caller, world)
        response = client.request(**args)
        client.cookies.clear()  # a login case must not turn the next calls into a session
        current = _current_version(response)
        if current is not None and _send_version(args, current):
            # an earlier call edited the same object: reload and apply the edit again, as
            # the conflict's message asks any client to
            response = client.request(**args)
            client.cookies.clear()
        wrong = problem(case, caller, response.status_code, _json(response))
        if wrong is None:
            return None
        return f"{caller} {case.method} {args['url']}: {wrong}: {response.text[:300]}"


def _current_version(response: httpx.Response) -> int | None:
    body = _json(response) if response.status_code == 409 else None
    details = body.get("details") if isinstance(body, dict) else None
    return details.get("current_version") if isinstance(details, dict) else None


def _send_version(args: dict[str, Any], version: int) -> bool:
    """Put ``version`` as ``expected_version`` into the call (False: it sends none)."""
    for where in (args.get("json"), args.get("params")):
        if isinstance(where, dict) and "expected_version" in where:
            where["expected_version"] = version
            return True
    return False


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# The matrix imports file lists under /data: the served catalogue's storage root.
SETTINGS = {"storage_roots": ["/data"]}


@pytest.fixture(scope="module")
def server(serve: ServeFactory) -> Iterator[Served]:
    with serve(**SETTINGS) as served:
        yield served


def test_the_served_document_has_exactly_the_matrix_endpoints(server: Served) -> None:
    with server.bearer("admin") as admin:
        response = admin.get("/openapi.json")
    assert response.status_code == 200, response.text
    problems = coverage_problems(response.json())
    assert problems == [], "\n".join(problems)


def test_the_served_matrix(server: Served, serve: ServeFactory) -> None:
    """Every endpoint x every caller the matrix denies (anonymous: 401; others: 403, or 404
    for personal resources), and every endpoint for its least privileged allowed caller.

    Denied calls change nothing, so they and the allowed reads go first. The allowed calls
    that change state follow in the matrix's order, deletions last; an edit refused because
    an earlier call changed the object is sent again with the current version; a call
    answered wrongly after earlier calls changed what it works on (a train's state) runs
    again, in order, on a fresh server. The first call on a fresh server gives the verdict."""
    wrong: list[str] = []
    with ExitStack() as stack:
        as_caller = Callers(server, stack)
        for case in CASES:
            for caller in denied_callers(case):
                wrong.append(as_caller.call(case, caller))
            if case.method == "GET":
                wrong.append(as_caller.call(case, allowed_caller(case)))
        pending = [c for c in CASES if c.method != "GET"]
        pending.sort(key=lambda c: (c.revokes_caller, c.method == "DELETE"))  # deletions last
        pending = _changes(as_caller, pending, wrong, fresh=False)
    servers = 1
    while pending:
        with serve(**SETTINGS) as served, ExitStack() as stack:
            servers += 1
            pending = _changes(Callers(served, stack), pending, wrong, fresh=True)
    assert servers <= 4, f"{servers} servers: the order of the changing calls needs a look"
    problems = [w for w in wrong if w]
    assert problems == [], f"{len(problems)} answers differ from the matrix:\n" + "\n".join(
        problems
    )


def _changes(as_caller: Callers, cases: list[Case], wrong: list[str | None], *, fresh: bool):
    """Send ``cases`` in order; the ones to try again on a fresh server."""
    retry: list[Case] = []
    for i, case in enumerate(cases):
        answer = as_caller.call(case, allowed_caller(case))
        if answer is not None and fresh and i == 0:
            wrong.append(answer)
        elif answer is not None:
            retry.append(case)
    return retry
