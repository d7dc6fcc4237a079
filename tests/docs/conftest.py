"""Fixtures of the documentation tests: the built site (once per session), a seeded
database for the REST API examples, and the folders of the docs sources."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import REALDATA, REPO_ROOT

DOCS = REPO_ROOT / "docs"
EXAMPLES = DOCS / "examples"
UD_FILE = REALDATA / "AO2D_ud_rho_run3.root"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation built by its one command, strictly (any MkDocs warning fails it)."""
    from typer.testing import CliRunner

    from hyperloop.cli import app

    site = tmp_path_factory.mktemp("site") / "site"
    result = CliRunner().invoke(
        app, ["docs", "build", "--out", str(site), "--strict", "--no-screenshots"]
    )
    assert result.exit_code == 0, result.output
    assert "documentation built in" in result.output
    return site


@dataclass
class ApiWorld:
    """A small seeded database: one analyzer with a token, an analysis and a dataset."""

    url: str
    token: str
    analysis_id: int
    dataset_id: int


@pytest.fixture
def api_world(tmp_path: Path) -> ApiWorld:
    """An analyzer (token), analysis, active dataset added to it, and a package tag built
    from the installed physics package's introspection."""
    from hyperloop.analysis.workflows import load_package
    from hyperloop.core import analyses, datasets, tags, users
    from hyperloop.core.actor import Actor
    from hyperloop.db.models import Base
    from hyperloop.db.session import make_engine, make_sessionmaker

    url = f"sqlite:///{tmp_path / 'docs.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    try:
        with make_sessionmaker(engine).begin() as s:
            admin = Actor(users.create_user(s, "ada", roles=["admin"]))
            operator = Actor(users.create_user(s, "oscar", roles=["operator"]))
            alice = users.create_user(s, "alice")
            _, token = users.create_api_token(s, alice, "docs")
            analysis = analyses.create_analysis(s, admin, "upc-rho", "PWGUD")
            analyses.add_member(s, admin, analysis.id, alice.id)
            introspection = {**load_package().describe(), "tag": "physics-docs"}
            tags.register_tag(s, admin, introspection, artifact=str(tmp_path / "tag"))
            dataset = datasets.create_dataset(s, operator, "LHC23_PbPb_UD")
            datasets.set_active(s, operator, dataset.id, True)
            analyses.add_dataset(s, Actor(alice), analysis.id, dataset.id)
            world = ApiWorld(url, token, analysis.id, dataset.id)
    finally:
        engine.dispose()
    return world


@pytest.fixture
def api_client(api_world: ApiWorld) -> Iterator:
    """A TestClient on an application bound to the seeded database, sending the token."""
    from fastapi.testclient import TestClient

    from hyperloop.settings import load_settings
    from hyperloop.web.app import create_app

    app = create_app(load_settings(database_url=api_world.url, run_migrations_on_start=False))
    with TestClient(app, headers={"Authorization": f"Bearer {api_world.token}"}) as client:
        yield client
    app.state.engine.dispose()
