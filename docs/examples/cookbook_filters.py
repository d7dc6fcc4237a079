"""Cookbook: Filter and Partition as in O2Physics — declarative selections on columns with
configurable cuts, applied once per dataframe, and named subsets of a table.

Run:  python docs/examples/cookbook_filters.py AO2D.root out-dir [zMax]   (a UD AO2D)
"""

from __future__ import annotations

import sys

import numpy as np

from hyperloop.analysis.configurables import Configurable
from hyperloop.analysis.filters import Filter, Partition, aod, nabs
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


# --8<-- [start:task]
class FilteredSpectra(Task):
    """pT spectra of positive and negative tracks in selected collisions."""

    name = "filtered-spectra"
    zMax = Configurable(10.0, "maximum |z| of the vertex (cm)")
    etaMax = Configurable(0.9, "maximum |eta| of a track")
    ptMin = Configurable(0.1, "minimum pT of a track (GeV/c)")

    # O2: Filter collisionFilter = nabs(aod::collision::posZ) < zMax;
    collisionFilter = Filter(nabs(aod.UDCollisions.fPosZ) < zMax)
    # O2: Filter trackFilter = nabs(aod::track::eta) < etaMax && aod::track::pt > ptMin;
    trackFilter = Filter((nabs(aod.UDTracks.eta) < etaMax) & (aod.UDTracks.pt > ptMin))
    # O2: Partition<aod::Tracks> positive = aod::track::sign > 0;
    positive = Partition(aod.UDTracks.fSign > 0)
    negative = Partition(aod.UDTracks.fSign < 0)

    def init(self) -> None:
        self.histos.add("hCalls", "dataframes processed;;dataframes", [(1, 0.0, 1.0)])
        self.histos.add("hZ", "selected collisions;z (cm)", [(40, -20.0, 20.0)])
        self.histos.add("hPt", "selected tracks;p_{T} (GeV/c)", [(50, 0.0, 5.0)])
        self.histos.add("hPtPos", "positive tracks;p_{T} (GeV/c)", [(50, 0.0, 5.0)])
        self.histos.add("hPtNeg", "negative tracks;p_{T} (GeV/c)", [(50, 0.0, 5.0)])

    # O2: void process(soa::Filtered<aod::Collisions>::iterator const& collision,
    #                  soa::Filtered<aod::Tracks> const& tracks)
    @process(
        UDCollisions=["fPosZ"],
        UDTracks=["fIndexUDCollisions", "pt"],
        filtered=["UDCollisions"],  # not called on a dataframe where no collision passes
    )
    def process(self, df) -> None:
        self.histos["hCalls"].fill([0.5])
        collisions = df.filtered("UDCollisions")
        self.histos["hZ"].fill(collisions["fPosZ"])
        tracks = df.filtered("UDTracks")
        # tracks of the selected collisions (the collision's row among the stored rows)
        tracks = tracks.select(np.isin(tracks.index("UDCollisions"), collisions.rows))
        self.histos["hPt"].fill(tracks["pt"])
        self.histos["hPtPos"].fill(self.positive(tracks)["pt"])  # O2: positive->sliceBy...
        self.histos["hPtNeg"].fill(self.negative(tracks)["pt"])


WORKFLOWS = [Workflow("filtered-spectra", (FilteredSpectra,), doc="Filter and Partition.")]
# --8<-- [end:task]


def run(ao2d: str, out: str, z_max: float | None = None):
    package = package_from_workflows(WORKFLOWS)
    config = {} if z_max is None else {"filtered-spectra": {"zMax": str(z_max)}}
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [{"workflow_name": "filtered-spectra", "configuration": config}],
        }
    )
    return run_train(build_plan(spec, package), [ao2d], out)


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None)
    print(result.outputs.get("AnalysisResults", "no output"))
    sys.exit(result.exit_code)
