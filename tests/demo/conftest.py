"""Demo datasets generated once per test session (PYTHIA init tables cached on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from hyperloop.demo import Manifest, generate_dataset

RUNS = (523308, 523309)


def first_mother(mcp: dict[str, np.ndarray]) -> np.ndarray:
    """The first mother of each MC particle (-1: none) from McParticles_001's mothers array."""
    return np.array([m[0] if len(m) else -1 for m in mcp["fIndexArray_Mothers"]], dtype=np.int64)


def read_dataframes(paths: list[Path]) -> list[dict[str, dict[str, np.ndarray]]]:
    """Every dataframe of ``paths`` as {tree: {column: array}}, in file and DF order."""
    out = []
    for path in paths:
        with uproot.open(path) as f:
            for df in f.keys(recursive=False, cycle=False):
                d = f[df]
                out.append(
                    {
                        "_name": df,
                        **{t: d[t].arrays(library="np") for t in d.keys(cycle=False)},
                    }
                )
    return out


@pytest.fixture(scope="session")
def small_mc(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """2 runs x 50 MC events, 15 events per DF, 2 DFs per file: 2 files per run."""
    out = tmp_path_factory.mktemp("demo_small_mc")
    return generate_dataset(out, RUNS, 50, mc=True, seed=42, dfs_per_file=2, events_per_df=15)


@pytest.fixture(scope="session")
def physics_mc(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """1500 PYTHIA MC events for the truth checks."""
    out = tmp_path_factory.mktemp("demo_physics_mc")
    return generate_dataset(out, [523310], 1500, mc=True, seed=7, events_per_df=500)


@pytest.fixture(scope="session")
def fast_large(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """30000 events resampled from a pool of 600 PYTHIA events (no MC tables)."""
    out = tmp_path_factory.mktemp("demo_fast")
    return generate_dataset(
        out, [523311], 30000, seed=3, fast=True, pool_size=600, events_per_df=5000
    )


@pytest.fixture(scope="session")
def small_mc_frames(small_mc: Manifest) -> list[dict[str, dict[str, np.ndarray]]]:
    """The dataframes of ``small_mc``, read once."""
    return read_dataframes(small_mc.paths())
