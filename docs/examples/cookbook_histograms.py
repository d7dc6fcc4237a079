"""Cookbook: the histogram registry as in O2Physics — TProfile, weighted fills, bin labels,
THnSparse and addClone — in one task run on a real UD file.

Run:  python docs/examples/cookbook_histograms.py AO2D_ud_rho_run3.root out-histos
"""

from __future__ import annotations

import sys

import numpy as np

from hyperloop.analysis.configurables import ConfigurableAxis
from hyperloop.analysis.histograms import HistType
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


# --8<-- [start:task]
class MeanPtVsMult(Task):
    """<pT> vs multiplicity, a weighted pT spectrum, a labelled cut flow and a THnSparse."""

    name = "mean-pt-vs-mult"
    binsMult = ConfigurableAxis((20, -0.5, 19.5), "tracks per collision")

    def init(self) -> None:
        # O2: histos.add("pMeanPt", "...", {HistType::kTProfile, {axisMult}})
        self.histos.add(
            "data/pMeanPt",
            "<p_{T}> vs N;N_{tracks};<p_{T}> (GeV/c)",
            [self.binsMult],
            HistType.kTProfile,
        )
        self.histos.add(
            "data/pMeanPtEta",
            ";N_{tracks};#eta;<p_{T}>",
            [self.binsMult, (8, -2.0, 2.0)],
            HistType.kTProfile2D,
        )
        # weighted fills keep Sumw2 (O2: the histogram's Sumw2 is on)
        self.histos.add(
            "data/hPtWeighted",
            ";p_{T} (GeV/c);1/p_{T} weighted",
            [(50, 0.0, 5.0)],
            HistType.kTH1D,
            weighted=True,
        )
        self.histos.add(
            "data/hSparse",
            ";p_{T};#eta;charge",
            [(50, 0.0, 5.0), (20, -2.0, 2.0), (2, -2.0, 2.0)],
            HistType.kTHnSparseF,
        )
        # O2: hCutFlow->GetXaxis()->SetBinLabel(1, "all") ...
        cuts = self.histos.add("hCutFlow", "cut flow;;collisions", [(3, 0.5, 3.5)])
        cuts.set_bin_labels(["all", "|z| < 10 cm", "2 tracks"])
        # O2: histos.addClone("data/", "opposite-sign/")
        self.histos.add_clone("data/", "opposite-sign/")

    @process(
        UDCollisions=["fPosZ"],
        UDTracks=["fIndexUDCollisions", "fSign", "pt", "eta"],
    )
    def process(self, df) -> None:
        collisions = df.table("UDCollisions")
        tracks = df.table("UDTracks")
        per_event = tracks.grouped_by("UDCollisions")
        z_ok = np.abs(collisions["fPosZ"]) < 10.0
        two = per_event.counts == 2
        self.histos["hCutFlow"].fill(np.ones(len(collisions)))
        self.histos["hCutFlow"].fill(np.full(int(z_ok.sum()), 2.0))
        self.histos["hCutFlow"].fill(np.full(int((z_ok & two).sum()), 3.0))

        # each track with its collision's multiplicity and net charge (O2: a SliceBy loop)
        mult = per_event.per_row(per_event.counts)
        opposite = per_event.per_row(two & (per_event.sum("fSign") == 0), fill=False)
        pt, eta, sign = tracks["pt"], tracks["eta"], tracks["fSign"]
        for folder, keep in (("data/", mult >= 0), ("opposite-sign/", opposite)):
            self.histos[folder + "pMeanPt"].fill(mult[keep], pt[keep])  # positions, then values
            self.histos[folder + "pMeanPtEta"].fill(mult[keep], eta[keep], pt[keep])
            self.histos[folder + "hPtWeighted"].fill(pt[keep], weight=1.0 / pt[keep])
            self.histos[folder + "hSparse"].fill(pt[keep], eta[keep], sign[keep])


WORKFLOWS = [Workflow("mean-pt-vs-mult", (MeanPtVsMult,), doc="Histogram kinds of O2.")]
# --8<-- [end:task]


def run(ao2d: str, out: str):
    package = package_from_workflows(WORKFLOWS)
    spec = TrainSpec.from_json(
        {"package_tag": "local", "workflows": [{"workflow_name": "mean-pt-vs-mult"}]}
    )
    return run_train(build_plan(spec, package), [ao2d], out)


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2])
    print(result.outputs.get("AnalysisResults", "no output"))
    sys.exit(result.exit_code)
