"""The workflows of my package (entry point ``hyperloop.workflows``): my task, and the
service workflow it depends on, taken from the collaboration's package."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import Configurable, ConfigurableAxis, Variable
from hyperloop.analysis.histograms import HistType
from hyperloop.analysis.task import BinningPolicy, SameKindPair, Task, process
from hyperloop.analysis.workflows import Workflow
from hyperloop_physics.workflows import WORKFLOWS as PHYSICS


class Sel8Spectra(Task):
    """pT and <pT> vs multiplicity of the tracks of collisions that pass the event selection
    (sel8), and the eta difference of track pairs, same-event and mixed-event."""

    name = "sel8-spectra"
    etaMax = Configurable(0.8, "maximum |eta| of the tracks", min=0.0)
    binsPt = ConfigurableAxis((50, 0.0, 5.0), "pT binning (GeV/c)")
    binsMult = ConfigurableAxis((40, -0.5, 39.5), "selected tracks per collision")
    nMix = Configurable(2, "collisions of the same bin mixed with each (O2: nMix)", min=1)
    binsVtxZ = ConfigurableAxis(Variable([-10.0, -5.0, 0.0, 5.0, 10.0]), "mixing bins in z")

    def init(self) -> None:
        self.histos.add("hPt", "tracks of sel8 collisions;p_{T} (GeV/c);tracks", [self.binsPt])
        self.histos.add("hSel8", "collisions;sel8;collisions", [(2, -0.5, 1.5)])
        # O2: histos.add("pMeanPt", "...", {HistType::kTProfile, {axisMult}})
        self.histos.add(
            "pMeanPt",
            "<p_{T}> vs multiplicity;N_{tracks};<p_{T}> (GeV/c)",
            [self.binsMult],
            HistType.kTProfile,
        )
        deta = [(40, -2.0, 2.0)]
        self.histos.add("hDEtaSame", "same event;#Delta#eta;pairs", deta)
        self.histos.add("hDEtaMixed", "mixed event;#Delta#eta;pairs", deta)
        # O2: SameKindPair<Collisions, Tracks, ColumnBinningPolicy<PosZ>> pair{binning, nMix}
        self.mixing = SameKindPair(BinningPolicy(fPosZ=self.binsVtxZ), depth=self.nMix)
        if self.processMc:  # O2: if (doprocessMc) — booked only when the switch is on
            self.histos.add("hMcPt", "generated primaries;p_{T} (GeV/c);particles", [self.binsPt])
            self.histos.add(
                "hMcRecPt", "reconstructed primaries;p_{T}^{gen} (GeV/c);tracks", [self.binsPt]
            )

    @process(
        EvSels=["fSel8"],  # produced by the service workflow event-selection
        Collisions=["fPosZ"],
        Tracks=["fIndexCollisions", "pt", "eta"],
    )
    def process(self, df) -> None:
        sel8 = df.table("EvSels")["fSel8"]
        self.histos["hSel8"].fill(sel8.astype(np.int64))
        tracks = df.table("Tracks")
        tracks = tracks.select(tracks.has("Collisions"))
        ok = sel8[tracks.index("Collisions")] & (np.abs(tracks["eta"]) < self.etaMax)
        tracks = tracks.select(ok)
        self.histos["hPt"].fill(tracks["pt"])

        # <pT> vs the number of selected tracks of the track's collision (O2: a SliceBy loop)
        per_collision = tracks.grouped_by("Collisions")
        mult = per_collision.per_row(per_collision.counts)
        self.histos["pMeanPt"].fill(mult, tracks["pt"])  # positions, then values

        # same event: pairs of tracks of one collision; mixed event: tracks of two sel8
        # collisions of the same vertex-z bin (O2: for (auto& [c1, t1, c2, t2] : pair))
        eta = tracks["eta"]
        first, second = per_collision.pairs()
        self.histos["hDEtaSame"].fill(eta[first] - eta[second])
        collisions = df.table("Collisions")
        mixed = self.mixing.mix(collisions.select(sel8), tracks)
        self.histos["hDEtaMixed"].fill(eta[mixed.first] - eta[mixed.second])

    @process(
        McParticles=["pt", "isPhysicalPrimary"],
        Tracks=["eta"],
        McTrackLabels=["fIndexMcParticles"],
        default=False,
    )
    def processMc(self, df) -> None:
        """Generated primaries and the tracks matched to them through their MC labels, at
        the generated pT: their ratio is the tracking efficiency (MC productions only:
        switch on with "processMc": "true")."""
        particles = df.table("McParticles")
        self.histos["hMcPt"].fill(particles["pt"][particles["isPhysicalPrimary"]])
        # MC matching: track -> McTrackLabels -> McParticles (O2: track.mcParticle())
        tracks = df.table("Tracks").join("McTrackLabels")  # O2: soa::Join<Tracks, McTrackLabels>
        matched = tracks.select(tracks.has("McParticles"))  # O2: track.has_mcParticle()
        matched = matched.select(np.abs(matched["eta"]) < self.etaMax)
        truth = matched.follow("McParticles")
        self.histos["hMcRecPt"].fill(truth["pt"][truth["isPhysicalPrimary"]])


SERVICES = [wf for wf in PHYSICS if wf.name == "event-selection"]

WORKFLOWS = [
    *SERVICES,  # the services my workflow needs: a train runs the tables of one tag
    Workflow("sel8-spectra", (Sel8Spectra,), doc="pT spectra of sel8 collisions."),
]
