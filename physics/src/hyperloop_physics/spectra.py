"""Charged-particle spectra (pT, eta, phi per multiplicity class), on the full AO2D with the
service tables or on the skimmed derived tables, and the MC closure (generated primaries vs
reconstructed tracks) used to correct and validate dN/deta."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import Configurable, ConfigurableAxis, FixedArray, Variable
from hyperloop.analysis.task import Task, process
from hyperloop_physics.kinematics import is_charged, tracking_efficiency

PT_EDGES = [
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    1.0,
    1.2,
    1.5,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    7.0,
    10.0,
    20.0,
]


class _SpectraBase(Task):
    """Shared configurables and histograms of the spectra tasks (full and skimmed data)."""

    etaMax = Configurable(0.8, "maximum |eta| of the tracks", min=0.0)
    binsPt = ConfigurableAxis(Variable(PT_EDGES), "pT binning (GeV/c)")
    binsEta = ConfigurableAxis((16, -0.8, 0.8), "eta binning")
    binsPhi = ConfigurableAxis((36, 0.0, 2 * np.pi), "phi binning (rad)")
    binsMultClass = ConfigurableAxis((8, -1.5, 6.5), "multiplicity class binning (-1: none)")

    def init(self) -> None:
        h = self.histos
        h.add("hEvents", "selected collisions;multiplicity class;collisions", [self.binsMultClass])
        h.add("hVertexZ", "selected collisions;z_{vtx} (cm);collisions", [(60, -15.0, 15.0)])
        h.add(
            "hPt",
            "charged particles;p_{T} (GeV/c);multiplicity class",
            [self.binsPt, self.binsMultClass],
        )
        h.add(
            "hEta", "charged particles;#eta;multiplicity class", [self.binsEta, self.binsMultClass]
        )
        h.add(
            "hPhi",
            "charged particles;#varphi (rad);multiplicity class",
            [self.binsPhi, self.binsMultClass],
        )
        h.add("hEtaPhi", "charged particles;#eta;#varphi (rad)", [self.binsEta, self.binsPhi])

    def fill(self, vtx_z, klass, track_coll, pt, eta, phi) -> None:
        """Fill from selected collisions (z, class) and their tracks (collision row, kinematics)."""
        keep = np.abs(eta) < self.etaMax
        tclass = klass[track_coll[keep]]
        pt, eta, phi = pt[keep], eta[keep], phi[keep]
        h = self.histos
        h["hEvents"].fill(klass)
        h["hVertexZ"].fill(vtx_z)
        h["hPt"].fill(pt, tclass)
        h["hEta"].fill(eta, tclass)
        h["hPhi"].fill(phi, tclass)
        h["hEtaPhi"].fill(eta, phi)


class SpectraCharged(_SpectraBase):
    """Charged-particle pT, eta and phi distributions of global tracks in sel8 collisions,
    per multiplicity class (needs the event-selection, track-selection and multiplicity
    services); hEvents counts the collisions per class for the per-event normalisation."""

    name = "spectra-charged"
    useSel8 = Configurable(True, "analyse only collisions passing sel8")

    @process(
        Collisions=["fPosZ"],
        EvSels=["fSel8"],
        Mults=["fMultClass"],
        Tracks=["pt", "eta", "phi", "fIndexCollisions"],
        TrackSelection=["fIsGlobalTrack"],
    )
    def process(self, df) -> None:
        coll = df.table("Collisions").join("EvSels", "Mults")
        n = len(coll)
        selected = coll["fSel8"] if self.useSel8 else np.ones(n, dtype=bool)
        tracks = df.table("Tracks").join("TrackSelection")
        idx = tracks["fIndexCollisions"].astype(np.int64)
        ok = tracks["fIsGlobalTrack"] & (idx >= 0)
        ok[ok] = selected[idx[ok]]
        # renumber collisions to the selected ones so tracks index the selected arrays
        new_index = np.cumsum(selected) - 1
        self.fill(
            coll["fPosZ"][selected],
            coll["fMultClass"][selected],
            new_index[idx[ok]],
            tracks["pt"][ok],
            tracks["eta"][ok],
            tracks["phi"][ok],
        )


class SpectraSkimmed(_SpectraBase):
    """The spectra analysis on the skimmed tables written by skim-tracks (a derived dataset):
    gives the same histograms as spectra-charged on the parent data."""

    name = "spectra-skimmed"

    @process(
        SkimCollisions=["fPosZ", "fMultClass"],
        SkimTracks=["fIndexSkimCollisions", "fPt", "fEta", "fPhi"],
    )
    def process(self, df) -> None:
        coll = df.table("SkimCollisions")
        tracks = df.table("SkimTracks")
        idx = tracks["fIndexSkimCollisions"].astype(np.int64)
        ok = idx >= 0
        self.fill(
            coll["fPosZ"],
            coll["fMultClass"],
            idx[ok],
            tracks["fPt"][ok],
            tracks["fEta"][ok],
            tracks["fPhi"][ok],
        )


class McSpectra(Task):
    """MC closure of the charged-particle measurement: generated charged physical primaries
    (McParticles) vs reconstructed global tracks in sel8 collisions. hRecoEtaCorrected
    weights each track by 1/efficiency(pT, eta) from the parametrised tracking efficiency
    (efficiencyParams), so hRecoEtaCorrected / selected collisions / bin width is the
    measured dN/deta (pT > ptMin), to compare with hGenEtaSelPtMin / the same collisions.
    hRecoPrimPt / hGenPt is the efficiency measured from the MC labels."""

    name = "mc-spectra"

    etaMax = Configurable(0.8, "maximum |eta| for the pT spectra", min=0.0)
    ptMin = Configurable(0.15, "lower pT of the dN/deta comparison (GeV/c)", min=0.0)
    efficiencyParams = FixedArray(
        [0.8, 0.06, 0.1, 0.05, 0.9],
        "tracking efficiency eps = a (1 - exp(-(pT - pT0) / s)) (1 - c (eta / eta0)^2) as "
        "[a, s (GeV/c), pT0 (GeV/c), c, eta0]",
    )
    binsPt = ConfigurableAxis(Variable(PT_EDGES), "pT binning (GeV/c)")
    binsEta = ConfigurableAxis((20, -1.0, 1.0), "eta binning")

    EVENT_LABELS = ("generated", "generated with selected reco", "selected reco")

    def init(self) -> None:
        h = self.histos
        h.add("hEvents", "collisions;;collisions", [], categories=self.EVENT_LABELS)
        h.add(
            "hGenEta",
            "generated charged primaries, all MC collisions;#eta;particles",
            [self.binsEta],
        )
        h.add(
            "hGenEtaSel",
            "generated charged primaries in MC collisions with a selected reconstructed collision;#eta;particles",
            [self.binsEta],
        )
        h.add(
            "hGenEtaSelPtMin",
            "generated charged primaries with pT > ptMin in MC collisions with a selected reconstructed collision;#eta;particles",
            [self.binsEta],
        )
        h.add("hRecoEta", "global tracks in sel8 collisions;#eta;tracks", [self.binsEta])
        h.add(
            "hRecoEtaCorrected",
            "global tracks weighted by 1/efficiency;#eta;tracks",
            [self.binsEta],
            weighted=True,
        )
        h.add("hRecoPrimEta", "global tracks from charged primaries;#eta;tracks", [self.binsEta])
        h.add(
            "hGenPt",
            "generated charged primaries (|#eta|<etaMax);p_{T} (GeV/c);particles",
            [self.binsPt],
        )
        h.add("hRecoPt", "global tracks (|#eta|<etaMax);p_{T} (GeV/c);tracks", [self.binsPt])
        h.add(
            "hRecoPrimPt",
            "global tracks from charged primaries (generated p_{T});p_{T} (GeV/c);tracks",
            [self.binsPt],
        )

    @process(
        McCollisions=["fPosZ"],
        McParticles=["pt", "eta", "fPdgCode", "isPhysicalPrimary", "fIndexMcCollisions"],
        Collisions=["fPosZ"],
        EvSels=["fSel8"],
        McCollisionLabels=["fIndexMcCollisions"],
        Tracks=["pt", "eta", "fIndexCollisions"],
        TrackSelection=["fIsGlobalTrack"],
        McTrackLabels=["fIndexMcParticles"],
    )
    def process(self, df) -> None:
        h = self.histos
        n_mc = len(df.table("McCollisions"))
        coll = df.table("Collisions").join("EvSels", "McCollisionLabels")
        sel = coll["fSel8"]
        mc_of_coll = coll["fIndexMcCollisions"].astype(np.int64)
        mc_has_sel = np.zeros(n_mc, dtype=bool)
        mc_has_sel[mc_of_coll[sel & (mc_of_coll >= 0)]] = True

        parts = df.table("McParticles")
        prim = parts["isPhysicalPrimary"] & is_charged(parts["fPdgCode"])
        pmc = parts["fIndexMcCollisions"].astype(np.int64)
        geta, gpt = parts["eta"], parts["pt"]
        in_sel = np.zeros(len(parts), dtype=bool)
        valid = pmc >= 0
        in_sel[valid] = mc_has_sel[pmc[valid]]
        h["hGenEta"].fill(geta[prim])
        h["hGenEtaSel"].fill(geta[prim & in_sel])
        h["hGenEtaSelPtMin"].fill(geta[prim & in_sel & (gpt > self.ptMin)])
        acc = prim & in_sel & (np.abs(geta) < self.etaMax)
        h["hGenPt"].fill(gpt[acc])

        tracks = df.table("Tracks").join("TrackSelection", "McTrackLabels")
        tidx = tracks["fIndexCollisions"].astype(np.int64)
        ok = tracks["fIsGlobalTrack"] & (tidx >= 0)
        ok[ok] = sel[tidx[ok]]
        reta, rpt = tracks["eta"][ok], tracks["pt"][ok]
        label = tracks["fIndexMcParticles"][ok].astype(np.int64)
        from_prim = np.zeros(len(label), dtype=bool)
        has_label = label >= 0
        from_prim[has_label] = prim[label[has_label]]
        h["hRecoEta"].fill(reta)
        above = rpt > self.ptMin
        eff = tracking_efficiency(rpt[above], reta[above], self.efficiencyParams)
        with np.errstate(divide="ignore"):
            weight = np.where(eff > 0, 1.0 / eff, 0.0)
        h["hRecoEtaCorrected"].fill(reta[above], weight=weight)
        h["hRecoPrimEta"].fill(reta[from_prim])
        central = np.abs(reta) < self.etaMax
        h["hRecoPt"].fill(rpt[central])
        matched = from_prim.copy()
        matched[from_prim] = np.abs(geta[label[from_prim]]) < self.etaMax
        h["hRecoPrimPt"].fill(gpt[label[matched]])
        counts = [n_mc, int(mc_has_sel.sum()), int(sel.sum())]
        h["hEvents"].fill(np.repeat(np.array(self.EVENT_LABELS), counts))
