"""Fast mode: a cached pool of PYTHIA events, resampled with new vertices and rotations.

A pool of ``pool_size`` PYTHIA events is generated once per (seed, settings, size) and kept
as an ``.npz`` in the cache directory. Resampling draws pool events with replacement,
rotates each by a random azimuth (physics is azimuthally symmetric), and the caller then
gives them a new vertex, fresh K0S/Lambda decays and a fresh detector response - all
vectorised, so millions of events take minutes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from hyperloop.demo.events import (
    PYTHIA_SETTINGS,
    GenEvents,
    PythiaSource,
    default_cache_dir,
    settings_key,
)

POOL_SEED_SALT = 0x9E3779B9


def pool_path(seed: int, pool_size: int, cache_dir: str | os.PathLike | None = None) -> Path:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / f"pool_{settings_key(PYTHIA_SETTINGS)}_s{seed}_n{pool_size}.npz"


def pool_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, POOL_SEED_SALT]).generate_state(1)[0])


def load_or_generate_pool(
    seed: int, pool_size: int, cache_dir: str | os.PathLike | None = None
) -> tuple[GenEvents, Path]:
    """The event pool for ``seed``: read from the cache or generated with PYTHIA and saved."""
    path = pool_path(seed, pool_size, cache_dir)
    if path.exists():
        return load_pool(path), path
    gen = PythiaSource.shared(pool_seed(seed), cache_dir=cache_dir).generate(pool_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, **gen.arrays())
    os.replace(tmp, path)
    return gen, path


def load_pool(path: str | os.PathLike) -> GenEvents:
    with np.load(path) as data:
        try:
            return GenEvents(**{f.name: data[f.name] for f in fields(GenEvents)})
        except KeyError as exc:
            raise ValueError(
                f"event pool {path} lacks column {exc}; delete it to regenerate"
            ) from None


def resample(pool: GenEvents, n_events: int, rng: np.random.Generator) -> GenEvents:
    """``n_events`` events drawn from ``pool`` with replacement, each rotated in azimuth."""
    picks = rng.integers(0, pool.n_events, n_events)
    gen = pool.take(picks)
    angle = rng.uniform(0.0, 2 * np.pi, n_events)
    per_row = np.repeat(angle, np.diff(gen.offsets))
    c, s = np.cos(per_row), np.sin(per_row)
    px = gen.px.astype(np.float64)
    py = gen.py.astype(np.float64)
    gen.px = (px * c - py * s).astype(np.float32)
    gen.py = (px * s + py * c).astype(np.float32)
    return gen
