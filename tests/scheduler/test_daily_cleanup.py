"""The scheduler's daily clean-up: slim derived outputs past their retention are deleted
(SPEC §2), and the dashboard's closed days are stored a little per tick until none is
missing, so the first visitor of a long interval does not wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from tests.factories import introspection
from tests.story_cause import BY_TEST

from hyperloop.core import datasets, history, tags, users
from hyperloop.core.actor import Actor
from hyperloop.core.derived import DELETE_OUTPUT, OBJECT
from hyperloop.core.jobs import JobSpec, add_jobs, set_job_state
from hyperloop.db.models import DashboardDay, Job, TrainRun
from hyperloop.db.models import Target as DbTarget
from hyperloop.enums import JobState, Role, TrainState, TrainType
from hyperloop.grid.targets import Target
from hyperloop.readmodels import dashboard, trains
from hyperloop.scheduler import decide
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig


def finished_slim_train(s, folder: Path, days_ago: float, ds_id: int, tag_id: int, target_id: int):
    train = TrainRun(
        dataset_id=ds_id,
        tag_id=tag_id,
        target_id=target_id,
        train_type=TrainType.SLIM_DERIVED,
        state=TrainState.DONE,
        finished_at=datetime.now(UTC) - timedelta(days=days_ago),
    )
    s.add(train)
    s.flush()
    merged = folder / str(train.id) / "merged"
    (merged / "final").mkdir(parents=True)
    (merged / "final" / "AO2D.root").write_bytes(b"x" * 100)
    train.output_dir = str(merged)
    return train


def test_the_daily_clean_up_expires_slim_outputs_and_stores_dashboard_days(
    db_sessionmaker, tmp_path
):
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with db_sessionmaker.begin() as s:
        op = Actor(users.create_user(s, "op", roles=[Role.OPERATOR]))
        tag = tags.register_tag(s, None, introspection(), artifact="/tags/t1")
        ds = datasets.create_dataset(s, op, "LHC26_demo", collision_system="pp")
        target = DbTarget(name="grid", cores=1, memory_limit_mb=2000)
        s.add(target)
        s.flush()
        old = finished_slim_train(s, tmp_path / "trains", 45, ds.id, tag.id, target.id)
        young = finished_slim_train(s, tmp_path / "trains", 5, ds.id, tag.id, target.id)
        worked = TrainRun(  # an analysis train whose one job finished three days ago
            dataset_id=ds.id,
            tag_id=tag.id,
            target_id=target.id,
            state=TrainState.RUNNING,
            submitted_at=three_days_ago - timedelta(hours=1),
        )
        s.add(worked)
        s.flush()
        add_jobs(s, worked.id, [JobSpec(500001, ("a.root",))], cause=BY_TEST)
        job = s.scalars(select(Job)).one()
        set_job_state(s, job.id, JobState.RUNNING, cause=BY_TEST)
        set_job_state(s, job.id, JobState.DONE, cause=BY_TEST)
        job.updated_at = three_days_ago
        worked.state = TrainState.DONE
        worked.finished_at = three_days_ago + timedelta(hours=1)
        ids = old.id, young.id
    config = ShellConfig(
        work_dir=tmp_path / "work",
        targets={"grid": Target("grid")},
        test_target="grid",
        core=decide.SchedulerConfig(max_running_tests=0),
        slim_retention=timedelta(days=30),
    )
    shell = SchedulerShell(
        db_sessionmaker,
        engine=None,  # type: ignore[arg-type]
        config=config,
        warm_read_models=dashboard.warm,
    )
    tick = shell.tick()
    assert any(isinstance(i, decide.CleanStaleTests) for i in tick.instructions)
    assert tick.failed == []
    assert not (tmp_path / "trains" / str(ids[0]) / "merged").exists()
    assert (tmp_path / "trains" / str(ids[1]) / "merged" / "final" / "AO2D.root").exists()
    for _ in range(200):  # a few days per tick, until none is missing
        if not shell.dashboard_days_missing:
            break
        shell.tick()
    assert not shell.dashboard_days_missing
    with db_sessionmaker() as s:
        assert s.get(TrainRun, ids[0]).output_deleted_at is not None
        assert s.get(TrainRun, ids[1]).output_deleted_at is None
        entry = history.entries(s, OBJECT, ids[0])[-1]
        assert entry.action == DELETE_OUTPUT and "expired after 30 days" in entry.reason
        stored = s.scalar(select(func.count()).select_from(DashboardDay))
        assert stored >= 365  # every closed day of the last year, none of today
        today = datetime.now(UTC).date()
        assert s.get(DashboardDay, today) is None
        days = trains.resolve_interval(
            "custom", start=today - timedelta(days=10), end=today - timedelta(days=1)
        )
        stored_view = trains.dashboard_data(s, days)
        assert stored_view == trains.dashboard_data(s, days, daily=False)
        assert stored_view["period"]["jobs_done"] == 1, stored_view["period"]
