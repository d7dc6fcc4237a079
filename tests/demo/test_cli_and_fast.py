"""``hyperloop demo-data`` on the command line, and the fast (pool resampling) mode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hyperloop.cli import app
from hyperloop.demo import generate_dataset
from hyperloop.demo.fast import pool_path

from .conftest import first_mother, read_dataframes

runner = CliRunner()


def test_cli_writes_runs_and_manifest(tmp_path) -> None:
    out = tmp_path / "ds"
    result = runner.invoke(
        app,
        ["demo-data", "--out", str(out), "--runs", "523308,523309", "--events-per-run", "12",
         "--mc", "--seed", "4", "--dfs-per-file", "2", "--events-per-df", "5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 4 files, 24 events" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == [
        "523308/AO2D_001.root",
        "523308/AO2D_002.root",
        "523309/AO2D_001.root",
        "523309/AO2D_002.root",
    ]
    assert [len(f["dataframes"]) for f in manifest["files"]] == [2, 1, 2, 1]
    assert manifest["settings"]["mc"] is True and manifest["totals"]["mc_particles"] > 0


def test_cli_refuses_bad_run_list(tmp_path) -> None:
    result = runner.invoke(app, ["demo-data", "--out", str(tmp_path), "--runs", "52x"])
    assert result.exit_code == 2
    assert "run numbers" in result.output


def test_fast_mode_is_deterministic_and_reuses_its_pool(tmp_path) -> None:
    kwargs = dict(mc=True, fast=True, pool_size=40, seed=2024, events_per_df=150)
    a = generate_dataset(tmp_path / "a", [9], 300, **kwargs)
    assert pool_path(2024, 40).exists()
    b = generate_dataset(tmp_path / "b", [9], 300, **kwargs)
    da, db = read_dataframes(a.paths()), read_dataframes(b.paths())
    assert len(da) == 2
    for x, y in zip(da, db, strict=True):
        for tree in ("O2track_iu", "O2v0_002", "O2mcparticle_001", "O2collision_001"):
            for col in x[tree]:
                a, b = x[tree][col], y[tree][col]
                if a.dtype == object:  # std::vector columns: one array per row
                    a, b = np.concatenate([*a, []]), np.concatenate([*b, []])
                assert np.array_equal(a, b), (tree, col)
    # resampled events are rotated and re-decayed: 300 events from 40 differ from each other
    mcc = da[0]["O2mccollision_001"]
    vertices = np.column_stack([mcc["fPosX"], mcc["fPosY"], mcc["fPosZ"]])
    assert len(np.unique(vertices, axis=0)) == len(vertices)
    mcp = da[0]["O2mcparticle_001"]
    daughters = first_mother(mcp) >= 0
    assert len(np.unique(mcp["fVx"][daughters])) > 0.4 * daughters.sum()


@pytest.mark.slow
def test_parallel_workers_write_the_same_arrays(tmp_path) -> None:
    kwargs = dict(seed=8, events_per_df=10, dfs_per_file=1)
    one = read_dataframes(generate_dataset(tmp_path / "1", [5, 6], 20, **kwargs).paths())
    two = read_dataframes(generate_dataset(tmp_path / "2", [5, 6], 20, workers=2, **kwargs).paths())
    assert [d["_name"] for d in one] == [d["_name"] for d in two]
    for x, y in zip(one, two, strict=True):
        for col in x["O2track_iu"]:
            assert np.array_equal(x["O2track_iu"][col], y["O2track_iu"][col])


def test_the_cache_dir_setting_holds_the_fast_mode_pool(tmp_path, monkeypatch) -> None:
    """``cache_dir`` (HYPERLOOP_CACHE_DIR) is a setting: ``demo-data`` keeps its event pool
    there."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("HYPERLOOP_CACHE_DIR", str(cache))
    result = runner.invoke(
        app,
        ["demo-data", "--out", str(tmp_path / "ds"), "--runs", "7", "--events-per-run", "10",
         "--fast", "--pool-size", "20", "--seed", "77", "--events-per-df", "10"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pool_path(77, 20, cache).exists()
    assert pool_path(77, 20, cache).is_relative_to(cache)
