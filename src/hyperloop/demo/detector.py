"""A simple, documented ALICE-like detector response turning generated particles into AO2D.

All numbers below are part of the product: analyses on the demo data correct for them.

Acceptance and efficiency (charged, not-decayed particles)
    |eta| < 0.9 and pT > 0.1 GeV/c (true values). :func:`efficiency` gives the tracking
    efficiency of primaries: a plateau of 0.8 with an exponential turn-on,
    ``0.8 * (1 - exp(-(pT - 0.1) / 0.06)) * (1 - 0.05 (eta / 0.9)^2)`` (0.46 at 0.15 GeV/c,
    0.77 at 0.3 GeV/c, 0.76 at the eta edge). Secondaries (K0S/Lambda daughters) must be
    produced at a radius below 80 cm (TPC inner wall 85 cm) and have an extra factor
    ``exp(-r / 60 cm)``.
Momentum and angles
    sigma(pT)/pT = 1% (+) 0.5% * pT [GeV/c] (x1.5 without ITS hits), applied to q/pT;
    sigma(phi) = sigma(dip angle) = 1 mrad (+) 1.5 mrad / pT.
ITS hits
    Layers at r = 2.24, 3.01, 3.78, 19.6, 24.55, 34.39, 39.34 cm; a layer outside the
    production radius gives a hit with probability 0.97 (a cluster size in ``fITSClusterSizes``).
Impact parameter (DCA to the reconstructed vertex, straight-line extrapolation)
    with a hit on one of the two innermost layers: sigma_xy = 10 um (+) 30 um / pT,
    sigma_z = 15 um (+) 35 um / pT; otherwise sigma_xy = sigma_z = 1 mm (+) 0.5 mm / pT.
Primary vertex
    true vertex: x, y ~ N(0, 50 um), z ~ N(0, 5 cm). Contributors = reconstructed tracks of
    primary particles; a collision is reconstructed with >= 1 contributor (beam-constrained)
    and resolution sigma_xy = 40 um / sqrt(N) (+) 2 um, sigma_z = 60 um / sqrt(N) (+) 3 um.
    Tracks of events without a reconstructed vertex are lost (they are all secondaries).
TPC dE/dx
    ALEPH Bethe-Bloch parametrisation (ALICE TPC parameters), scaled so that a MIP
    (beta*gamma = 4) gives 50, Gaussian resolution 5% per species: :func:`expected_tpc_signal`
    and :data:`TPC_SIGNAL_RESOLUTION` are what a PID service needs for n-sigma.
TOF
    matched for p > 0.3 GeV/c with probability 0.65; path length (370 cm - r) * sqrt(1 + tgl^2)
    (straight line), time resolution 80 ps; unmatched tracks have fTOFSignal = -999 and
    fTOFExpMom = 0.
V0s
    true K0S -> pi+pi-, Lambda -> p pi-, anti-Lambda -> anti-p pi+ decays whose two daughters are
    reconstructed are found with probability 0.9 (linearly lower below r = 0.5 cm); decay
    vertex resolution 0.02 cm (+) 0.005 r, fDCAV0Daughters = |N(0, 0.02 cm + 0.003 r)|,
    fV0CosPA from the reconstructed vertices and daughter momenta. Combinatorial background:
    Poisson(0.04 * n_pos * n_neg) random opposite-charge pairs per collision with
    radius 0.3 cm + Exp(6 cm), 1 - cosPA ~ Exp(0.03), fDCAV0Daughters ~ Exp(0.5 cm).
Stored tracks
    as Run 3 reconstruction stores them: at their innermost update point (``TracksIU``), the
    radius of their innermost ITS hit (TPC-only tracks: 80 cm), reached along the helix in
    the run's solenoid field from their DCA to the reconstructed vertex; their covariance
    (``TracksCovIU``) is the resolution above at the DCA transported there (no material).
    The ``track-propagation`` service brings them back to the DCA.
Not simulated (simplifications)
    track curvature inside the detector response (DCA, TOF length: straight lines), material (no conversions, no hadronic
    interactions), pile-up, fake tracks; charged hyperons (Sigma, Xi, Omega) are tracked like
    stable particles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperloop.analysis.trackpar import TrackPar, cov_columns, propagate_to_x
from hyperloop.demo.events import DECAYERS, TruthEvents

NOMINAL_BZ_KG = 5.0  # 0.5 T
TPC_ONLY_IU_CM = 80.0  # innermost update point of tracks without ITS hits
TRACK_TYPE_IU = 1  # o2::aod::track::TrackTypeEnum::TrackIU

# --- acceptance and efficiency -----------------------------------------------------------
ETA_MAX = 0.9
PT_MIN = 0.1
EFF_PLATEAU = 0.8
EFF_TURNON_GEV = 0.06
EFF_ETA_DROP = 0.05
SECONDARY_R_MAX_CM = 80.0
SECONDARY_R_SCALE_CM = 60.0

# --- resolutions -------------------------------------------------------------------------
PT_RES_CONST = 0.01
PT_RES_SLOPE = 0.005  # per GeV/c
ANGLE_RES_CONST = 0.001
ANGLE_RES_PT = 0.0015
ITS_RADII_CM = np.array([2.24, 3.01, 3.78, 19.6, 24.55, 34.39, 39.34])
ITS_HIT_EFF = 0.97
DCA_ITS_XY = (10e-4, 30e-4)  # cm: constant, / pT
DCA_ITS_Z = (15e-4, 35e-4)
DCA_TPC = (0.1, 0.05)

BEAM_SPOT_XY_CM = 0.005
BEAM_SPOT_Z_CM = 5.0
VTX_RES_XY = (40e-4, 2e-4)  # cm: / sqrt(N), constant
VTX_RES_Z = (60e-4, 3e-4)

# --- PID signals -------------------------------------------------------------------------
TPC_BB_PARAMS = (0.76176e-1, 10.632, 0.13279e-4, 1.8631, 1.9479)
TPC_MIP = 50.0
TPC_SIGNAL_RESOLUTION = 0.05
TOF_RADIUS_CM = 370.0
TOF_RESOLUTION_PS = 80.0
TOF_MATCH_EFF = 0.65
TOF_P_MIN = 0.3

# --- V0s ---------------------------------------------------------------------------------
V0_FIND_EFF = 0.9
V0_BKG_RATE = 0.04

# O2 flags
TRACK_PV_CONTRIBUTOR = 0x2
V0_TYPE_STANDARD = 1
C_CM_PER_PS = 0.0299792458


def efficiency(pt, eta):
    """Tracking efficiency of a primary charged particle at true (pt [GeV/c], eta)."""
    pt = np.asarray(pt, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    turn_on = -np.expm1(-np.maximum(pt - PT_MIN, 0.0) / EFF_TURNON_GEV)
    eff = EFF_PLATEAU * turn_on * (1.0 - EFF_ETA_DROP * (eta / ETA_MAX) ** 2)
    return np.where((np.abs(eta) < ETA_MAX) & (pt > PT_MIN), eff, 0.0)


def bethe_bloch(betagamma):
    """ALEPH Bethe-Bloch parametrisation (arbitrary units) as used for the ALICE TPC."""
    p1, p2, p3, p4, p5 = TPC_BB_PARAMS
    bg = np.asarray(betagamma, dtype=np.float64)
    beta = bg / np.sqrt(1.0 + bg * bg)
    aa = beta**p4
    bb = np.log(p3 + bg ** (-p5))
    return (p2 - aa - bb) * p1 / aa


_BB_MIP = float(bethe_bloch(4.0))


def expected_tpc_signal(p, mass, charge=1):
    """Mean TPC dE/dx for momentum ``p`` [GeV/c] and ``mass`` [GeV/c^2]; a MIP gives 50."""
    p = np.asarray(p, dtype=np.float64)
    z2 = np.asarray(charge, dtype=np.float64) ** 2
    return TPC_MIP * z2 * bethe_bloch(np.abs(p) / np.asarray(mass, dtype=np.float64)) / _BB_MIP


def _quad(a, b):
    return np.sqrt(a * a + b * b)


@dataclass
class Reconstructed:
    """AO2D columns of one dataframe's reconstruction plus the truth links for MC labels."""

    collisions: dict[str, np.ndarray]
    collision_event: np.ndarray  # event index of each collision
    tracks: dict[str, np.ndarray]  # at the DCA to the reconstructed vertex (= Tracks)
    tracks_extra: dict[str, np.ndarray]
    tracks_dca: dict[str, np.ndarray]  # what track-propagation finds (not written)
    tracks_iu: dict[str, np.ndarray]  # at the innermost update point (= TracksIU, written)
    tracks_cov_iu: dict[str, np.ndarray]  # their covariance (= TracksCovIU, written)
    track_truth: np.ndarray  # truth row of each track
    v0s: dict[str, np.ndarray]


