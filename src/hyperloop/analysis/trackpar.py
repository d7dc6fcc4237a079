"""Barrel track parametrisation and its propagation in a solenoid field, vectorised.

The AO2D track model of O2 (``o2::track::TrackParametrization``): in a frame rotated by
``alpha`` about z, a track is given at local ``x`` by ``y``, ``z``, ``snp`` (sine of the
azimuth relative to ``alpha``), ``tgl`` (tangent of the dip angle) and ``q/pT``; in a
uniform field ``bz`` (kG) along z it is a helix of curvature ``q/pT * bz * B2C`` (1/cm).
The functions below are O2's ``rotateParam``, ``propagateParamTo`` and
``propagateParamToDCA`` (and the covariance transport of ``TrackParametrizationWithError``
without material), applied to whole columns at once; rows that O2 would refuse (|snp| -> 1,
a rotation that turns the track backwards) come back with ``ok`` False and unchanged
values. No energy loss or multiple scattering is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

B2C = -0.299792458e-3  # O2 constants::math::B2C: curvature (1/cm) per (q/pT [c/GeV] * B [kG])
ALMOST1 = 1.0 - 1e-6
ALMOST0 = 1e-12

# the 15 covariance terms in O2's order (lower triangle of y, z, snp, tgl, q/pT)
COV_TERMS = (
    "c00", "c10", "c11", "c20", "c21", "c22", "c30", "c31", "c32", "c33",
    "c40", "c41", "c42", "c43", "c44",
)  # fmt: skip
_SIGMAS = ("fSigmaY", "fSigmaZ", "fSigmaSnp", "fSigmaTgl", "fSigma1Pt")
_RHOS = {  # stored correlation column -> (row, column) of the covariance
    "fRhoZY": (1, 0),
    "fRhoSnpY": (2, 0),
    "fRhoSnpZ": (2, 1),
    "fRhoTglY": (3, 0),
    "fRhoTglZ": (3, 1),
    "fRhoTglSnp": (3, 2),
    "fRho1PtY": (4, 0),
    "fRho1PtZ": (4, 1),
    "fRho1PtSnp": (4, 2),
    "fRho1PtTgl": (4, 3),
}


@dataclass
class TrackPar:
    """Track parameters of many tracks (float64 columns)."""

    x: np.ndarray
    alpha: np.ndarray
    y: np.ndarray
    z: np.ndarray
    snp: np.ndarray
    tgl: np.ndarray
    q2pt: np.ndarray
    cov: np.ndarray | None = None  # (n, 5, 5) symmetric, or None

    @classmethod
    def from_columns(cls, cols: dict[str, np.ndarray], cov: dict | None = None) -> TrackPar:
        """From AO2D columns (``fX``, ``fAlpha``, ...; covariance from ``fSigma*``/``fRho*``)."""
        f = lambda name: np.asarray(cols[name], dtype=np.float64)  # noqa: E731
        return cls(
            f("fX"),
            f("fAlpha"),
            f("fY"),
            f("fZ"),
            f("fSnp"),
            f("fTgl"),
            f("fSigned1Pt"),
            cov_from_columns(cov) if cov is not None else None,
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {
            "fX": self.x.astype(np.float32),
            "fAlpha": self.alpha.astype(np.float32),
            "fY": self.y.astype(np.float32),
            "fZ": self.z.astype(np.float32),
            "fSnp": self.snp.astype(np.float32),
            "fTgl": self.tgl.astype(np.float32),
            "fSigned1Pt": self.q2pt.astype(np.float32),
        }

    def copy(self) -> TrackPar:
        return replace(
            self,
            **{k: v.copy() for k, v in vars(self).items() if isinstance(v, np.ndarray)},
        )


def cov_from_columns(cols: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 5, 5) covariance from the stored sigmas and int8 correlations (rho * 128)."""
    s = np.column_stack([np.asarray(cols[c], dtype=np.float64) for c in _SIGMAS])
    cov = np.zeros((len(s), 5, 5))
    for i in range(5):
        cov[:, i, i] = s[:, i] ** 2
    for name, (i, j) in _RHOS.items():
        cov[:, i, j] = cov[:, j, i] = (
            np.asarray(cols[name], dtype=np.float64) / 128.0 * s[:, i] * s[:, j]
        )
    return cov


def cov_columns(cov: np.ndarray) -> dict[str, np.ndarray]:
    """The stored form of a covariance: sigmas (float32) and correlations * 128 (int8)."""
    s = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
    out = {c: s[:, i].astype(np.float32) for i, c in enumerate(_SIGMAS)}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (i, j) in _RHOS.items():
            rho = np.nan_to_num(cov[:, i, j] / (s[:, i] * s[:, j]))
            out[name] = np.clip(np.rint(128.0 * rho), -128, 127).astype(np.int8)
    return out


