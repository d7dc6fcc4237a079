"""``hyperloop scheduler --once``: one step of the scheduler on the database of the
settings; refused (exit 3, naming the holder) while another scheduler holds the lease."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.factories import HYPERLOOP, seed_files_world
from typer.testing import CliRunner

from hyperloop.cli import app as cli_app
from hyperloop.db.migrate import upgrade
from hyperloop.db.models import Job, SchedulerLease, TrainRun
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import JobState, TrainState


def test_once_does_nothing_while_another_scheduler_holds_the_lease(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    until = datetime.now(UTC) + timedelta(minutes=5)
    with make_sessionmaker(engine).begin() as s:
        s.add(SchedulerLease(name="scheduler", holder="node7:4242:abcd", epoch=3, expires_at=until))
    engine.dispose()
    env = {"HYPERLOOP_DATABASE_URL": url, "HYPERLOOP_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli_app, ["scheduler", "--once", "--no-migrate"], env=env)
    assert result.exit_code == 3, result.output
    assert "did nothing: the scheduler lease is held by node7:4242:abcd" in result.output
    assert "(epoch 3)" in result.output


def test_scheduler_refuses_invalid_settings_by_name(tmp_path):
    env = {
        "HYPERLOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "HYPERLOOP_SCHEDULER_LEASE_TTL_S": "-1",
    }
    result = CliRunner().invoke(cli_app, ["scheduler", "--once"], env=env)
    assert result.exit_code == 2
    assert "scheduler_lease_ttl_s" in result.output


@pytest.mark.slow
def test_once_splits_a_submitted_train_into_jobs_and_releases_the_lease(tmp_path):
    world = seed_files_world(tmp_path, state=TrainState.SUBMITTED, files_per_run=2)
    env = world.env(tmp_path, HYPERLOOP_SCHEDULER_MAX_FILES_PER_JOB="1")
    proc = subprocess.run(
        [HYPERLOOP, "scheduler", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "one step: SplitTrain" in proc.stdout
    with world.sessions() as s:
        assert s.get(TrainRun, world.train_id).state is TrainState.RUNNING
        jobs = s.scalars(select(Job).where(Job.train_run_id == world.train_id)).all()
        assert len(jobs) == len(world.files)  # one file per job, from the settings
        assert {j.state for j in jobs} == {JobState.WAITING}
        lease = s.get(SchedulerLease, "scheduler")
        assert lease.holder is None and lease.epoch == 1  # taken once, released on exit
