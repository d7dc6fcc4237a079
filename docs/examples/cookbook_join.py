"""Cookbook: Join as in O2Physics — ``soa::Join<aod::UDTracks, aod::UDTracksExtra,
aod::UDTracksPID>``: the columns of row-aligned tables through one view, selected and
histogrammed together.

Run:  python docs/examples/cookbook_join.py AO2D_ud_rho_run3.root out-dir
"""

from __future__ import annotations

import sys

import numpy as np

from hyperloop.analysis.configurables import Configurable
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


# --8<-- [start:task]
class JoinedTracks(Task):
    """TPC dE/dx and pion n-sigma of tracks with enough TPC clusters."""

    name = "joined-tracks"
    minTPCNCls = Configurable(70, "minimum found TPC clusters of a track", min=0)

    def init(self) -> None:
        self.histos.add(
            "hTPCSignal", "dE/dx;p_{T} (GeV/c);TPC signal", [(50, 0.0, 2.5), (100, 0.0, 200.0)]
        )
        self.histos.add("hNSigmaPi", "TPC n#sigma_{#pi};n#sigma;tracks", [(40, -10.0, 10.0)])

    # O2: using MyTracks = soa::Join<aod::UDTracks, aod::UDTracksExtra, aod::UDTracksPID>;
    #     void process(MyTracks const& tracks)
    @process(
        UDTracks=["fPx", "fPy", "pt"],
        UDTracksExtra=["fTPCNClsFindable", "fTPCNClsFindableMinusFound", "fTPCSignal"],
        UDTracksPID=["fTPCNSigmaPi"],
    )
    def process(self, df) -> None:
        tracks = df.table("UDTracks").join("UDTracksExtra", "UDTracksPID")
        # O2: track.tpcNClsFound() — a column of UDTracksExtra, read through the joined view
        found = tracks["fTPCNClsFindable"].astype(np.int64) - tracks["fTPCNClsFindableMinusFound"]
        good = tracks.select(found >= self.minTPCNCls)  # a selection keeps the join
        self.histos["hTPCSignal"].fill(good["pt"], good["fTPCSignal"])
        self.histos["hNSigmaPi"].fill(good["fTPCNSigmaPi"])


WORKFLOWS = [Workflow("joined-tracks", (JoinedTracks,), doc="soa::Join of UD track tables.")]
# --8<-- [end:task]


def run(ao2d: str, out: str, min_tpc_ncls: int | None = None):
    package = package_from_workflows(WORKFLOWS)
    config = {} if min_tpc_ncls is None else {"joined-tracks": {"minTPCNCls": str(min_tpc_ncls)}}
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [{"workflow_name": "joined-tracks", "configuration": config}],
        }
    )
    return run_train(build_plan(spec, package), [ao2d], out)


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2])
    print(result.outputs.get("AnalysisResults", "no output"))
    sys.exit(result.exit_code)
