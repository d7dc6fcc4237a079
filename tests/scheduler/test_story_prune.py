"""The scheduler prunes old stories: the transitions of the jobs of trains that ended more
than ``story_keep`` ago go, a bounded batch per tick, while their train's summary of its
jobs' moves and the train's own story stay; younger trains keep everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from tests.factories import make_world
from tests.story_cause import BY_TEST

from hyperloop.core import story
from hyperloop.core.jobs import JobMoves, JobSpec, add_jobs
from hyperloop.db.models import Job, TrainRun, Transition
from hyperloop.enums import JobState, TrainState
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.service import shell_config
from hyperloop.scheduler.shell import SchedulerShell, ShellConfig
from hyperloop.settings import Settings


def ended_train(s, days_ago: float, ds_id: int, tag_id: int, target_id: int, n_jobs: int) -> int:
    """A train whose ``n_jobs`` jobs ran and finished; it ended ``days_ago`` days ago."""
    train = TrainRun(dataset_id=ds_id, tag_id=tag_id, target_id=target_id, state=TrainState.RUNNING)
    s.add(train)
    s.flush()
    add_jobs(s, train.id, [JobSpec(500001, (f"{i}.root",)) for i in range(n_jobs)], cause=BY_TEST)
    ids = list(s.scalars(select(Job.id).where(Job.train_run_id == train.id)))
    moves = JobMoves(s)
    moves.load(ids)
    for state in (JobState.RUNNING, JobState.DONE):
        for job_id in ids:
            moves.move(job_id, state, cause=BY_TEST)
    moves.flush()
    train.state = TrainState.DONE
    train.finished_at = datetime.now(UTC) - timedelta(days=days_ago)
    return train.id


def job_rows(s, train_id: int) -> int:
    of_train = select(func.count()).where(
        Transition.train_run_id == train_id, Transition.object_kind == "job"
    )
    return s.scalar(of_train)


def test_the_scheduler_prunes_old_job_stories_a_batch_per_tick(db_sessionmaker, tmp_path):
    with db_sessionmaker.begin() as s:
        w = make_world(s)
        ds, tag, target = w.dataset.id, w.tag.id, w.target.id
        old = ended_train(s, 400, ds, tag, target, n_jobs=5)
        young = ended_train(s, 30, ds, tag, target, n_jobs=2)
    with db_sessionmaker() as s:
        summary = story.jobs_summary(s, old)
        assert [m["count"] for m in summary] == [5, 5, 5]
        assert job_rows(s, old) == 15 and job_rows(s, young) == 6
    config = ShellConfig(
        work_dir=tmp_path / "work",
        targets={"2core": Target("2core")},
        test_target="2core",
        core=decide.SchedulerConfig(max_running_tests=0),
        story_keep=timedelta(days=365),
        story_prune_batch=4,
    )
    shell = SchedulerShell(db_sessionmaker, engine=None, config=config)  # type: ignore[arg-type]
    shell.tick()
    with db_sessionmaker() as s:
        assert job_rows(s, old) == 11  # one batch of 4
    for _ in range(10):
        if shell.story_prune_due is not None:  # the last batch was not full
            break
        shell.tick()
    assert shell.story_prune_due is not None
    with db_sessionmaker() as s:
        assert job_rows(s, old) == 0
        assert job_rows(s, young) == 6
        assert story.jobs_summary(s, old) == summary
        assert story.story(s, "job", s.scalars(select(Job.id)).first()) == []


def test_story_keep_days_zero_keeps_every_story(tmp_path):
    settings = Settings(story_keep_days=0, data_dir=str(tmp_path))
    assert shell_config(settings, {settings.scheduler_test_target: Target("t")}).story_keep is None
    settings = Settings(data_dir=str(tmp_path))
    config = shell_config(settings, {settings.scheduler_test_target: Target("t")})
    assert config.story_keep == timedelta(days=365)
