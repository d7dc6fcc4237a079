"""The shell performs job instructions many to a transaction, yet an instruction that fails
loses only itself: its batch is rolled back and redone one transaction per instruction,
the failing one is reported in ``Tick.failed`` and the others are applied, with no
attempt on the engine that the database does not know about."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from hyperloop.analysis.spec import FullConfig
from hyperloop.core import datasets, runlists, tags, users
from hyperloop.core import jobs as jobs_service
from hyperloop.core.actor import Actor
from hyperloop.core.story import Cause
from hyperloop.db.models import DatasetFile, Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import JobState, Role, TrainState
from hyperloop.grid.execute import AttemptRecord
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig

GiB = 1024**3
RUNS = (500100, 500101, 500102)
JOBS_PER_RUN = 2


@dataclass
class DoneFuture:
    """A finished attempt (the part of a Dask future the shell uses)."""

    value: AttemptRecord

    def done(self) -> bool:
        return True

    def result(self) -> AttemptRecord:
        return self.value


@dataclass
class InstantEngine:
    """An engine whose attempts are validated at once; counts submissions per attempt."""

    submitted: Counter

    def submit(
        self,
        job: JobSpec,
        full_config: FullConfig,
        target: Target,
        train_dir: Any,
        attempt: int,
        **kw: Any,
    ) -> DoneFuture:
        assert isinstance(full_config, FullConfig)  # the typed spec, not a dict
        self.submitted[(job.job_id, attempt)] += 1
        folder = Path(train_dir) / job.job_id / f"attempt-{attempt}"
        rec = AttemptRecord(job.job_id, job.run, attempt, target.name, "done", folder=str(folder))
        return DoneFuture(rec)


class RacedShell(SchedulerShell):
    """The real shell; ``between`` runs in its own transaction right after the snapshot is
    read, as an operator or another process acting between the scheduler's read and write."""

    between: Any = None

    def snapshot(self, s: Any, now: datetime) -> decide.Snapshot:
        snap = super().snapshot(s, now)
        if self.between is not None:
            with self.sessions.begin() as other:
                self.between(other)
            self.between = None
        return snap


def _world(sessions) -> int:
    """A submitted slow train over RUNS (two jobs of one file each per run)."""
    with sessions.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        intro = {"package": {"name": "batch-wagons", "version": "1.0"}, "workflows": []}
        tag = tags.register_tag(s, None, intro, artifact="/nonexistent/batch-wagons")
        ds = datasets.create_dataset(s, admin, "LHC26_batch", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_batch_pass1", list(RUNS))
        prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
        rows = [
            {"production_id": prod.id, "run_number": r, "path": f"/d/{r}/AO2D_{i}.root", "size": 10}
            for r in RUNS
            for i in range(JOBS_PER_RUN)
        ]
        s.execute(DatasetFile.__table__.insert(), rows)
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        wagon = {"workflow": "wf-a", "wagon_id": 1, "base_config": {}, "subwagons": {}}
        train = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=TrainState.SUBMITTED,
            slow=True,
            wagons_snapshot=[wagon],
        )
        s.add(train)
        s.flush()
        return train.id


def _shell(sessions, tmp_path: Path, batch: int) -> tuple[RacedShell, InstantEngine]:
    engine = InstantEngine(Counter())
    targets = {"small": Target("small", memory_limit_bytes=2 * GiB, wall_time_limit_s=60)}
    cfg = ShellConfig(
        work_dir=tmp_path / "work",
        targets=targets,
        test_target="small",
        batch=batch,
        max_files_per_job=1,  # one job per file: two per run
    )
    shell = RacedShell(sessions, engine, cfg)
    shell.last_stale_clean = datetime.now(UTC)
    return shell, engine


def _jobs(sessions, train_id: int) -> list[tuple[int, int, JobState, int]]:
    with sessions() as s:
        stmt = select(Job.id, Job.run_number, Job.state, Job.attempts).where(
            Job.train_run_id == train_id
        )
        return [tuple(r) for r in s.execute(stmt.order_by(Job.id))]


