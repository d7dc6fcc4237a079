"""The scheduler's incremental job snapshot (``readers.JobViews``) equals a full fresh read
after any job writes by another process between ticks: state moves, new jobs, trains
entering and leaving the scheduled set, deleted trains (SQLite reuses their ids), raw SQL
bypassing the ORM, and a transaction that commits only after a tick has read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from hyperloop.core import datasets, tags, users
from hyperloop.core.actor import Actor
from hyperloop.db.models import Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.db.models.changes import create_job_triggers, job_trigger_names
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState, Role, TrainState
from hyperloop.scheduler import readers

SCHEDULED = (TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING)
KNOWN = frozenset({"small", "big"})
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(db_engine):
    """A dataset, a tag, two targets; the ids a new train needs."""
    sessions = make_sessionmaker(db_engine)
    with sessions.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        intro = {"package": {"name": "jv", "version": "1.0"}, "workflows": []}
        tag = tags.register_tag(s, None, intro, artifact="/nonexistent/jv")
        ds = datasets.create_dataset(s, admin, "LHC26_jv", collision_system="pp")
        small = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        big = DbTarget(name="big", cores=1, memory_limit_mb=8000)
        s.add_all([small, big])
        s.flush()
        return {"dataset_id": ds.id, "tag_id": tag.id, "targets": [small.id, big.id]}


def _new_train(s, world, state: TrainState, n_jobs: int, target: int = 0) -> int:
    train = TrainRun(
        dataset_id=world["dataset_id"],
        tag_id=world["tag_id"],
        target_id=world["targets"][target],
        state=state,
        wagons_snapshot=[],
    )
    s.add(train)
    s.flush()
    s.add_all(
        Job(train_run_id=train.id, run_number=100 + i % 3, files=[], n_files=0)
        for i in range(n_jobs)
    )
    s.flush()
    return train.id


def _scheduled(s) -> dict[int, str]:
    """The scheduled trains and their targets, as the shell reads them."""
    rows = s.execute(
        select(TrainRun.id, DbTarget.name)
        .join(DbTarget, DbTarget.id == TrainRun.target_id)
        .where(TrainRun.state.in_(SCHEDULED))
    )
    return dict(rows.all())


def _check(sessions, views: readers.JobViews, now: datetime) -> None:
    """One tick's read equals a full read in a fresh session."""
    with sessions() as s, s.begin():
        trains = _scheduled(s)
        got = views.read(s, trains, KNOWN, now)
    with sessions() as s:
        want = readers.full_job_views(s, _scheduled(s), KNOWN)
    assert got == want


# one write by "another process": (kind, a, b, c) with small integers picked into the world
WRITE = st.tuples(
    st.sampled_from(
        ["state", "target", "attempts_sql", "insert", "train_state", "delete_train", "new_train"]
    ),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(0, 6),
)


def _apply(s, world, kind: str, a: int, b: int, c: int) -> None:
    job_ids = s.scalars(select(Job.id).order_by(Job.id)).all()
    train_ids = s.scalars(select(TrainRun.id).order_by(TrainRun.id)).all()
    if kind == "state" and job_ids:
        state = list(JobState)[c % len(JobState)]
        s.execute(update(Job).where(Job.id == job_ids[a % len(job_ids)]).values(state=state))
    elif kind == "target" and job_ids:
        target = ["small", "big", "gone", None][c % 4]
        s.execute(update(Job).where(Job.id == job_ids[a % len(job_ids)]).values(target=target))
    elif kind == "attempts_sql" and job_ids:  # raw SQL: no ORM, no updated_at
        s.execute(
            text("UPDATE jobs SET attempts = attempts + 1 WHERE id = :id"),
            {"id": job_ids[a % len(job_ids)]},
        )
    elif kind == "insert" and train_ids:
        train_id = train_ids[a % len(train_ids)]
        s.add(Job(train_run_id=train_id, run_number=100 + c, files=[], n_files=0))
    elif kind == "train_state" and train_ids:
        state = [*SCHEDULED, TrainState.DONE, TrainState.COMPOSED][c % 5]
        s.execute(
            update(TrainRun).where(TrainRun.id == train_ids[a % len(train_ids)]).values(state=state)
        )
    elif kind == "delete_train" and train_ids:
        s.execute(delete(TrainRun).where(TrainRun.id == train_ids[-1 if b % 2 else 0]))
    elif kind == "new_train":
        _new_train(s, world, SCHEDULED[c % 3], n_jobs=b % 5, target=b % 2)
    s.flush()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=st.lists(st.lists(WRITE, max_size=6), min_size=1, max_size=6))
