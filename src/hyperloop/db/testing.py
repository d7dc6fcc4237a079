"""pytest fixtures for tests on a real database: a fresh SQLite file per test, and the same
tests on PostgreSQL when ``HYPERLOOP_TEST_DATABASE_URL`` is set (parametrised over both).

Use from a conftest: ``from hyperloop.db.testing import *  # noqa: F403``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from hyperloop.db.models import Base
from hyperloop.db.session import make_engine, make_sessionmaker

ENV = "HYPERLOOP_TEST_DATABASE_URL"

__all__ = ["db_backend", "db_engine", "db_sessionmaker", "db_url", "pytest_generate_tests",
           "session", "reset_postgres"]


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(ENV) else ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        metafunc.parametrize("db_backend", backends(), scope="function")


def reset_postgres(url: str) -> None:
    """Drop every table (and the Alembic version table) of the test PostgreSQL database."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path) -> str:
    """URL of an empty database of the requested backend (no tables yet)."""
    if db_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'hyperloop.db'}"
    url = os.environ[ENV]
    reset_postgres(url)
    return url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with every table created from the models."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_sessionmaker(db_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(db_engine)


@pytest.fixture
def session(db_sessionmaker: sessionmaker[Session]) -> Iterator[Session]:
    """One session on a fresh database; the test commits when it needs to."""
    with db_sessionmaker() as s:
        yield s
