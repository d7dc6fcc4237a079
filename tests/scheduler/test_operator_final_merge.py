"""A corrupt input file, end to end with real processes: a ``hyperloop scheduler`` process
on a migrated SQLite database runs a train whose one file is corrupt; that job fails (the
error names the file) until no retry is left, the train is flagged with issues; an operator
asks for the final merge through the core service; the scheduler merges the good runs only
and the train is done with the corrupt file's run listed as missing."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.factories import gt_pt_config, seed_files_world, start
from tests.grid.helpers import assert_same_histograms, reference_run

from hyperloop.core import jobs, trains
from hyperloop.core.actor import Actor
from hyperloop.db.models import HistoryEntry, Job, TrainRun, User
from hyperloop.enums import JobState, TrainState


def wait_for(what: str, check: Callable[[], bool], deadline: float, log: Path) -> None:
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.2)


@pytest.mark.slow
def test_an_operator_finishes_a_train_with_a_corrupt_file_by_a_final_merge(tmp_path):
    world = seed_files_world(tmp_path, files_per_run=1)
    bad = Path(world.files[0])
    bad_run = int(bad.parent.name)
    bad.write_bytes(b"root" + bytes(range(256)) * 64)  # not a ROOT file any more
    good = world.files[1:]
    env = world.env(tmp_path, HYPERLOOP_SCHEDULER_MAX_ATTEMPTS="2")
    log = tmp_path / "scheduler.log"
    deadline = time.monotonic() + 240  # a safety net on a loaded machine

    def train_jobs() -> list[Job]:
        with world.sessions() as s:
            return list(s.scalars(select(Job).where(Job.train_run_id == world.train_id)))

    def all_final() -> bool:
        states = {j.run_number: (j.state, j.attempts) for j in train_jobs()}
        return len(states) == len(world.files) and states[bad_run] == (
            JobState.EXECUTION_ERROR,
            1,  # an input error is not retried (2 attempts allowed): the file stays corrupt
        )

    proc = start(["scheduler"], env, log, tmp_path)
    try:
        wait_for("the corrupt file's job to fail for good", all_final, deadline, log)
        by_state = {j.run_number: j for j in train_jobs()}
        failed = by_state[bad_run]
        assert failed.state is JobState.EXECUTION_ERROR and failed.attempts == 1
        assert str(bad) in failed.error_message  # the error names the corrupt file
        wait_for(
            "the good jobs to be done",
            lambda: all(j.state is JobState.DONE for j in train_jobs() if j.run_number != bad_run),
            deadline,
            log,
        )
        with world.sessions() as s:
            train = s.get(TrainRun, world.train_id)
            assert train.state is TrainState.RUNNING  # it cannot finish by itself
            assert [t.id for t, _why in jobs.trains_with_issues(s)] == [world.train_id]

        with world.sessions.begin() as s:  # the operator's "Final merge now"
            admin = Actor(s.scalars(select(User).where(User.username == "admin")).one())
            trains.request_final_merge(s, admin, world.train_id)

        def done() -> bool:
            with world.sessions() as s:
                return s.get(TrainRun, world.train_id).state is TrainState.DONE

        wait_for("the train to be done", done, deadline, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    with world.sessions() as s:
        train = s.get(TrainRun, world.train_id)
        merged = train.output_dir
        reasons = s.scalars(
            select(HistoryEntry.reason).where(
                HistoryEntry.object_type == "train_run", HistoryEntry.object_id == world.train_id
            )
        ).all()
    runs = sorted(j.run_number for j in train_jobs())
    kept = ", ".join(str(r) for r in runs if r != bad_run)
    assert f"runs {kept} merged, runs {bad_run} missing" in " | ".join(reasons)
    # the final output holds the good runs only, each event once
    reference = reference_run(gt_pt_config(), good, tmp_path / "ref", world.package)
    assert_same_histograms(merged, reference)
    run_dir = Path(merged).parents[1] / "runs"
    assert sorted(int(p.name) for p in run_dir.iterdir()) == [r for r in runs if r != bad_run]
