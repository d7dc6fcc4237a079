"""Whole trains on Dask: same histograms as one local run, merges per run and final."""

from __future__ import annotations

from pathlib import Path

import pytest
import uproot
from tests.grid.helpers import assert_same_histograms, config, reference_run

from hyperloop.grid.engine import Engine, EngineError
from hyperloop.grid.execute import inspect_attempt
from hyperloop.grid.pipeline import run_train_on_engine
from hyperloop.grid.splitting import split_catalogue, split_run
from hyperloop.grid.targets import Target

TARGETS = {"single-core": Target("single-core", 1, 2 * 1024**3, 120)}


@pytest.mark.slow
def test_train_on_local_cluster_equals_one_local_run(engine, catalogue, package_dir, tmp_path):
    cfg = config("gt-pt")
    files = [p for run in sorted(catalogue) for p, _ in catalogue[run]]
    reference = reference_run(cfg, files, tmp_path / "ref", package_dir)
    result = run_train_on_engine(
        cfg,
        catalogue,
        engine,
        TARGETS,
        tmp_path / "out",
        target="single-core",
        train_id="t1",
        package_dir=package_dir,
        max_files_per_job=2,
        mergelists={"first-two": list(sorted(catalogue))[:2]},
    )
    assert result.state == "done"
    assert len(result.jobs) == 6  # 3 runs x (2 + 1 files)
    assert all(len(o.attempts) == 1 and o.result for o in result.jobs.values())
    assert sorted(result.run_merges) == sorted(catalogue)
    assert result.final.runs_merged == sorted(catalogue) and not result.final.runs_missing
    assert_same_histograms(result.final.outputs["AnalysisResults"], reference)
    ml = result.mergelist_merges["first-two"]
    assert ml.runs_merged == sorted(catalogue)[:2]
    folder = Path(next(iter(result.jobs.values())).attempts[0].folder)
    assert folder.name == "attempt-1" and (folder / "input_data.txt").exists()
    rec = result.attempts[0]
    assert rec.cpu_s > 0 and rec.max_pss_bytes > 0 and rec.bytes_read > 0 and rec.host


@pytest.mark.slow
def test_recovering_attempt_folders_after_a_restart(engine, catalogue, package_dir, tmp_path):
    """What a restarted scheduler sees: finished folders validate, interrupted ones are lost."""
    run = min(catalogue)
    (job,) = split_run(run, catalogue[run][:1])
    target = TARGETS["single-core"]
    fut = engine.submit(job, config("gt-pt"), target, tmp_path, 1, package_dir=package_dir)
    first = fut.result()
    assert first.ok
    again = inspect_attempt(job, config("gt-pt"), target, tmp_path, 1)
    assert again.ok and again.outputs == first.outputs
    (tmp_path / job.job_id / "attempt-2").mkdir()
    lost = inspect_attempt(job, config("gt-pt"), target, tmp_path, 2)
    assert lost.error_kind == "lost" and "interrupted" in lost.message


@pytest.mark.slow
def test_derived_data_train_keeps_per_run_files_as_a_new_production(
    engine, catalogue, package_dir, tmp_path
):
    runs = sorted(catalogue)[:2]
    cat = {r: catalogue[r][:2] for r in runs}
    cfg = config(
        "gt-skim",
        derived_data=True,
        OutputDirector={"OutputDescriptors": [{"table": "GtSkimTracks"}]},
    )
    result = run_train_on_engine(
        cfg,
        cat,
        engine,
        TARGETS,
        tmp_path / "out",
        target="single-core",
        train_id="skim",
        package_dir=package_dir,
        max_files_per_job=1,
    )
    assert result.train_type == "standard" and result.state == "done"
    assert "AO2D" not in result.final.outputs  # standard derived data: not merged across runs
    production = result.derived_production()
    assert sorted(production) == runs
    for run in runs:
        ((path, size),) = production[run]
        with uproot.open(path) as f:
            dfs = [k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")]
        assert len(dfs) == 4 and size > 0  # 2 jobs x 2 dataframes, kept distinct
    masters = split_catalogue(production, max_files=1)  # usable as a dataset's catalogue
    assert [m.run for m in masters] == runs


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
