"""Issue 21 item 2 on the running system (server, scheduler, Dask scheduler and one worker as
processes), driven through the API and the pages: while a train runs, its outputs merged over
the jobs finished so far (overall and per run, labelled with the fraction of runs, jobs and
events) are browsable, refreshed as jobs finish, kept apart from the real merges and gone
once the final merge is done."""

from __future__ import annotations

from pathlib import Path

import pytest
import uproot
from tests.e2e.system import System
from tests.factories import RUNS
from tests.grid.helpers import assert_same_histograms, config, reference_run

SLOW = {"gt-pt": {"sleepPerDf": "1.5"}}  # one job per run (4 dataframes): about 6 s each


def _events(path: str) -> int:
    with uproot.open(path) as f:
        return sum(
            f[key].num_entries
            for key, cls in f.classnames().items()
            if cls == "TTree" and key.split("/")[-1].split(";")[0] == "O2collision_001"
        )


def _files_of(system: System, runs) -> list[str]:
    return [f for f in system.files if any(f"/{r}/" in f for r in runs)]


@pytest.mark.slow
def test_partial_results_show_the_finished_jobs_while_the_train_runs(system_factory, tmp_path):
    start = ("dask-scheduler", "worker-0", "scheduler", "server")  # one worker: one job at once
    system: System = system_factory(start=start, scheduler_partial_results_every_s="0.2")
    train = system.train([system.wagon("gt-pt", SLOW)])
    path = f"/api/train-runs/{train}/partial"

    system.wait_for("partial results", lambda: system.get(path)["partial"], timeout=300)
    system.stop("worker-0")  # no job finishes any more: the partial results stay as they are
    assert system.get(f"/api/train-runs/{train}")["state"] == "running"

    def stable():  # the file read between two equal manifests is the one they describe
        before = system.get(path)["partial"]
        done = {
            j["run_number"]
            for j in system.get(f"/api/jobs?train_run_id={train}&limit=100")["items"]
            if j["state"] == "done"
        }
        if before is None or set(before["runs_included"]) != done:
            return None
        data = (system.root / "var" / before["overall"]["path"]).read_bytes()
        return (before, data) if system.get(path)["partial"] == before else None

    partial, data = system.wait_for("stable partial results", stable, timeout=120)
    runs = partial["runs_included"]
    assert 1 <= len(runs) < len(RUNS) and set(runs) <= set(RUNS)
    total = sum(_events(f) for f in system.files)
    included = sum(_events(f) for f in _files_of(system, runs))
    assert (partial["events_total"], partial["events_included"]) == (total, included)
    assert partial["fraction_events"] == pytest.approx(included / total)
    assert (partial["runs_total"], partial["jobs_total"], partial["jobs_done"]) == (3, 3, len(runs))
    assert partial["label"] == (
        f"partial: {len(runs)} of 3 runs, {len(runs)} of 3 jobs, {included:,} of {total:,} events"
    )
    # the outputs merged so far equal a plain run over the finished jobs' files
    copy = tmp_path / "partial.root"
    copy.write_bytes(data)
    ref = reference_run(
        config(("gt-pt", SLOW)), _files_of(system, runs), tmp_path / "r", system.package
    )
    assert_same_histograms(copy, ref)
    assert [r["run"] for r in partial["runs"]] == runs
    assert (
        "/partial/" in partial["overall"]["path"] and "/merged/" not in partial["overall"]["path"]
    )
    merging = system.get(f"/api/train-runs/{train}/merging")
    assert not merging["final"]["done"]  # the real merges: no final output from the partial
    with system.client("alice") as c:
        html = c.get(f"/train-run/{train}?tab=outputs").text
    assert "Partial results (live)" in html and partial["label"] in html

    system.start("worker-0")  # the rest of the jobs; the partial results follow, then go
    assert system.wait_train(train) == "done"
    assert system.get(path)["partial"] is None
    folder = system.root / "var" / "work" / "trains" / str(train)
    assert (folder / "merged").is_dir() and not (folder / "partial").exists()
    final = system.get(f"/api/train-runs/{train}/merging")["final"]
    every = reference_run(config(("gt-pt", SLOW)), system.files, tmp_path / "all", system.package)
    assert_same_histograms(Path(system.root / "var" / final["file"]["path"]), every)
