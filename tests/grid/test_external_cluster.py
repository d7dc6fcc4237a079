"""A train against a separately started Dask cluster (``dask scheduler`` + ``dask worker``)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.grid.helpers import assert_same_histograms, config, reference_run

from hyperloop.grid.engine import Engine
from hyperloop.grid.targets import Target

DASK = str(Path(sys.executable).with_name("dask"))


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def external_address(tmp_path):
    sched_file = tmp_path / "scheduler.json"
    scheduler = _start(
        [
            DASK,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(sched_file),
        ],
        tmp_path / "scheduler.log",
    )
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), (tmp_path / "scheduler.log").read_text()
        address = json.loads(sched_file.read_text())["address"]
        procs.append(
            _start(
                [
                    DASK,
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                tmp_path / "worker.log",
            )
        )
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.mark.slow
def test_train_on_separately_started_cluster(external_address, catalogue, package_dir, tmp_path):
    from hyperloop.grid.pipeline import run_train_on_engine

    runs = sorted(catalogue)[:2]
    cat = {r: catalogue[r] for r in runs}
    files = [p for r in runs for p, _ in cat[r]]
    reference = reference_run(config("gt-pt"), files, tmp_path / "ref", package_dir)
    target = Target("external", 1, 2 * 1024**3, 120, engine=external_address)
    with Engine.for_target(target) as engine:
        engine.wait_for_workers(2, timeout=60)
        workers = set(engine.worker_pids())
        assert len(workers) == 2
        result = run_train_on_engine(
            config("gt-pt"),
            cat,
            engine,
            {"external": target},
            tmp_path / "out",
            target="external",
            package_dir=package_dir,
            max_files_per_job=2,
        )
    assert result.state == "done"
    assert {a.worker for a in result.attempts} <= workers  # ran on the external workers
    assert_same_histograms(result.final.outputs["AnalysisResults"], reference)
