"""Small test workflows, installed by the grid tests as a package tag directory.

Each misbehaves on purpose when asked: raise, eat memory, never end, or work slowly
(so a worker can be killed mid-job).
"""

from __future__ import annotations

import time

import numpy as np

from hyperloop.analysis.configurables import Configurable
from hyperloop.analysis.schema import TableSchema
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow

SKIM = TableSchema(
    "GtSkimTracks",
    "O2gtskimtrack",
    {"fPt": "float32", "fIndexCollisions": "int32"},
    index_columns={"fIndexCollisions": "Collisions"},
)


class GtPt(Task):
    """pT of all tracks and the vertex z of collisions; optionally slow."""

    name = "gt-pt"
    sleepPerDf = Configurable(0.0, "seconds to sleep per dataframe (to make jobs last)")

    def init(self):
        self.histos.add("hPt", "pT;p_{T} (GeV/c);tracks", [(50, 0.0, 5.0)])
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Tracks=["pt"], Collisions=["fPosZ"])
    def process(self, df):
        if self.sleepPerDf > 0:
            time.sleep(self.sleepPerDf)
        self.histos["hPt"].fill(df.table("Tracks")["pt"])
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])


class GtRaise(Task):
    """Raises on the first dataframe."""

    name = "gt-raise"

    def init(self):
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        self.check_vertex(df.table("Collisions")["fPosZ"])

    def check_vertex(self, z):
        raise ValueError(f"deliberate failure on {len(z)} collisions")


class GtMemory(Task):
    """Holds ``allocMb`` MB of touched memory while processing."""

    name = "gt-memory"
    allocMb = Configurable(300, "MB to allocate and keep")
    holdS = Configurable(1.0, "seconds to hold the memory on the first dataframe")

    def init(self):
        self.keep = []
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        if not self.keep:
            self.keep.append(np.ones(self.allocMb * 1024 * 1024 // 8))
            time.sleep(self.holdS)
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])


class GtHold(Task):
    """Holds ``holdMb`` MB (10^6 bytes, touched) from ``init`` to the end of the run: a wagon
    whose memory is larger than the others' by that much; optionally slow."""

    name = "gt-hold"
    holdMb = Configurable(300, "MB (10^6 bytes) allocated in init and held to the end")
    sleepPerDf = Configurable(0.0, "seconds to sleep per dataframe (to make the test last)")

    def init(self):
        self.block = np.ones(int(self.holdMb) * 10**6 // 8)
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        if self.sleepPerDf > 0:
            time.sleep(self.sleepPerDf)
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])


class GtWeighted(Task):
    """Fills weighted histograms (weights that are not integers): their sums depend on the
    order of the additions, so they show whether outputs are bit-identical."""

    name = "gt-weighted"

    def init(self):
        self.histos.add("hPtW", "pT weighted;p_{T} (GeV/c);sum of weights", [(50, 0.0, 5.0)])
        self.histos.add(
            "hPtWS", "pT weighted;p_{T} (GeV/c);sum of weights", [(50, 0.0, 5.0)], weighted=True
        )

    @process(Tracks=["pt"])
    def process(self, df):
        pt = df.table("Tracks")["pt"]
        w = 1.0 / (1.0 + np.asarray(pt, dtype=np.float64) ** 2) + 0.1
        self.histos["hPtW"].fill(pt, weight=w)
        self.histos["hPtWS"].fill(pt, weight=w * np.pi)


class GtForever(Task):
    """Never ends."""

    name = "gt-forever"

    @process(Collisions=["fPosZ"])
    def process(self, df):
        while True:
            time.sleep(1)


class GtSkim(Task):
    """Keeps tracks above 1 GeV/c as a derived table."""

    name = "gt-skim"
    produces = (SKIM,)

    @process(Tracks=["pt", "fIndexCollisions"])
    def process(self, df):
        t = df.table("Tracks")
        keep = t["pt"] > 1.0
        df.produce(SKIM, fPt=t["pt"][keep], fIndexCollisions=t["fIndexCollisions"][keep])


WORKFLOWS = [
    Workflow("gt-pt", (GtPt,), "pt spectrum"),
    Workflow("gt-raise", (GtRaise,), "raises"),
    Workflow("gt-memory", (GtMemory,), "eats memory"),
    Workflow("gt-hold", (GtHold,), "holds memory from init to the end"),
    Workflow("gt-weighted", (GtWeighted,), "weighted histograms"),
    Workflow("gt-forever", (GtForever,), "never ends"),
    Workflow("gt-skim", (GtSkim,), "derived skim"),
]
