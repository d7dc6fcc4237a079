"""Live partial results (grid.partial): the done jobs' outputs merged per run and overall
into their own folder, with the fractions they hold; a run whose real per-run merge exists
is read from it, an unchanged run is not merged again."""

from __future__ import annotations

import shutil

import numpy as np
from tests.factories import make_catalogue
from tests.grid.test_merging import REAL, _record, _sum_of, job_results  # noqa: F401

from hyperloop.grid.merging import Storage, merge_run
from hyperloop.grid.partial import collisions_in, merge_partial, read_manifest


def test_partial_results_merge_the_done_jobs_apart_from_the_real_merges(
    realdata,
    job_results,  # noqa: F811
    tmp_path,
):
    one = _sum_of(str(realdata / REAL))
    real = Storage(tmp_path / "merged")
    run3 = merge_run(3, job_results[3], real)  # run 3 finished: its real per-run merge
    folder = tmp_path / "partial"
    jobs = {1: 2, 2: 1, 3: 1, 4: 1}  # run 4: no job done yet
    events = {1: 10, 3: 20}
    manifest, per_run = merge_partial(
        folder, {1: job_results[1][:1]}, {3: run3}, jobs=jobs, events_done=events, events_total=50
    )
    assert manifest == read_manifest(folder)
    assert (manifest["runs_included"], manifest["runs_complete"]) == ([1, 3], [3])
    assert (manifest["jobs_done"], manifest["jobs_total"], manifest["runs_total"]) == (2, 5, 4)
    assert (manifest["events_included"], manifest["events_total"]) == (30, 50)
    assert manifest["runs"]["1"]["jobs_done"] == 1 and manifest["runs"]["1"]["jobs"] == 2
    assert manifest["runs"]["3"]["file"] == run3.outputs["AnalysisResults"]  # read, not copied
    assert manifest["overall"].startswith(str(folder))
    overall = _sum_of(manifest["overall"])
    for key, values in one.items():
        np.testing.assert_allclose(overall[key], 2 * values)  # run 1's done job and run 3
    assert not (tmp_path / "merged" / "final").exists()  # the real merges: untouched

    # run 1 unchanged: reused as it is (its file is not written again); run 2 now done
    stamp = (folder / "runs" / "1" / "AnalysisResults.root").stat().st_mtime_ns
    shutil.copy(realdata / REAL, tmp_path / "other.root")
    manifest, _ = merge_partial(
        folder,
        {2: job_results[2]},
        {3: run3},
        jobs=jobs,
        events_done={**events, 2: 5},
        events_total=50,
        reuse={1: per_run[1]},
    )
    assert manifest["runs_included"] == [1, 2, 3] and manifest["jobs_done"] == 3
    assert (folder / "runs" / "1" / "AnalysisResults.root").stat().st_mtime_ns == stamp
    overall = _sum_of(manifest["overall"])
    for key, values in one.items():
        np.testing.assert_allclose(overall[key], 3 * values)


def test_events_are_the_rows_of_the_collision_tables(tmp_path):
    catalogue = make_catalogue(tmp_path, files_per_run=1, dfs=2)
    [(path, _)] = next(iter(catalogue.values()))
    assert collisions_in(path) == 2 * 30  # random_dataframe(rng, 30, ...) per dataframe
    assert collisions_in(str(tmp_path / "missing.root")) == 0