def reconstruct(
    truth: TruthEvents, rng: np.random.Generator, bz: float = NOMINAL_BZ_KG
) -> Reconstructed:
    """Apply the detector response to one batch of events (vectorised over all of it);
    ``bz`` (kG) bends the tracks between their DCA and their innermost update point."""
    n_ev = truth.n_events
    vtx = truth.vtx
    # --- acceptance and efficiency (true kinematics), on charged stable particles only --
    rows = np.flatnonzero((truth.charge != 0) & ~truth.decayed)
    pt_all = np.hypot(truth.px[rows], truth.py[rows])
    eta_all = np.arcsinh(truth.pz[rows] / np.maximum(pt_all, 1e-9))
    keep = (pt_all > PT_MIN) & (np.abs(eta_all) < ETA_MAX)
    rows, pt_all, eta_all = rows[keep], pt_all[keep], eta_all[keep]
    ev_all = truth.event[rows]
    rprod_all = np.hypot(truth.vx[rows], truth.vy[rows])
    from_pv = np.sqrt(
        (truth.vx[rows] - vtx[ev_all, 0]) ** 2
        + (truth.vy[rows] - vtx[ev_all, 1]) ** 2
        + (truth.vz[rows] - vtx[ev_all, 2]) ** 2
    )
    prim_all = from_pv < 1e-3
    keep = rprod_all < SECONDARY_R_MAX_CM
    eff = efficiency(pt_all, eta_all) * np.where(
        prim_all, 1.0, np.exp(-rprod_all / SECONDARY_R_SCALE_CM)
    )
    keep &= rng.random(len(rows)) < eff
    rows, pt_t, rprod, is_prim = rows[keep], pt_all[keep], rprod_all[keep], prim_all[keep]
    # collisions: >= 1 reconstructed primary track (vertexer with beam constraint)
    ncontrib = np.bincount(truth.event[rows[is_prim]], minlength=n_ev)
    has_coll = ncontrib >= 1
    coll_event = np.flatnonzero(has_coll)
    coll_of_event = np.full(n_ev, -1, np.int64)
    coll_of_event[coll_event] = np.arange(len(coll_event))
    keep = has_coll[truth.event[rows]]  # rows stay sorted by event (truth is)
    rows, pt_t, rprod, contrib = rows[keep], pt_t[keep], rprod[keep], is_prim[keep]
    n = len(rows)

    nc = ncontrib[coll_event].astype(np.float64)
    sxy = _quad(VTX_RES_XY[0] / np.sqrt(nc), VTX_RES_XY[1])
    sz = _quad(VTX_RES_Z[0] / np.sqrt(nc), VTX_RES_Z[1])
    rvtx = vtx[coll_event] + rng.normal(size=(len(coll_event), 3)) * np.column_stack([sxy, sxy, sz])
    time_res = 2.0 / np.sqrt(nc)
    collisions = dict(
        fIndexBCs=coll_event,
        fPosX=rvtx[:, 0],
        fPosY=rvtx[:, 1],
        fPosZ=rvtx[:, 2],
        fCovXX=sxy**2,
        fCovXY=np.zeros(len(coll_event)),
        fCovYY=sxy**2,
        fCovXZ=np.zeros(len(coll_event)),
        fCovYZ=np.zeros(len(coll_event)),
        fCovZZ=sz**2,
        fFlags=np.zeros(len(coll_event), np.uint16),
        fChi2=rng.chisquare(np.maximum(2 * nc - 1, 1)),
        fNumContrib=ncontrib[coll_event],
        fCollisionTime=rng.normal(0.0, time_res),
        fCollisionTimeRes=time_res,
    )

    # --- ITS hits, momentum and angles ------------------------------------------------
    r0 = rprod
    layer_ok = (ITS_RADII_CM[None, :] > r0[:, None]) & (
        rng.random((n, len(ITS_RADII_CM))) < ITS_HIT_EFF
    )
    its_map = (layer_ok * (1 << np.arange(len(ITS_RADII_CM)))).sum(axis=1).astype(np.uint8)
    has_its = its_map != 0
    inner = (its_map & 0b11) != 0
    q = truth.charge[rows].astype(np.float64)
    phi_t = np.arctan2(truth.py[rows], truth.px[rows])
    lam_t = np.arctan2(truth.pz[rows], pt_t)
    rel = _quad(PT_RES_CONST, PT_RES_SLOPE * pt_t) * np.where(has_its, 1.0, 1.5)
    inv_pt = (1.0 / pt_t) * (1.0 + rel * rng.normal(size=n))
    inv_pt = np.maximum(inv_pt, 1e-4)
    pt_r = 1.0 / inv_pt
    sang = _quad(ANGLE_RES_CONST, ANGLE_RES_PT / pt_t)
    phi_r = np.mod(phi_t + sang * rng.normal(size=n), 2 * np.pi)
    lam_r = np.clip(lam_t + sang * rng.normal(size=n), -1.5, 1.5)
    tgl_r = np.tan(lam_r)

    # --- point of closest approach and DCA (straight lines) -----------------------------
    ev = truth.event[rows]
    tv = vtx[ev]
    ux, uy = np.cos(phi_t), np.sin(phi_t)
    s = (tv[:, 0] - truth.vx[rows]) * ux + (tv[:, 1] - truth.vy[rows]) * uy
    pcx = truth.vx[rows] + s * ux
    pcy = truth.vy[rows] + s * uy
    pcz = truth.vz[rows] + s * np.tan(lam_t)
    tpc_res = _quad(DCA_TPC[0], DCA_TPC[1] / pt_t)
    dxy = np.where(inner, _quad(DCA_ITS_XY[0], DCA_ITS_XY[1] / pt_t), tpc_res)
    dz = np.where(inner, _quad(DCA_ITS_Z[0], DCA_ITS_Z[1] / pt_t), tpc_res)
    off = dxy * rng.normal(size=n)
    pcx += -np.sin(phi_t) * off
    pcy += np.cos(phi_t) * off
    pcz += dz * rng.normal(size=n)
    ci = coll_of_event[ev]
    rv = rvtx[ci]
    urx, ury = np.cos(phi_r), np.sin(phi_r)
    s2 = (rv[:, 0] - pcx) * urx + (rv[:, 1] - pcy) * ury
    qx, qy, qz = pcx + s2 * urx, pcy + s2 * ury, pcz + s2 * tgl_r
    dca_xy = (qx - rv[:, 0]) * (-ury) + (qy - rv[:, 1]) * urx
    dca_z = qz - rv[:, 2]

    # --- track parametrisation in the sector frame ---------------------------------------
    sector_width = 2 * np.pi / 18
    alpha = (np.floor(phi_r / sector_width) + 0.5) * sector_width
    alpha = np.where(alpha > np.pi, alpha - 2 * np.pi, alpha)
    ca, sa = np.cos(alpha), np.sin(alpha)
    tracks = dict(
        fIndexCollisions=ci,
        fTrackType=np.zeros(n, np.uint8),
        fX=qx * ca + qy * sa,
        fAlpha=alpha,
        fY=-qx * sa + qy * ca,
        fZ=qz,
        fSnp=np.sin(phi_r - alpha),
        fTgl=tgl_r,
        fSigned1Pt=q / pt_r,
    )
    tracks_dca = dict(fDcaXY=dca_xy, fDcaZ=dca_z)
    tracks_iu, tracks_cov_iu = _to_innermost_point(
        tracks, its_map, rel / pt_r, sang, dxy, dz, bz, rng
    )

    # --- track extra: clusters, chi2, dE/dx, TOF -----------------------------------------
    p_r = pt_r * np.sqrt(1.0 + tgl_r**2)
    mass = truth.mass[rows].astype(np.float64)
    p_t = pt_t / np.cos(lam_t)
    findable = np.clip(np.rint(rng.normal(152, 4, n)), 60, 159).astype(np.int64)
    miss_found = np.minimum(rng.poisson(4.0, n), findable - 50)
    miss_rows = np.minimum(rng.poisson(1.5, n), miss_found)
    dedx = expected_tpc_signal(p_t, mass, q) * (1.0 + TPC_SIGNAL_RESOLUTION * rng.normal(size=n))
    tof = (p_r > TOF_P_MIN) & (rng.random(n) < TOF_MATCH_EFF)
    length = (TOF_RADIUS_CM - r0) * np.sqrt(1.0 + tgl_r**2)
    beta = p_t / np.sqrt(p_t**2 + mass**2)
    tof_ps = length / (beta * C_CM_PER_PS) + TOF_RESOLUTION_PS * rng.normal(size=n)
    # ITS cluster sizes: 4 bits per layer (0: no cluster), as TracksExtra_001 and later
    sizes = np.zeros(n, dtype=np.uint32)
    for layer in range(7):
        hit = ((its_map >> layer) & 1).astype(bool)
        size = np.minimum(1 + rng.poisson(1.5, n), 15).astype(np.uint32)
        sizes |= np.where(hit, size, 0).astype(np.uint32) << np.uint32(4 * layer)
    tof_chi2 = np.where(tof, rng.gamma(2.0, 0.5, n), -1.0)
    tracks_extra = dict(
        fTPCInnerParam=p_r,
        fFlags=np.where(contrib, TRACK_PV_CONTRIBUTOR, 0).astype(np.uint32),
        fITSClusterSizes=sizes,
        fTPCNClsFindable=findable,
        fTPCNClsFindableMinusFound=miss_found,
        fTPCNClsFindableMinusPID=miss_found + np.minimum(rng.poisson(2.0, n), 20),
        fTPCNClsFindableMinusCrossedRows=miss_rows,
        fTPCNClsShared=np.minimum(rng.poisson(0.5, n), 10),
        fTRDPattern=np.zeros(n, np.uint8),
        fITSChi2NCl=np.where(has_its, rng.gamma(2.0, 0.6, n), 0.0),
        fTPCChi2NCl=rng.gamma(8.0, 0.15, n),
        fTRDChi2=np.full(n, -1.0),
        fTOFChi2=tof_chi2,
        fTPCSignal=dedx,
        fTRDSignal=np.zeros(n),
        fLength=length,
        fTOFExpMom=np.where(tof, p_r, 0.0),
        fTrackEtaEMCAL=np.full(n, -999.0),
        fTrackPhiEMCAL=np.full(n, -999.0),
        # TOF-matched tracks carry the TOF time (relative to the collision), others the
        # TPC time estimate
        fTrackTime=np.where(tof, tof_ps * 1e-3, rng.normal(0.0, 5.0, n)),
        fTrackTimeRes=np.where(tof, TOF_RESOLUTION_PS * 1e-3, 5.0),
    )

    v0s = _v0s(truth, rows, ci, rvtx, coll_event, tracks, rng)
    return Reconstructed(
        collisions=collisions,
        collision_event=coll_event,
        tracks=tracks,
        tracks_extra=tracks_extra,
        tracks_dca=tracks_dca,
        tracks_iu=tracks_iu,
        tracks_cov_iu=tracks_cov_iu,
        track_truth=rows,
        v0s=v0s,
    )


