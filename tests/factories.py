"""Factories for test inputs: random but well-formed AO2D dataframes."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.schema import default_registry

REGISTRY = default_registry()


def _table(o2name: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    schema = REGISTRY.get(o2name)
    out = {}
    for col in schema.columns:
        dt = schema.dtype(col)
        if dt.kind == "f":
            out[col] = rng.normal(size=n).astype(dt)
        else:
            out[col] = rng.integers(0, 100, size=n).astype(dt)
    return out


def random_dataframe(
    rng: np.random.Generator, n_collisions: int = 50, mean_tracks: float = 20.0, run: int = 523308
) -> dict[str, dict[str, np.ndarray]]:
    """BCs, Collisions, Tracks (+ TracksExtra, TracksDCA) with valid, sorted index columns."""
    bcs = _table("O2bc_001", n_collisions, rng)
    bcs["fRunNumber"][:] = run
    coll = _table("O2collision_001", n_collisions, rng)
    coll["fIndexBCs"] = np.arange(n_collisions, dtype=np.int32)
    coll["fPosZ"] = rng.normal(0, 6, n_collisions).astype(np.float32)
    coll["fNumContrib"] = rng.integers(1, 60, n_collisions).astype(np.uint16)
    counts = rng.poisson(mean_tracks, n_collisions)
    n = int(counts.sum())
    tracks = _table("O2track", n, rng)
    tracks["fIndexCollisions"] = np.repeat(np.arange(n_collisions, dtype=np.int32), counts)
    pt = rng.exponential(0.6, n).astype(np.float32) + 0.1
    tracks["fSigned1Pt"] = (rng.choice([-1, 1], n) / pt).astype(np.float32)
    tracks["fTgl"] = np.sinh(rng.uniform(-1.0, 1.0, n)).astype(np.float32)
    phi = rng.uniform(0, 2 * np.pi, n)
    alpha = (np.floor(phi / (np.pi / 9)) + 0.5) * (np.pi / 9)
    tracks["fAlpha"] = alpha.astype(np.float32)
    tracks["fSnp"] = np.sin(phi - alpha).astype(np.float32)
    extra = _table("O2trackextra_002", n, rng)
    dca = _table("O2trackdca", n, rng)
    return {
        "O2bc_001": bcs,
        "O2collision_001": coll,
        "O2track": tracks,
        "O2trackextra_002": extra,
        "O2trackdca": dca,
    }
