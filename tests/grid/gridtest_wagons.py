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


SKIM_EVENTS = TableSchema("GtSkimEvents", "O2gtskimevent", {"fPosZ": "float32"})
SKIM_BOUND = TableSchema(
    "GtSkimBoundTracks",
    "O2gtskimboundtrack",
    {"fPt": "float32", "fIndexGtSkimEvents": "int32"},
    index_columns={"fIndexGtSkimEvents": "GtSkimEvents"},
)


class GtSkimBound(Task):
    """A skim of collisions and of their tracks above 1 GeV/c, the tracks indexing the
    skimmed collisions: saving both tables leaves no index unbound (SPEC §4 warning 8)."""

    name = "gt-skim-bound"
    produces = (SKIM_EVENTS, SKIM_BOUND)

    @process(Tracks=["pt", "fIndexCollisions"], Collisions=["fPosZ"])
    def process(self, df):
        t = df.table("Tracks")
        keep = t["pt"] > 1.0
        df.produce(SKIM_EVENTS, fPosZ=df.table("Collisions")["fPosZ"])
        df.produce(SKIM_BOUND, fPt=t["pt"][keep], fIndexGtSkimEvents=t["fIndexCollisions"][keep])


class GtConditions(Task):
    """Reads a calibration from the conditions database per dataframe: with its per-job
    cache one call per job, without (``useCache`` false) ``callsPerDf`` calls per dataframe,
    too many for a test (SPEC §4 warning 4)."""

    name = "gt-conditions"
    useCache = Configurable(True, "keep fetched objects for the job (as O2's CCDB manager)")
    callsPerDf = Configurable(1, "requests per dataframe")

    def init(self):
        self.histos.add("hGain", "gain;gain;dataframes", [(10, 0.0, 100.0)])

    @process(BCs=["fRunNumber", "fGlobalBC"])
    def process(self, df):
        from hyperloop.analysis import ccdb
        from hyperloop.analysis.conditions import BETHE_BLOCH_PATH, bc_timestamp_ms

        bcs = df.table("BCs")
        run = int(bcs["fRunNumber"][0]) if len(bcs["fRunNumber"]) else 0
        when = int(bc_timestamp_ms(run, bcs["fGlobalBC"][:1])[0]) if run else 0
        for _ in range(int(self.callsPerDf)):
            calib = ccdb.get(BETHE_BLOCH_PATH, when, run=run, cache=bool(self.useCache))
        self.histos["hGain"].fill([float(calib["mip"])])


class GtChatty(Task):
    """Prints ``kbPerDf`` kB per dataframe to its log (SPEC §4 warning 6)."""

    name = "gt-chatty"
    kbPerDf = Configurable(0, "kB printed per dataframe")

    def init(self):
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        line = "x" * 1023
        for _ in range(int(self.kbPerDf)):
            print(line)
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])


class GtLeak(Task):
    """A memory peak well above the average: ``leakMb`` MB taken on the ``startDf``-th
    dataframe, held ``holdS`` seconds, then given back (SPEC §4 warning 2)."""

    name = "gt-leak"
    leakMb = Configurable(0, "MB kept")
    startDf = Configurable(2, "dataframe from which the memory is kept")
    holdS = Configurable(2.0, "seconds to hold it")
    sleepPerDf = Configurable(0.0, "seconds of work on every other dataframe (a longer run)")

    def init(self):
        self.seen = 0
        self.keep = []
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])
        self.seen += 1
        if self.seen == int(self.startDf) and self.leakMb:
            self.keep.append(np.ones(int(self.leakMb) * 1024 * 1024 // 8))
            time.sleep(float(self.holdS))
            self.keep.clear()
        else:
            time.sleep(float(self.sleepPerDf))


class GtBigHistos(Task):
    """Books ``nbins`` bins of histograms: a large output for a small input (SPEC §4
    warning 5)."""

    name = "gt-big-histos"
    nbins = Configurable(100, "bins of the histogram")

    def init(self):
        self.histos.add("hVz", "vertex;z (cm);collisions", [(int(self.nbins), -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        z = df.table("Collisions")["fPosZ"]
        self.histos["hVz"].fill(z + np.random.default_rng(len(z)).normal(0, 1e-3, len(z)))


WORKFLOWS = [
    Workflow("gt-pt", (GtPt,), "pt spectrum"),
    Workflow("gt-raise", (GtRaise,), "raises"),
    Workflow("gt-memory", (GtMemory,), "eats memory"),
    Workflow("gt-hold", (GtHold,), "holds memory from init to the end"),
    Workflow("gt-weighted", (GtWeighted,), "weighted histograms"),
    Workflow("gt-forever", (GtForever,), "never ends"),
    Workflow("gt-skim", (GtSkim,), "derived skim"),
    Workflow("gt-skim-bound", (GtSkimBound,), "derived skim of collisions and tracks"),
    Workflow("gt-conditions", (GtConditions,), "reads the conditions database"),
    Workflow("gt-chatty", (GtChatty,), "prints a lot"),
    Workflow("gt-leak", (GtLeak,), "grows its memory"),
    Workflow("gt-big-histos", (GtBigHistos,), "large histograms"),
    Workflow("gt-disk-full", (GtDiskFull,), "the disk is full while a file exists"),
]
