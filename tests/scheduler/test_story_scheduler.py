"""Stories written by the real scheduler process: a ``hyperloop scheduler`` drives a train
to done and another whose wagon raises; each job's story tells waiting -> running -> done
(or the failure and its retries) with the tick that decided each move and its reason."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest
from sqlalchemy import select
from tests.factories import seed_files_world, start

from hyperloop.core.states import JOB_ERRORS
from hyperloop.core.story import story
from hyperloop.db.models import Job, TrainRun
from hyperloop.enums import JobState, TrainState

ERRORS = {e.value for e in JOB_ERRORS}


@pytest.mark.slow
def test_the_scheduler_tells_why_each_job_moved(tmp_path):
    world = seed_files_world(tmp_path, files_per_run=1)
    with world.sessions.begin() as s:  # a second train, of a wagon that always raises
        good = s.get(TrainRun, world.train_id)
        wagon = {"workflow": "gt-raise", "wagon_id": 2, "base_config": {}, "subwagons": {}}
        bad = TrainRun(
            dataset_id=good.dataset_id,
            tag_id=good.tag_id,
            target_id=good.target_id,
            state=TrainState.SUBMITTED,
            slow=True,
            wagons_snapshot=[wagon],
        )
        s.add(bad)
        s.flush()
        bad_id = bad.id
    log = tmp_path / "scheduler.log"
    proc = start(["scheduler"], world.env(tmp_path), log, tmp_path)

    def jobs(train_id: int) -> list[Job]:
        with world.sessions() as s:
            stmt = select(Job).where(Job.train_run_id == train_id).order_by(Job.id)
            return list(s.scalars(stmt))

    def finished() -> bool:
        with world.sessions() as s:
            done = s.get(TrainRun, world.train_id).state is TrainState.DONE
        failing = jobs(bad_id)
        return (
            done
            and bool(failing)
            and all(j.state.value in ERRORS and j.attempts == 3 for j in failing)
        )

    deadline = time.monotonic() + 240  # a safety net on a loaded machine
    try:
        while not finished():
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"the trains did not finish\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    with world.sessions() as s:
        for job in jobs(world.train_id):
            steps = story(s, "job", job.id)
            assert [(x.from_state, x.state, x.cause) for x in steps] == [
                (None, "waiting", "split"),
                ("waiting", "running", "job-submitted"),
                ("running", "done", "job-done"),
            ]
            assert all(x.stimulus.startswith("tick-") and x.actor is None for x in steps)
            assert steps[0].reason == f"train run {world.train_id} split into jobs"
            assert steps[1].reason == "waiting: attempt 1 submitted on target small"
            assert steps[2].reason.startswith("attempt 1 validated")
            assert steps[0].at <= steps[1].at <= steps[2].at

        train = [(x.from_state, x.state, x.cause) for x in story(s, "train_run", world.train_id)]
        assert train == [
            ("submitted", "running", "split"),
            ("running", "merging", "final-merge"),
            ("merging", "done", "merged"),
        ]

        for job in jobs(bad_id):
            steps = story(s, "job", job.id)
            moves = [(x.from_state, x.state) for x in steps]
            assert [x.cause for x in steps] == [
                "split",
                "job-submitted",
                "job-failed",
                "retry",
                "retry",  # the retry is resubmitted at once: waiting -> running
                "job-failed",
                "retry",
                "retry",
                "job-failed",
            ], moves
            failures = [x for x in steps if x.cause == "job-failed"]
            assert [x.reason.split(" ")[1] for x in failures] == ["1", "2", "3"]
            assert all("deliberate failure" in x.reason for x in failures), failures
            assert all(x.state in ERRORS for x in failures)
            retry = next(x for x in steps if x.cause == "retry")
            assert retry.reason.startswith("automatic retry after execution in attempt 1")
            assert steps[-1].state == job.state.value and job.state is not JobState.DONE
