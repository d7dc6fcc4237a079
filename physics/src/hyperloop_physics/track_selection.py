"""Track selection service: kinematic acceptance and track-quality cuts defining the
"global tracks" every analysis of the package uses."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import Configurable, ConfigurableAxis, FixedArray
from hyperloop.analysis.task import Task, process
from hyperloop_physics.tables import TRACK_SELECTION

CUT_PT = 1 << 0
CUT_ETA = 1 << 1
CUT_TPC_ROWS = 1 << 2
CUT_TPC_CHI2 = 1 << 3
CUT_ITS_CLS = 1 << 4
CUT_ITS_CHI2 = 1 << 5
CUT_DCA_XY = 1 << 6
CUT_DCA_Z = 1 << 7


class TrackSelection(Task):
    """Global-track selection: pT and eta acceptance; at least minTPCCrossedRows TPC crossed
    rows, TPC and ITS chi2 per cluster below their maxima, at least minITSClusters ITS
    clusters, and DCA to the primary vertex below maxDcaXY (transverse) and maxDcaZ
    (longitudinal). Produces TrackSelection (fIsGlobalTrack, ...) with a bit per passed cut."""

    name = "track-selection"
    produces = (TRACK_SELECTION,)

    ptMin = Configurable(0.15, "minimum pT (GeV/c)", min=0.0)
    ptMax = Configurable(1000.0, "maximum pT (GeV/c)", min=0.0)
    etaRange = FixedArray([-0.8, 0.8], "pseudorapidity acceptance [min, max]")
    minTPCCrossedRows = Configurable(70, "minimum number of TPC crossed rows", min=0)
    maxChi2PerClusterTPC = Configurable(4.0, "maximum TPC chi2 per cluster", min=0.0)
    minITSClusters = Configurable(1, "minimum number of ITS clusters", min=0, max=7)
    maxChi2PerClusterITS = Configurable(36.0, "maximum ITS chi2 per cluster", min=0.0)
    maxDcaXY = Configurable(0.1, "maximum |DCA_xy| to the primary vertex (cm)", min=0.0)
    maxDcaZ = Configurable(2.0, "maximum |DCA_z| to the primary vertex (cm)", min=0.0)
    applyQualityCuts = Configurable(
        True, "global tracks need the quality cuts (false: acceptance only)"
    )
    binsPt = ConfigurableAxis((100, 0.0, 10.0), "pT binning of the QA histograms (GeV/c)")

    CUT_NAMES = ("pt", "eta", "TPC rows", "TPC chi2", "ITS clusters", "ITS chi2", "DCA xy", "DCA z")

    def init(self) -> None:
        lo, hi = self.etaRange
        if not lo < hi:
            raise ValueError(
                f"task {self.instance_name}: etaRange must be [min, max] with min < max, "
                f"got {list(self.etaRange)}"
            )
        self.histos.add(
            "hCutFlow",
            "tracks passing each cut;cut;tracks",
            [],
            categories=("all", *self.CUT_NAMES, "global"),
        )
        self.histos.add("hPtAll", "all tracks;p_{T} (GeV/c);tracks", [self.binsPt])
        self.histos.add("hPtGlobal", "global tracks;p_{T} (GeV/c);tracks", [self.binsPt])

    @process(
        Tracks=["pt", "eta"],
        TracksExtra=[
            "tpcNClsCrossedRows",
            "itsNCls",
            "fTPCChi2NCl",
            "fITSChi2NCl",
        ],
        TracksDCA=["fDcaXY", "fDcaZ"],
    )
    def process(self, df) -> None:
        t = df.table("Tracks").join("TracksExtra", "TracksDCA")
        pt, eta = t["pt"], t["eta"]
        lo, hi = self.etaRange
        cuts = [
            (CUT_PT, (pt >= self.ptMin) & (pt < self.ptMax)),
            (CUT_ETA, (eta >= lo) & (eta <= hi)),
            (CUT_TPC_ROWS, t["tpcNClsCrossedRows"] >= self.minTPCCrossedRows),
            (CUT_TPC_CHI2, t["fTPCChi2NCl"] <= self.maxChi2PerClusterTPC),
            (CUT_ITS_CLS, t["itsNCls"] >= self.minITSClusters),
            (CUT_ITS_CHI2, t["fITSChi2NCl"] <= self.maxChi2PerClusterITS),
            (CUT_DCA_XY, np.abs(t["fDcaXY"]) <= self.maxDcaXY),
            (CUT_DCA_Z, np.abs(t["fDcaZ"]) <= self.maxDcaZ),
        ]
        flag = np.zeros(len(t), dtype=np.uint16)
        for bit, passed in cuts:
            flag |= np.where(passed, np.uint16(bit), np.uint16(0))
        acceptance = cuts[0][1] & cuts[1][1]
        quality = np.logical_and.reduce([passed for _, passed in cuts[2:]])
        is_global = acceptance & (quality | (not self.applyQualityCuts))
        df.produce(
            TRACK_SELECTION,
            fIsGlobalTrack=is_global,
            fIsInAcceptance=acceptance,
            fIsQualityTrack=quality,
            fTrackCutFlag=flag,
        )
        counts = [len(t), *(int(passed.sum()) for _, passed in cuts), int(is_global.sum())]
        labels = np.array(["all", *self.CUT_NAMES, "global"])
        self.histos["hCutFlow"].fill(np.repeat(labels, counts))
        self.histos["hPtAll"].fill(pt)
        self.histos["hPtGlobal"].fill(pt[is_global])
