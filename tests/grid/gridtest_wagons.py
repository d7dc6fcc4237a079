"""Small test workflows, installed by the grid tests as a package tag directory.

Each misbehaves on purpose when asked: raise, eat memory, never end, fill the disk, or
work slowly (so a worker can be killed mid-job).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

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


class GtForever(Task):
    """Never ends."""

    name = "gt-forever"

    @process(Collisions=["fPosZ"])
    def process(self, df):
        while True:
            time.sleep(1)


class GtDiskFull(Task):
    """While the file ``fullWhile`` exists, the disk of the attempt is "full" when the
    attempt writes its verdict: ``.record.json.tmp`` in the attempt folder (the working
    directory) becomes a link to ``/dev/full``, so the attempt itself raises ``OSError``
    ENOSPC (the kernel's own) after the job ran. Fills a vertex histogram otherwise."""

    name = "gt-disk-full"
    fullWhile = Configurable("", "path of a file whose presence makes the disk full")

    def init(self):
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])
        if self.fullWhile and Path(self.fullWhile).exists():
            os.symlink("/dev/full", ".record.json.tmp")

    @process(Collisions=["fPosZ"])
    def process(self, df):
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])


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
    Workflow("gt-forever", (GtForever,), "never ends"),
    Workflow("gt-skim", (GtSkim,), "derived skim"),
    Workflow("gt-disk-full", (GtDiskFull,), "the disk is full while a file exists"),
]
