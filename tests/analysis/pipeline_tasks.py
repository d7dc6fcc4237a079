"""Tasks shared by the tests of pipelined devices and of whole-train workers: one that only
fills histograms (and normalises over all dataframes in finalize), one that keeps state it
does not announce."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.task import Task, process


class Spectra(Task):
    """Histograms only: unweighted 1D/2D, weighted, labelled; finalize sees all of them."""

    name = "pipe-spectra"

    def init(self):
        h = self.histos
        h.add("hPt", "pt;p_{T};tracks", [(50, 0.0, 5.0)])
        h.add("hEtaPhi", "eta phi;#eta;#varphi", [(20, -1.0, 1.0), (18, 0.0, 2 * np.pi)])
        h.add("hPtW", "weighted;p_{T};sum w", [(50, 0.0, 5.0)], weighted=True)
        h.add("hSteps", "steps;;collisions", [], categories=("all", "good vertex"))
        h.add("hPtFraction", "pT fraction of all tracks (set in finalize);p_{T};", [(50, 0.0, 5.0)])

    @process(Tracks=["pt", "eta", "phi"], Collisions=["fPosZ"])
    def process(self, df):
        t = df.table("Tracks")
        self.histos["hPt"].fill(t["pt"])
        self.histos["hEtaPhi"].fill(t["eta"], t["phi"])
        self.histos["hPtW"].fill(t["pt"], weight=1.0 / (1.0 + t["pt"]))
        z = df.table("Collisions")["fPosZ"]
        good = int((np.abs(z) < 10).sum())
        self.histos["hSteps"].fill(np.repeat(np.array(["all", "good vertex"]), [len(z), good]))

    def finalize(self):
        # a normalisation over all dataframes: right only if the copies were added first
        pt = self.histos["hPt"].hist
        frac = self.histos["hPtFraction"].hist
        frac.view()[...] = pt.view() / max(pt.sum(), 1.0)


class LazyCounter(Task):
    """Looks stateless after init but counts dataframes in an attribute it adds later."""

    name = "pipe-lazy"

    def init(self):
        self.histos.add("hN", "dataframes seen;n;", [(100, 0, 100)])

    @process(Tracks=["pt"])
    def process(self, df):
        self.seen = getattr(self, "seen", 0) + 1
        self.histos["hN"].fill(np.array([float(self.seen)]))
