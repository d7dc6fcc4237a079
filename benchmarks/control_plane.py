"""Control-plane throughput: the real scheduler (pure core + shell + services) on a real
database, with a simulated engine whose jobs complete instantly with synthetic metrics.

Trains are composed (auto-submit, slow) and driven by ``SchedulerShell.tick()`` through
every life-cycle step: train test (composed -> testing -> test done -> submitted), split
into jobs (-> running), jobs waiting -> running -> done or failed (execution, memory on a
bigger target, expired, validation, lost worker) -> resubmitted -> running -> done,
per-run merges, final merge (-> merging) and done. Simulated jobs write no output files,
so the merge stages do their bookkeeping but merge no histograms (benchmarks/merge.py
measures merging). Reports state transitions/s (goal, issue 5: >= 2,000/s) on SQLite and
PostgreSQL, with the database's own floor measured in the same run: the same number of
single-row state UPDATEs, one transaction each (what a one-commit-per-transition design
can reach at best), and all in one transaction.

The scheduler reads the jobs of its trains incrementally (only those changed since its last
tick, ``scheduler.readers.JobViews``); each mode of ``--modes`` drives its own fresh trains
over the same database, ``full`` reading every job of the scheduled trains each tick as
before (the baseline), and reports tick and snapshot time percentiles. ``--history N`` first
seeds N finished jobs (done trains, bulk inserts); ``--steady-ticks K`` measures K ticks
while every driven job runs and ``--trickle`` attempts finish per tick (the usual case of a
scheduler at scale) before driving them to done. The database of 1,000,000 jobs with
10,000 active:

    .venv/bin/python benchmarks/control_plane.py [--jobs 100000] [--backend sqlite|postgresql|both]
        [--history 0] [--steady-ticks 0 [--trickle 100]] [--modes incremental,full]
        [--pg-url URL] [--profile FILE]
    .venv/bin/python benchmarks/control_plane.py --jobs 10000 --history 990000 --steady-ticks 20

PostgreSQL uses its own database ``hyperloop_bench_cp`` (created, emptied each run) on the
server of HYPERLOOP_TEST_DATABASE_URL (or --pg-url).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hyperloop.core import datasets, runlists, tags, users  # noqa: E402
from hyperloop.core.actor import Actor  # noqa: E402
from hyperloop.db import migrate  # noqa: E402
from hyperloop.db import models as m  # noqa: E402
from hyperloop.db.session import make_engine, make_sessionmaker  # noqa: E402
from hyperloop.enums import JobState, Role, TrainState  # noqa: E402
from hyperloop.grid.execute import AttemptRecord, attempt_folder  # noqa: E402
from hyperloop.grid.splitting import JobSpec  # noqa: E402
from hyperloop.grid.targets import Target  # noqa: E402
from hyperloop.readmodels import dashboard  # noqa: E402
from hyperloop.scheduler import decide  # noqa: E402
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig  # noqa: E402

GOAL_PER_S = 2000.0
GiB = 1024**3
FILES_PER_JOB = 10  # TrainWork's default split: 10 files per job
JOBS_PER_RUN = 10
DEFAULT_PG = "postgresql+psycopg://hyperloop:hyperloop@127.0.0.1:5432/hyperloop_test"

# failures of a first attempt by bucket (per mille of jobs), second attempts: 2 % execution
FIRST_ATTEMPT = (
    (40, "execution"),
    (60, "memory"),  # retried on the target with more memory per job
    (70, "expired"),
    (80, "validation"),
    (90, "lost"),  # the future raises: a worker died
)
SECOND_ATTEMPT = ((20, "execution"),)


# ------------------------------------------------------------------------------ engine


class WorkerLost(RuntimeError):
    """What a simulated future raises for a lost worker (like distributed.KilledWorker)."""


@dataclass
class DoneFuture:
    """A future that is already finished (the subset of a Dask future the shell uses)."""

    value: AttemptRecord | None = None
    error: BaseException | None = None

    def done(self) -> bool:
        return True

    def result(self) -> AttemptRecord:
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


@dataclass
class HeldFuture:
    """A simulated attempt that runs until ``released`` (the steady phase)."""

    inner: DoneFuture
    released: bool = False

    def done(self) -> bool:
        return self.released

    def result(self) -> AttemptRecord:
        return self.inner.result()


@dataclass
class SimulatedEngine:
    """``grid.engine.Engine.submit`` without Dask: every attempt finishes instantly with
    synthetic metrics; failures are deterministic per (job, attempt). Test samples
    (``job_id == "sample"``) get a ``metrics_summary.json`` the assessment accepts."""

    submitted: Counter = field(default_factory=Counter)
    hold: bool = False  # job attempts run until released (``release``)
    held: list[HeldFuture] = field(default_factory=list)

    def release(self, n: int) -> None:
        """Let the ``n`` oldest held attempts finish."""
        for future in self.held[:n]:
            future.released = True
        del self.held[:n]

    @staticmethod
    def _bucket(job_id: str, attempt: int) -> int:
        digest = hashlib.blake2b(f"{job_id}/{attempt}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "little") % 1000

    def outcome(self, job_id: str, attempt: int) -> str:
        """ "" (validated) or the error kind of this attempt."""
        table = FIRST_ATTEMPT if attempt == 1 else SECOND_ATTEMPT if attempt == 2 else ()
        b = self._bucket(job_id, attempt)
        return next((kind for limit, kind in table if b < limit), "")

    def submit(
        self,
        job: JobSpec,
        full_config: dict[str, Any],
        target: Target,
        train_dir: str | os.PathLike,
        attempt: int,
        **kwargs: Any,
    ) -> DoneFuture | HeldFuture:
        future = self._submit(job, target, train_dir, attempt, **kwargs)
        if self.hold and job.job_id != "sample":
            self.held.append(HeldFuture(future))
            return self.held[-1]
        return future

    def _submit(
        self,
        job: JobSpec,
        target: Target,
        train_dir: str | os.PathLike,
        attempt: int,
        **kwargs: Any,
    ) -> DoneFuture:
        self.submitted[job.job_id == "sample"] += 1
        # attempt_folder's path, as a string (a Path per job costs more than the rest here)
        folder = os.path.join(train_dir, job.job_id, f"attempt-{attempt}")
        rec = AttemptRecord(
            job_id=job.job_id,
            run=job.run,
            attempt=attempt,
            target=target.name,
            state="done",
            reason=str(kwargs.get("reason", "")),
            cpu_s=41.5,
            wall_s=45.0,
            max_pss_bytes=900 * 1024**2,
            bytes_read=sum(job.sizes),
            files=list(job.files),
            folder=str(folder),
            host="sim-node",
        )
        if job.job_id == "sample":  # a wagon or train test: the assessment reads the summary
            folder = attempt_folder(train_dir, job.job_id, attempt)
            folder.mkdir(parents=True, exist_ok=True)
            summary = {
                "__full_train__": {
                    "cpu": 41.5,
                    "wall": 45.0,
                    "proportionalSetSize_summary": {"avg": 0.9e9, "max": 1.0e9},
                    "aod-bytes-read-compressed": float(sum(job.sizes)),
                }
            }
            (folder / "metrics_summary.json").write_text(json.dumps(summary))
            return DoneFuture(rec)
        kind = self.outcome(job.job_id, attempt)
        if kind == "lost":
            return DoneFuture(error=WorkerLost(f"worker lost while running {job.job_id}"))
        if kind:
            rec.state, rec.error_kind = "error", kind
            rec.message = f"simulated {kind} error in {job.job_id} attempt {attempt}"
            rec.signature = f"Simulated{kind.title()}Error at sim.py:process"
        return DoneFuture(rec)

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------ world

WAGONS = [
    (
        f"wf-{name}",
        {
            f"wf-{name}": {
                **{f"cut{i}": str(0.1 * i) for i in range(25)},
                "ptBins": {"values": [0.1 * i for i in range(60)]},
            }
        },
    )
    for name in ("spectra", "correlations", "strangeness", "pid-qa", "v0-qa")
]


def plan(jobs: int) -> tuple[int, int]:
    """(trains, jobs per train) for about ``jobs`` jobs: trains of up to 1,000 jobs."""
    trains = max(2, round(jobs / 1000))
    per_train = max(JOBS_PER_RUN, jobs // trains // JOBS_PER_RUN * JOBS_PER_RUN)
    return trains, per_train


@dataclass
class World:
    url: str
    dataset_id: int
    tag_id: int
    target_id: int
    runs: list[int]
    snapshot: list[dict[str, Any]]


def build_world(url: str, jobs_per_train: int) -> World:
    """Migrated schema, an admin, a tag, one dataset whose catalogue splits into
    ``jobs_per_train`` jobs and two targets."""
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    runs = list(range(500000, 500000 + jobs_per_train // JOBS_PER_RUN))
    try:
        with sessions.begin() as s:
            admin = Actor(users.create_user(s, "cp-admin", roles=[Role.ADMIN]))
            intro = {"package": {"name": "cp-wagons", "version": "1.0"}, "workflows": []}
            tag = tags.register_tag(s, None, intro, artifact="/nonexistent/cp-wagons")
            ds = datasets.create_dataset(s, admin, "LHC26_cp", collision_system="pp")
            rl = runlists.create_runlist(s, admin, "LHC26_cp_pass1", runs)
            prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
            files = [
                {
                    "production_id": prod.id,
                    "run_number": run,
                    "path": f"/alice/data/2026/LHC26_cp/{run}/AO2D_{i:03d}.root",
                    "size": 1_500_000_000 + 1000 * i,
                }
                for run in runs
                for i in range(FILES_PER_JOB * JOBS_PER_RUN)
            ]
            s.execute(m.DatasetFile.__table__.insert(), files)
            small = m.Target(name="cp-small", cores=1, memory_limit_mb=2000)
            big = m.Target(name="cp-big", cores=1, memory_limit_mb=8000)
            s.add_all([small, big])
            s.flush()
            snapshot = [
                {
                    "wagon_id": 1000 + i,
                    "analysis_id": 1,
                    "workflow": wf,
                    "base_config": conf,
                    "subwagons": {"tight": {wf: {"cut1": "0.5"}}} if i % 2 else {},
                    "dependency_snapshots": [],
                }
                for i, (wf, conf) in enumerate(WAGONS)
            ]
            return World(url, ds.id, tag.id, small.id, runs, snapshot)
    finally:
        engine.dispose()


def _train_row(world: World, state: TrainState) -> dict[str, Any]:
    return {
        "dataset_id": world.dataset_id,
        "tag_id": world.tag_id,
        "target_id": world.target_id,
        "state": state,
        "auto_submit": True,
        "slow": True,
        "wagons_snapshot": world.snapshot,
        "dataset_snapshot": {"id": world.dataset_id, "runs": world.runs},
    }


def compose(world: World, n_trains: int) -> list[int]:
    """``n_trains`` composed auto-submit trains."""
    engine = make_engine(world.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            trains = [m.TrainRun(**_train_row(world, TrainState.COMPOSED)) for _ in range(n_trains)]
            s.add_all(trains)
            s.flush()
            return [t.id for t in trains]
    finally:
        engine.dispose()


def _copy_jobs(conn: Any, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY (psycopg): several times faster than INSERTs for a million rows."""
    cols = list(rows[0])
    sql = f"COPY jobs ({', '.join(cols)}) FROM STDIN"
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(v) if isinstance(v, list) else getattr(v, "value", v)
                    for v in row.values()
                ]
            )


