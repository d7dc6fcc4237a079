"""Physics validation figures of the demo data: dN/deta (efficiency-corrected) vs PYTHIA
truth, DCA resolution of primaries, K0S and Lambda masses and widths.

Tracks are taken as analyses see them: in the Run 3 layout (``O2track_iu``) propagated to
their collision vertex as the track-propagation service does; in the older layout
(``O2track``, ``O2trackdca``) as stored. Generates 1500 MC events (PYTHIA) and 30000 fast
events (pool of 600) into OUT.

    python benchmarks/physics_validation.py OUT
"""

from __future__ import annotations

import sys

import numpy as np
import uproot
from scipy.optimize import curve_fit

from hyperloop.demo import efficiency, generate_dataset
from hyperloop.demo.detector import DCA_ITS_XY

M_PI, M_P = 0.13957039, 0.93827209
CHARGED_STABLE = [11, 13, 211, 321, 2212, 3112, 3222, 3312, 3334]


def _propagated(d: dict) -> None:
    from hyperloop.analysis.conditions import magnetic_field
    from hyperloop.analysis.trackpar import TrackPar, propagate_to_dca

    iu, coll = d["O2track_iu"], d["O2collision_001"]
    track = TrackPar.from_columns(iu)
    ci = iu["fIndexCollisions"].astype(np.int64)
    vtx = [np.where(ci >= 0, coll[c][np.maximum(ci, 0)], 0.0) for c in ("fPosX", "fPosY", "fPosZ")]
    bz = magnetic_field(int(d["O2bc_001"]["fRunNumber"][0]))
    _, dxy, dz = propagate_to_dca(track, *vtx, bz)
    d["trk"] = {**track.columns(), "fIndexCollisions": iu["fIndexCollisions"]}
    d["dca"] = {"fDcaXY": dxy, "fDcaZ": dz}
    d["v0"] = {**d["O2v0_002"], **d["O2demov0topo"]}
    d["mcp"], d["mcc"] = d.get("O2mcparticle_001"), d.get("O2mccollision_001")


def frames(paths):
    for path in paths:
        with uproot.open(path) as f:
            for df in f.keys(recursive=False, cycle=False):
                if not df.startswith("DF_"):
                    continue
                d = {t: f[df][t].arrays(library="np") for t in f[df].keys(cycle=False)}
                if "O2track_iu" in d:
                    _propagated(d)
                else:
                    d["trk"], d["dca"], d["v0"] = d["O2track"], d["O2trackdca"], d["O2v0"]
                    d["mcp"], d["mcc"] = d.get("O2mcparticle"), d.get("O2mccollision")
                yield d


def kin(trk):
    pt = 1.0 / np.abs(trk["fSigned1Pt"].astype(np.float64))
    eta = np.arcsinh(trk["fTgl"].astype(np.float64))
    phi = np.arcsin(trk["fSnp"].astype(np.float64)) + trk["fAlpha"]
    return pt, eta, phi


def half_width_68(a: np.ndarray) -> float:
    return 0.5 * (np.percentile(a, 84.13) - np.percentile(a, 15.87))


def gauss_lin(x, a, mu, s, b0, b1):
    return a * np.exp(-0.5 * ((x - mu) / s) ** 2) + b0 + b1 * (x - mu)


def v0_masses(dfs, mpos: float, mneg: float) -> np.ndarray:
    out = []
    for d in dfs:
        trk, v0 = d["trk"], d["v0"]
        pt, _, phi = kin(trk)
        mom = np.column_stack([pt * np.cos(phi), pt * np.sin(phi), pt * trk["fTgl"]])
        cuts = (v0["fV0CosPA"] > 0.995) & (v0["fDCAV0Daughters"] < 0.5) & (v0["fV0Radius"] > 0.5)
        p1, p2 = mom[v0["fIndexTracks_Pos"][cuts]], mom[v0["fIndexTracks_Neg"][cuts]]
        e = np.sqrt((p1**2).sum(1) + mpos**2) + np.sqrt((p2**2).sum(1) + mneg**2)
        out.append(np.sqrt(e**2 - ((p1 + p2) ** 2).sum(1)))
    return np.concatenate(out)


def fit_peak(m, lo, hi, mu0, s0):
    h, e = np.histogram(m, bins=60, range=(lo, hi))
    x = 0.5 * (e[1:] + e[:-1])
    p, _ = curve_fit(
        gauss_lin, x, h, p0=(h.max(), mu0, s0, np.median(h), 0.0), sigma=np.sqrt(h + 1)
    )
    return p[1], abs(p[2])


def main(out: str) -> None:
    mc = generate_dataset(f"{out}/mc", [523310], 1500, mc=True, seed=7, events_per_df=500)
    fast = generate_dataset(
        f"{out}/fast", [523311], 30000, seed=3, fast=True, pool_size=600, events_per_df=5000
    )
    corrected = truth = 0.0
    n_ev = 0
    rows = []
    for d in frames(mc.paths()):
        pt, eta, _ = kin(d["trk"])
        dca = d["dca"]
        primary_like = np.abs(dca["fDcaXY"]) < 7 * np.hypot(DCA_ITS_XY[0], DCA_ITS_XY[1] / pt)
        sel = (np.abs(eta) < 0.5) & (pt > 0.15) & primary_like & (np.abs(dca["fDcaZ"]) < 2)
        corrected += np.sum(1.0 / efficiency(pt[sel], eta[sel]))
        mcp = d["mcp"]
        ppt = np.hypot(mcp["fPx"], mcp["fPy"])
        peta = np.arcsinh(mcp["fPz"] / ppt)
        phys = (mcp["fFlags"] & 0x2) != 0
        charged = np.isin(np.abs(mcp["fPdgCode"]), CHARGED_STABLE)
        truth += np.sum(phys & charged & (np.abs(peta) < 0.5) & (ppt > 0.15))
        n_ev += len(d["mcc"]["fPosZ"])
        prim = phys[d["O2mctracklabel"]["fIndexMcParticles"]]
        rows.append((pt[prim], dca["fDcaXY"][prim], dca["fDcaZ"][prim]))
    print(
        f"dN/deta |eta|<0.5 pT>0.15: corrected {corrected / n_ev:.3f}, "
        f"PYTHIA truth {truth / n_ev:.3f}, ratio {corrected / truth:.4f}"
    )
    pt, dxy, dz = (np.concatenate([r[i] for r in rows]) for i in range(3))
    for lo, hi in ((0.5, 1.0), (1.0, 3.0), (3.0, 10.0)):
        m = (pt > lo) & (pt < hi) & (np.abs(dxy) < 0.1)
        print(
            f"DCA resolution primaries {lo}-{hi} GeV/c: sigma_xy "
            f"{1e4 * half_width_68(dxy[m]):.1f} um, sigma_z {1e4 * half_width_68(dz[m]):.1f} um "
            f"(n={m.sum()})"
        )
    dfs = list(frames(fast.paths()))
    for name, mp, mn, lo, hi, mu0, s0 in (
        ("K0S", M_PI, M_PI, 0.44, 0.56, 0.4976, 0.004),
        ("Lambda", M_P, M_PI, 1.09, 1.15, 1.1157, 0.002),
        ("anti-Lambda", M_PI, M_P, 1.09, 1.15, 1.1157, 0.002),
    ):
        mu, s = fit_peak(v0_masses(dfs, mp, mn), lo, hi, mu0, s0)
        print(f"{name}: mass {1e3 * mu:.2f} MeV/c2, width {1e3 * s:.2f} MeV/c2 (30000 fast events)")


if __name__ == "__main__":
    main(sys.argv[1])
