"""A composed train runs to done through the scheduler shell on a real Dask LocalCluster:
train test, automatic submission, split, jobs, per-run merges, final merge; its histograms
equal one plain run over all files."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select
from tests.factories import make_catalogue, make_package
from tests.grid.helpers import config, histograms, reference_run

from hyperloop.core import datasets, runlists, tags, users
from hyperloop.core.actor import Actor
from hyperloop.core.assessment import Thresholds
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import JobState, Role, TrainState
from hyperloop.grid.engine import Engine
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig

GiB = 1024**3


def introspection() -> dict:
    return {"package": {"name": "gridtest-wagons", "version": "1.0"}, "workflows": []}


@pytest.mark.slow
def test_a_composed_auto_submit_train_runs_to_done_with_the_same_histograms(
    db_sessionmaker, tmp_path
):
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=2)
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        tag = tags.register_tag(s, None, introspection(), artifact=str(package))
        ds = datasets.create_dataset(s, admin, "LHC26_grid", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_grid_pass1", sorted(catalogue))
        prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
        assert datasets.import_directory(
            s, admin, prod.id, tmp_path / "data", roots=StorageRoots.parse([tmp_path / "data"])
        ) == len(files)
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        wagon = {"workflow": "gt-pt", "wagon_id": 1, "base_config": {}, "subwagons": {}}
        train = TrainRun(
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=TrainState.COMPOSED,
            auto_submit=True,
            slow=True,
            wagons_snapshot=[wagon],
        )
        s.add(train)
        s.flush()
        train_id = train.id
    targets = {"small": Target("small", memory_limit_bytes=2 * GiB, wall_time_limit_s=120)}
    cfg = ShellConfig(
        work_dir=tmp_path / "work",
        targets=targets,
        test_target="small",
        # a few kB of input cannot be reduced 50x: allow it, as an operator may on request
        core=decide.SchedulerConfig(thresholds=Thresholds(min_reduction_factor=1.0)),
    )
    seen: list[decide.Instruction] = []
    with Engine.local(n_workers=2) as engine:
        shell = SchedulerShell(db_sessionmaker, engine, cfg)
        shell.last_stale_clean = datetime.now(UTC)
        deadline = time.monotonic() + 240
        state = TrainState.COMPOSED
        stop = (TrainState.DONE, TrainState.TEST_WARNING, TrainState.TEST_FAILED)
        while state not in stop and time.monotonic() < deadline:
            tick = shell.tick()
            assert tick.unperformed == []
            seen += tick.instructions
            with db_sessionmaker() as s:
                state = s.get(TrainRun, train_id).state
            time.sleep(0.3)
    with db_sessionmaker() as s:
        assert state is TrainState.DONE, s.get(TrainRun, train_id).test_warnings
    kinds = [type(i).__name__ for i in seen]
    assert kinds[:3] == ["StartTrainTest", "FinishTrainTest", "AutoSubmit"]
    assert kinds[3] == "SplitTrain" and kinds[-2:] == ["MarkTrainDone", "Notify"]
    assert kinds.count("StartRunMerge") == len(catalogue)
    with db_sessionmaker() as s:
        states = s.scalars(select(Job.state).where(Job.train_run_id == train_id)).all()
        assert states == [JobState.DONE] * len(catalogue)
        train = s.get(TrainRun, train_id)
        merged = train.output_dir
        assert train.test_metrics["expected"]["cpu_seconds"] > 0 and train.test_warnings == []
    reference = reference_run(config("gt-pt"), files, tmp_path / "ref", package)
    got, want = histograms(merged), histograms(reference)
    assert got.keys() == want.keys() and got
    for key, (values, entries) in want.items():
        np.testing.assert_array_equal(got[key][0], values)
        assert got[key][1] == entries


@pytest.mark.slow
def test_memory_killed_jobs_are_retried_on_a_bigger_target_and_the_train_finishes(
    db_sessionmaker, tmp_path
):
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        tag = tags.register_tag(s, None, introspection(), artifact=str(package))
        ds = datasets.create_dataset(s, admin, "LHC26_mem", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_mem_pass1", sorted(catalogue))
        prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
        datasets.import_directory(
            s, admin, prod.id, tmp_path / "data", roots=StorageRoots.parse([tmp_path / "data"])
        )
        target = DbTarget(name="small", cores=1, memory_limit_mb=250)
        s.add(target)
        s.flush()
        conf = {"gt-memory": {"allocMb": "400"}}
        wagon = {"workflow": "gt-memory", "wagon_id": 1, "base_config": conf, "subwagons": {}}
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
        train_id = train.id
    targets = {
        "small": Target("small", 1, 250 * 1024**2, 120),
        "big": Target("big", 1, int(1.5 * GiB), 120),
    }
    cfg = ShellConfig(work_dir=tmp_path / "work", targets=targets, test_target="big")
    seen: list[decide.Instruction] = []
    with Engine.local(n_workers=2) as engine:
        shell = SchedulerShell(db_sessionmaker, engine, cfg)
        shell.last_stale_clean = datetime.now(UTC)
        deadline = time.monotonic() + 240
        state = TrainState.SUBMITTED
        while state is not TrainState.DONE and time.monotonic() < deadline:
            tick = shell.tick()
            assert tick.unperformed == []
            seen += tick.instructions
            with db_sessionmaker() as s:
                state = s.get(TrainRun, train_id).state
            time.sleep(0.3)
    assert state is TrainState.DONE
    retries = [i for i in seen if isinstance(i, decide.ResubmitJob)]
    assert len(retries) == len(catalogue)
    assert all(r.target == "big" and "after memory in attempt 1" in r.reason for r in retries)
    with db_sessionmaker() as s:
        jobs = s.scalars(select(Job).where(Job.train_run_id == train_id)).all()
        assert [(j.state, j.attempts) for j in jobs] == [(JobState.DONE, 2)] * len(catalogue)


def _submitted_gt_pt_train(db_sessionmaker, tmp_path, package, catalogue, name: str) -> int:
    """A submitted slow train of one gt-pt wagon on the catalogue's dataset, tag ``package``,
    target "small" (1 core, 2 GB); its id."""
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        tag = tags.register_tag(s, None, introspection(), artifact=str(package))
        ds = datasets.create_dataset(s, admin, f"LHC26_{name}", collision_system="pp")
        rl = runlists.create_runlist(s, admin, f"LHC26_{name}_pass1", sorted(catalogue))
        prod = datasets.add_production(s, admin, ds.id, "p1", runlist_id=rl.id)
        datasets.import_directory(
            s, admin, prod.id, tmp_path / "data", roots=StorageRoots.parse([tmp_path / "data"])
        )
        target = DbTarget(name="small", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        wagon = {"workflow": "gt-pt", "wagon_id": 1, "base_config": {}, "subwagons": {}}
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


@pytest.mark.slow
def test_a_new_scheduler_finishes_a_train_whose_scheduler_and_engine_died(
    db_sessionmaker, tmp_path
):
    """Restart: the first shell and its cluster go away mid-train; a second one reconciles
    (jobs only queued go back to the queue without using an attempt, a job that finished
    while no scheduler listened is adopted from its record) and the merged histograms equal
    an undisturbed run. (A job lost while running: tests/e2e/test_faults.py.)"""
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=2)
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    train_id = _submitted_gt_pt_train(db_sessionmaker, tmp_path, package, catalogue, "restart")
    targets = {"small": Target("small", memory_limit_bytes=2 * GiB, wall_time_limit_s=120)}
    cfg = ShellConfig(work_dir=tmp_path / "work", targets=targets, test_target="small")

    def done_jobs() -> int:
        with db_sessionmaker() as s:
            q = select(Job.id).where(Job.train_run_id == train_id, Job.state == JobState.DONE)
            return len(s.scalars(q).all())

    def pause_worker(dask_worker) -> None:  # local: shipped to the worker by value
        """Pause a Dask worker: it finishes what it runs and starts nothing more."""
        from distributed.core import Status

        dask_worker.status = Status.paused

    def job_ids() -> set[int]:
        with db_sessionmaker() as s:
            return set(s.scalars(select(Job.id).where(Job.train_run_id == train_id)).all())

    def began() -> set[int]:
        """Jobs whose first attempt began on a worker (its folder is made when it begins)."""
        return {j for j in job_ids() if first.train_work._attempt_dir(train_id, j, 1).exists()}

    deadline = time.monotonic() + 240
    # one worker, one thread: one job at a time; no memory limit, so that no memory monitor
    # resumes the worker paused below
    with Engine.local(n_workers=1, memory_limit=0) as engine:
        first = SchedulerShell(db_sessionmaker, engine, cfg)
        first.last_stale_clean = datetime.now(UTC)
        while not began() and time.monotonic() < deadline:
            first.tick()  # splits the train, then hands all its jobs to the engine
            for _ in range(60):
                if began():
                    break
                time.sleep(0.005)
        # the worker starts nothing more: the jobs still queued in this engine never begin
        engine.client.run(pause_worker)
        (finished,) = began()
        folder = first.train_work._attempt_dir(train_id, finished, 1)
        while not (folder / "record.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # it ends with its verdict on disk; no scheduler reads it yet
    assert (folder / "record.json").exists() and done_jobs() == 0
    # what the next scheduler finds: a job the dying engine began anyway (it should not) is
    # adopted if it left its verdict, else lost and retried; the others never began
    late = began() - {finished}
    lost = {
        j
        for j in late
        if not (first.train_work._attempt_dir(train_id, j, 1) / "record.json").exists()
    }
    never_began = job_ids() - began()
    seen: list[decide.Instruction] = []
    with Engine.local(n_workers=2) as engine:
        second = SchedulerShell(db_sessionmaker, engine, cfg)
        second.last_stale_clean = datetime.now(UTC)
        state = TrainState.RUNNING
        while state is not TrainState.DONE and time.monotonic() < deadline:
            tick = second.tick()
            assert tick.unperformed == []
            seen += tick.instructions
            with db_sessionmaker() as s:
                state = s.get(TrainRun, train_id).state
            time.sleep(0.3)
    assert state is TrainState.DONE
    # jobs only queued on the first (one-worker) engine began nowhere: queued again free
    assert never_began and finished not in never_began
    assert {i.job_id for i in seen if isinstance(i, decide.ReturnToQueue)} == never_began
    with db_sessionmaker() as s:
        attempts = dict(
            s.execute(select(Job.id, Job.attempts).where(Job.train_run_id == train_id)).all()
        )
    # the finished one adopted, the queued ones free, a lost one retried once
    assert attempts == {j: 2 if j in lost else 1 for j in attempts}
    with db_sessionmaker() as s:
        merged = s.get(TrainRun, train_id).output_dir
    reference = reference_run(config("gt-pt"), files, tmp_path / "ref", package)
    got, want = histograms(merged), histograms(reference)
    assert got.keys() == want.keys() and got
    for key, (values, entries) in want.items():
        np.testing.assert_array_equal(got[key][0], values)
        assert got[key][1] == entries


@pytest.mark.slow
def test_a_tag_whose_folder_is_gone_fails_its_jobs_naming_it_never_the_installed_code(
    db_sessionmaker, tmp_path
):
    """The registered tag's code or nothing: its folder removed after registration, every
    attempt fails saying the folder does not exist (the scheduler used to hand the job the
    installed package instead, and the train finished with other code)."""
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    train_id = _submitted_gt_pt_train(db_sessionmaker, tmp_path, package, catalogue, "gone")
    shutil.rmtree(package)  # e.g. a worker node without the tag
    targets = {"small": Target("small", memory_limit_bytes=2 * GiB, wall_time_limit_s=120)}
    cfg = ShellConfig(work_dir=tmp_path / "work", targets=targets, test_target="small")

    def job_rows() -> list[Job]:
        with db_sessionmaker() as s:
            return list(s.scalars(select(Job).where(Job.train_run_id == train_id)))

    deadline = time.monotonic() + 240
    with Engine.local(n_workers=2) as engine:
        shell = SchedulerShell(db_sessionmaker, engine, cfg)
        shell.last_stale_clean = datetime.now(UTC)
        while time.monotonic() < deadline:
            shell.tick()
            rows = job_rows()
            if rows and all(j.error_message for j in rows):
                break
            time.sleep(0.3)
    rows = job_rows()
    assert rows and all(j.state is not JobState.DONE for j in rows)
    for job in rows:
        assert f"package directory {package} does not exist" in (job.error_message or ""), job
