"""pytest fixtures for tests on a real database: a fresh SQLite file per test, and the same
tests on PostgreSQL when ``HYPERLOOP_TEST_DATABASE_URL`` is set (parametrised over both).

Use from a conftest: ``from hyperloop.db.testing import *  # noqa: F403``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hyperloop.db.models import Base
from hyperloop.db.session import make_engine, make_sessionmaker

ENV = "HYPERLOOP_TEST_DATABASE_URL"

__all__ = [
    "db_postgres_url",
    "db_sqlite_template",
    "db_engine",
    "db_sessionmaker",
    "db_url",
    "pytest_generate_tests",
    "session",
    "reset_postgres",
    "private_postgres_database",
]


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


@contextmanager
def private_postgres_database(suffix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database ``<db>_<suffix>`` on the server of
    HYPERLOOP_TEST_DATABASE_URL (its URL), dropped on exit even with clients still connected
    (e.g. processes a test killed)."""
    base = make_url(os.environ[ENV])
    name = f"{base.database}_{suffix}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def db_postgres_url() -> Iterator[str]:
    """A private PostgreSQL database for this test process (``<db>_t<pid>``): concurrent
    test runs on the same server never see each other's rows."""
    with private_postgres_database(f"t{os.getpid()}") as url:
        yield url


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """URL of an empty database of the requested backend (no tables yet)."""
    if db_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'hyperloop.db'}"
    url = request.getfixturevalue("db_postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def db_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every table, created once and copied for each test (fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _pg_fresh(url: str) -> Engine:
    """An engine on the test PostgreSQL database with every table, all of them empty.

    Rows are deleted when the tables exist (fast); the schema is rebuilt otherwise."""
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    expected = set(Base.metadata.tables)
    if names == expected:
        with engine.begin() as conn:  # DELETE is much faster than TRUNCATE on tiny tables
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        return engine
    engine.dispose()
    reset_postgres(url)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    return engine


@pytest.fixture
def db_engine(
    db_backend: str, tmp_path: Path, db_sqlite_template: Path, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """An engine on a fresh database with every table created from the models."""
    if db_backend == "sqlite":
        path = tmp_path / "fresh.db"
        shutil.copyfile(db_sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = _pg_fresh(request.getfixturevalue("db_postgres_url"))
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
