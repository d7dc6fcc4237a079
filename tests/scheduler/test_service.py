"""The scheduler service built from settings: targets from the database, policy from the
settings, the lease between two schedulers, and job targets kept across a restart."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.factories import gt_pt_config, seed_files_world
from tests.grid.helpers import assert_same_histograms, reference_run
from tests.grid.test_external_cluster import external_address  # noqa: F401 (fixture)
from tests.story_cause import BY_TEST

from hyperloop.core.assessment import Thresholds
from hyperloop.core.jobs import JobSpec, add_jobs, set_job_state
from hyperloop.core.story import Cause
from hyperloop.db.models import Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import JobState, TrainState
from hyperloop.grid.engine import Engine
from hyperloop.grid.execute import attempt_folder
from hyperloop.scheduler.decide import SchedulerConfig
from hyperloop.scheduler.lease import Lease
from hyperloop.scheduler.service import (
    DatabaseTargets,
    SchedulerService,
    run_scheduler,
    scheduler_config,
    shell_config,
    work_dir,
)
from hyperloop.scheduler.shell import ShellConfig
from hyperloop.settings import Settings, SettingsError, load_settings


def settings(tmp_path: Path, **extra) -> Settings:
    extra.setdefault("database_url", f"sqlite:///{tmp_path / 'x.db'}")
    return Settings(data_dir=tmp_path, **extra)


def test_targets_come_from_the_database_and_new_ones_appear_on_refresh(db_sessionmaker, tmp_path):
    with db_sessionmaker.begin() as s:
        s.add(DbTarget(name="single-core", cores=1, memory_limit_mb=2000))
    conf = settings(tmp_path, scheduler_job_wall_time_s=600, scheduler_test_memory_mb=3600)
    targets = DatabaseTargets(db_sessionmaker, conf)
    assert sorted(targets) == ["single-core", "test"]  # the test target is always there
    single = targets["single-core"]
    assert (single.cores, single.memory_limit_bytes, single.wall_time_limit_s) == (1, 2e9, 600)
    assert targets["test"].memory_limit_bytes == 3.6e9
    with db_sessionmaker.begin() as s:
        s.add(DbTarget(name="8-core", cores=8, memory_limit_mb=16000))
        s.add(DbTarget(name="test", cores=2, memory_limit_mb=4000))
    targets.refresh()
    assert sorted(targets) == ["8-core", "single-core", "test"]
    assert targets["8-core"].cores == 8 and targets["test"].memory_limit_bytes == 4e9


def test_policy_and_thresholds_come_from_the_settings(tmp_path):
    conf = settings(
        tmp_path,
        scheduler_max_attempts=5,
        scheduler_express_fraction=0.9,
        scheduler_thresholds={"min_reduction_factor": 20, "max_conditions_calls": 50},
    )
    policy = scheduler_config(conf)
    assert policy.max_attempts == 5 and policy.express_fraction == 0.9
    assert policy.thresholds.min_reduction_factor == 20
    assert policy.thresholds.max_conditions_calls == 50
    assert policy.thresholds.max_log_bytes == Thresholds().max_log_bytes
    assert work_dir(conf) == (tmp_path / "work").resolve()
    assert work_dir(settings(tmp_path, work_dir=tmp_path / "w")) == (tmp_path / "w").resolve()


def test_every_scheduler_knob_comes_from_the_settings(tmp_path):
    """Composition period and catch-up, long-train expiry, stale clean-up period, batch size
    and dashboard warming are settings; their defaults are the scheduler's own defaults."""
    default_policy, default_shell = (
        scheduler_config(settings(tmp_path)),
        shell_config(settings(tmp_path), {"test": None}),
    )
    plain_shell = ShellConfig(work_dir=tmp_path, targets={"test": None}, test_target="test")
    assert default_policy == SchedulerConfig()
    knobs = ("compose_every", "batch", "dashboard_warm_s", "test_files", "max_files_per_job")
    for name in knobs:
        assert getattr(default_shell, name) == getattr(plain_shell, name), name
    conf = settings(
        tmp_path,
        scheduler_compose_every_s=5,
        scheduler_compose_catch_up_s=0,
        scheduler_long_train_expiry_days=2,
        scheduler_stale_clean_every_s=60,
        scheduler_batch=1,
        scheduler_dashboard_warm_s=0,
    )
    policy, shell = scheduler_config(conf), shell_config(conf, {"test": None})
    assert policy.compose_catch_up == timedelta(0)
    assert policy.long_train_expiry == timedelta(days=2)
    assert policy.stale_clean_every == timedelta(minutes=1)
    assert shell.core == policy and shell.compose_every == timedelta(seconds=5)
    assert (shell.batch, shell.dashboard_warm_s) == (1, 0)
    with pytest.raises(SettingsError, match="scheduler_batch"):
        load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", scheduler_batch=0)


def test_an_unknown_threshold_is_refused_by_name(tmp_path):
    with pytest.raises(SettingsError, match="unknown threshold.*min_reduction_facter"):
        load_settings(
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
            scheduler_thresholds={"min_reduction_facter": 3},
        )


