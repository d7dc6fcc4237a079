"""Physics truth checks on the demo data, with plain numpy on the written files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit

from hyperloop.analysis.schema import default_registry
from hyperloop.demo import Manifest, efficiency, expected_tpc_signal
from hyperloop.demo.detector import DCA_ITS_XY, TPC_SIGNAL_RESOLUTION

from .conftest import read_dataframes

pytestmark = pytest.mark.slow

M_PI, M_P = 0.13957039, 0.93827209
M_K0S_PDG, M_LAMBDA_PDG = 0.497611, 1.115683
# charged particles with c*tau > 1 cm: e, mu, pi, K, p, Sigma+-, Xi-, Omega-
CHARGED_STABLE = [11, 13, 211, 321, 2212, 3112, 3222, 3312, 3334]
NEGATIVE_PARTICLES = [11, 13, 3112, 3312, 3334]  # positive PDG code, negative charge


def _track_kinematics(trk: dict[str, np.ndarray]):
    """pt, eta, phi through the schema's own dynamic columns (what tasks will see)."""
    dyn = default_registry().get("Tracks").dynamic
    pt = dyn["pt"].func(trk["fSigned1Pt"]).astype(np.float64)
    eta = dyn["eta"].func(trk["fTgl"]).astype(np.float64)
    phi = dyn["phi"].func(trk["fSnp"], trk["fAlpha"]).astype(np.float64)
    return pt, eta, phi


def test_efficiency_corrected_dndeta_matches_pythia_truth(physics_mc: Manifest) -> None:
    corrected = truth = 0.0
    n_events = 0
    for df in read_dataframes(physics_mc.paths()):
        trk, dca = df["Tracks"], df["TracksDCA"]
        pt, eta, _ = _track_kinematics(trk)
        primary_like = np.abs(dca["fDcaXY"]) < 7 * np.hypot(DCA_ITS_XY[0], DCA_ITS_XY[1] / pt)
        sel = (np.abs(eta) < 0.5) & (pt > 0.15) & primary_like & (np.abs(dca["fDcaZ"]) < 2)
        corrected += np.sum(1.0 / efficiency(pt[sel], eta[sel]))
        mcp = df["O2mcparticle_001"]
        ppt = np.hypot(mcp["fPx"], mcp["fPy"])
        peta = np.arcsinh(mcp["fPz"] / ppt)
        phys = (mcp["fFlags"] & 0x2) != 0
        charged = np.isin(np.abs(mcp["fPdgCode"]), CHARGED_STABLE)
        truth += np.sum(phys & charged & (np.abs(peta) < 0.5) & (ppt > 0.15))
        n_events += len(df["O2mccollision_001"]["fPosZ"])  # all generated events (INEL)
    dndeta_meas, dndeta_true = corrected / n_events, truth / n_events
    # PYTHIA 8 Monash, pp 13.6 TeV INEL, pT > 0.15 GeV/c: about 5 per unit of eta
    assert 3.5 < dndeta_true < 7.0
    assert dndeta_meas == pytest.approx(dndeta_true, rel=0.03)


def test_reconstructed_fraction_follows_the_efficiency_function(physics_mc: Manifest) -> None:
    found = np.zeros(5)
    expected = np.zeros(5)
    edges = np.array([0.12, 0.2, 0.3, 0.5, 1.0, 3.0])
    for df in read_dataframes(physics_mc.paths()):
        mcp = df["O2mcparticle_001"]
        ppt = np.hypot(mcp["fPx"], mcp["fPy"])
        peta = np.arcsinh(mcp["fPz"] / ppt)
        gen = ((mcp["fFlags"] & 0x2) != 0) & np.isin(np.abs(mcp["fPdgCode"]), CHARGED_STABLE)
        gen &= np.abs(peta) < 0.8
        labels = df["O2mctracklabel"]["fIndexMcParticles"]
        reco = np.zeros(len(ppt), bool)
        reco[labels] = True
        # events without a reconstructed vertex lose their tracks: compare within the
        # reconstructed collisions' MC events only
        seen = np.zeros(len(df["O2mccollision_001"]["fPosZ"]), bool)
        seen[df["O2mccollisionlabel"]["fIndexMcCollisions"]] = True
        gen &= seen[mcp["fIndexMcCollisions"]]
        b = np.digitize(ppt[gen], edges) - 1
        ok = (b >= 0) & (b < 5)
        found += np.bincount(b[ok], weights=reco[gen][ok], minlength=5)
        expected += np.bincount(b[ok], weights=efficiency(ppt[gen], peta[gen])[ok], minlength=5)
    assert np.all(expected > 50)
    # the vertex requirement slightly favours events with found tracks: allow 5% + stats
    np.testing.assert_allclose(found / expected, 1.0, atol=0.05 + 3 / np.sqrt(expected).min())


