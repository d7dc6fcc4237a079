"""Issue 21 item 5 on the running system (server, scheduler, Dask scheduler and workers as
processes), driven through the API as operators do: runs are added to a dataset after a
train has finished; the same train runs on the new runs only, as a train run of its own with
its lineage, and its merged result equals a full rerun on all runs, histogram for histogram
and bit for bit. Refused (409 naming the train) with no new run and after a wagon changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.e2e.system import System
from tests.factories import RUNS, random_dataframe
from tests.grid.helpers import assert_same_histograms

from hyperloop.analysis.ao2d_writer import AO2DWriter

NEW_RUN = 523311


def _post(system: System, path: str, body: dict | None = None, ok: int = 200) -> dict:
    with system.client("admin") as c:
        r = c.post(path, json=body if body is not None else {})
    assert r.status_code == ok, f"POST {path}: {r.status_code} {r.text[:500]}"
    return r.json()


def _add_run(system: System, run: int, files: int = 2) -> list[str]:
    """New AO2D files of ``run`` in the storage root, imported into the dataset's production
    as an operator does (a file list)."""
    rng = np.random.default_rng(run)
    lines = []
    for i in range(files):
        path = system.root / "data" / str(run) / f"AO2D_{i:03d}.root"
        path.parent.mkdir(parents=True, exist_ok=True)
        with AO2DWriter(path) as w:
            for d in range(2):
                w.write_dataframe(1000 * i + d, random_dataframe(rng, 30, 12, run=run))
        lines.append(f"{path} {path.stat().st_size}")
    ds = system.get(f"/api/datasets/{system.dataset_id}")
    [production] = ds["productions"]
    done = _post(
        system,
        f"/api/datasets/{system.dataset_id}/productions/{production['id']}/files",
        {"lines": lines},
    )
    assert done["imported"] == files
    return [line.split()[0] for line in lines]


def _final(system: System, train: int) -> tuple[Path, dict]:
    merging = system.get(f"/api/train-runs/{train}/merging")
    assert merging["final"]["done"], merging
    return system.root / "var" / merging["final"]["file"]["path"], merging


@pytest.mark.slow
def test_an_incremental_train_adds_new_runs_and_equals_a_full_rerun(system: System):
    wagon = system.wagon("gt-pt")
    first = system.train([wagon])
    assert system.wait_train(first) == "done"

    with system.client("admin") as c:  # nothing new yet: refused, naming the train
        r = c.post(f"/api/train-runs/{first}/increment", json={})
    assert r.status_code == 409, r.text
    assert f"train run {first}" in r.json()["message"] and "no run" in r.json()["message"]

    _add_run(system, NEW_RUN)
    inc = _post(system, f"/api/train-runs/{first}/increment", ok=201)
    assert (inc["increment_of_id"], inc["increment_runs"]) == (first, [NEW_RUN])
    assert inc["state"] == "submitted"
    assert system.wait_train(inc["id"]) == "done"

    # its own train run: jobs on the new run only, the final merge over every run
    with system.client("admin") as c:
        jobs = c.get(f"/api/jobs?train_run_id={inc['id']}&limit=100").json()["items"]
    assert jobs and {j["run_number"] for j in jobs} == {NEW_RUN}
    inc_final, merging = _final(system, inc["id"])
    assert [r["run"] for r in merging["runs"]] == [NEW_RUN]
    assert merging["final"]["runs_merged"] == [*RUNS, NEW_RUN]
    assert merging["final"]["runs_missing"] == []
    page = system.get(f"/api/train-runs/{inc['id']}/overview")["increment"]
    assert (page["parent_id"], page["runs_covered"], page["lineage"]) == (
        first,
        [NEW_RUN],
        [first],
    )
    assert system.get(f"/api/train-runs/{first}/overview")["increment"]["increments"] == [
        {"id": inc["id"], "state": "done", "runs_covered": [NEW_RUN]}
    ]
    with system.client("alice") as c:
        html = c.get(f"/train-run/{inc['id']}").text
    assert "Increment of" in html and f"/train-run/{first}" in html

    # a full rerun of the same train on all runs: the same histograms, bit for bit
    full = _post(system, f"/api/train-runs/{first}/clone", ok=201)["id"]
    state = system.wait_train(full, ("test_done", "test_warning", "test_failed"))
    assert state != "test_failed"
    _post(system, f"/api/train-runs/{full}/submit")
    assert system.wait_train(full) == "done"
    full_final, full_merging = _final(system, full)
    assert full_merging["final"]["runs_merged"] == [*RUNS, NEW_RUN]
    assert_same_histograms(inc_final, full_final)
    first_final, _ = _final(system, first)
    with pytest.raises(AssertionError):  # the new run did count
        assert_same_histograms(first_final, full_final)

    # the first train already has its increment; the increment has no new run
    with system.client("admin") as c:
        again = c.post(f"/api/train-runs/{first}/increment", json={})
        assert again.status_code == 409 and f"train run {inc['id']}" in again.json()["message"]
        nothing = c.post(f"/api/train-runs/{inc['id']}/increment", json={})
        assert nothing.status_code == 409 and "no run" in nothing.json()["message"]
    # a wagon's configuration changed since: refused, naming the train and the wagon
    with system.client("alice") as c:
        w = c.get(f"/api/wagons/{wagon}").json()
        edit = {"base_config": {"gt-pt": {"sleepPerDf": "0.001"}}, "expected_version": w["version"]}
        assert c.patch(f"/api/wagons/{wagon}", json=edit).status_code == 200
    with system.client("admin") as c:
        changed = c.post(f"/api/train-runs/{inc['id']}/increment", json={})
    assert changed.status_code == 409, changed.text
    detail = changed.json()["message"]
    assert f"train run {inc['id']}" in detail and w["name"] in detail and "base_config" in detail