@pytest.mark.slow
def test_a_waiting_scheduler_takes_over_and_keeps_a_job_on_its_bigger_target(tmp_path):
    """A second scheduler waits (naming the holder) until the first releases the lease,
    then reconciles a train the first left behind: the job the first had moved to target
    ``big`` runs again on ``big``; every job's target is recorded; the train is done."""
    world = seed_files_world(tmp_path, state=TrainState.RUNNING, files_per_run=1)
    with world.sessions.begin() as s:
        s.add(DbTarget(name="big", cores=1, memory_limit_mb=3000))
        add_jobs(
            s,
            world.train_id,
            [JobSpec(int(Path(f).parent.name), (f,)) for f in world.files],
            cause=BY_TEST,
        )
        moved = s.scalars(select(Job.id).where(Job.train_run_id == world.train_id)).first()
        set_job_state(
            s, moved, JobState.RUNNING, cause=Cause("test", "seed", "automatic retry after memory")
        )
        s.get(Job, moved).target = "big"
    conf = settings(
        tmp_path,
        database_url=world.url,
        scheduler_test_target="small",
        scheduler_interval_s=0.2,
        scheduler_lease_ttl_s=30,
        scheduler_job_wall_time_s=120,
    )
    messages: list[str] = []
    stop = threading.Event()
    with Engine.local(n_workers=2) as engine:
        first = Lease(world.sessions, "first", ttl=timedelta(seconds=30))
        assert first.acquire()  # another scheduler is active
        second = SchedulerService(conf, world.sessions, engine, holder="second", owns_engine=False)
        with world.sessions() as s:  # jobs.target read back from the db
            (view,) = [t for t in second.shell.snapshot(s, datetime.now(UTC)).trains]
        assert {j.id: j.target for j in view.jobs if j.id == moved} == {moved: "big"}
        runner = threading.Thread(target=second.run, args=(stop, messages.append))
        runner.start()
        try:
            deadline = time.monotonic() + 180
            while not messages and time.monotonic() < deadline:
                time.sleep(0.1)
            assert messages[0].startswith("waiting for the scheduler lease: held by first")
            first.release()  # it stops cleanly
            state = TrainState.RUNNING
            while state is not TrainState.DONE and time.monotonic() < deadline:
                time.sleep(0.3)
                with world.sessions() as s:
                    state = s.get(TrainRun, world.train_id).state
        finally:
            stop.set()
            runner.join(60)
    assert state is TrainState.DONE
    assert messages[1].startswith("scheduler active (second)")
    with world.sessions() as s:
        jobs = s.scalars(select(Job).where(Job.train_run_id == world.train_id)).all()
        assert {j.id: j.target for j in jobs} == {
            j.id: ("big" if j.id == moved else "small") for j in jobs
        }
        assert [j.state for j in jobs] == [JobState.DONE] * len(jobs)
        # its attempt 1 never began (no folder): queued again without using an attempt
        assert s.get(Job, moved).attempts == 1
    jobs_dir = work_dir(conf) / "trains" / str(world.train_id) / "jobs"
    meta = json.loads((attempt_folder(jobs_dir, f"job-{moved}", 1) / "attempt.json").read_text())
    assert meta["target"]["name"] == "big"
    assert second.lease.info().holder is None  # released when it stopped


@pytest.mark.slow
def test_run_scheduler_drives_a_train_on_an_external_dask_cluster(
    external_address,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    """``dask_scheduler_address`` set: no embedded cluster, the jobs run on the separately
    started ``dask scheduler`` + ``dask worker`` processes; the merge equals one plain run."""
    world = seed_files_world(tmp_path, state=TrainState.SUBMITTED, files_per_run=1)
    conf = settings(
        tmp_path,
        database_url=world.url,
        storage_roots=[str(tmp_path / "data")],  # the catalogue's folder
        dask_scheduler_address=external_address,
        scheduler_test_target="small",
        scheduler_interval_s=0.2,
        scheduler_job_wall_time_s=120,
    )
    stop = threading.Event()
    messages: list[str] = []
    runner = threading.Thread(
        target=run_scheduler, args=(conf, stop), kwargs={"report": messages.append}
    )
    runner.start()
    try:
        deadline = time.monotonic() + 180
        state = TrainState.SUBMITTED
        while state is not TrainState.DONE and time.monotonic() < deadline and runner.is_alive():
            time.sleep(0.3)
            with world.sessions() as s:
                state = s.get(TrainRun, world.train_id).state
    finally:
        stop.set()
        runner.join(60)
    assert state is TrainState.DONE, messages
    with world.sessions() as s:
        merged = s.get(TrainRun, world.train_id).output_dir
    reference = reference_run(gt_pt_config(), world.files, tmp_path / "ref", world.package)
    assert_same_histograms(merged, reference)


def test_a_standby_scheduler_starts_no_engine_until_it_holds_the_lease(db_sessionmaker, tmp_path):
    """Issue 17: a passive standby started its own Dask cluster. Its engine is started at the
    first step that holds the lease (here an unreachable scheduler address: that step fails,
    naming it, and the standby's steps before did nothing with it)."""
    from hyperloop.grid.engine import EngineError

    url = db_sessionmaker.kw["bind"].url.render_as_string(hide_password=False)
    conf = settings(tmp_path, database_url=url, dask_scheduler_address="tcp://127.0.0.1:9")
    first = Lease(db_sessionmaker, "first", ttl=timedelta(seconds=30))
    assert first.acquire()
    standby = SchedulerService.from_settings(conf, holder="standby")
    try:
        for _ in range(2):
            assert standby.tick().held_lease is False
        assert standby.engine.started is False
        first.release()
        with pytest.raises(EngineError, match=r"cannot reach the Dask scheduler at tcp://127"):
            standby.tick()
    finally:
        standby.close()
