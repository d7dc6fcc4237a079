"""The wagons' derived-data limits reach the AO2D writer: output dataframes merged up to the
max DF size (indices still pointing at their rows), a new file at the max file size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train

from .conftest import make_spec

pytestmark = pytest.mark.slow

WORKFLOWS = ("track-propagation", "event-selection", "track-selection", "multiplicity")
TABLES = ("O2skimcollision", "O2skimtrack")


def _run(physics, inputs, out: Path, *, max_df: int = 0, max_file_mb: float = 0.0):
    spec = make_spec((*WORKFLOWS, "skim-tracks"), derived_tables=TABLES)
    spec.output_director.max_df_bytes = max_df
    spec.output_director.max_file_size_mb = max_file_mb
    result = run_train(build_plan(spec, physics), [str(p) for p in inputs], out)
    assert result.exit_code == 0 and result.task_failure is None
    return result


def _dataframes(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with uproot.open(path) as f:
        return {
            k.split(";")[0]: (
                f[k]["O2skimcollision"].arrays(library="np")["fMultNTracksEta08"],
                f[k]["O2skimtrack"].arrays(library="np"),
            )
            for k in f.keys(recursive=False)
            if k.startswith("DF_")
        }


@pytest.fixture(scope="module")
def plain(physics, mc_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    result = _run(physics, mc_dataset, out)
    return result, _dataframes(result.outputs["AO2D"])


def test_dataframes_merge_up_to_the_max_df_size(physics, mc_dataset, tmp_path, plain):
    _, dfs = plain
    assert len(dfs) == 8  # one output dataframe per input dataframe
    one = max(sum(a.nbytes for a in trk.values()) + mult.nbytes for mult, trk in dfs.values())
    result = _run(physics, mc_dataset, tmp_path, max_df=int(2.5 * one))
    merged = _dataframes(result.outputs["AO2D"])
    # 4 input dataframes per file, merged by 3 at most (never across files): 2 per file
    assert len(merged) == 4
    assert sum(len(m) for m, _ in merged.values()) == sum(len(m) for m, _ in dfs.values())
    for mult, trk in merged.values():
        idx = trk["fIndexSkimCollisions"]
        assert idx.min() >= 0 and idx.max() < len(mult)  # offset into the merged rows
        central = np.abs(trk["fEta"]) < 0.8
        np.testing.assert_array_equal(np.bincount(idx[central], minlength=len(mult)), mult)


def test_a_new_file_starts_at_the_max_derived_file_size(physics, mc_dataset, tmp_path, plain):
    result0, dfs = plain
    size = Path(result0.outputs["AO2D"]).stat().st_size
    limit_mb = size / 3 / 1e6
    result = _run(physics, mc_dataset, tmp_path, max_file_mb=limit_mb)
    parts = [result.outputs["AO2D"]] + [
        result.outputs[k] for k in sorted(result.outputs) if k.startswith("AO2D_")
    ]
    assert [Path(p).name for p in parts[:2]] == ["AO2D.root", "AO2D_001.root"]
    assert len(parts) >= 3
    sizes = [Path(p).stat().st_size for p in parts]
    assert all(s >= limit_mb * 1e6 for s in sizes[:-1])  # each full file reached the limit
    seen = {}
    for p in parts:
        seen.update(_dataframes(p))
    assert sorted(seen) == sorted(dfs)  # every dataframe once, in one of the files
    for name, (mult, _trk) in dfs.items():
        np.testing.assert_array_equal(seen[name][0], mult)