def _names(instructions) -> Counter:
    return Counter(type(i).__name__ for i in instructions)


@pytest.mark.parametrize("batch", [1000, 1])
def test_a_refused_verdict_loses_only_itself_and_the_rest_of_its_batch_applies(
    db_sessionmaker, tmp_path, batch
):
    """Between the snapshot and the verdicts an operator records one running job lost: its
    verdict ``done`` is refused (lost -> done is illegal), every other verdict and the
    merges of the other runs are applied - batched (1000) exactly as one by one (1)."""
    train_id = _world(db_sessionmaker)
    shell, engine = _shell(db_sessionmaker, tmp_path, batch)
    assert _names(shell.tick().instructions) == {"SplitTrain": 1}
    tick = shell.tick()
    assert _names(tick.instructions) == {"SubmitJob": 6} and tick.failed == []
    jobs = _jobs(db_sessionmaker, train_id)
    assert {(st, n) for _, _, st, n in jobs} == {(JobState.RUNNING, 1)}
    assert sorted(engine.submitted.values()) == [1] * 6  # one attempt each, once
    victim, victim_run = jobs[2][0], jobs[2][1]

    def operator_marks_lost(s):
        jobs_service.set_job_state(
            s, victim, JobState.LOST, cause=Cause("test", "seed", "operator"), error_message="x"
        )

    shell.between = operator_marks_lost
    tick = shell.tick()
    # decided on the snapshot: every job done, every run merged
    assert _names(tick.instructions) == {"FinishJob": 6, "StartRunMerge": 3}
    (finish, finish_error), (merge, merge_error) = tick.failed
    assert finish == decide.FinishJob(victim, JobState.DONE, site="")
    assert f"Job {victim}: cannot go from 'lost' to 'done'" in finish_error
    # the run of the refused verdict is not merged: its validated attempt is not recorded
    assert merge == decide.StartRunMerge(train_id, victim_run)
    assert f"jobs not done: {victim} (lost)" in merge_error
    after = {job_id: (st, n) for job_id, _, st, n in _jobs(db_sessionmaker, train_id)}
    assert after.pop(victim) == (JobState.LOST, 1)  # the operator's write stands
    assert set(after.values()) == {(JobState.DONE, 1)}
    assert shell.train_work.merged_runs(train_id) == set(RUNS) - {victim_run}

    # the operator resubmits the lost job: it runs a second attempt and the train finishes
    with db_sessionmaker.begin() as s:
        assert jobs_service.resubmit_failed(s, None, train_id) == 1
    for _ in range(5):
        tick = shell.tick()
        assert tick.failed == []
    with db_sessionmaker() as s:
        assert s.get(TrainRun, train_id).state is TrainState.DONE
    assert engine.submitted[(f"job-{victim}", 2)] == 1
    assert set(engine.submitted.values()) == {1}  # no attempt was submitted twice


def test_a_rolled_back_batch_submits_nothing_twice_and_skips_a_deleted_job(
    db_sessionmaker, tmp_path
):
    """A job deleted between the snapshot and its submission fails its SubmitJob; the
    batch's first try was rolled back, yet every other job runs exactly one attempt on the
    engine (attempts are handed to the engine only after their transaction commits)."""
    train_id = _world(db_sessionmaker)
    shell, engine = _shell(db_sessionmaker, tmp_path, batch=1000)
    shell.tick()  # split
    victim = _jobs(db_sessionmaker, train_id)[-1][0]
    shell.between = lambda s: s.execute(delete(Job).where(Job.id == victim))
    tick = shell.tick()
    ((failed, error),) = tick.failed
    assert (
        failed == decide.SubmitJob(victim, "small") and error == f"NotFound: job {victim} not found"
    )
    jobs = _jobs(db_sessionmaker, train_id)
    assert len(jobs) == 5 and {(st, n) for _, _, st, n in jobs} == {(JobState.RUNNING, 1)}
    assert sorted(engine.submitted) == sorted((f"job-{j}", 1) for j, *_ in jobs)
    assert set(engine.submitted.values()) == {1}
