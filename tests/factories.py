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


def run3_dataframe(
    rng: np.random.Generator, n_collisions: int = 50, mean_tracks: float = 20.0, run: int = 523308
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A dataframe in the Run 3 layout: tracks stored at their innermost update point
    (``O2track_iu``, ``O2trackcov_iu``), made by propagating tracks known at their DCA to
    the vertex outwards in the run's field. Returns (tables, the tracks at the DCA: the
    ``O2track`` columns and ``fDcaXY``/``fDcaZ`` track-propagation should find)."""
    from hyperloop.analysis.conditions import magnetic_field
    from hyperloop.analysis.trackpar import TrackPar, cov_columns, propagate_to_x

    tables = random_dataframe(rng, n_collisions, mean_tracks, run)
    coll, trk = tables["O2collision_001"], tables.pop("O2track")
    tables.pop("O2trackdca")
    for c in ("fPosX", "fPosY"):
        coll[c] = rng.normal(0, 0.005, n_collisions).astype(np.float32)
    n = len(trk["fX"])
    ci = trk["fIndexCollisions"].astype(np.int64)
    q2pt = trk["fSigned1Pt"].astype(np.float64)
    phi = trk["fAlpha"] + np.arcsin(trk["fSnp"].astype(np.float64))
    dxy, dz = rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)
    px = coll["fPosX"][ci] - np.sin(phi) * dxy
    py = coll["fPosY"][ci] + np.cos(phi) * dxy
    pz = coll["fPosZ"][ci] + dz
    alpha = trk["fAlpha"].astype(np.float64)
    ca, sa = np.cos(alpha), np.sin(alpha)
    at_dca = TrackPar(
        px * ca + py * sa,
        alpha.copy(),
        -px * sa + py * ca,
        pz.astype(np.float64),
        trk["fSnp"].astype(np.float64),
        trk["fTgl"].astype(np.float64),
        q2pt,
    )
    expected = {**at_dca.columns(), "fDcaXY": dxy, "fDcaZ": dz}
    cov = np.zeros((n, 5, 5))
    for i, s in enumerate((0.005, 0.005, 0.002, 0.002, 0.02)):
        cov[:, i, i] = s * s
    iu = at_dca.copy()
    iu.cov = cov
    ok = propagate_to_x(iu, iu.x + rng.choice([2.24, 3.01, 19.6], n), magnetic_field(run))
    assert ok.all()
    tables["O2track_iu"] = {
        "fIndexCollisions": trk["fIndexCollisions"],
        "fTrackType": np.ones(n, np.uint8),
        **iu.columns(),
    }
    tables["O2trackcov_iu"] = cov_columns(iu.cov)
    return tables, expected