def test_incremental_job_views_equal_a_full_read_after_any_writes(db_engine, world, rounds):
    """Writes come from a second engine (another process' connections) between ticks."""
    reader = make_sessionmaker(db_engine)
    other = make_engine(db_engine.url.render_as_string(hide_password=False))
    writer = make_sessionmaker(other)
    try:
        with writer.begin() as s:
            _new_train(s, world, TrainState.RUNNING, n_jobs=5)
            _new_train(s, world, TrainState.SUBMITTED, n_jobs=3, target=1)
        views = readers.JobViews()
        _check(reader, views, T0)
        for i, writes in enumerate(rounds):
            with writer.begin() as s:
                for kind, a, b, c in writes:
                    _apply(s, world, kind, a, b, c)
            _check(reader, views, T0 + timedelta(seconds=i + 1))
    finally:
        other.dispose()
        with reader.begin() as s:  # the next example starts from the same world
            s.execute(delete(TrainRun))


def test_a_change_committed_after_a_tick_read_is_not_missed(db_engine, world):
    """A transaction writes, a tick reads (the write is not visible yet), then the
    transaction commits: the next tick sees it although its stamp is older than the read."""
    reader = make_sessionmaker(db_engine)
    other = make_engine(db_engine.url.render_as_string(hide_password=False))
    try:
        with reader.begin() as s:
            train_id = _new_train(s, world, TrainState.RUNNING, n_jobs=4)
        views = readers.JobViews()
        _check(reader, views, T0)
        full = views.full_reads
        with other.connect() as conn:
            trans = conn.begin()
            conn.execute(update(Job).values(state=JobState.RUNNING, attempts=1))
            _check(reader, views, T0 + timedelta(seconds=1))  # before the commit
            with reader() as s:  # the change is not visible yet
                states = set(s.scalars(select(Job.state).where(Job.train_run_id == train_id)))
            assert states == {JobState.WAITING}
            if db_engine.dialect.name == "postgresql":  # SQLite: one writer at a time
                with reader.begin() as s:  # a later transaction commits first
                    _new_train(s, world, TrainState.RUNNING, n_jobs=1)
                _check(reader, views, T0 + timedelta(seconds=1))
            trans.commit()
        with reader.begin() as s:
            got = views.read(s, _scheduled(s), KNOWN, T0 + timedelta(seconds=2))
        assert {v.state for v in got[train_id]} == {JobState.RUNNING}
        assert views.full_reads == full  # read incrementally meanwhile
    finally:
        other.dispose()


def test_without_the_triggers_every_tick_reads_everything(db_engine, world, caplog):
    """A SQLite rebuild of ``jobs`` drops its triggers: the reader notices, says so once,
    and reads every job each tick instead of missing changes."""
    sessions = make_sessionmaker(db_engine)
    with sessions.begin() as s:
        train_id = _new_train(s, world, TrainState.RUNNING, n_jobs=2)
    views = readers.JobViews()
    _check(sessions, views, T0)
    with sessions.begin() as s:
        for name in job_trigger_names(db_engine.dialect.name):
            on = " ON jobs" if db_engine.dialect.name == "postgresql" else ""
            s.execute(text(f"DROP TRIGGER {name}{on}"))
        s.execute(update(Job).values(state=JobState.DONE))
    _check(sessions, views, T0 + timedelta(seconds=1))
    _check(sessions, views, T0 + timedelta(seconds=2))
    with sessions() as s:
        got = views.read(s, _scheduled(s), KNOWN, T0 + timedelta(seconds=3))
    assert {v.state for v in got[train_id]} == {JobState.DONE}
    warned = [r for r in caplog.records if "triggers missing" in r.getMessage()]
    assert len(warned) == 1
    with sessions.begin() as s:  # back (the PostgreSQL test database is reused)
        create_job_triggers(s.connection())
    _check(sessions, views, T0 + timedelta(seconds=4))
    with sessions.begin() as s:
        s.execute(update(Job).values(state=JobState.WAITING))
    _check(sessions, views, T0 + timedelta(seconds=5))


def test_jobs_are_read_whole_again_every_full_every(db_engine, world):
    sessions = make_sessionmaker(db_engine)
    with sessions.begin() as s:
        _new_train(s, world, TrainState.RUNNING, n_jobs=2)
    views = readers.JobViews(full_every=timedelta(minutes=10))
    _check(sessions, views, T0)
    full = views.full_reads
    for minutes in (0, 1, 5, 11, 12):
        _check(sessions, views, T0 + timedelta(minutes=minutes))
    assert views.full_reads == full + 1
