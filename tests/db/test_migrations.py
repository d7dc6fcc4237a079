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


def _count(url: str, table: str) -> int:
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def test_migrations_that_rebuild_a_table_keep_the_rows_that_point_to_it(db_url):
    """SQLite rebuilds a table to change it (batch mode); with foreign keys enforced, dropping
    the old train_runs table would cascade to every job. An upgrade must lose nothing."""
    from sqlalchemy.orm import Session

    from hyperloop.core import datasets, tags, users
    from hyperloop.core.actor import Actor
    from hyperloop.db.models import Job, Target, TrainRun
    from hyperloop.enums import JobState, Role

    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with Session(engine) as s, s.begin():
            admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
            intro = {"package": {"name": "p", "version": "1"}, "workflows": []}
            tag = tags.register_tag(s, None, intro, artifact="")
            ds = datasets.create_dataset(s, admin, "LHC26_mig", collision_system="pp")
            target = Target(name="t", cores=1, memory_limit_mb=2000)
            s.add(target)
            s.flush()
            train = TrainRun(dataset_id=ds.id, tag_id=tag.id, target_id=target.id)
            s.add(train)
            s.flush()
            for i in range(3):
                s.add(Job(train_run_id=train.id, run_number=i, state=JobState.DONE))
    finally:
        engine.dispose()
    # down past the revision that rebuilds train_runs, and up again
    migrate.downgrade(db_url, "0003_perf_indexes")
    assert (_count(db_url, "train_runs"), _count(db_url, "jobs")) == (1, 3)
    migrate.upgrade(db_url)
    assert (_count(db_url, "train_runs"), _count(db_url, "jobs")) == (1, 3)
