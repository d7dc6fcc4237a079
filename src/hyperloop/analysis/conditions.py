"""Conditions per run, as O2 analyses get them from the CCDB: the solenoid field and the
orbit reset time.

The values come from ``datamodel/conditions.toml`` (run ranges, and defaults);
``magnetic_field(run)`` is what the demo generator bends tracks with and what the
``track-propagation`` service propagates them with; ``bc_timestamp_ms`` is how the
``timestamp`` service dates a bunch crossing. ``builtin_objects`` are the same values as
conditions-database objects (``hyperloop.analysis.ccdb.builtin_objects``; ``hyperloop
conditions export`` writes them into a folder for the conditions service).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

CONDITIONS_FILE = Path(__file__).with_name("datamodel") / "conditions.toml"


LHC_BUNCH_SPACING_NS = 24.95  # o2::constants::lhc::LHCBunchSpacingNS


@lru_cache(maxsize=1)
def _data() -> dict:
    with open(CONDITIONS_FILE, "rb") as fh:
        return tomllib.load(fh)


def _lookup(run: int, key: str, default_key: str) -> float:
    data = _data()
    for r in data.get("runs", []):
        if int(r["first"]) <= run <= int(r["last"]) and key in r:
            return float(r[key])
    return float(data[default_key])


def magnetic_field(run: int) -> float:
    """The solenoid field Bz (kG) of ``run``."""
    return _lookup(run, "bz_kg", "default_bz_kg")


def orbit_reset_ms(run: int) -> int:
    """The orbit reset time of ``run`` in ms since the epoch."""
    return int(_lookup(run, "orbit_reset_ms", "default_orbit_reset_ms"))


def bc_timestamp_ms(run: int, global_bc):
    """Timestamps (ms since the epoch, uint64) of bunch crossings of ``run``, as O2's
    timestamp task computes them: orbit reset time + global BC x bunch spacing."""
    import numpy as np

    bc = np.asarray(global_bc, dtype=np.float64)
    return (orbit_reset_ms(run) + np.floor(bc * LHC_BUNCH_SPACING_NS * 1e-6)).astype(np.uint64)


#: conditions-database paths of the built-in objects
MAG_FIELD_PATH = "GLO/Config/GRPMagField"
ORBIT_RESET_PATH = "CTP/Calib/OrbitReset"
BETHE_BLOCH_PATH = "TPC/Calib/BetheBloch"


def conditions_data() -> dict:
    """The parsed ``conditions.toml`` (cached)."""
    return _data()
