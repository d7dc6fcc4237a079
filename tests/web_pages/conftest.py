"""Fixtures for page tests: the app (no database needed for these pages) over sample outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.web_pages.accounts import ANALYZER, PASSWORD, seed_accounts
from tests.web_pages.sample_outputs import make_outputs, seed_train

from hyperloop.settings import load_settings
from hyperloop.web.app import create_app


@pytest.fixture(scope="module")
def outputs_dir(tmp_path_factory: pytest.TempPathFactory, realdata: Path) -> Path:
    return make_outputs(tmp_path_factory.mktemp("outputs"), realdata)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, outputs_dir: Path):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'pages.db'}"
    seed_accounts(url)
    seed_train(url)
    settings = load_settings(
        database_url=url, outputs_root=outputs_dir, work_dir=outputs_dir / "work"
    )
    return create_app(settings)


@pytest.fixture(scope="module")
def anonymous(app) -> TestClient:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    """Logged in as the analyzer (session cookie)."""
    with TestClient(app) as c:
        r = c.post("/api/auth/login", json={"username": ANALYZER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield c
