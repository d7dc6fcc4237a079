"""Cookbook: combinations within an event as in O2Physics —
``combinations(CombinationsStrictlyUpperIndexPolicy(tracks, tracks))`` over the tracks of
each collision, pairs of two partitions (``CombinationsFullIndexPolicy(pos, neg)``) and
triplets, for all collisions of a dataframe at once.

Run:  python docs/examples/cookbook_combinations.py AO2D_ud_rho_run3.root out-dir
"""

from __future__ import annotations

import sys

import numpy as np

from hyperloop.analysis.filters import Partition, aod
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows

M_PI = 0.13957


# --8<-- [start:task]
def mass(tracks, *rows: np.ndarray) -> np.ndarray:
    """Invariant mass of track tuples (rows of ``tracks``, one array per member), pions."""
    p = [np.asarray(tracks[c], dtype=np.float64) for c in ("fPx", "fPy", "fPz")]
    e = sum(np.sqrt(M_PI**2 + sum(c[r] ** 2 for c in p)) for r in rows)
    p2 = sum(sum(c[r] for r in rows) ** 2 for c in p)
    return np.sqrt(np.maximum(e**2 - p2, 0.0))


class TrackCombinations(Task):
    """Pairs and triplets of tracks of the same collision."""

    name = "track-combinations"
    # O2: Partition<aod::UDTracks> pos = aod::udtrack::sign > 0;
    pos = Partition(aod.UDTracks.fSign > 0)
    neg = Partition(aod.UDTracks.fSign < 0)

    def init(self) -> None:
        axis = [(40, 0.0, 4.0)]
        self.histos.add("hMassAll", "all pairs;m_{#pi#pi} (GeV/c^{2});pairs", axis)
        self.histos.add("hMassLikeSign", "like-sign pairs;m_{#pi#pi} (GeV/c^{2});pairs", axis)
        self.histos.add("hMassPosNeg", "pos x neg;m_{#pi#pi} (GeV/c^{2});pairs", axis)
        self.histos.add("hPairsPerCollision", ";pairs;collisions", [(16, -0.5, 15.5)])
        self.histos.add("hTripletCharge", "triplets;net charge;triplets", [(7, -3.5, 3.5)])

    @process(UDCollisions=[], UDTracks=["fIndexUDCollisions", "fPx", "fPy", "fPz", "fSign"])
    def process(self, df) -> None:
        collisions, tracks = df.table("UDCollisions"), df.table("UDTracks")
        per_collision = tracks.grouped_by(collisions)  # O2: Preslice / SliceBy

        # O2: for (auto& [t1, t2] : combinations(CombinationsStrictlyUpperIndexPolicy(
        #                                         tracks, tracks)))   — per collision
        first, second, collision = per_collision.pairs(return_group=True)
        self.histos["hMassAll"].fill(mass(tracks, first, second))
        like = tracks["fSign"][first] == tracks["fSign"][second]
        self.histos["hMassLikeSign"].fill(mass(tracks, first[like], second[like]))
        self.histos["hPairsPerCollision"].fill(np.bincount(collision, minlength=len(collisions)))

        # O2: combinations(CombinationsFullIndexPolicy(pos, neg)): every (pos, neg) of a
        #     collision; the rows returned are rows of each partition's view
        pos, neg = self.pos(tracks), self.neg(tracks)
        p, n = pos.grouped_by(collisions).pairs(neg.grouped_by(collisions))
        self.histos["hMassPosNeg"].fill(mass(tracks, pos.rows[p], neg.rows[n]))

        # O2: combinations(CombinationsStrictlyUpperIndexPolicy(tracks, tracks, tracks))
        a, b, c = per_collision.combinations(3)
        self.histos["hTripletCharge"].fill(
            tracks["fSign"][a] + tracks["fSign"][b] + tracks["fSign"][c]
        )


WORKFLOWS = [
    Workflow("track-combinations", (TrackCombinations,), doc="Pairs and triplets per collision.")
]
# --8<-- [end:task]


def run(ao2d: str, out: str):
    package = package_from_workflows(WORKFLOWS)
    spec = TrainSpec.from_json(
        {"package_tag": "local", "workflows": [{"workflow_name": "track-combinations"}]}
    )
    return run_train(build_plan(spec, package), [ao2d], out)


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2])
    print(result.outputs.get("AnalysisResults", "no output"))
    sys.exit(result.exit_code)
