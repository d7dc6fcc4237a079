"""Faults with real processes: a killed worker, a corrupt file, wagons that misbehave."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import uproot
from tests.factories import random_dataframe
from tests.grid.helpers import assert_same_histograms, config, reference_run

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.grid.engine import RetryPolicy, group_errors, run_jobs
from hyperloop.grid.pipeline import operator_final_merge, resubmit_jobs, run_train_on_engine
from hyperloop.grid.splitting import split_run
from hyperloop.grid.targets import Target

GiB = 1024**3
MB = 1024**2


def _processes_in(folder: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in (p.info["cmdline"] or [])):
            out.append(p)
    return out


@pytest.mark.slow
def test_killed_worker_loses_no_event_and_counts_none_twice(
    engine, catalogue, package_dir, tmp_path
):
    slow = config(("gt-pt", {"gt-pt": {"sleepPerDf": "1.0"}}))
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    reference = reference_run(config("gt-pt"), files, tmp_path / "ref", package_dir)
    targets = {"two-core": Target("two-core", 2, 2 * GiB, 300)}  # devices as processes
    box: dict = {}

    def train() -> None:
        box["result"] = run_train_on_engine(
            slow,
            catalogue,
            engine,
            targets,
            tmp_path / "out",
            train_id="kill",
            package_dir=package_dir,
            max_files_per_job=2,
            target="two-core",
        )

    thread = threading.Thread(target=train)
    thread.start()
    jobs_dir = tmp_path / "out" / "kill" / "jobs"
    victim_folder = None
    deadline = time.monotonic() + 120
    while victim_folder is None and time.monotonic() < deadline:
        started = sorted(jobs_dir.glob("*/attempt-1/console.log")) if jobs_dir.exists() else []
        busy = {w: keys for w, keys in engine.running().items() if keys}
        if started and busy:
            worker, keys = next(iter(busy.items()))
            job_id = keys[0].split("hyperloop-attempt-")[1].rsplit("-a", 1)[0]
            victim_folder = jobs_dir / job_id / "attempt-1"
            os.kill(engine.worker_pids()[worker], signal.SIGKILL)
        time.sleep(0.2)
    thread.join(timeout=300)
    assert victim_folder is not None, "no job started in time"
    result = box["result"]
    assert result.state == "done"
    lost = [a for a in result.attempts if a.error_kind == "lost"]
    assert lost, [a.error_kind for a in result.attempts]
    job = result.jobs[lost[0].job_id]
    assert job.result is not None and job.result.attempt > lost[0].attempt
    assert "lost" in job.result.reason
    assert_same_histograms(result.final.outputs["AnalysisResults"], reference)
    deadline = time.monotonic() + 10
    while _processes_in(victim_folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_in(victim_folder), "the lost attempt's child outlived its worker"


@pytest.mark.slow
def test_corrupt_file_fails_its_job_and_final_merge_lists_the_missing_run(
    engine, catalogue, package_dir, tmp_path
):
    bad = tmp_path / "999999" / "AO2D_bad.root"
    bad.parent.mkdir()
    bad.write_bytes(b"root" + bytes(range(256)) * 64)
    cat = {**catalogue, 999999: [(str(bad), bad.stat().st_size)]}
    good = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    reference = reference_run(config("gt-pt"), good, tmp_path / "ref", package_dir)
    result = run_train_on_engine(
        config("gt-pt"),
        cat,
        engine,
        {"single-core": Target("single-core", 1, 2 * GiB, 120)},
        tmp_path / "out",
        target="single-core",
        train_id="corrupt",
        package_dir=package_dir,
        max_files_per_job=3,
        policy=RetryPolicy(max_attempts=2),
    )
    (failed,) = result.failed_jobs
    attempts = result.jobs[failed].attempts
    assert [a.error_kind for a in attempts] == ["input", "input"]
    assert str(bad) in attempts[0].message and attempts[0].failed_files == [str(bad)]
    assert attempts[1].reason == "automatic retry after input in attempt 1"
    assert len(result.done_jobs) == 3
    assert result.final is None and result.missing_runs == [999999]
    assert result.state == "merging"
    (group,) = result.errors
    assert group.count == 2 and group.jobs == [failed] and str(bad) in group.traceback
    final = operator_final_merge(result)
    assert final.runs_missing == [999999] and final.runs_merged == sorted(catalogue)
    assert_same_histograms(final.outputs["AnalysisResults"], reference)

    # the file is replaced by a good copy; the operator resubmits the job by hand
    with AO2DWriter(bad) as w:
        for d in range(2):
            w.write_dataframe(d, random_dataframe(np.random.default_rng(9), 30, 12, run=999999))
    again = resubmit_jobs(result, engine, {"single-core": Target("single-core", 1, 2 * GiB, 120)})
    third = again[failed].attempts[-1]
    assert third.ok and third.attempt == 3 and third.reason == "operator resubmission"
    final = operator_final_merge(result)
    assert final.runs_missing == [] and final.runs_merged == sorted(cat)
    with uproot.open(final.outputs["AnalysisResults"]) as f:
        assert f["gt-pt/hVz"].member("fEntries") == (9 * 2 + 2) * 30  # every collision once


@pytest.mark.slow
def test_misbehaving_wagons_are_recorded_and_workers_survive(
    engine, catalogue, package_dir, tmp_path
):
    run = min(catalogue)
    (job,) = split_run(run, catalogue[run][:1])
    targets = {
        "small": Target("small", 1, 250 * MB, 120),
        "big": Target("big", 1, int(1.5 * GiB), 120),
        "short": Target("short", 1, 2 * GiB, 6),
    }
    pids = set(engine.worker_pids().values())
    good = engine.submit(
        job, config("gt-pt"), targets["big"], tmp_path / "good", 1, package_dir=package_dir
    )
    no_retry = RetryPolicy(max_attempts=3, retry_kinds=frozenset({"memory", "lost"}))

    def one(cfg: dict, target: str, name: str):
        out = run_jobs(
            engine,
            [job],
            cfg,
            targets,
            target,
            tmp_path / name,
            package_dir=package_dir,
            policy=no_retry,
        )
        return out[job.job_id]

    raised = one(config("gt-raise"), "big", "raise")
    (a,) = raised.attempts
    assert a.error_kind == "execution"
    assert a.signature == "ValueError at gridtest_wagons.py:check_vertex"
    assert "deliberate failure" in a.message and "gt-raise" in a.message
    assert "in check_vertex" in a.traceback

    memory = one(config(("gt-memory", {"gt-memory": {"allocMb": "400"}})), "small", "memory")
    first, second = memory.attempts
    assert (first.error_kind, first.target) == ("memory", "small")
    assert first.max_pss_bytes > 250 * MB
    assert second.ok and second.target == "big"
    assert "on target big with more memory per job" in second.reason

    forever = one(config("gt-forever"), "short", "forever")
    (a,) = forever.attempts
    assert a.error_kind == "expired" and "6 s" in a.message
    assert a.wall_s < 60

    assert good.result().ok
    assert set(engine.worker_pids().values()) == pids  # no worker died
    groups = group_errors(raised.attempts + memory.attempts + forever.attempts)
    assert {g.kind for g in groups} == {"execution", "memory", "expired"}


@pytest.mark.slow
def test_killed_driver_restarted_gives_the_same_result_without_redoing_work(
    catalogue, package_dir, tmp_path
):
    """SIGKILL the process driving the train (the scheduler's role) and restart it."""
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    reference = reference_run(config("gt-pt"), files, tmp_path / "ref", package_dir)
    args = {
        "config": config(("gt-pt", {"gt-pt": {"sleepPerDf": "0.5"}})),
        "catalogue": {str(k): v for k, v in catalogue.items()},
        "out": str(tmp_path / "out"),
        "package": str(package_dir),
        "summary": str(tmp_path / "summary.json"),
        "resume": False,
    }
    driver_py = str(Path(__file__).with_name("driver.py"))
    first = subprocess.Popen(
        [sys.executable, driver_py, json.dumps(args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    jobs_dir = tmp_path / "out" / "driven" / "jobs"
    try:
        deadline = time.monotonic() + 180
        while not list(jobs_dir.glob("*/attempt-1/record.json")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        first.kill()  # the driver only, as a crash would
        first.wait()
        killed_at = time.time()
        args["resume"] = True
        second = subprocess.run(
            [sys.executable, driver_py, json.dumps(args)], capture_output=True, timeout=600
        )
        assert second.returncode == 0, second.stderr.decode()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)  # leftovers of the first life, if any
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["state"] == "done"
    assert_same_histograms(summary["final"], reference)
    by_job: dict[str, list[dict]] = {}
    for a in summary["attempts"]:
        by_job.setdefault(a["job_id"], []).append(a)
    assert len(by_job) == 6
    assert all(sum(a["state"] == "done" for a in atts) == 1 for atts in by_job.values())
    kept = [atts for atts in by_job.values() if atts[0]["state"] == "done" and len(atts) == 1]
    assert any(atts[0]["started_at"] < killed_at for atts in kept)  # done before: not redone
