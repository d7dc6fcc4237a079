"""Vectorised kinematics shared by the workflows: invariant masses, azimuthal differences,
class lookup and the cross products of track lists used for pair building."""

from __future__ import annotations

import numpy as np

MASS_PION = 0.13957039
MASS_KAON = 0.493677
MASS_PROTON = 0.93827209
MASS_K0S = 0.497611
MASS_LAMBDA = 1.115683
MASS_RHO0 = 0.77526

CHARGED_PDG = np.array([11, 13, 211, 321, 2212, 3112, 3222, 3312, 3334], dtype=np.int64)
"""|PDG code| of the long-lived charged particles counted as charged primaries."""


def is_charged(pdg: np.ndarray) -> np.ndarray:
    """True for electrons, muons, pions, kaons, protons and charged hyperons (and anti-)."""
    return np.isin(np.abs(np.asarray(pdg, dtype=np.int64)), CHARGED_PDG)


def energy(px: np.ndarray, py: np.ndarray, pz: np.ndarray, mass: float) -> np.ndarray:
    return np.sqrt(px.astype(np.float64) ** 2 + py**2 + pz**2 + mass * mass)


def pair_mass(p1: tuple[np.ndarray, ...], m1: float, p2: tuple[np.ndarray, ...], m2: float):
    """Invariant mass and transverse momentum of pairs of momenta (px, py, pz) with masses."""
    px = p1[0].astype(np.float64) + p2[0]
    py = p1[1].astype(np.float64) + p2[1]
    pz = p1[2].astype(np.float64) + p2[2]
    e = energy(*p1, m1) + energy(*p2, m2)
    m2sum = np.maximum(e * e - px * px - py * py - pz * pz, 0.0)
    return np.sqrt(m2sum), np.hypot(px, py)


def delta_phi(phi1: np.ndarray, phi2: np.ndarray, lo: float = -0.5 * np.pi) -> np.ndarray:
    """phi1 - phi2 wrapped into [lo, lo + 2 pi) (default [-pi/2, 3pi/2))."""
    return np.mod(np.asarray(phi1, np.float64) - phi2 - lo, 2 * np.pi) + lo


def class_index(values: np.ndarray, edges: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Bin of each value among increasing ``edges`` (right-open); -1 outside."""
    edges = np.asarray(edges, dtype=np.float64)
    idx = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right") - 1
    return np.where((idx >= 0) & (idx < len(edges) - 1), idx, -1)


def cross_pairs(
    off_a: np.ndarray, cnt_a: np.ndarray, off_b: np.ndarray, cnt_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (a, b) combination for each listed pair of groups: group k holds rows
    ``off_a[k] : off_a[k] + cnt_a[k]`` of A and the matching slice of B. Returns the rows of
    A, the rows of B and the group of each combination, without a loop over groups."""
    cnt_a = np.asarray(cnt_a, dtype=np.int64)
    cnt_b = np.asarray(cnt_b, dtype=np.int64)
    n = cnt_a * cnt_b
    total = int(n.sum())
    group = np.repeat(np.arange(len(n)), n)
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    start = np.cumsum(n) - n
    local = np.arange(total, dtype=np.int64) - start[group]
    nb = cnt_b[group]
    rows_a = np.asarray(off_a, dtype=np.int64)[group] + local // nb
    rows_b = np.asarray(off_b, dtype=np.int64)[group] + local % nb
    return rows_a, rows_b, group


def tracking_efficiency(pt: np.ndarray, eta: np.ndarray, params) -> np.ndarray:
    """Parametrised efficiency a (1 - exp(-(pT - pT0)/s)) (1 - c (eta/eta0)^2), 0 outside
    pT > pT0, |eta| < eta0; ``params`` = (a, s, pT0, c, eta0)."""
    a, s, pt0, c, eta0 = (float(x) for x in params)
    pt = np.asarray(pt, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    eff = a * -np.expm1(-np.maximum(pt - pt0, 0.0) / s) * (1.0 - c * (eta / eta0) ** 2)
    return np.where((pt > pt0) & (np.abs(eta) < eta0), eff, 0.0)