def bring_to_pm_pi(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def rotate(t: TrackPar, alpha: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Rotate the rows ``mask`` to the frames ``alpha`` in place (``rotateParam``); returns
    the rows that could be rotated."""
    mask = np.ones(len(t.x), bool) if mask is None else mask.copy()
    alpha = bring_to_pm_pi(np.broadcast_to(alpha, t.x.shape).astype(np.float64))
    mask &= np.abs(t.snp) < ALMOST1
    d = alpha - t.alpha
    ca, sa = np.cos(d), np.sin(d)
    csp = np.sqrt(np.maximum((1.0 - t.snp) * (1.0 + t.snp), 0.0))
    mask &= csp * ca + t.snp * sa >= 0  # the track keeps pointing along +x
    tmp = t.snp * ca - csp * sa
    mask &= np.abs(tmp) < ALMOST1
    m = mask
    if t.cov is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            rr = ca + t.snp / csp * sa
        c = t.cov
        # O2 TrackParCov::rotate: y and snp rescaled, the rest unchanged
        scale = np.ones((len(t.x), 5))
        scale[:, 0] = ca
        scale[:, 2] = rr
        scaled = c * scale[:, :, None] * scale[:, None, :]
        c[m] = scaled[m]
    x_old, y_old = t.x.copy(), t.y.copy()
    t.x[m] = (x_old * ca + y_old * sa)[m]
    t.y[m] = (-x_old * sa + y_old * ca)[m]
    t.snp[m] = tmp[m]
    t.alpha[m] = alpha[m]
    return mask


def propagate_to_x(
    t: TrackPar, xk: np.ndarray, bz: np.ndarray | float, mask: np.ndarray | None = None
) -> np.ndarray:
    """Propagate the rows ``mask`` to local ``x = xk`` in the field ``bz`` (kG) in place
    (``propagateParamTo``, and the covariance transport without material); returns the
    rows that could be propagated."""
    mask = np.ones(len(t.x), bool) if mask is None else mask.copy()
    xk = np.broadcast_to(xk, t.x.shape).astype(np.float64)
    dx = xk - t.x
    crv = t.q2pt * bz * B2C
    x2r = crv * dx
    f1 = t.snp
    f2 = f1 + x2r
    mask &= (np.abs(f1) < ALMOST1) & (np.abs(f2) < ALMOST1)
    r1 = np.sqrt(np.maximum((1.0 - f1) * (1.0 + f1), 0.0))
    r2 = np.sqrt(np.maximum((1.0 - f2) * (1.0 + f2), 0.0))
    mask &= (np.abs(r1) > ALMOST0) & (np.abs(r2) > ALMOST0)
    m = mask
    with np.errstate(divide="ignore", invalid="ignore"):
        dy2dx = (f1 + f2) / (r1 + r2)
        small = np.abs(x2r) < 0.05
        dz_small = dx * (r2 + f2 * dy2dx) * t.tgl
        chord = dx * np.sqrt(1.0 + dy2dx * dy2dx)
        rot = 2.0 * np.arcsin(np.clip(0.5 * chord * crv, -1.0, 1.0))
        dz_large = t.tgl / crv * rot
        dz = np.where(small, dz_small, dz_large)
    if t.cov is not None:
        _transport_cov(t, dx, f1, r1, bz, m)
    t.x[m] = xk[m]
    t.y[m] += (dx * dy2dx)[m]
    t.snp[m] = f2[m]
    t.z[m] += dz[m]
    return mask


def _transport_cov(t: TrackPar, dx, f1, r1, bz, m) -> None:
    """C -> F C F^T with O2's (AliExternalTrackParam's) propagation Jacobian, no material."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r3 = r1 * r1 * r1
        kb = np.broadcast_to(np.asarray(bz, dtype=np.float64) * B2C, dx.shape)
        f02 = dx / r3
        f04 = 0.5 * dx * dx / r3 * kb
        f12 = dx * t.tgl * f1 / r3
        f14 = 0.5 * dx * dx * t.tgl * f1 / r3 * kb
        f13 = dx / r1
        f24 = dx * kb
    n = len(dx)
    jac = np.zeros((n, 5, 5))
    jac[:, np.arange(5), np.arange(5)] = 1.0
    jac[:, 0, 2], jac[:, 0, 4] = f02, f04
    jac[:, 1, 2], jac[:, 1, 3], jac[:, 1, 4] = f12, f13, f14
    jac[:, 2, 4] = f24
    new = jac @ t.cov @ np.transpose(jac, (0, 2, 1))
    t.cov[m] = new[m]


def propagate_to_dca(
    t: TrackPar,
    vx: np.ndarray,
    vy: np.ndarray,
    vz: np.ndarray,
    bz: np.ndarray | float,
    mask: np.ndarray | None = None,
    max_d: float = 999.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Propagate the rows ``mask`` to their distance of closest approach to the vertices
    (``vx``, ``vy``, ``vz``) in place (``propagateParamToDCA``); returns (ok, dcaXY, dcaZ),
    the DCA of rows not propagated being 999 as in O2's track-propagation."""
    mask = np.ones(len(t.x), bool) if mask is None else mask.copy()
    sn, cs = np.sin(t.alpha), np.cos(t.alpha)
    snp = t.snp
    csp = np.sqrt(np.maximum((1.0 - snp) * (1.0 + snp), 0.0))
    xv = vx * cs + vy * sn
    yv = -vx * sn + vy * cs
    x = t.x - xv
    y = t.y - yv
    d = np.abs(x * snp - y * csp)  # impact parameter neglecting the curvature
    mask &= d <= max_d
    crv = t.q2pt * bz * B2C
    with np.errstate(divide="ignore", invalid="ignore"):
        tgfv = -(crv * x - snp) / (crv * y + csp)
        sn2 = tgfv / np.sqrt(1.0 + tgfv * tgfv)
        cs2 = np.where(np.abs(tgfv) > ALMOST0, sn2 / tgfv, ALMOST1)
    xr = xv * cs2 + yv * sn2
    yr = -xv * sn2 + yv * cs2
    trial = t.copy()
    ok = rotate(trial, t.alpha + np.arcsin(np.clip(sn2, -1, 1)), mask)
    ok = propagate_to_x(trial, xr, bz, ok)
    for name in ("x", "alpha", "y", "z", "snp", "tgl", "q2pt"):
        getattr(t, name)[ok] = getattr(trial, name)[ok]
    if t.cov is not None:
        t.cov[ok] = trial.cov[ok]  # type: ignore[index]
    dca_xy = np.where(ok, t.y - yr, 999.0)
    dca_z = np.where(ok, t.z - vz, 999.0)
    return ok, dca_xy, dca_z
