"""The shell runs a real wagon test end to end: enable a wagon -> queued test -> the scheduler
starts it on a Dask LocalCluster with the physics package on demo data -> the assessment
sets its status, expected resources and warnings in the database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.story_cause import BY_TEST

from hyperloop.core import analyses, datasets, enabling, runlists, tags, users, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.assessment import SampleFacts, expected_resources
from hyperloop.core.jobs import JobSpec, add_jobs, set_job_state
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import Dataset, Job, PackageTag, TrainRun, WagonTest
from hyperloop.db.models import Target as DbTarget
from hyperloop.demo import generate_dataset
from hyperloop.enums import JobState, Role, TestStatus, TrainState
from hyperloop.grid.engine import Engine
from hyperloop.grid.splitting import all_jobs, split_catalogue
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.lease import Lease
from hyperloop.scheduler.service import shell_config
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig
from hyperloop.settings import load_settings

GiB = 1024**3


def physics_introspection() -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "hyperloop", "workflows", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def world_with_enabled_wagon(s, data_dir: Path) -> int:
    admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
    lf = analyses.create_analysis(s, None, "LF-evsel", "PWG-LF")
    analyses.add_member(s, None, lf.id, admin.user.id)
    tags.register_tag(s, None, physics_introspection(), artifact="installed")
    ds = datasets.create_dataset(s, admin, "LHC26_demo", collision_system="pp")
    rl = runlists.create_runlist(s, admin, "LHC26_demo_pass1", [500001])
    prod = datasets.add_production(s, admin, ds.id, "demo", runlist_id=rl.id)
    assert (
        datasets.import_directory(s, admin, prod.id, data_dir, roots=StorageRoots.parse([data_dir]))
        == 2
    )
    datasets.set_active(s, admin, ds.id, True)
    analyses.add_dataset(s, admin, lf.id, ds.id)
    wagon = wagons.create_wagon(s, admin, lf.id, name="evsel", workflow="event-selection")
    enabling.enable_wagon(s, admin, wagon.id, ds.id)
    return enabling.current_test(s, wagon.id, ds.id).id


@pytest.mark.slow
def test_an_enabled_wagon_is_tested_on_the_engine_and_assessed(db_sessionmaker, tmp_path):
    generate_dataset(
        tmp_path / "data",
        [500001],
        300,
        fast=True,
        dfs_per_file=2,
        events_per_df=100,
        pool_size=100,
        cache_dir=tmp_path / "cache",
    )
    with db_sessionmaker.begin() as s:
        test_id = world_with_enabled_wagon(s, tmp_path / "data")
    targets = {"test": Target("test", cores=1, memory_limit_bytes=3 * GiB, wall_time_limit_s=300)}
    config = ShellConfig(work_dir=tmp_path / "work", targets=targets, test_target="test")
    lease = Lease(db_sessionmaker, "shell-a", ttl=timedelta(minutes=5))
    with Engine.local(n_workers=1) as engine:
        shell = SchedulerShell(db_sessionmaker, engine, config, lease=lease)
        first = shell.tick()
        assert decide.StartWagonTest(test_id) in first.instructions
        # a second scheduler does nothing while the first holds the lease
        other = SchedulerShell(db_sessionmaker, engine, config, lease=Lease(db_sessionmaker, "b"))
        assert other.tick().held_lease is False
        deadline = time.monotonic() + 240
        finished = []
        while not finished and time.monotonic() < deadline:
            time.sleep(0.5)
            tick = shell.tick()
            finished = [i for i in tick.instructions if isinstance(i, decide.FinishWagonTest)]
    with db_sessionmaker() as s:
        test = s.get(WagonTest, test_id)
        assert test.status in (TestStatus.DONE, TestStatus.WARNING), test.metrics
        assert (test.status is TestStatus.WARNING) == bool(test.warnings)
        expected = test.metrics["expected"]
        assert expected["cpu_seconds"] > 0 and expected["jobs"] == 1
        assert expected["scale"] == pytest.approx(1.0, rel=0.5)  # the sample is the dataset
        assert (Path(test.output_dir) / "sample" / "attempt-1" / "AnalysisResults.root").exists()


def test_a_test_left_running_by_a_dead_scheduler_is_requeued(db_sessionmaker, tmp_path):
    """Reconciliation: the database says running, this new shell's engine never saw it."""
    (tmp_path / "data" / "500001").mkdir(parents=True)
    for i in range(2):
        (tmp_path / "data" / "500001" / f"AO2D_{i:03d}.root").write_bytes(b"x" * 10)
    with db_sessionmaker.begin() as s:
        test_id = world_with_enabled_wagon(s, tmp_path / "data")
        test = s.get(WagonTest, test_id)
        test.status = TestStatus.RUNNING
    targets = {"test": Target("test")}
    config = ShellConfig(work_dir=tmp_path / "work", targets=targets, test_target="test")
    shell = SchedulerShell(db_sessionmaker, engine=None, config=config)  # type: ignore[arg-type]
    shell.last_stale_clean = datetime.now(UTC)
    # max_running_tests=0: only the reconciliation, nothing is started on the (absent) engine
    shell.config.core = decide.SchedulerConfig(max_running_tests=0)
    tick = shell.tick()
    why = f"wagon test {test_id} was running but the engine does not know it"
    assert tick.instructions == [decide.RequeueLost("wagon_test", test_id, why)]
    assert tick.unperformed == []
    with db_sessionmaker() as s:
        assert s.get(WagonTest, test_id).status is TestStatus.QUEUED


