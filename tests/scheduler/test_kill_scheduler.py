"""Fault test with real processes: two ``hyperloop scheduler`` processes on one SQLite
database; the active one is SIGKILLed in the middle of a train, the standby (waiting on the
lease, naming its holder) takes over once the dead one's lease expires, and the train
finishes with merged histograms identical, bin by bin, to one undisturbed run."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.factories import gt_pt_config, seed_files_world, start
from tests.grid.helpers import histograms, reference_run

from hyperloop.db.models import Job, SchedulerLease, TrainRun
from hyperloop.enums import JobState, TrainState
from hyperloop.scheduler.lease import Lease


def wait_for(what: str, check: Callable[[], bool], deadline: float, *logs: Path) -> None:
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(p.read_text()[-3000:] for p in logs if p.exists())
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.2)


def end_group(proc) -> None:
    """SIGKILL what is left of a process group this test started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_a_killed_scheduler_is_replaced_and_the_train_gives_the_undisturbed_result(tmp_path):
    world = seed_files_world(tmp_path, files_per_run=1, sleep_per_df=0.5)
    env = world.env(
        tmp_path, HYPERLOOP_SCHEDULER_LEASE_TTL_S="3", HYPERLOOP_SCHEDULER_MAX_FILES_PER_JOB="1"
    )
    logs = {"a": tmp_path / "a.log", "b": tmp_path / "b.log"}
    deadline = time.monotonic() + 240  # a safety net on a loaded machine

    def jobs() -> list[Job]:
        with world.sessions() as s:
            return list(s.scalars(select(Job).where(Job.train_run_id == world.train_id)))

    def lease() -> SchedulerLease | None:
        with world.sessions() as s:
            return s.get(SchedulerLease, "scheduler")

    # an operator's maintenance lease holds both schedulers back until they are up
    maintenance = Lease(world.sessions, "maintenance", ttl=timedelta(minutes=10))
    assert maintenance.acquire()
    procs = {name: start(["scheduler"], env, path, tmp_path) for name, path in logs.items()}
    try:
        for name, path in logs.items():
            wait_for(
                f"scheduler {name} to report the lease holder",
                lambda p=path: (
                    "waiting for the scheduler lease: held by maintenance" in p.read_text()
                ),
                deadline,
                path,
            )
        maintenance.release()

        def holder() -> str | None:
            row = lease()
            pid = (row.holder or ":0:").split(":")[1] if row else "0"
            return next((n for n, p in procs.items() if str(p.pid) == pid), None)

        wait_for("one scheduler to take the lease", lambda: holder() is not None, deadline)
        active = holder()
        standby = "b" if active == "a" else "a"
        epoch = lease().epoch

        def mid_train() -> bool:
            states = [j.state for j in jobs()]
            done = states.count(JobState.DONE)
            return 0 < done < len(states) and JobState.RUNNING in states

        wait_for("some jobs done and some running", mid_train, deadline, logs[active])
        killed_running = {j.id for j in jobs() if j.state is JobState.RUNNING}
        os.kill(procs[active].pid, signal.SIGKILL)
        assert procs[active].wait(timeout=10) == -signal.SIGKILL

        def train_done() -> bool:
            with world.sessions() as s:
                return s.get(TrainRun, world.train_id).state is TrainState.DONE

        wait_for("the train to be done", train_done, deadline, logs[standby])
        assert holder() == standby and lease().epoch > epoch  # took over after expiry
        procs[standby].send_signal(signal.SIGTERM)
        assert procs[standby].wait(timeout=60) == 0
        assert lease().holder is None  # released on a clean stop
    finally:
        for proc in procs.values():
            end_group(proc)

    finished = jobs()
    assert len(finished) == len(world.files)  # one file per job
    assert all(j.state is JobState.DONE and j.target == "small" for j in finished)

    # of the jobs the killed scheduler was running: those that had begun on its (dead) workers
    # without a verdict were found lost and ran again; those only queued in its engine were
    # queued again without using an attempt; one that left its verdict was adopted
    def first_attempt(job_id: int) -> Path | None:
        return next(tmp_path.rglob(f"jobs/job-{job_id}/attempt-1"), None)

    attempts = {j.id: j.attempts for j in finished}
    lost = set()
    for job_id in killed_running:
        folder = first_attempt(job_id)
        if folder is None:
            assert attempts[job_id] == 1, job_id  # never began
        elif not (folder / "record.json").exists():
            lost.add(job_id)
            assert attempts[job_id] >= 2, job_id
    assert lost, "the kill interrupted no running job"
    with world.sessions() as s:
        merged = s.get(TrainRun, world.train_id).output_dir

    reference = reference_run(gt_pt_config(), world.files, tmp_path / "ref", world.package)
    got, want = histograms(merged), histograms(reference)
    assert got.keys() == want.keys() and got
    for key, (values, entries) in want.items():
        np.testing.assert_array_equal(got[key][0], values, err_msg=key)
        assert got[key][1] == entries, key
