"""My Analyses is built as plain JSON (no response-model validation per request, for speed):
what it sends must still be exactly its documented schema, and the page must show the same
grid. Runs on SQLite and, with HYPERLOOP_TEST_DATABASE_URL set, on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from tests.api.conftest import copy_world
from tests.factories import ApiWorld, seed_api_world

from hyperloop.db.session import make_engine
from hyperloop.db.testing import db_postgres_url, db_url, pytest_generate_tests  # noqa: F401
from hyperloop.web.api.analyses import MyAnalysis
from hyperloop.web.api.jobs import JobOut
from hyperloop.web.api.trains import TrainDetail, TrainOut
from hyperloop.web.app import bind_database
from hyperloop.web.pagination import Page

ROLES = ("analyzer", "service_expert", "admin", "user")
CELL = re.compile(
    r'<div class="cell(?P<on> is-on)?" id="cell-(?P<wagon>\d+)-(?P<dataset>\d+)"'
    r'.*?data-status="(?P<status>[^"]*)"(?P<rest>.*?)</div>',
    re.S,
)


@pytest.fixture
def grid(
    db_backend: str,
    shared_app,
    session_client: TestClient,
    template_world: ApiWorld,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[TestClient, ApiWorld]]:
    """The API test world on the backend under test, served by the shared application."""
    if db_backend == "sqlite":
        world = copy_world(template_world, tmp_path)
    else:
        world = seed_api_world(request.getfixturevalue("db_url"))
    engine = make_engine(world.url)
    bind_database(shared_app, engine)
    session_client.cookies.clear()
    yield session_client, world
    engine.dispose()


def _get(client: TestClient, world: ApiWorld, role: str, path: str, **params):
    r = client.get(path, params=params, headers={"Authorization": f"Bearer {world.tokens[role]}"})
    assert r.status_code == 200, f"{path} as {role}: {r.status_code} {r.text[:300]}"
    return r


def test_my_analyses_json_is_exactly_its_documented_schema(grid, shared_app) -> None:
    client, world = grid
    openapi = shared_app.openapi()
    op = openapi["paths"]["/api/my-analyses"]["get"]
    documented = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert documented["items"]["$ref"] == "#/components/schemas/MyAnalysis"
    validator = jsonschema_rs.Draft202012Validator(
        {**documented, "components": openapi["components"]}
    )
    adapter = TypeAdapter(list[MyAnalysis])
    seen_cells = 0
    for role in ROLES:
        for with_service in (True, False):
            r = _get(client, world, role, "/api/my-analyses", with_service=with_service)
            assert r.headers["content-type"] == "application/json"
            body = r.json()
            validator.validate(body)  # the OpenAPI document (types, required, enums)
            # the pydantic model, strictly, and nothing more: a round trip gives the same JSON
            models = adapter.validate_json(r.content, strict=True)
            assert adapter.dump_python(models, mode="json") == body, role
            seen_cells += sum(len(w["cells"]) for a in body for w in a["wagons"])
    assert seen_cells > 0  # the grids were not empty


def test_service_analyses_come_first_then_mine_in_saved_order(grid) -> None:
    client, world = grid
    names = [a["name"] for a in _get(client, world, "analyzer", "/api/my-analyses").json()]
    assert names == ["core-services", "lf-spectra"]
    expert = _get(client, world, "service_expert", "/api/my-analyses").json()
    # a member of the service analysis sees it once, as a member (editable)
    assert [(a["name"], a["member"], a["can_edit"]) for a in expert] == [
        ("core-services", True, True)
    ]


def test_the_page_shows_the_same_grid_as_the_json(grid) -> None:
    client, world = grid
    cells = 0
    for role in ("analyzer", "service_expert"):
        data = _get(client, world, role, "/api/my-analyses").json()
        html = _get(client, world, role, "/").text
        assert re.findall(r'<span class="name">([^<]+)</span>', html) == [a["name"] for a in data]
        expected = {
            (w["id"], c["dataset_id"]): (c["enabled"], c["test_status"] or "", c["test_id"])
            for a in data
            for w in a["wagons"]
            for c in w["cells"]
        }
        shown = {}
        for m in CELL.finditer(html):
            test = re.search(r'href="/wagon-test/(\d+)"', m["rest"])
            shown[(int(m["wagon"]), int(m["dataset"]))] = (
                bool(m["on"]),
                m["status"],
                int(test.group(1)) if test else None,
            )
        assert shown == expected, role
        cells += len(shown)
        for a in data:
            for s in a["slots"]:
                assert f"slots {s['used']}/{s['allowed']}" in html
    assert cells > 0


@pytest.mark.parametrize(
    ("path", "params", "model"),
    [
        ("/api/train-runs/{train}", {}, TrainDetail),
        ("/api/train-runs", {"limit": 5}, Page[TrainOut]),
        ("/api/jobs", {"train_run_id": "{train}", "limit": 5}, Page[JobOut]),
    ],
)
def test_lists_and_detail_serialised_once_are_exactly_their_documented_schema(
    grid, shared_app, path, params, model
) -> None:
    """Train-run detail, train-run list and jobs list skip FastAPI's second validation: what
    they send must still be exactly the documented response model."""
    client, world = grid
    train = world.ids["train"]
    url = path.format(train=train)
    query = {k: str(v).format(train=train) for k, v in params.items()}
    openapi = shared_app.openapi()
    documented = openapi["paths"][path.replace("{train}", "{train_id}")]["get"]["responses"]
    schema = documented["200"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": openapi["components"]})
    r = _get(client, world, "user", url, **query)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    validator.validate(body)  # the OpenAPI document (types, required, enums)
    parsed = model.model_validate_json(r.content, strict=True)
    assert parsed.model_dump(mode="json") == body  # nothing more, nothing less
    items = body.get("items", [body])
    assert items, url
    assert all(item.get("id") for item in items)