def seed_history(world: World, jobs: int, per_train: int = 1000, chunk: int = 20_000) -> int:
    """``jobs`` finished jobs in done trains of ``per_train`` jobs (bulk inserts, one
    transaction per ``chunk`` jobs); returns the number of trains."""
    engine = make_engine(world.url)
    n_trains = -(-jobs // per_train) if jobs > 0 else 0
    try:
        with engine.begin() as conn:
            rows = [_train_row(world, TrainState.DONE) for _ in range(n_trains)]
            ids: list[int] = []
            for row in rows:  # one RETURNING per train (a few thousand at most)
                ids.append(conn.execute(m.TrainRun.__table__.insert(), row).inserted_primary_key[0])
        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        batch: list[dict[str, Any]] = []
        left = jobs
        for train_id in ids:
            for i in range(min(per_train, left)):
                run = world.runs[(i // JOBS_PER_RUN) % len(world.runs)]
                batch.append(
                    {
                        "train_run_id": train_id,
                        "run_number": run,
                        "files": [],
                        "n_files": FILES_PER_JOB,
                        "state": JobState.DONE,
                        "attempts": 1,
                        "cpu_s": 41.5,
                        "wall_s": 45.0,
                        "bytes_read": 0,
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
            left -= min(per_train, left)
            if len(batch) >= chunk or left <= 0:
                with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        _copy_jobs(conn, batch)
                    else:
                        conn.execute(m.Job.__table__.insert(), batch)
                batch = []
        if engine.dialect.name == "sqlite":  # fold the seeding's WAL into the database file
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE jobs")
    finally:
        engine.dispose()
    return n_trains


def postgres_url(explicit: str | None) -> str:
    """``hyperloop_bench_cp`` on the test server, created if missing and emptied."""
    base = make_url(explicit or os.environ.get("HYPERLOOP_TEST_DATABASE_URL") or DEFAULT_PG)
    if explicit:
        url = base.render_as_string(hide_password=False)
    else:
        admin = make_engine(base.render_as_string(hide_password=False))
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                q = text("SELECT 1 FROM pg_database WHERE datname = 'hyperloop_bench_cp'")
                if not conn.scalar(q):
                    conn.execute(text("CREATE DATABASE hyperloop_bench_cp"))
        finally:
            admin.dispose()
        url = base.set(database="hyperloop_bench_cp").render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return url


# ------------------------------------------------------------------------------ measuring


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


@dataclass
class Result:
    backend: str
    mode: str
    history: int  # finished jobs in the database besides those driven
    trains: int
    jobs: int
    ticks: int
    seconds: float
    snapshot_s: float
    transitions: dict[str, int]
    instructions: dict[str, int]
    attempts: int
    failed_attempts: int
    merges_run: int
    merges_final: int
    all_done: bool
    cpu_s: float = 0.0  # CPU time of the benchmark process while ticking (not the DB server's)
    floor_single_per_s: float = 0.0
    floor_batch_per_s: float = 0.0
    tick_s: list[float] = field(default_factory=list)  # each tick, whole (read, decide, perform)
    snap_s: list[float] = field(default_factory=list)  # each tick's snapshot read
    steady: Steady | None = None
    story_rows: int = 0  # transitions recorded with their causes (core.story) for these trains

    @property
    def total(self) -> int:
        return sum(self.transitions.values())

    @property
    def per_s(self) -> float:
        """Transitions/s outside the steady phase (its ticks wait for the trickle)."""
        moved = self.total - (self.steady.transitions if self.steady else 0)
        return moved / self.seconds if self.seconds else 0.0

    def pcts(self, values: list[float]) -> str:
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        return f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(values or [0]) * 1000:.0f} ms"


class TimedShell(SchedulerShell):
    """The real shell; only measures how long each tick and its snapshot take."""

    snapshot_s = 0.0
    cpu_s = 0.0  # CPU time of this process while ticking (drive)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tick_times: list[float] = []
        self.snap_times: list[float] = []

    def snapshot(self, s: Any, now: datetime) -> decide.Snapshot:
        t0 = time.perf_counter()
        try:
            return super().snapshot(s, now)
        finally:
            self.snap_times.append(time.perf_counter() - t0)
            self.snapshot_s += self.snap_times[-1]

    def tick(self, now: datetime | None = None) -> Any:
        t0 = time.perf_counter()
        try:
            return super().tick(now)
        finally:
            self.tick_times.append(time.perf_counter() - t0)


@dataclass
class Steady:
    """The steady phase: ticks while every job of the trains is submitted and running,
    ``trickle`` attempts finishing before each tick (what a tick costs at scale when
    little changes, the scheduler's usual case)."""

    ticks: int = 0
    trickle: int = 0
    tick_s: list[float] = field(default_factory=list)
    snap_s: list[float] = field(default_factory=list)
    seconds: float = 0.0
    transitions: int = 0  # job moves in the phase (running -> verdict, resubmissions)
    first: int = 0  # index of its first tick among all ticks

    def outside(self, values: list[float]) -> list[float]:
        """``values`` (one per tick of the run) without the steady phase's."""
        return values[: self.first] + values[self.first + self.ticks :]


def drive(
    url: str,
    train_ids: list[int],
    work: Path,
    max_ticks: int,
    incremental: bool = True,
    steady: Steady | None = None,
    jobs: int = 0,
) -> tuple[Any, ...]:
    """Tick until every train is done; returns (shell, ticks, seconds, instruction counts).
    With ``steady``: first until the ``jobs`` jobs run, then ``steady.ticks`` measured
    ticks (not in ``seconds``), then on to done."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    targets = {
        "cp-small": Target("cp-small", 1, 2 * GiB, 3600),
        "cp-big": Target("cp-big", 1, 8 * GiB, 3600),
    }
    cfg = ShellConfig(
        work_dir=work, targets=targets, test_target="cp-small", incremental_jobs=incremental
    )
    sim = SimulatedEngine(hold=bool(steady and steady.ticks))
    shell = TimedShell(sessions, sim, cfg, warm_read_models=dashboard.warm)
    kinds: Counter = Counter()
    ticks = 0

    def step() -> bool:
        """One tick; False when every train is done."""
        nonlocal ticks
        tick = shell.tick()
        ticks += 1
        if tick.unperformed:
            names = sorted({type(i).__name__ for i in tick.unperformed})
            raise SystemExit(f"the shell did not perform {names}")
        kinds.update(type(i).__name__ for i in tick.instructions)
        with sessions() as s:
            left = s.scalar(
                select(func.count())
                .select_from(m.TrainRun)
                .where(m.TrainRun.id.in_(train_ids), m.TrainRun.state != TrainState.DONE)
            )
        return bool(left)

    t0, cpu0 = time.perf_counter(), time.process_time()
    paused = 0.0
    try:
        if steady and steady.ticks:
            while sim.submitted[False] < jobs and ticks < max_ticks:
                step()
            before = kinds["FinishJob"] + 2 * kinds["ResubmitJob"] + 2 * kinds["RequeueLost"]
            s0 = time.perf_counter()
            steady.first = len(shell.tick_times)
            for _ in range(steady.ticks):
                sim.release(steady.trickle)
                step()
                steady.tick_s.append(shell.tick_times[-1])
                steady.snap_s.append(shell.snap_times[-1])
            steady.seconds = paused = time.perf_counter() - s0
            after = kinds["FinishJob"] + 2 * kinds["ResubmitJob"] + 2 * kinds["RequeueLost"]
            steady.transitions = after - before
            sim.hold = False
            sim.release(len(sim.held))
        while ticks < max_ticks and step():
            pass
        seconds = time.perf_counter() - t0 - paused
        shell.cpu_s = time.process_time() - cpu0
    finally:
        engine.dispose()
    return shell, ticks, seconds, kinds


def count_transitions(url: str, train_ids: list[int]) -> tuple[dict[str, int], int, int, bool]:
    """State transitions recorded in the database: train moves (history rows) and job moves
    (per job: ``attempts`` x waiting->running and running->verdict, plus one resubmission
    per failed attempt)."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            train_moves = s.scalar(
                select(func.count())
                .select_from(m.HistoryEntry)
                .where(
                    m.HistoryEntry.object_type == "train_run",
                    m.HistoryEntry.object_id.in_(train_ids),
                    m.HistoryEntry.action == "transition",
                )
            )
            n_jobs, attempts, done = s.execute(
                select(
                    func.count(),
                    func.sum(m.Job.attempts),
                    func.sum(func.cast(m.Job.state == JobState.DONE, m.Job.attempts.type)),
                ).where(m.Job.train_run_id.in_(train_ids))
            ).one()
            trains_done = s.scalar(
                select(func.count())
                .select_from(m.TrainRun)
                .where(m.TrainRun.id.in_(train_ids), m.TrainRun.state == TrainState.DONE)
            )
    finally:
        engine.dispose()
    failed = int(attempts) - int(n_jobs)
    moves: dict[str, int] = {
        "train": int(train_moves),
        "job waiting->running": int(attempts),
        "job running->done/error": int(attempts),
        "job error->waiting (resubmitted)": failed,
    }
    all_done = done == n_jobs and trains_done == len(train_ids)
    return moves, int(attempts), failed, bool(all_done)


def count_story_rows(url: str, train_ids: list[int]) -> int:
    """Rows of the ``transitions`` table (every move with its cause) of the trains and their
    jobs: each move above plus the creation of each job."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as s:
            stmt = select(func.count()).where(m.Transition.train_run_id.in_(train_ids))
            return int(s.scalar(stmt.select_from(m.Transition)))
    finally:
        engine.dispose()


def db_floor(url: str, n: int) -> tuple[float, float]:
    """Single-row job state UPDATEs per second: one transaction each, and all in one."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ids = conn.scalars(select(m.Job.id).order_by(m.Job.id).limit(n)).all()
        stmt = text("UPDATE jobs SET state = :st, attempts = attempts + 0 WHERE id = :jid")
        t0 = time.perf_counter()
        for jid in ids:
            with engine.begin() as conn:
                conn.execute(stmt, {"st": "done", "jid": jid})
        single = len(ids) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for jid in ids:
                conn.execute(stmt, {"st": "done", "jid": jid})
        batch = len(ids) / (time.perf_counter() - t0)
    finally:
        engine.dispose()
    return single, batch


def run_backend(backend: str, url: str, args: argparse.Namespace, work: Path) -> list[Result]:
    """One database: the history, then for each mode its own fresh trains driven to done."""
    n_trains, per_train = plan(args.jobs)
    print(f"\n=== {backend}: {n_trains} trains x {per_train} jobs per mode", flush=True)
    t0 = time.perf_counter()
    world = build_world(url, per_train)
    print(f"  world built in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.history:
        t0 = time.perf_counter()
        n_hist = seed_history(world, args.history)
        seconds = time.perf_counter() - t0
        print(
            f"  history: {args.history:,} done jobs in {n_hist:,} done trains seeded in "
            f"{seconds:.1f} s ({args.history / seconds:,.0f} rows/s)",
            flush=True,
        )
        # the dashboard's closed days of the history, stored as a running server has them
        # (otherwise the first shell's ticks spend their warm-up budget storing them)
        t0 = time.perf_counter()
        engine = make_engine(url)
        try:
            while dashboard.warm(engine, budget_s=60.0):
                pass
        finally:
            engine.dispose()
        print(f"  dashboard days stored in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()  # warm-up, not reported: the first trains pay for cold caches
    drive(url, compose(world, 1), work / backend / "warm-up", args.max_ticks)
    print(f"  warm-up train driven in {time.perf_counter() - t0:.1f} s", flush=True)
    results = []
    for mode in args.modes:
        train_ids = compose(world, n_trains)
        print(f"  -- {mode} snapshot", flush=True)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        steady = Steady(args.steady_ticks, args.trickle) if args.steady_ticks else None
        shell, ticks, seconds, kinds = drive(
            url,
            train_ids,
            work / backend / mode,
            args.max_ticks,
            mode == "incremental",
            steady,
            n_trains * per_train,
        )
        if profiler:
            profiler.disable()
            out = Path(f"{args.profile}.{backend}.{mode}")
            profiler.dump_stats(out)
            pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)
        moves, attempts, failed, all_done = count_transitions(url, train_ids)
        merges_run = sum(len(r) for r in shell.train_work.run_merges.values())
        result = Result(
            backend=backend,
            mode=mode,
            history=args.history,
            trains=n_trains,
            jobs=n_trains * per_train,
            ticks=ticks,
            seconds=seconds,
            snapshot_s=shell.snapshot_s,
            transitions=moves,
            instructions=dict(sorted(kinds.items())),
            attempts=attempts,
            failed_attempts=failed,
            merges_run=merges_run,
            merges_final=kinds.get("StartFinalMerge", 0),
            all_done=all_done,
            cpu_s=shell.cpu_s,
            tick_s=steady.outside(shell.tick_times) if steady else shell.tick_times,
            snap_s=steady.outside(shell.snap_times) if steady else shell.snap_times,
            steady=steady,
            story_rows=count_story_rows(url, train_ids),
        )
        results.append(result)
        print_result(result)
    n_floor = min(max(r.total for r in results), args.floor_updates)
    single, batch = db_floor(url, n_floor)
    for r in results:
        r.floor_single_per_s, r.floor_batch_per_s = single, batch
    print(
        f"  database floor (single-row UPDATEs): {single:,.0f}/s one transaction each, "
        f"{batch:,.0f}/s in one transaction; scheduler / one-per-transaction floor = "
        + ", ".join(f"{r.per_s / single:.2f} ({r.mode})" for r in results)
    )
    return results


def print_result(r: Result) -> None:
    print(
        f"  {r.jobs:,} jobs in {r.trains} trains: {r.attempts:,} attempts "
        f"({r.failed_attempts:,} failed and resubmitted), {r.merges_run:,} per-run merges, "
        f"{r.merges_final} final merges, every job and train done: {'yes' if r.all_done else 'NO'}"
    )
    print(f"  transitions: {json.dumps(r.transitions)}")
    print(
        f"  recorded with their causes (transitions table): {r.story_rows:,} rows "
        f"({r.total:,} moves + {r.jobs:,} job creations = {r.total + r.jobs:,})"
    )
    print(f"  instructions performed: {json.dumps(r.instructions)}")
    print(
        f"  {r.total:,} transitions in {r.seconds:.1f} s over {r.ticks} ticks "
        f"(reading snapshots {r.snapshot_s:.1f} s): {r.per_s:,.0f} transitions/s, "
        f"{r.per_s / GOAL_PER_S:.2f}x the goal of {GOAL_PER_S:,.0f}/s"
    )
    print(f"  tick time: {r.pcts(r.tick_s)}; snapshot read: {r.pcts(r.snap_s)}")
    if r.steady:
        st = r.steady
        print(
            f"  steady phase ({r.jobs:,} jobs running, {st.trickle} attempts finishing per "
            f"tick; not in the figures above): {len(st.tick_s)} ticks, {st.transitions:,} "
            f"transitions in {st.seconds:.1f} s; tick time: {r.pcts(st.tick_s)}; "
            f"snapshot read: {r.pcts(st.snap_s)}"
        )
    if r.cpu_s:
        print(
            f"  CPU time of this process while ticking: {r.cpu_s:.1f} s "
            f"({r.total / r.cpu_s:,.0f} transitions per CPU second; wall/CPU "
            f"{r.seconds / r.cpu_s:.1f}: waiting for the database or for a busy machine)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--jobs", type=int, default=100_000, help="jobs driven per mode (trains of <=1000)"
    )
    ap.add_argument(
        "--history", type=int, default=0, help="finished jobs seeded first (done trains)"
    )
    ap.add_argument(
        "--steady-ticks",
        type=int,
        default=0,
        help="ticks measured while every job runs (0: no steady phase)",
    )
    ap.add_argument("--trickle", type=int, default=100, help="attempts finishing per steady tick")
    ap.add_argument(
        "--modes",
        type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
        default=["incremental", "full"],
        help="snapshot modes, each on its own trains: incremental, full (comma-separated)",
    )
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default=None, help="PostgreSQL database (emptied!)")
    ap.add_argument("--max-ticks", type=int, default=200)
    ap.add_argument("--floor-updates", type=int, default=20_000)
    ap.add_argument("--profile", default=None, help="cProfile the ticks into FILE.<backend>")
    ap.add_argument("--json", default=None, help="write the results to this file")
    args = ap.parse_args(argv)
    if not args.modes or set(args.modes) - {"incremental", "full"}:
        ap.error(f"--modes: incremental and/or full, not {','.join(args.modes)!r}")
    work = Path(tempfile.mkdtemp(prefix="hyperloop-bench-cp-"))
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    try:
        for backend in backends:
            url = (
                f"sqlite:///{work / 'cp.db'}" if backend == "sqlite" else postgres_url(args.pg_url)
            )
            results += run_backend(backend, url, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\ncontrol plane, {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min); "
        f"{args.jobs:,} jobs driven per mode, {args.history:,} finished jobs besides"
    )
    for r in results:
        p50, p95 = percentile(r.tick_s, 0.5), percentile(r.tick_s, 0.95)
        s50, s95 = percentile(r.snap_s, 0.5), percentile(r.snap_s, 0.95)
        print(
            f"{r.backend:10s} {r.mode:11s} {r.total:>9,} transitions {r.seconds:8.1f} s "
            f"{r.per_s:8,.0f}/s  goal ratio {r.per_s / GOAL_PER_S:5.2f}x  "
            f"tick p50/p95/max {p50:6.3f}/{p95:6.3f}/{max(r.tick_s or [0]):6.3f} s  "
            f"snapshot p50/p95 {s50:6.3f}/{s95:6.3f} s  "
            f"all done: {'yes' if r.all_done else 'NO'}"
        )
    for r in results:
        if r.steady and r.steady.tick_s:
            st = r.steady
            p50, p95 = percentile(st.tick_s, 0.5), percentile(st.tick_s, 0.95)
            s50, s95 = percentile(st.snap_s, 0.5), percentile(st.snap_s, 0.95)
            print(
                f"{r.backend:10s} {r.mode:11s} steady, {r.jobs:,} running, {st.trickle}/tick "
                f"finishing: tick p50/p95/max {p50:6.3f}/{p95:6.3f}/{max(st.tick_s):6.3f} s  "
                f"snapshot p50/p95 {s50:6.3f}/{s95:6.3f} s"
            )
    by = {(r.backend, r.mode): r for r in results}
    for backend in backends:
        inc, full = by.get((backend, "incremental")), by.get((backend, "full"))
        if inc and full and inc.snap_s and full.snap_s:
            ratio = percentile(full.snap_s, 0.5) / max(percentile(inc.snap_s, 0.5), 1e-9)
            line = f"{backend}: snapshot p50 full / incremental = {ratio:.1f}x"
            if inc.steady and full.steady and inc.steady.tick_s and full.steady.tick_s:
                a, b = percentile(inc.steady.tick_s, 0.5), percentile(full.steady.tick_s, 0.5)
                c, d = percentile(inc.steady.snap_s, 0.5), percentile(full.steady.snap_s, 0.5)
                line += f"; steady: tick p50 {b / max(a, 1e-9):.1f}x, snapshot p50 {d / max(c, 1e-9):.1f}x"
            print(line)
    if args.json:
        data = [r.__dict__ | {"total": r.total, "per_s": r.per_s} for r in results]
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
    return 0 if all(r.all_done for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
