"""Merge stages on recorded outputs: per run, mergelists, final; derived data by train type."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import uproot
from tests.factories import random_dataframe

from hyperloop.grid.execute import AttemptRecord
from hyperloop.grid.merging import (
    MergeStageError,
    Storage,
    derived_production,
    final_merge,
    merge_mergelist,
    merge_run,
)

REAL = "AnalysisResults_o2_twopartcorr.root"
HIST = "twoparcorcombexample"


def _record(job: str, run: int, **outputs: str) -> AttemptRecord:
    return AttemptRecord(job, run, 1, "t", "done", outputs=dict(outputs))


def _sum_of(path: str) -> dict[str, np.ndarray]:
    with uproot.open(path) as f:
        return {
            k: f[k].values() for k, c in f.classnames(cycle=False).items() if c.startswith("TH")
        }


@pytest.fixture
def job_results(realdata, tmp_path):
    """Copies of a real results file as validated outputs: runs 1 (2 jobs), 2 and 3 (1 job)."""
    recs = {}
    for run, n in ((1, 2), (2, 1), (3, 1)):
        for i in range(n):
            p = tmp_path / "jobs" / f"{run}-{i}" / "AnalysisResults.root"
            p.parent.mkdir(parents=True)
            shutil.copy(realdata / REAL, p)
            recs.setdefault(run, []).append(_record(f"{run}-{i}", run, AnalysisResults=str(p)))
    return recs


def test_run_mergelist_and_final_merges_count_each_job_once(realdata, job_results, tmp_path):
    storage = Storage(tmp_path / "merged")
    one = _sum_of(str(realdata / REAL))
    runs = {run: merge_run(run, recs, storage) for run, recs in job_results.items()}
    assert runs[1].jobs == ["1-0", "1-1"] and runs[1].outputs["AnalysisResults"].endswith(
        "runs/1/AnalysisResults.root"
    )
    ml = merge_mergelist("early", [1, 2, 4], runs, storage)
    assert ml.runs_merged == [1, 2] and ml.runs_missing == [4]
    final = final_merge(runs, storage)
    assert final.runs_merged == [1, 2, 3] and final.runs_missing == []
    merged = _sum_of(final.outputs["AnalysisResults"])
    assert set(merged) == set(one)
    for key, values in one.items():
        np.testing.assert_allclose(merged[key], 4 * values)  # 4 jobs, each once
    partial = final_merge(runs, storage, runs=[1, 2, 3, 5])
    assert partial.runs_missing == [5]


def test_merge_refuses_unvalidated_duplicated_or_foreign_outputs(job_results, tmp_path):
    storage = Storage(tmp_path / "merged")
    rec = job_results[1][0]
    with pytest.raises(MergeStageError, match="given twice"):
        merge_run(1, [rec, rec], storage)
    with pytest.raises(MergeStageError, match="belongs to run 1, not run 2"):
        merge_run(2, [rec], storage)
    failed = AttemptRecord("1-9", 1, 1, "t", "error", "memory")
    with pytest.raises(MergeStageError, match="not validated"):
        merge_run(1, [failed], storage)


def test_merges_go_through_a_non_local_fsspec_storage(job_results):
    storage = Storage("memory://hyperloop-merge-test")
    runs = {run: merge_run(run, recs, storage, "train-7") for run, recs in job_results.items()}
    final = final_merge(runs, storage, "train-7")
    url = final.outputs["AnalysisResults"]
    assert url.startswith("memory://") and url.endswith(
        "hyperloop-merge-test/train-7/final/AnalysisResults.root"
    )
    assert Storage.size(url) > 0
    storage.fs.rm("/hyperloop-merge-test", recursive=True)


@pytest.fixture
def derived_jobs(tmp_ao2d):
    rng = np.random.default_rng(5)
    recs = {}
    for run in (1, 2):
        for i in range(2):
            path = tmp_ao2d({1: random_dataframe(rng, 5, 3, run=run)}, name=f"d{run}{i}.root")
            recs.setdefault(run, []).append(_record(f"{run}-{i}", run, AO2D=str(path)))
    return recs


def _dataframes(path: str) -> int:
    with uproot.open(path) as f:
        return sum(1 for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_"))


def test_standard_derived_data_is_kept_per_run_and_listable_as_a_production(derived_jobs, tmp_path):
    storage = Storage(tmp_path / "merged")
    runs = {
        r: merge_run(r, recs, storage, train_type="standard") for r, recs in derived_jobs.items()
    }
    assert _dataframes(runs[1].outputs["AO2D"]) == 2  # two jobs, DF ids kept distinct
    final = final_merge(runs, storage, train_type="standard")
    assert "AO2D" not in final.outputs  # not merged across runs
    production = derived_production(runs, storage)
    assert sorted(production) == [1, 2] and all(
        size > 0 for files in production.values() for _, size in files
    )


def test_linked_derived_files_stay_per_job_and_slim_is_merged_across_runs(derived_jobs, tmp_path):
    storage = Storage(tmp_path / "merged")
    linked = {
        r: merge_run(r, recs, storage, "l", train_type="linked") for r, recs in derived_jobs.items()
    }
    assert len(linked[1].derived_files) == 2 and "AO2D" not in linked[1].outputs
    slim = {
        r: merge_run(r, recs, storage, "s", train_type="slim") for r, recs in derived_jobs.items()
    }
    assert derived_production(slim, storage) == {}
    final = final_merge(slim, storage, "s", train_type="slim")
    assert _dataframes(final.outputs["AO2D"]) == 4


@pytest.mark.root
def test_run2_style_list_outputs_are_merged_like_hadd_through_the_stages(realdata, tmp_path):
    """A wagon writing a TList (a nested one, with same-named items): per-run then final merge
    of 3 job outputs equals hadd of the 3 jobs."""
    from benchmarks.hadd_compare import HADD, compare_with_hadd, hadd

    if not HADD.exists():
        pytest.fail(f"ROOT's hadd not found at {HADD}")
    src = realdata / "results" / "run2_duplicate_names.root"
    recs: dict[int, list[AttemptRecord]] = {}
    jobs = []
    for run, i in ((1, 0), (1, 1), (2, 0)):
        p = tmp_path / "jobs" / f"{run}-{i}" / "AnalysisResults.root"
        p.parent.mkdir(parents=True)
        shutil.copy(src, p)
        jobs.append(p)
        recs.setdefault(run, []).append(_record(f"{run}-{i}", run, AnalysisResults=str(p)))
    storage = Storage(tmp_path / "merged")
    runs = {run: merge_run(run, r, storage) for run, r in recs.items()}
    final = final_merge(runs, storage)
    hadd(tmp_path / "hadd.root", jobs)
    assert compare_with_hadd(final.outputs["AnalysisResults"], tmp_path / "hadd.root") == []


def test_merges_build_in_the_storage_scratch_and_what_killed_ones_left_is_cleaned(
    job_results, tmp_path
):
    """Issue 17: a killed merge left its temporary folders behind (in the system's /tmp).
    Merges build under ``<storage>/.scratch``, empty once they finished; what a killed merge
    left there (and a half-copied ``.part`` file) is removed by ``clean_scratch``."""
    storage = Storage(tmp_path / "merged")
    runs = {run: merge_run(run, recs, storage) for run, recs in job_results.items()}
    assert runs and list((tmp_path / "merged" / ".scratch").iterdir()) == []
    left = tmp_path / "merged" / ".scratch" / "hyperloop-merge-x1"
    left.mkdir()
    (left / "AnalysisResults.root").write_bytes(b"half")
    part = tmp_path / "merged" / "runs" / "1" / ".AnalysisResults.root.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"half")
    removed = storage.clean_scratch()
    assert sorted(removed) == sorted([str(tmp_path / "merged" / ".scratch"), str(part)])
    assert not part.exists() and not (tmp_path / "merged" / ".scratch").exists()
    assert all(Path(r.outputs["AnalysisResults"]).exists() for r in runs.values())