def test_tracks_measure_their_particle_within_the_resolution(physics_mc: Manifest) -> None:
    (df, *_) = read_dataframes(physics_mc.paths()[:1])
    pt, eta, phi = _track_kinematics(df["Tracks"])
    mcp = df["O2mcparticle_001"]
    lab = df["O2mctracklabel"]["fIndexMcParticles"]
    tpt = np.hypot(mcp["fPx"], mcp["fPy"])[lab]
    rel = pt / tpt - 1
    assert abs(np.median(rel)) < 0.002 and 0.007 < np.std(rel[tpt < 1]) < 0.02
    assert np.all(np.abs(eta - np.arcsinh(mcp["fPz"][lab] / tpt)) < 0.1)
    dphi = np.angle(np.exp(1j * (phi - np.arctan2(mcp["fPy"][lab], mcp["fPx"][lab]))))
    assert np.all(np.abs(dphi) < 0.1)
    code = mcp["fPdgCode"][lab]
    charge = np.sign(code) * np.where(np.isin(np.abs(code), NEGATIVE_PARTICLES), -1, 1)
    assert np.array_equal(np.sign(df["Tracks"]["fSigned1Pt"]), charge)


def test_tpc_signal_is_bethe_bloch_with_five_percent_resolution(physics_mc: Manifest) -> None:
    ratios = {211: [], 2212: []}
    for df in read_dataframes(physics_mc.paths()):
        ext, mcp = df["O2trackextra_002"], df["O2mcparticle_001"]
        lab = df["O2mctracklabel"]["fIndexMcParticles"]
        pdg = np.abs(mcp["fPdgCode"][lab])
        p = ext["fTPCInnerParam"]
        for code, mass in ((211, M_PI), (2212, M_P)):
            sel = pdg == code
            ratios[code].append(ext["fTPCSignal"][sel] / expected_tpc_signal(p[sel], mass))
    for code, parts in ratios.items():
        r = np.concatenate(parts)
        assert len(r) > 200, code
        assert abs(np.mean(r) - 1) < 0.01
        assert np.std(r) == pytest.approx(TPC_SIGNAL_RESOLUTION, rel=0.15)


def _gauss_lin(x, a, mu, sigma, b0, b1):
    return a * np.exp(-0.5 * ((x - mu) / sigma) ** 2) + b0 + b1 * (x - mu)


def _v0_masses(dfs, m_pos: float, m_neg: float) -> np.ndarray:
    """Invariant mass of V0 candidates passing topological cuts, from the daughter tracks."""
    out = []
    for df in dfs:
        trk, v0, topo = df["Tracks"], df["O2v0_002"], df["O2demov0topo"]
        pt, _, phi = _track_kinematics(trk)
        mom = np.column_stack([pt * np.cos(phi), pt * np.sin(phi), pt * trk["fTgl"]])
        cuts = (
            (topo["fV0CosPA"] > 0.995) & (topo["fDCAV0Daughters"] < 0.5) & (topo["fV0Radius"] > 0.5)
        )
        p1, p2 = mom[v0["fIndexTracks_Pos"][cuts]], mom[v0["fIndexTracks_Neg"][cuts]]
        e = np.sqrt((p1**2).sum(1) + m_pos**2) + np.sqrt((p2**2).sum(1) + m_neg**2)
        out.append(np.sqrt(e**2 - ((p1 + p2) ** 2).sum(1)))
    return np.concatenate(out)


def _fit_peak(masses: np.ndarray, lo: float, hi: float, mu0: float, sigma0: float):
    h, edges = np.histogram(masses, bins=60, range=(lo, hi))
    x = 0.5 * (edges[1:] + edges[:-1])
    popt, _ = curve_fit(
        _gauss_lin, x, h, p0=(h.max(), mu0, sigma0, np.median(h), 0.0), sigma=np.sqrt(h + 1)
    )
    return popt[1], abs(popt[2]), popt[0]


@pytest.mark.parametrize("dataset", ["physics_mc", "fast_large"])
def test_k0s_peak_at_the_pdg_mass(dataset: str, request: pytest.FixtureRequest) -> None:
    manifest = request.getfixturevalue(dataset)
    masses = _v0_masses(read_dataframes(manifest.paths()), M_PI, M_PI)
    mu, sigma, height = _fit_peak(masses, 0.44, 0.56, 0.4976, 0.004)
    assert height > 10
    assert 0.001 < sigma < 0.010
    assert abs(mu - M_K0S_PDG) < sigma


def test_lambda_peaks_at_the_pdg_mass(fast_large: Manifest) -> None:
    dfs = read_dataframes(fast_large.paths())
    lam = _v0_masses(dfs, M_P, M_PI)  # Lambda -> p pi-: proton is the positive daughter
    anti = _v0_masses(dfs, M_PI, M_P)  # anti-Lambda -> anti-p pi+
    for masses in (lam, anti):
        mu, sigma, height = _fit_peak(masses, 1.09, 1.15, 1.1157, 0.002)
        assert height > 10
        assert 0.0003 < sigma < 0.005
        assert abs(mu - M_LAMBDA_PDG) < sigma
