"""Wagons that misbehave, on real processes: each attempt's record says what happened
(exception with its place, memory kill, wall-time kill) and the workers survive. Retries,
lost workers and restarts are the scheduler's: ``tests/scheduler`` and ``tests/e2e``."""

from __future__ import annotations

import pytest
from tests.grid.helpers import config

from hyperloop.grid.splitting import split_run
from hyperloop.grid.targets import Target

GiB = 1024**3
MB = 1024**2


@pytest.mark.slow
def test_misbehaving_wagons_are_recorded_and_workers_survive(
    engine, catalogue, package_dir, tmp_path
):
    run = min(catalogue)
    (job,) = split_run(run, catalogue[run][:1])
    small = Target("small", 1, 250 * MB, 120)
    big = Target("big", 1, int(1.5 * GiB), 120)
    short = Target("short", 1, 2 * GiB, 6)
    pids = set(engine.worker_pids().values())

    def attempt(cfg: dict, target: Target, name: str):
        future = engine.submit(job, cfg, target, tmp_path / name, 1, package_dir=package_dir)
        return future.result()

    good = engine.submit(job, config("gt-pt"), big, tmp_path / "good", 1, package_dir=package_dir)
    raised = attempt(config("gt-raise"), big, "raise")
    assert raised.error_kind == "execution"
    assert raised.signature == "ValueError at gridtest_wagons.py:check_vertex"
    assert "deliberate failure" in raised.message and "gt-raise" in raised.message
    assert "in check_vertex" in raised.traceback

    hungry = config(("gt-memory", {"gt-memory": {"allocMb": "400"}}))
    killed = attempt(hungry, small, "memory-small")
    assert (killed.error_kind, killed.target) == ("memory", "small")
    assert killed.max_pss_bytes > 250 * MB
    assert attempt(hungry, big, "memory-big").ok  # what the scheduler's retry does

    forever = attempt(config("gt-forever"), short, "forever")
    assert forever.error_kind == "expired" and "6 s" in forever.message
    assert forever.wall_s < 60

    assert good.result().ok
    assert set(engine.worker_pids().values()) == pids  # no worker died
