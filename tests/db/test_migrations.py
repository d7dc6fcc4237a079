"""Migrations: upgrade from empty, downgrade to base, upgrade again; models == migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hyperloop.db import migrate
from hyperloop.db.models import Base
from hyperloop.db.session import make_engine


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(db_url):
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)
    head = migrate.current(db_url)
    assert head is not None
    migrate.downgrade(db_url)
    assert migrate.current(db_url) is None
    assert _tables(db_url) == set()
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == head


def test_models_and_migrations_describe_the_same_schema(db_url):
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
