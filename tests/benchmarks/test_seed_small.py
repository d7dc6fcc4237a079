"""The benchmark seeder (benchmarks/seed.py) builds a consistent database at a tiny scale:
right row counts, intact references, one current test per enabling, jobs only on submitted
trains, reuse of a finished seed, deterministic resumption, and the real API can read it."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from benchmarks.seed import WITH_JOBS, Counts, bench_seed, seed, wipe
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from hyperloop.core import users
from hyperloop.db import models as m
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.settings import load_settings
from hyperloop.web.app import create_app

pytestmark = pytest.mark.slow  # seeds a database and starts the app: ~5-20 s

SCALE = 0.001  # the minimum world: 4 analyses, 12+ wagons, 20 trains, 200 jobs
BACKENDS = ["sqlite", "postgresql"] if os.environ.get("HYPERLOOP_TEST_DATABASE_URL") else ["sqlite"]


def _postgres_url() -> str:
    """A database of its own on the test server (the shared test database is reset by others)."""
    base = make_url(os.environ["HYPERLOOP_TEST_DATABASE_URL"])
    name = f"{base.database}_seed"
    engine = make_engine(base.render_as_string(hide_password=False))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'bench.db'}"
    else:
        url = _postgres_url()
    report = seed(url, SCALE, fresh=True, log=lambda _msg: None)
    assert not report.reused
    yield url
    if request.param == "postgresql":
        wipe(url)


def _scalar(url: str, stmt) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(stmt) or 0)
    finally:
        engine.dispose()


def test_row_counts_match_the_scale(seeded: str) -> None:
    want = Counts.at(SCALE)
    for model, n in (
        (m.Analysis, want.analyses),
        (m.Wagon, want.wagons),
        (m.Dataset, want.datasets),
        (m.TrainRun, want.train_runs),
        (m.Job, want.jobs),
        (m.User, want.users),
    ):
        assert _scalar(seeded, select(func.count()).select_from(model)) == n, model.__name__


def test_references_and_invariants_hold(seeded: str) -> None:
    engine = make_engine(seeded)
    try:
        with make_sessionmaker(engine)() as s:
            if engine.dialect.name == "sqlite":
                assert s.execute(text("PRAGMA foreign_key_check")).all() == []
            # a wagon belongs to one analysis, and is enabled only on datasets of that analysis
            linked = set(
                s.execute(select(m.AnalysisDataset.analysis_id, m.AnalysisDataset.dataset_id))
            )
            for wagon_analysis, dataset in s.execute(
                select(m.Wagon.analysis_id, m.WagonDataset.dataset_id).join(
                    m.WagonDataset, m.WagonDataset.wagon_id == m.Wagon.id
                )
            ):
                assert (wagon_analysis, dataset) in linked
            # exactly one current (not superseded) test per enabled (wagon, dataset)
            current = Counter(
                s.execute(
                    select(m.WagonTest.wagon_id, m.WagonTest.dataset_id).where(
                        m.WagonTest.superseded.is_(False)
                    )
                ).all()
            )
            enablings = set(s.execute(select(m.WagonDataset.wagon_id, m.WagonDataset.dataset_id)))
            assert set(current) == enablings and set(current.values()) == {1}
            # the train-wagon index rows mirror the frozen snapshot
            for train in s.scalars(select(m.TrainRun)):
                links = s.execute(
                    select(m.train_run_wagons.c.wagon_id, m.train_run_wagons.c.analysis_id).where(
                        m.train_run_wagons.c.train_run_id == train.id
                    )
                ).all()
                snap = {(w["wagon_id"], w["analysis_id"]) for w in train.wagons_snapshot}
                assert set(links) == snap and len(links) == len(train.wagons_snapshot) >= 1
                assert train.dataset_snapshot["id"] == train.dataset_id
                if train.finished_at is not None:
                    assert train.submitted_at is not None
                    assert train.composed_at < train.submitted_at < train.finished_at
            # jobs only on trains that were submitted, with run numbers of their dataset
            for train_id, state in s.execute(
                select(m.TrainRun.id, m.TrainRun.state).join(m.Job).distinct()
            ):
                assert state.value in WITH_JOBS, (train_id, state)
            job = s.scalars(select(m.Job).order_by(m.Job.id)).first()
            train = s.get(m.TrainRun, job.train_run_id)
            assert job.run_number in train.dataset_snapshot["runs"]
            assert job.n_files == len(job.files)
    finally:
        engine.dispose()


def test_new_rows_get_fresh_ids_after_seeding(seeded: str) -> None:
    """The seeder writes explicit ids; PostgreSQL sequences must continue after them."""
    engine = make_engine(seeded)
    try:
        with make_sessionmaker(engine).begin() as s:
            newest = s.scalar(select(func.max(m.Analysis.id)))
            analysis = m.Analysis(name="added-after-seed", pwg="LF")
            s.add(analysis)
            s.flush()
            assert analysis.id > newest
            s.delete(analysis)
    finally:
        engine.dispose()


def test_the_api_serves_the_seeded_world(seeded: str) -> None:
    engine = make_engine(seeded)
    try:
        with make_sessionmaker(engine).begin() as s:
            _, token = users.create_api_token(s, s.get(m.User, 1), "seed-test")
    finally:
        engine.dispose()
    app = create_app(load_settings(database_url=seeded))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        mine = client.get("/api/my-analyses", headers=headers)
        assert mine.status_code == 200, mine.text
        assert mine.json() and all(a["wagons"] for a in mine.json())
        trains = client.get("/api/train-runs?limit=5&state=done", headers=headers)
        assert trains.status_code == 200, trains.text
        assert {t["state"] for t in trains.json()["items"]} == {"done"}
        detail = client.get(f"/api/train-runs/{trains.json()['items'][0]['id']}", headers=headers)
        assert detail.status_code == 200 and detail.json()["wagons_snapshot"]
    app.state.engine.dispose()


def test_finished_seed_is_reused_and_interrupted_one_resumes_identically(seeded: str) -> None:
    fingerprint = select(func.count(), func.sum(m.Job.id), func.sum(m.Job.run_number))
    engine = make_engine(seeded)
    try:
        with engine.connect() as conn:
            before = conn.execute(fingerprint).one()
        assert seed(seeded, SCALE, log=lambda _msg: None).reused
        with engine.begin() as conn:  # simulate a seed interrupted before the jobs
            conn.execute(m.Job.__table__.delete())
            for key, value in (("phase", "base"), ("jobs_done_upto", "0")):
                conn.execute(update(bench_seed).where(bench_seed.c.key == key).values(value=value))
        report = seed(seeded, SCALE, log=lambda _msg: None)
        assert not report.reused
        with engine.connect() as conn:
            assert conn.execute(fingerprint).one() == before
    finally:
        engine.dispose()


def test_scale_is_validated() -> None:
    with pytest.raises(ValueError, match="scale"):
        Counts.at(0)
    assert Counts.at(1.0).jobs == 1_000_000 and Counts.at(1.0).train_runs == 10_000
