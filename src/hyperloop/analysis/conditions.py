"""Conditions per run, as O2 analyses get them from the CCDB: the solenoid field.

The values come from ``datamodel/conditions.toml`` (run ranges -> Bz in kG, and a default);
``magnetic_field(run)`` is what the demo generator bends tracks with and what the
``track-propagation`` service propagates them with.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

CONDITIONS_FILE = Path(__file__).with_name("datamodel") / "conditions.toml"


@lru_cache(maxsize=1)
def _table() -> tuple[float, tuple[tuple[int, int, float], ...]]:
    with open(CONDITIONS_FILE, "rb") as fh:
        data = tomllib.load(fh)
    runs = tuple((int(r["first"]), int(r["last"]), float(r["bz_kg"])) for r in data.get("runs", []))
    return float(data["default_bz_kg"]), runs


def magnetic_field(run: int) -> float:
    """The solenoid field Bz (kG) of ``run``."""
    default, runs = _table()
    for first, last, bz in runs:
        if first <= run <= last:
            return bz
    return default
