"""The wagon's max dataframe size and max derived file size reach the AO2D writer of a
derived-data train on the running system: dataframes merged, files split at the limit, and
the per-run merge keeps the split."""

from __future__ import annotations

from pathlib import Path

import pytest
import uproot
from tests.e2e.system import System
from tests.factories import RUNS
from tests.grid.gridtest_wagons import SKIM_BOUND, SKIM_EVENTS

from hyperloop.db.models import TrainRun


def _dataframes(path: Path) -> list[str]:
    with uproot.open(path) as f:
        return sorted(k.split(";")[0] for k in f.keys(recursive=False) if k.startswith("DF_"))


@pytest.mark.slow
def test_a_standard_derived_train_merges_dataframes_and_splits_files(system: System):
    # dataframes merged up to 1 GB (all of one input file), a new file after each one
    wagon = system.wagon(
        "gt-skim-bound",
        name="skim_limits",
        derived_tables=[SKIM_EVENTS.logical, SKIM_BOUND.logical],
        fields={"max_df_size": 10**9, "max_derived_file_size": 1},
    )
    assert system.wagon_test(wagon)["status"] in ("done", "warning")
    with system.client("admin") as c:
        body = {
            "dataset_id": system.dataset_id,
            "wagon_ids": [wagon],
            "target_id": system.target_ids["small"],
            "train_type": "standard_derived",
            "slow": True,
        }
        r = c.post("/api/train-runs", json=body)
        assert r.status_code == 201, r.text
        train = r.json()["id"]
    states = ("test_done", "test_warning", "test_failed")
    assert system.wait_train(train, states) != "test_failed"
    with system.client("admin") as c:
        r = c.post(f"/api/train-runs/{train}/submit")
        assert r.status_code == 200, r.text
    assert system.wait_train(train) == "done"
    with system.sessions() as s:
        merged = Path(s.get(TrainRun, train).output_dir)
    for run in RUNS:
        files = sorted((merged / "runs" / str(run)).glob("AO2D*.root"))
        # two input files of two dataframes each: one merged dataframe per input file, each
        # in its own file (the limit is reached by every file), kept apart by the run merge
        assert [f.name for f in files] == ["AO2D.root", "AO2D_001.root"], files
        assert [len(_dataframes(f)) for f in files] == [1, 1]
