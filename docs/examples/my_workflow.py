"""A complete workflow in one file: a task, its workflow, and a local run on an AO2D file.

Run:  python docs/examples/my_workflow.py AO2D_ud_rho_run3.root my-output
"""

from __future__ import annotations

import sys

import numpy as np
import uproot

from hyperloop.analysis.configurables import Configurable, ConfigurableAxis
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


# --8<-- [start:task]
class TwoTrackMass(Task):
    """Invariant mass of events with exactly two opposite-sign tracks (pion hypothesis)."""

    name = "two-track-mass"  # device name and AnalysisResults.root directory

    maxEta = Configurable(0.9, "maximum |eta| of both tracks", min=0.0)
    binsMass = ConfigurableAxis((80, 0.0, 2.0), "pi+pi- mass binning (GeV/c^2)")

    def init(self) -> None:
        # declared once before the first dataframe; O2-style title "title;x axis;y axis"
        self.histos.add("hMass", "two-track mass;m (GeV/c^{2});events", [self.binsMass])
        self.histos.add("hVertexZ", "UD vertex;z (cm);collisions", [(60, -30.0, 30.0)])
        self.histos.add("hNTracks", "tracks per UD collision;n;collisions", [(10, -0.5, 9.5)])

    # the columns each table is read with: nothing else is read from the file
    @process(
        UDCollisions=["fPosZ"],
        UDTracks=["fIndexUDCollisions", "fPx", "fPy", "fPz", "fSign", "eta"],
    )
    def process(self, df) -> None:
        self.histos["hVertexZ"].fill(df.table("UDCollisions")["fPosZ"])
        tracks = df.table("UDTracks")
        per_event = tracks.grouped_by("UDCollisions")  # rows grouped by their collision
        self.histos["hNTracks"].fill(per_event.counts)
        # every unordered track pair within each collision, and that collision's row
        first, second, event = per_event.pairs(return_group=True)
        two = per_event.counts[event] == 2
        first, second = first[two], second[two]
        ok = (tracks["fSign"][first] * tracks["fSign"][second] < 0) & (
            np.maximum(np.abs(tracks["eta"][first]), np.abs(tracks["eta"][second])) < self.maxEta
        )
        m_pi = 0.13957
        px = tracks["fPx"][first] + tracks["fPx"][second]
        py = tracks["fPy"][first] + tracks["fPy"][second]
        pz = tracks["fPz"][first] + tracks["fPz"][second]
        e = sum(
            np.sqrt(m_pi**2 + tracks["fPx"][i] ** 2 + tracks["fPy"][i] ** 2 + tracks["fPz"][i] ** 2)
            for i in (first, second)
        )
        mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
        self.histos["hMass"].fill(mass[ok])


WORKFLOWS = [Workflow("two-track-mass", (TwoTrackMass,), doc="Two-track invariant mass.")]
# --8<-- [end:task]


def main(ao2d: str, out: str) -> int:
    # --8<-- [start:run]
    package = package_from_workflows(WORKFLOWS)
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [
                {
                    "workflow_name": "two-track-mass",
                    "configuration": {"two-track-mass": {"maxEta": "0.8"}},
                }
            ],
        }
    )
    plan = build_plan(spec, package)  # checks names, types and tables before reading
    result = run_train(plan, [ao2d], out)
    # --8<-- [end:run]
    if result.exit_code != 0:
        return result.exit_code
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        mass = f["two-track-mass/hMass"]
        counts, edges = mass.to_numpy()
        peak = edges[np.argmax(counts)]
        print(f"{int(counts.sum())} pairs, most populated bin at {peak:.3f} GeV/c^2")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
