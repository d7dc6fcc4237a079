"""Ultra-peripheral collisions: exclusive rho0 -> pi+ pi- photoproduction on the UD
derived tables (UDCollisions, UDTracks, UDTracksPID)."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import (
    Configurable,
    ConfigurableAxis,
    LabelledMatrix,
    Variable,
)
from hyperloop.analysis.task import Task, process
from hyperloop_physics.kinematics import MASS_PION, pair_mass

SPECIES = ("Pi", "El", "Ka", "Pr")


class UdRho(Task):
    """Exclusive rho0 -> pi+ pi- in ultra-peripheral collisions: UD events with exactly two
    tracks of opposite charge, both compatible with the pion hypothesis (|n-sigma_pi| below
    the Pi row of pidCuts; the other rows veto electrons, kaons, protons when > 0), vertex
    |z| < maxVertexZ. Fills the pi+pi- invariant mass, the pair pT and the mass of coherent
    candidates (pair pT < maxPairPtCoherent)."""

    name = "ud-rho"

    pidCuts = LabelledMatrix(
        [[3.0, -1.0], [0.0, -1.0], [0.0, -1.0], [0.0, -1.0]],
        "n-sigma cuts per species and detector: Pi row = maximum |n-sigma| required for both "
        "tracks; other rows = veto tracks with |n-sigma| below the value (<= 0: off)",
        rows=SPECIES,
        cols=("TPC", "TOF"),
    )
    maxVertexZ = Configurable(15.0, "maximum |z| of the UD vertex (cm)", min=0.0)
    requireZeroNetCharge = Configurable(
        True, "require opposite-sign tracks (false: also like-sign)"
    )
    minTrackPt = Configurable(0.1, "minimum pT of each track (GeV/c)", min=0.0)
    maxTrackEta = Configurable(0.9, "maximum |eta| of each track", min=0.0)
    maxPairPtCoherent = Configurable(0.2, "pair pT limit of coherent candidates (GeV/c)", min=0.0)
    binsMass = ConfigurableAxis((100, 0.0, 2.0), "pi+pi- invariant mass binning (GeV/c^2)")
    binsPairPt = ConfigurableAxis(
        Variable([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0]),
        "pair pT binning (GeV/c)",
    )

    STEPS = ("UD collisions", "vertex z", "two tracks", "track cuts", "charge", "pion PID")

    def init(self) -> None:
        h = self.histos
        h.add("hSelection", "event selection;;events", [], categories=self.STEPS)
        h.add(
            "hMass", "#pi^{+}#pi^{-} candidates;m_{#pi#pi} (GeV/#it{c}^{2});pairs", [self.binsMass]
        )
        h.add(
            "hMassCoherent",
            "coherent #pi^{+}#pi^{-} candidates;m_{#pi#pi} (GeV/#it{c}^{2});pairs",
            [self.binsMass],
        )
        h.add("hPairPt", "#pi^{+}#pi^{-} candidates;p_{T} (GeV/c);pairs", [self.binsPairPt])
        h.add(
            "hMassVsPt",
            "#pi^{+}#pi^{-} candidates;m_{#pi#pi} (GeV/#it{c}^{2});p_{T} (GeV/c)",
            [self.binsMass, self.binsPairPt],
        )
        h.add(
            "hNSigmaPi",
            "tracks of two-track events;n#sigma^{TPC}_{#pi};tracks",
            [(100, -10.0, 10.0)],
        )

    def _pid_ok(self, t, rows: np.ndarray) -> np.ndarray:
        """Pion hypothesis accepted (and other species not vetoed) for the given track rows."""
        ok = np.ones(len(rows), dtype=bool)
        cuts = self.pidCuts
        for det in ("TPC", "TOF"):
            pi_cut = cuts.get("Pi", det)
            if pi_cut > 0:
                ok &= np.abs(t[f"f{det}NSigmaPi"][rows]) < pi_cut
            for sp in SPECIES[1:]:
                veto = cuts.get(sp, det)
                if veto > 0:
                    ok &= np.abs(t[f"f{det}NSigma{sp}"][rows]) >= veto
        return ok

    @process(
        UDCollisions=["fPosZ"],
        UDTracks=["fIndexUDCollisions", "fPx", "fPy", "fPz", "fSign", "pt", "eta"],
        UDTracksPID=[f"f{d}NSigma{s}" for d in ("TPC", "TOF") for s in SPECIES],
    )
    def process(self, df) -> None:
        h = self.histos
        coll = df.table("UDCollisions")
        n = len(coll)
        t = df.table("UDTracks").join("UDTracksPID")
        idx = t["fIndexUDCollisions"].astype(np.int64)
        counts = np.bincount(idx[idx >= 0], minlength=n)[:n]
        good_z = np.abs(coll["fPosZ"]) < self.maxVertexZ
        two = good_z & (counts == 2)
        # the two tracks of each selected collision, first and second in file order
        rows = np.flatnonzero((idx >= 0) & two[np.maximum(idx, 0)])
        rows = rows[np.argsort(idx[rows], kind="stable")]
        first, second = rows[0::2], rows[1::2]
        trk_ok = (t["pt"] >= self.minTrackPt) & (np.abs(t["eta"]) < self.maxTrackEta)
        pass_trk = trk_ok[first] & trk_ok[second]
        sign = t["fSign"]
        pass_charge = pass_trk & (
            (sign[first] * sign[second] < 0) | (not self.requireZeroNetCharge)
        )
        h["hNSigmaPi"].fill(t["fTPCNSigmaPi"][rows])
        pass_pid = pass_charge & self._pid_ok(t, first) & self._pid_ok(t, second)
        steps = [
            n,
            int(good_z.sum()),
            len(first),
            int(pass_trk.sum()),
            int(pass_charge.sum()),
            int(pass_pid.sum()),
        ]
        h["hSelection"].fill(np.repeat(np.array(self.STEPS), steps))

        a, b = first[pass_pid], second[pass_pid]
        px, py, pz = t["fPx"], t["fPy"], t["fPz"]
        mass, pair_pt = pair_mass(
            (px[a], py[a], pz[a]), MASS_PION, (px[b], py[b], pz[b]), MASS_PION
        )
        h["hMass"].fill(mass)
        h["hPairPt"].fill(pair_pt)
        h["hMassVsPt"].fill(mass, pair_pt)
        h["hMassCoherent"].fill(mass[pair_pt < self.maxPairPtCoherent])
