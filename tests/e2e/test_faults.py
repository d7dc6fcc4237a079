"""Faults that lost work (issue 17), on the running system: a train survives graceful
restarts of the server and the scheduler, ``kill -9`` of the server, of a Dask worker and of
an attempt's process, with every job done and the output of an undisturbed run; an attempt
that finds the disk full ends failed after its attempts, the train is flagged, and an
operator's resubmission through the API recovers it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest
from tests.e2e.system import System
from tests.grid.helpers import assert_same_histograms, config, reference_run

from hyperloop.db.models import TrainRun

SUPERVISOR = "hyperloop.grid.supervise"


def jobs(system: System, train: int) -> list[dict]:
    return system.get(f"/api/jobs?train_run_id={train}&limit=100")["items"]


def attempt_processes(jobs_dir: Path) -> list[psutil.Process]:
    """Processes of the train's attempts (supervisors and run-train), by working folder."""
    found = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        cmd, cwd = p.info["cmdline"] or [], p.info["cwd"] or ""
        if cwd.startswith(str(jobs_dir)) and ("run-train" in cmd or SUPERVISOR in cmd):
            found.append(p)
    return found


def supervisors(jobs_dir: Path) -> list[psutil.Process]:
    return [p for p in attempt_processes(jobs_dir) if SUPERVISOR in p.info["cmdline"]]


def under(proc: psutil.Process, pid: int) -> bool:
    """Whether ``proc`` descends from process ``pid``."""
    try:
        return any(parent.pid == pid for parent in proc.parents())
    except psutil.Error:
        return False


@pytest.mark.slow
def test_a_train_survives_restarts_and_kills_with_the_output_of_an_undisturbed_run(
    system_factory, tmp_path
):
    system: System = system_factory(scheduler_max_files_per_job="1")  # 6 jobs of one file
    wagon = system.wagon("gt-pt", {"gt-pt": {"sleepPerDf": "2.5"}})
    train = system.train([wagon])
    jobs_dir = system.root / "var" / "work" / "trains" / str(train) / "jobs"
    system.wait_for("a job of the train to run", lambda: supervisors(jobs_dir))
    states = []  # the train's state at each restart

    def restart(name: str) -> None:
        states.append(system.get(f"/api/train-runs/{train}")["state"])
        system.restart(name)  # graceful: SIGTERM, as systemd stops it

    restart("scheduler")  # jobs run on the workers and wait in Dask meanwhile
    restart("server")

    # kill -9 of an attempt's supervisor: its run-train goes with it (no job without limits)
    victim = system.wait_for("an attempt to kill", lambda: supervisors(jobs_dir))[0]
    folder = victim.info["cwd"]
    os.kill(victim.pid, signal.SIGKILL)
    system.wait_for(
        f"every process of the killed attempt in {folder} to end",
        lambda: not [p for p in attempt_processes(jobs_dir) if p.info["cwd"] == folder],
        timeout=30,
    )
    restart("scheduler")
    system.kill("server")
    system.start("server")

    worker = system.procs["worker-0"].pid
    system.wait_for(
        "an attempt on worker-0 (or the train done)",
        lambda: (
            [p for p in supervisors(jobs_dir) if under(p, worker)]
            or system.get(f"/api/train-runs/{train}")["state"] != "running"
        ),
    )
    system.kill("worker-0")
    system.start("worker-0")
    restart("scheduler")
    restart("server")
    restart("server")
    assert states[0] == "running"

    assert system.wait_train(train) == "done"
    done = jobs(system, train)
    assert len(done) == 6
    assert all(j["state"] == "done" and j["error_message"] is None for j in done), done
    # the restarts used no attempt: only the killed attempt and the killed worker's job did
    assert sum(j["attempts"] for j in done) <= len(done) + 2, done
    with system.sessions() as s:
        merged = s.get(TrainRun, train).output_dir
    reference = reference_run(config("gt-pt"), system.files, tmp_path / "ref", system.package)
    assert_same_histograms(merged, reference)