def _left_running(db_sessionmaker, tmp_path: Path) -> tuple[int, int, SchedulerShell]:
    """A running train whose first job the database says runs (attempt 1) and a new shell
    that never submitted it (a restarted scheduler); its second job failed for good."""
    (tmp_path / "data" / "500001").mkdir(parents=True)
    for i in range(2):
        (tmp_path / "data" / "500001" / f"AO2D_{i:03d}.root").write_bytes(b"x" * 10)
    with db_sessionmaker.begin() as s:
        world_with_enabled_wagon(s, tmp_path / "data")
        ds_id = s.scalars(select(Dataset.id)).one()
        tag_id = s.scalars(select(PackageTag.id)).one()
        target = DbTarget(name="grid", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        train = TrainRun(
            dataset_id=ds_id, tag_id=tag_id, target_id=target.id, state=TrainState.RUNNING
        )
        s.add(train)
        s.flush()
        add_jobs(
            s, train.id, [JobSpec(500001, ("a.root",)), JobSpec(500001, ("b.root",))], cause=BY_TEST
        )
        first, second = s.scalars(select(Job.id).order_by(Job.id)).all()
        set_job_state(s, first, JobState.RUNNING, cause=BY_TEST)
        set_job_state(s, second, JobState.RUNNING, cause=BY_TEST)
        set_job_state(s, second, JobState.EXECUTION_ERROR, cause=BY_TEST)
        train_id = train.id
    config = ShellConfig(
        work_dir=tmp_path / "work",
        targets={"grid": Target("grid")},
        test_target="grid",
        core=decide.SchedulerConfig(max_running_tests=0, max_attempts=1),
    )
    shell = SchedulerShell(db_sessionmaker, engine=None, config=config)  # type: ignore[arg-type]
    shell.last_stale_clean = datetime.now(UTC)
    return train_id, first, shell


def _job_moves(tick) -> list:
    kinds = (decide.FinishJob, decide.ReturnToQueue, decide.MarkLost, decide.RequeueLost)
    return [i for i in tick.instructions if isinstance(i, kinds)]


def _attempt_dir(tmp_path: Path, train_id: int, job_id: int, n: int = 1) -> Path:
    folder = tmp_path / "work" / "trains" / str(train_id) / "jobs" / f"job-{job_id}"
    folder = folder / f"attempt-{n}"
    folder.mkdir(parents=True)
    (folder / "attempt.json").write_text("{}")
    return folder


def _write_record(folder: Path, job_id: int, **fields) -> None:
    record = {"job_id": f"job-{job_id}", "run": 500001, "attempt": 1, "target": "grid"}
    (folder / "record.json").write_text(json.dumps(record | fields))


def test_a_job_only_queued_in_a_gone_engine_is_queued_again_without_using_an_attempt(
    db_sessionmaker, tmp_path
):
    """Issue 17: restarts used up attempts of jobs that never ran. No attempt folder: the
    attempt never began on a worker; the job waits again with its counter given back."""
    _train_id, first, shell = _left_running(db_sessionmaker, tmp_path)
    tick = shell.tick()
    why = (
        f"job {first}: attempt 1 was queued in an engine that is gone and never began: "
        "queued again, no attempt used"
    )
    assert _job_moves(tick) == [decide.ReturnToQueue(first, why)]
    assert tick.failed == [] and tick.unperformed == []
    with db_sessionmaker() as s:
        job = s.get(Job, first)
        assert (job.state, job.attempts) == (JobState.WAITING, 0)


def test_a_verdict_left_on_disk_is_adopted_not_run_again(db_sessionmaker, tmp_path):
    """Issue 17: validated record.json files were thrown away at a restart. The attempt
    finished while no scheduler listened: its verdict is the job's, no new attempt."""
    train_id, first, shell = _left_running(db_sessionmaker, tmp_path)
    folder = _attempt_dir(tmp_path, train_id, first)
    _write_record(folder, first, state="done", host="node7", wall_s=2.5)
    tick = shell.tick()
    assert _job_moves(tick) == [
        decide.FinishJob(first, JobState.DONE, wall_s=2.5, site="node7"),
    ]
    assert tick.failed == []
    with db_sessionmaker() as s:
        job = s.get(Job, first)
        assert (job.state, job.attempts, job.site) == (JobState.DONE, 1, "node7")
        assert job.error_message is None


def test_an_attempt_still_alive_is_watched_until_its_verdict_appears(db_sessionmaker, tmp_path):
    """A worker of an external cluster still runs the attempt (fresh heartbeat): nothing is
    decided about the job until its record.json appears, then that verdict counts."""
    train_id, first, shell = _left_running(db_sessionmaker, tmp_path)
    folder = _attempt_dir(tmp_path, train_id, first)
    (folder / "attempt.json").write_text(json.dumps({"host": "node9"}))
    (folder / "heartbeat").touch()
    tick = shell.tick()
    assert _job_moves(tick) == []
    assert [i for i in tick.instructions if isinstance(i, decide.MarkStarted)] == [
        decide.MarkStarted(first, "node9")  # running there, not only queued
    ]
    assert _job_moves(shell.tick()) == []
    with db_sessionmaker() as s:
        job = s.get(Job, first)
        assert (job.state, job.site) == (JobState.RUNNING, "node9")
    _write_record(
        folder, first, state="error", error_kind="input", message="bad file", signature="Trunc"
    )
    tick = shell.tick()
    assert _job_moves(tick) == [
        decide.FinishJob(first, JobState.EXECUTION_ERROR, "bad file", "Trunc"),
    ]
    with db_sessionmaker() as s:
        job = s.get(Job, first)
        assert (job.state, job.error_signature, job.error_message) == (
            JobState.EXECUTION_ERROR,
            "Trunc",
            "bad file",
        )


def test_a_started_attempt_without_verdict_or_heartbeat_is_lost_with_a_message(
    db_sessionmaker, tmp_path
):
    """The attempt began (its folder exists) but nothing runs it any more: lost, counted,
    and the job says why (no more "unknown" error group)."""
    import os

    train_id, first, shell = _left_running(db_sessionmaker, tmp_path)
    folder = _attempt_dir(tmp_path, train_id, first)
    old = time.time() - 600
    for path in (folder / "attempt.json", folder):
        os.utime(path, (old, old))
    tick = shell.tick()
    [finish] = _job_moves(tick)
    assert (finish.job_id, finish.state, finish.signature) == (first, JobState.LOST, "LostWorker")
    assert "ended without a verdict" in finish.message
    with db_sessionmaker() as s:
        job = s.get(Job, first)
        assert (job.state, job.attempts, job.error_signature) == (JobState.LOST, 1, "LostWorker")
        assert "ended without a verdict" in job.error_message


def test_a_wagon_test_on_files_outside_the_storage_roots_fails_naming_them(
    db_sessionmaker, tmp_path
):
    """A catalogue entry outside the roots (imported before the check, or a root removed
    since) is never read: the test fails and says which file and which setting."""
    (tmp_path / "data" / "500001").mkdir(parents=True)
    for i in range(2):
        (tmp_path / "data" / "500001" / f"AO2D_{i:03d}.root").write_bytes(b"x" * 10)
    with db_sessionmaker.begin() as s:
        test_id = world_with_enabled_wagon(s, tmp_path / "data")
    targets = {"test": Target("test", cores=1, memory_limit_bytes=GiB, wall_time_limit_s=60)}
    config = ShellConfig(
        work_dir=tmp_path / "work",
        targets=targets,
        test_target="test",
        storage_roots=StorageRoots.parse([tmp_path / "elsewhere"]),
    )
    lease = Lease(db_sessionmaker, "shell-roots", ttl=timedelta(minutes=5))
    with Engine.local(n_workers=1) as engine:
        SchedulerShell(db_sessionmaker, engine, config, lease=lease).tick()
    with db_sessionmaker() as s:
        test = s.get(WagonTest, test_id)
        assert test.status is TestStatus.FAILED
        assert "AO2D_000.root" in test.metrics["error"]
        assert "storage_roots" in test.metrics["error"]
        assert not (tmp_path / "work" / "tests" / f"wagon-test-{test_id}").exists()


def test_the_expected_jobs_follow_the_splitting_settings_in_force(db_sessionmaker, tmp_path):
    """The number of jobs shown with a test is the number the train's split makes with the
    settings in force: ``scheduler_max_files_per_job`` files at most, per run."""
    files_per_run = {500001: 7, 500002: 2}
    for run, n in files_per_run.items():
        (tmp_path / "data" / str(run)).mkdir(parents=True)
        for i in range(n):
            (tmp_path / "data" / str(run) / f"AO2D_{i:03d}.root").write_bytes(b"x" * 10)
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        ds = datasets.create_dataset(s, admin, "LHC26_split", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_split_pass1", list(files_per_run))
        prod = datasets.add_production(s, admin, ds.id, "demo", runlist_id=rl.id)
        roots = StorageRoots.parse([tmp_path / "data"])
        assert datasets.import_directory(s, admin, prod.id, tmp_path / "data", roots=roots) == 9
        dataset_id = ds.id
    settings = load_settings(data_dir=tmp_path / "var", scheduler_max_files_per_job=3)
    config = shell_config(settings, {"test": Target("test")})
    shell = SchedulerShell(db_sessionmaker, engine=None, config=config)  # type: ignore[arg-type]
    with db_sessionmaker() as s:
        _, size = shell._sample(s, dataset_id)
        catalogue = {
            run: [(str(p), 10) for p in sorted((tmp_path / "data" / str(run)).iterdir())]
            for run in files_per_run
        }
    split = all_jobs(split_catalogue(catalogue, max_files=settings.scheduler_max_files_per_job))
    assert len(split) == 4  # 3 + 3 + 1 of run 500001, 2 of run 500002 (not ceil(9 / 3) = 3)
    summary = {"__full_train__": {"cpu": 1.0, "wall": 1.0, "aod-bytes-read-compressed": 90}}
    expected = expected_resources(summary, SampleFacts(), size)
    assert expected.jobs == len(split)
    default = shell_config(load_settings(data_dir=tmp_path / "var"), {"test": Target("test")})
    with db_sessionmaker() as s:
        _, size = SchedulerShell(db_sessionmaker, None, default)._sample(s, dataset_id)  # type: ignore[arg-type]
    assert expected_resources(summary, SampleFacts(), size).jobs == 2  # 10 per job: one per run


def test_the_test_sample_and_dataset_size_leave_excluded_runs_out(db_sessionmaker, tmp_path):
    """A wagon test never reads a file of a run excluded from its production, and the size
    behind its expected resources counts only the runs trains read."""
    for run, size in {500001: 10, 500002: 1000}.items():
        (tmp_path / "data" / str(run)).mkdir(parents=True)
        (tmp_path / "data" / str(run) / "AO2D_000.root").write_bytes(b"x" * size)
    with db_sessionmaker.begin() as s:
        admin = Actor(users.create_user(s, "admin", roles=[Role.ADMIN]))
        ds = datasets.create_dataset(s, admin, "LHC26_excl", collision_system="pp")
        rl = runlists.create_runlist(s, admin, "LHC26_excl_pass1", [500001, 500002])
        prod = datasets.add_production(s, admin, ds.id, "demo", runlist_id=rl.id)
        roots = StorageRoots.parse([tmp_path / "data"])
        datasets.import_directory(s, admin, prod.id, tmp_path / "data", roots=roots)
        datasets.set_excluded_runs(s, admin, prod.id, [500001])
        dataset_id = ds.id
    config = shell_config(load_settings(data_dir=tmp_path / "var"), {"test": Target("test")})
    shell = SchedulerShell(db_sessionmaker, engine=None, config=config)  # type: ignore[arg-type]
    with db_sessionmaker() as s:
        files, size = shell._sample(s, dataset_id)
        assert [f.run_number for f in files] == [500002]
    assert (size.bytes, size.files, size.run_files) == (1000, 1, (1,))
