"""TPC dE/dx response: the ALEPH Bethe-Bloch parametrisation with the ALICE TPC parameters,
normalised so that a minimum-ionising particle (beta*gamma = 4) gives ``mip`` (50). The
same formula and defaults as the demo detector simulation (hyperloop.demo.detector).

f(bg) = P0 / beta^P3 * (P1 - beta^P3 - ln(P2 + (1/bg)^P4)); signal = mip z^2 f(p/m) / f(4).
"""

from __future__ import annotations

import numpy as np

ALEPH_PARAMS = (0.76176e-1, 10.632, 0.13279e-4, 1.8631, 1.9479)
"""Default parameters P0..P4 of the ALEPH Bethe-Bloch formula (ALICE TPC)."""
MIP_SIGNAL = 50.0
"""TPC signal of a minimum-ionising particle (beta*gamma = 4)."""
RELATIVE_RESOLUTION = 0.05
"""Relative dE/dx resolution (same for every species)."""
MIP_BETAGAMMA = 4.0


def bethe_bloch_aleph(bg: np.ndarray, params=ALEPH_PARAMS) -> np.ndarray:
    """The ALEPH parametrisation at beta*gamma ``bg`` (vectorised, arbitrary units)."""
    p0, p1, p2, p3, p4 = (float(x) for x in params)
    bg = np.maximum(np.asarray(bg, dtype=np.float64), 1e-3)
    beta = bg / np.sqrt(1.0 + bg * bg)
    aa = beta**p3
    bb = np.log(p2 + bg ** (-p4))
    return (p1 - aa - bb) * p0 / aa


def expected_signal(
    p: np.ndarray, mass: float, params=ALEPH_PARAMS, mip: float = MIP_SIGNAL, charge: int = 1
) -> np.ndarray:
    """Expected TPC signal for momentum ``p`` (GeV/c) and a particle of ``mass`` (GeV/c^2)."""
    bg = np.abs(np.asarray(p, dtype=np.float64)) / mass
    norm = bethe_bloch_aleph(MIP_BETAGAMMA, params)
    return mip * float(charge) ** 2 * bethe_bloch_aleph(bg, params) / norm


def n_sigma(
    signal: np.ndarray,
    p: np.ndarray,
    mass: float,
    params=ALEPH_PARAMS,
    mip: float = MIP_SIGNAL,
    resolution: float = RELATIVE_RESOLUTION,
) -> np.ndarray:
    """(measured - expected) / (resolution * expected) for one mass hypothesis, float32."""
    exp = expected_signal(p, mass, params, mip)
    return ((np.asarray(signal, dtype=np.float64) - exp) / (resolution * exp)).astype(np.float32)