def _track_momenta(tracks: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
    pt = 1.0 / np.abs(tracks["fSigned1Pt"][idx])
    phi = np.arcsin(tracks["fSnp"][idx]) + tracks["fAlpha"][idx]
    return np.column_stack([pt * np.cos(phi), pt * np.sin(phi), pt * tracks["fTgl"][idx]])


def _to_innermost_point(
    tracks: dict[str, np.ndarray],
    its_map: np.ndarray,
    sigma_q2pt: np.ndarray,
    sigma_angle: np.ndarray,
    sigma_y: np.ndarray,
    sigma_z: np.ndarray,
    bz: float,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The tracks (given at their DCA to the vertex) where the tracking leaves them: at
    their innermost update point, the radius of their innermost ITS hit (TPC-only tracks:
    TPC_ONLY_IU_CM), reached along the helix in the field ``bz``, with the covariance
    (resolutions at the DCA) transported there. Tracks that curl up before that radius
    stay at their DCA. ``fTrackType`` is 1 (TrackIU)."""
    n = len(tracks["fX"])
    par = TrackPar.from_columns(tracks)
    cov = np.zeros((n, 5, 5))
    diag = (sigma_y, sigma_z, sigma_angle, sigma_angle * (1.0 + par.tgl**2), sigma_q2pt)
    for i, sigma in enumerate(diag):
        cov[:, i, i] = np.asarray(sigma, dtype=np.float64) ** 2
    par.cov = cov
    layer = np.argmax((its_map[:, None] >> np.arange(len(ITS_RADII_CM))) & 1, axis=1)
    radius = np.where(its_map != 0, ITS_RADII_CM[layer], TPC_ONLY_IU_CM)
    propagate_to_x(par, np.sqrt(np.maximum(radius**2 - par.y**2, 0.0)), bz)
    iu = {
        "fIndexCollisions": tracks["fIndexCollisions"],
        "fTrackType": np.full(n, TRACK_TYPE_IU, np.uint8),
        **par.columns(),
    }
    return iu, cov_columns(par.cov)


def _v0s(
    truth: TruthEvents,
    rows: np.ndarray,
    track_coll: np.ndarray,
    rvtx: np.ndarray,
    coll_event: np.ndarray,
    tracks: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """V0 candidates: found true decays plus combinatorial opposite-charge pairs."""
    n_truth = len(truth.pdg)
    pos_of = np.full(n_truth, -1, np.int64)
    neg_of = np.full(n_truth, -1, np.int64)
    mothers = truth.mother[rows]
    is_v0_dau = (mothers >= 0) & np.isin(truth.pdg[np.maximum(mothers, 0)], list(DECAYERS))
    tidx = np.arange(len(rows))
    pos = is_v0_dau & (truth.charge[rows] > 0)
    neg = is_v0_dau & (truth.charge[rows] < 0)
    pos_of[mothers[pos]] = tidx[pos]
    neg_of[mothers[neg]] = tidx[neg]
    found = np.flatnonzero((pos_of >= 0) & (neg_of >= 0))
    dvx, dvy, dvz = (getattr(truth, k)[rows[pos_of[found]]] for k in ("vx", "vy", "vz"))
    r_true = np.hypot(dvx, dvy)
    keep = rng.random(len(found)) < V0_FIND_EFF * np.minimum(r_true / 0.5, 1.0)
    found, dvx, dvy, dvz, r_true = found[keep], dvx[keep], dvy[keep], dvz[keep], r_true[keep]
    ipos, ineg = pos_of[found], neg_of[found]
    coll = track_coll[ipos]
    sres = 0.02 + 0.005 * r_true
    rx = dvx + sres * rng.normal(size=len(found))
    ry = dvy + sres * rng.normal(size=len(found))
    rz = dvz + sres * rng.normal(size=len(found))
    pv0 = _track_momenta(tracks, ipos) + _track_momenta(tracks, ineg)
    d = np.column_stack([rx, ry, rz]) - rvtx[coll]
    with np.errstate(invalid="ignore", divide="ignore"):
        cospa = (pv0 * d).sum(axis=1) / (np.linalg.norm(pv0, axis=1) * np.linalg.norm(d, axis=1))
    sig = dict(
        fIndexCollisions=coll,
        fIndexTracks_Pos=ipos,
        fIndexTracks_Neg=ineg,
        fV0Radius=np.hypot(rx, ry),
        fV0CosPA=np.nan_to_num(cospa, nan=1.0),
        fDCAV0Daughters=np.abs(rng.normal(size=len(found))) * (0.02 + 0.003 * r_true),
    )

    # combinatorial background per collision
    n_coll = len(coll_event)
    charge = np.sign(tracks["fSigned1Pt"])
    bkg_pos, bkg_neg = [], []
    lists = []
    for sel in (charge > 0, charge < 0):
        idx = np.flatnonzero(sel)  # sorted by collision as tracks are
        counts = np.bincount(track_coll[idx], minlength=n_coll)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        lists.append((idx, counts, starts))
    (pidx, pcount, pstart), (nidx, ncount, nstart) = lists
    nb = rng.poisson(V0_BKG_RATE * pcount * ncount)
    bcoll = np.repeat(np.arange(n_coll), nb)
    if len(bcoll):
        bkg_pos = pidx[pstart[bcoll] + (rng.random(len(bcoll)) * pcount[bcoll]).astype(np.int64)]
        bkg_neg = nidx[nstart[bcoll] + (rng.random(len(bcoll)) * ncount[bcoll]).astype(np.int64)]
    else:
        bkg_pos = bkg_neg = np.zeros(0, np.int64)
    nbk = len(bcoll)
    bkg = dict(
        fIndexCollisions=bcoll,
        fIndexTracks_Pos=bkg_pos,
        fIndexTracks_Neg=bkg_neg,
        fV0Radius=0.3 + rng.exponential(6.0, nbk),
        fV0CosPA=np.maximum(1.0 - rng.exponential(0.03, nbk), -1.0),
        fDCAV0Daughters=rng.exponential(0.5, nbk),
    )
    out = {k: np.concatenate([sig[k], bkg[k]]) for k in sig}
    order = np.argsort(out["fIndexCollisions"], kind="stable")
    out = {k: v[order] for k, v in out.items()}
    out["fV0Type"] = np.full(len(order), V0_TYPE_STANDARD, np.uint8)
    return out
