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
                if not df.startswith("DF_"):  # metaData
                    continue
                d = f[df]
                frame = {
                    "_name": df,
                    **{t: d[t].arrays(library="np") for t in d.keys(cycle=False)},
                }
                frame["Tracks"], frame["TracksDCA"] = propagate(frame)
                out.append(frame)
    return out


def propagate(frame: dict[str, dict[str, np.ndarray]]):
    """What the track-propagation service makes of a demo dataframe: the tracks at their
    DCA to their collision's vertex (``Tracks`` columns) and the DCA (``TracksDCA``), with
    the field of the run from the conditions."""
    from hyperloop.analysis.conditions import magnetic_field
    from hyperloop.analysis.trackpar import TrackPar, propagate_to_dca

    iu, coll = frame["O2track_iu"], frame["O2collision_001"]
    runs = frame["O2bc_001"]["fRunNumber"]
    track = TrackPar.from_columns(iu)
    ci = iu["fIndexCollisions"].astype(np.int64)
    vtx = [np.where(ci >= 0, coll[c][np.maximum(ci, 0)], 0.0) for c in ("fPosX", "fPosY", "fPosZ")]
    bz = magnetic_field(int(runs[0])) if len(runs) else 5.0
    ok, dca_xy, dca_z = propagate_to_dca(track, *vtx, bz)
    tracks = {"fIndexCollisions": iu["fIndexCollisions"], **track.columns()}
    return tracks, {"fDcaXY": dca_xy.astype(np.float32), "fDcaZ": dca_z.astype(np.float32)}


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
