"""Multi-core jobs on Dask workers that declare a ``cores`` resource. (Whole trains run
through the scheduler: ``tests/scheduler/test_train_shell.py``, ``tests/e2e``.)"""

from __future__ import annotations

import pytest
from tests.grid.helpers import config

from hyperloop.grid.engine import Engine, EngineError
from hyperloop.grid.splitting import split_run
from hyperloop.grid.targets import Target


@pytest.mark.slow
def test_multi_core_jobs_take_their_cores_from_the_workers(catalogue, package_dir, tmp_path):
    """A worker offering 2 cores runs one 2-core job at a time, even with 2 threads."""
    run = min(catalogue)
    jobs = split_run(run, catalogue[run], max_files=1)[:2]
    two = Target("2-core", 2, 2 * 1024**3, 120)
    with Engine.local(n_workers=1, threads_per_worker=2, cores_per_worker=2) as eng:
        futures = [
            eng.submit(j, config("gt-pt"), two, tmp_path, 1, package_dir=package_dir) for j in jobs
        ]
        a, b = sorted((f.result() for f in futures), key=lambda r: r.started_at)
        with pytest.raises(EngineError, match="target 4-core needs 4 cores per job"):
            eng.submit(jobs[0], config("gt-pt"), Target("4-core", 4), tmp_path, 2)
    assert a.ok and b.ok
    assert b.started_at >= a.started_at + a.wall_s  # never both at once


@pytest.mark.slow
def test_the_embedded_workers_share_their_cores_among_one_core_jobs(
    catalogue, package_dir, tmp_path
):
    """``dask_cores_per_worker`` = 2: each embedded worker has a thread per core, so two
    1-core jobs run on it at the same time (not one behind a single thread)."""
    from hyperloop.scheduler.service import start_engine
    from hyperloop.settings import Settings

    run = min(catalogue)
    jobs = split_run(run, catalogue[run], max_files=1)[:2]
    one = Target("1-core", 1, 2 * 1024**3, 120)
    settings = Settings(dask_workers=1, dask_cores_per_worker=2)
    with start_engine(settings) as eng:
        assert list(eng.client.nthreads().values()) == [2]
        futures = [
            eng.submit(j, config("gt-pt"), one, tmp_path, 1, package_dir=package_dir) for j in jobs
        ]
        a, b = sorted((f.result() for f in futures), key=lambda r: r.started_at)
    assert a.ok and b.ok
    assert b.started_at < a.started_at + a.wall_s  # side by side on the one worker