@pytest.mark.slow
def test_a_disk_full_attempt_ends_failed_flags_the_train_and_resubmit_recovers_it(
    system_factory,
):
    system: System = system_factory(scheduler_max_attempts="2")
    full = system.root / "disk-full"  # while it exists, attempts find the disk full
    wagon = system.wagon("gt-disk-full", {"gt-disk-full": {"fullWhile": str(full)}})
    train = system.train([wagon], submit=False)
    assert system.wait_train(train, ("test_done", "test_warning", "test_failed")) != "test_failed"
    full.touch()
    with system.client("admin") as c:
        r = c.post(f"/api/train-runs/{train}/submit")
        assert r.status_code == 200, r.text

    def flagged() -> list[dict]:
        rows = system.get("/api/train-runs/with-issues")["items"]
        return [r for r in rows if r["id"] == train]

    [row] = system.wait_for("the train among the trains with issues", flagged, timeout=120)
    failed = system.wait_for(
        "every job failed",
        lambda: (js := jobs(system, train)) and all(j["state"] != "running" for j in js) and js,
    )
    assert all(j["state"] == "execution_error" and j["attempts"] == 2 for j in failed), failed
    assert all("No space left on device" in j["error_message"] for j in failed), failed
    groups = system.get(f"/api/train-runs/{train}/error-groups")["items"]
    assert [(g["signature"].split(" ")[0], g["count"]) for g in groups] == [
        ("OSError", len(failed))
    ]
    jobs_dir = system.root / "var" / "work" / "trains" / str(train) / "jobs"
    assert sorted(len(list(d.iterdir())) for d in jobs_dir.iterdir()) == [2] * len(failed)
    assert system.get(f"/api/train-runs/{train}")["state"] == "running"  # it waits: no loop

    full.unlink()  # space freed: the operator resubmits through the API
    with system.client("admin") as c:
        r = c.post(f"/api/train-runs/{train}/resubmit")
        assert r.status_code == 200, r.text
        assert r.json() == {"resubmitted": len(failed)}
    assert system.wait_train(train) == "done"
    done = jobs(system, train)
    assert all(j["state"] == "done" and j["attempts"] == 3 for j in done), done
    assert all(j["error_message"] is None for j in done), done


@pytest.mark.slow
def test_running_counts_begun_jobs_and_killing_a_train_stops_its_attempts(system_factory):
    system: System = system_factory(scheduler_max_files_per_job="1")
    wagon = system.wagon("gt-pt", {"gt-pt": {"sleepPerDf": "4"}})  # jobs of 8 s and more
    train = system.train([wagon])
    jobs_dir = system.root / "var" / "work" / "trains" / str(train) / "jobs"

    # six jobs sent to Dask at once, two workers: two run, four are only queued
    def split() -> dict | None:
        status = system.get(f"/api/train-runs/{train}/status")
        return status if (status["running"], status["queued"]) == (2, 4) else None

    system.wait_for("2 jobs running and 4 queued", split, timeout=60)
    running = system.wait_for("a job of the train to run", lambda: supervisors(jobs_dir))
    folders = {Path(p.info["cwd"]) for p in running}
    with system.client("admin") as c:
        r = c.post(f"/api/train-runs/{train}/kill", json={"reason": "wrong cuts"})
        assert r.status_code == 200, r.text
    after = jobs(system, train)
    assert {j["state"] for j in after} <= {"done", "lost"}, after
    assert all(
        "killed by admin: wrong cuts" in j["error_message"] for j in after if j["state"] == "lost"
    )
    system.wait_for(
        "the killed train's attempts to end", lambda: not attempt_processes(jobs_dir), timeout=60
    )
    # the attempts running at the kill were stopped by the scheduler, not left to finish
    verdicts = [json.loads((f / "record.json").read_text())["message"] for f in folders]
    assert any(v.startswith("stopped: train") for v in verdicts), verdicts
