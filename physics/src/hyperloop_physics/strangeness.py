"""Strange hadrons from V0 decays: K0S -> pi+ pi- and Lambda (anti-Lambda) -> p pi
invariant mass vs pT from V0 candidates, with topological and daughter-PID selections."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import (
    Configurable,
    ConfigurableAxis,
    LabelledMatrix,
    Variable,
)
from hyperloop.analysis.task import Task, process
from hyperloop_physics.kinematics import MASS_PION, MASS_PROTON, pair_mass


class Strangeness(Task):
    """K0S and Lambda reconstruction from V0 candidates (two opposite-charge tracks from a
    displaced vertex) in sel8 collisions. Topological cuts per species (cosine of the
    pointing angle, decay radius, DCA between the daughters) and TPC n-sigma cuts on the
    daughters (pid service); invariant mass vs pT for K0S, Lambda and anti-Lambda."""

    name = "strangeness"

    topoCuts = LabelledMatrix(
        [[0.995, 0.5, 100.0, 1.0], [0.995, 0.5, 100.0, 1.0]],
        "topological cuts per V0 species",
        rows=("K0S", "Lambda"),
        cols=("minCosPA", "minRadius", "maxRadius", "maxDcaDaughters"),
    )
    daughterPidCuts = LabelledMatrix(
        [[4.0], [4.0]],
        "maximum |n-sigma| of the daughters for their mass hypothesis, per species and detector",
        rows=("Pi", "Pr"),
        cols=("TPC",),
    )
    usePid = Configurable(True, "apply the daughter PID cuts")
    daughterEtaMax = Configurable(0.8, "maximum |eta| of the V0 daughters", min=0.0)
    rapidityMax = Configurable(0.5, "maximum |y| of the V0 under each mass hypothesis", min=0.0)
    binsPt = ConfigurableAxis(
        Variable([0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0]), "V0 pT binning (GeV/c)"
    )
    binsMassK0S = ConfigurableAxis((120, 0.44, 0.56), "K0S invariant mass binning (GeV/c^2)")
    binsMassLambda = ConfigurableAxis((100, 1.08, 1.18), "Lambda invariant mass binning (GeV/c^2)")

    STEPS = ("candidates", "sel8", "daughter eta", "K0S topo", "Lambda topo")

    def init(self) -> None:
        h = self.histos
        h.add("hCandidates", "V0 candidates;;V0s", [], categories=self.STEPS)
        h.add("hV0CosPA", "V0 candidates;cos(PA);V0s", [(200, 0.9, 1.0)])
        h.add("hV0Radius", "V0 candidates;R (cm);V0s", [(100, 0.0, 50.0)])
        h.add("hDcaV0Daughters", "V0 candidates;DCA daughters (cm);V0s", [(100, 0.0, 2.0)])
        mpt = "m_{inv} (GeV/#it{c}^{2});p_{T} (GeV/c)"
        h.add(
            "hMassK0S",
            "K^{0}_{S} #rightarrow #pi^{+}#pi^{-};" + mpt,
            [self.binsMassK0S, self.binsPt],
        )
        h.add(
            "hMassLambda", "#Lambda #rightarrow p#pi^{-};" + mpt, [self.binsMassLambda, self.binsPt]
        )
        h.add(
            "hMassAntiLambda",
            "#bar{#Lambda} #rightarrow #bar{p}#pi^{+};" + mpt,
            [self.binsMassLambda, self.binsPt],
        )

    def _topo(self, species: str, cospa, radius, dcadau) -> np.ndarray:
        c = self.topoCuts
        return (
            (cospa >= c.get(species, "minCosPA"))
            & (radius >= c.get(species, "minRadius"))
            & (radius <= c.get(species, "maxRadius"))
            & (dcadau <= c.get(species, "maxDcaDaughters"))
        )

    def _pid(self, nsigma: np.ndarray, species: str) -> np.ndarray:
        if not self.usePid:
            return np.ones(len(nsigma), dtype=bool)
        return np.abs(nsigma) < self.daughterPidCuts.get(species, "TPC")

    @process(
        V0s=[
            "fIndexCollisions",
            "fIndexTracks_Pos",
            "fIndexTracks_Neg",
        ],
        DemoV0Topologies=["fV0Radius", "fV0CosPA", "fDCAV0Daughters"],
        EvSels=["fSel8"],
        Tracks=["px", "py", "pz", "eta"],
        PIDTPC=["fTPCNSigmaPi", "fTPCNSigmaPr"],
    )
    def process(self, df) -> None:
        h = self.histos
        v0 = df.table("V0s").join("DemoV0Topologies")
        sel8 = df.table("EvSels")["fSel8"]
        cidx = v0["fIndexCollisions"].astype(np.int64)
        ok = cidx >= 0
        ok[ok] = sel8[cidx[ok]]
        pos = v0["fIndexTracks_Pos"].astype(np.int64)[ok]
        neg = v0["fIndexTracks_Neg"].astype(np.int64)[ok]
        cospa, radius, dcadau = v0["fV0CosPA"][ok], v0["fV0Radius"][ok], v0["fDCAV0Daughters"][ok]
        h["hV0CosPA"].fill(cospa)
        h["hV0Radius"].fill(radius)
        h["hDcaV0Daughters"].fill(dcadau)

        tracks = df.table("Tracks").join("PIDTPC")
        eta = tracks["eta"]
        in_eta = (np.abs(eta[pos]) < self.daughterEtaMax) & (np.abs(eta[neg]) < self.daughterEtaMax)
        px, py, pz = tracks["px"], tracks["py"], tracks["pz"]
        ppos = (px[pos], py[pos], pz[pos])
        pneg = (px[neg], py[neg], pz[neg])
        ns_pi, ns_pr = tracks["fTPCNSigmaPi"], tracks["fTPCNSigmaPr"]
        topo_k0s = in_eta & self._topo("K0S", cospa, radius, dcadau)
        topo_lam = in_eta & self._topo("Lambda", cospa, radius, dcadau)
        counts = [len(v0), len(pos), int(in_eta.sum()), int(topo_k0s.sum()), int(topo_lam.sum())]
        h["hCandidates"].fill(np.repeat(np.array(self.STEPS), counts))

        hypotheses = (
            ("hMassK0S", topo_k0s, MASS_PION, MASS_PION, "Pi", "Pi"),
            ("hMassLambda", topo_lam, MASS_PROTON, MASS_PION, "Pr", "Pi"),
            ("hMassAntiLambda", topo_lam, MASS_PION, MASS_PROTON, "Pi", "Pr"),
        )
        nsig = {"Pi": ns_pi, "Pr": ns_pr}
        pz_sum = ppos[2].astype(np.float64) + pneg[2]
        for hname, topo, mpos, mneg, sp_pos, sp_neg in hypotheses:
            mass, pt = pair_mass(ppos, mpos, pneg, mneg)
            energy = np.sqrt(mass**2 + pt**2 + pz_sum**2)
            with np.errstate(divide="ignore", invalid="ignore"):
                rap = 0.5 * np.log((energy + pz_sum) / (energy - pz_sum))
            keep = (
                topo
                & (np.abs(rap) < self.rapidityMax)
                & self._pid(nsig[sp_pos][pos], sp_pos)
                & self._pid(nsig[sp_neg][neg], sp_neg)
            )
            h[hname].fill(mass[keep], pt[keep])
