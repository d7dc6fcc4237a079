"""Permission matrix in-process: every API endpoint x every caller (each role, member or not of
the analysis concerned), expected allow/deny (SPEC §1). The matrix itself is data in
``tests/api/permission_matrix.py``; ``tests/security/test_permission_matrix_served.py`` runs a
slice of it against a real server.

Each non-GET case runs on a fresh copy of the seeded database; GET cases share one copy.
"""

from __future__ import annotations

import pytest
from tests.api.conftest import copy_world
from tests.api.permission_matrix import (
    CASES,
    MEMBERS,
    Case,
    coverage_problems,
    credentials,
    problem,
    request_args,
)
from tests.factories import CALLERS, ApiWorld

from hyperloop.db.session import make_engine
from hyperloop.web.app import bind_database


def test_every_documented_endpoint_has_a_matrix_entry(shared_app) -> None:
    problems = coverage_problems(shared_app.openapi())
    assert problems == [], "permission matrix and OpenAPI document differ:\n" + "\n".join(problems)


def test_the_coverage_check_names_what_is_missing() -> None:
    document = {"paths": {"/api/health": {"get": {}}, "/api/new": {"post": {}, "parameters": []}}}
    cases = [c for c in CASES if c.route in ("/api/health", "/api/users")]
    assert coverage_problems(document, cases) == [
        "POST /api/new: endpoint without a permission-matrix entry",
        "GET /api/users: matrix entry for no endpoint",
        "POST /api/users: matrix entry for no endpoint",
    ]


def test_analysis_scoped_rows_are_checked_for_members_and_non_members() -> None:
    """Every analysis-scoped row has callers of the same role on both sides of membership."""
    scoped = [c for c in CASES if c.scope == "analysis"]
    assert len(scoped) >= 15
    for case in scoped:
        assert MEMBERS - {"analyzer"} <= case.allowed, case.name
        for role in ("operator", "dpg_expert", "pwg_convener"):
            assert role not in case.allowed and f"{role}_member" in case.allowed, case.name


@pytest.fixture(scope="module")
def read_only_world(template_world: ApiWorld, tmp_path_factory: pytest.TempPathFactory) -> ApiWorld:
    """GET cases change nothing that matters, so they share one copy of the database."""
    return copy_world(template_world, tmp_path_factory.mktemp("read-only"))


@pytest.mark.slow
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_permission_matrix(
    case: Case,
    caller: str,
    shared_app,
    session_client,
    read_only_world: ApiWorld,
    template_world: ApiWorld,
    tmp_path,
) -> None:
    world = read_only_world if case.method == "GET" else copy_world(template_world, tmp_path)
    engine = make_engine(world.url)
    bind_database(shared_app, engine)
    session_client.cookies.clear()
    args = request_args(case, caller, world)
    try:
        response = session_client.request(**args, headers=credentials(world, caller))
    finally:
        engine.dispose()
    try:
        body = response.json()
    except ValueError:
        body = None
    wrong = problem(case, caller, response.status_code, body)
    assert wrong is None, f"{caller} {case.method} {args['url']}: {wrong}: {response.text[:400]}"
