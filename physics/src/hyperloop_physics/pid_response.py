"""TPC dE/dx response: the ALEPH Bethe-Bloch parametrisation used by the detector
simulation of the demo data and by the PID service to compute n-sigma.

f(bg) = P0 / beta^P3 * (P1 - beta^P3 - ln(P2 + (1/bg)^P4)), normalised to about 1 at the
minimum of ionisation; the expected signal is ``mip * f(p/m) * z^2.3``.
"""

from __future__ import annotations

import numpy as np

ALEPH_PARAMS = (0.0320981, 19.9768, 2.52666e-16, 2.72123, 6.08092)
"""Default parameters (P0..P4) of the ALEPH Bethe-Bloch formula for the TPC."""
MIP_SIGNAL = 50.0
"""TPC signal of a minimum-ionising particle (arbitrary units, Run 3 convention)."""
RELATIVE_RESOLUTION = 0.07
"""Relative dE/dx resolution."""


def bethe_bloch_aleph(bg: np.ndarray, params=ALEPH_PARAMS) -> np.ndarray:
    """The ALEPH parametrisation at beta*gamma ``bg`` (vectorised)."""
    p0, p1, p2, p3, p4 = (float(x) for x in params)
    bg = np.maximum(np.asarray(bg, dtype=np.float64), 1e-3)
    beta = bg / np.sqrt(1.0 + bg * bg)
    aa = beta**p3
    bb = np.log(p2 + (1.0 / bg) ** p4)
    return (p1 - aa - bb) * p0 / aa


def expected_signal(
    p: np.ndarray, mass: float, params=ALEPH_PARAMS, mip: float = MIP_SIGNAL, charge: int = 1
) -> np.ndarray:
    """Expected TPC signal for momentum ``p`` (GeV/c) and a particle of ``mass``."""
    return mip * bethe_bloch_aleph(np.asarray(p, dtype=np.float64) / mass, params) * abs(
        charge
    ) ** 2.3


def n_sigma(
    signal: np.ndarray,
    p: np.ndarray,
    mass: float,
    params=ALEPH_PARAMS,
    mip: float = MIP_SIGNAL,
    resolution: float = RELATIVE_RESOLUTION,
) -> np.ndarray:
    """(measured - expected) / (resolution * expected) for one mass hypothesis."""
    exp = expected_signal(p, mass, params, mip)
    return ((np.asarray(signal, dtype=np.float64) - exp) / (resolution * exp)).astype(np.float32)
