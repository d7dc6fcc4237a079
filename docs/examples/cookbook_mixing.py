"""Cookbook: event mixing as in O2Physics — a binning policy in vertex z and contributors
(``ColumnBinningPolicy``), mixed pairs of collisions of the same bin (``SameKindPair`` with
a depth), and the mixed-event background of the pi+pi- invariant mass next to the
same-event distribution.

Run:  python docs/examples/cookbook_mixing.py AO2D_ud_rho_run3.root out-dir
"""

from __future__ import annotations

import sys

import numpy as np

from hyperloop.analysis.configurables import Configurable, ConfigurableAxis, Variable
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import BinningPolicy, SameKindPair, Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows

M_PI = 0.13957


# --8<-- [start:task]
def pair_mass(tracks, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Invariant mass of track pairs (rows of ``tracks``) in the pion hypothesis."""
    p = [np.asarray(tracks[c], dtype=np.float64) for c in ("fPx", "fPy", "fPz")]
    e = sum(np.sqrt(M_PI**2 + sum(c[i] ** 2 for c in p)) for i in (first, second))
    p2 = sum((c[first] + c[second]) ** 2 for c in p)
    return np.sqrt(np.maximum(e**2 - p2, 0.0))


class MixedMass(Task):
    """pi+pi- mass of two-track UD collisions, same-event and mixed-event."""

    name = "mixed-mass"

    nMix = Configurable(3, "collisions of the same bin mixed with each (O2: nMix)", min=1)
    binsVtxZ = ConfigurableAxis(Variable([-15.0, -5.0, 0.0, 5.0, 15.0]), "mixing bins in z")
    binsNContrib = ConfigurableAxis(Variable([2, 3, 10]), "mixing bins in contributors")
    binsMass = ConfigurableAxis((40, 0.0, 2.0), "pi+pi- mass (GeV/c^2)")

    def init(self) -> None:
        # O2: using BinningType = ColumnBinningPolicy<aod::collision::PosZ, ...>;
        #     BinningType binning{{binsVtxZ, binsNContrib}, true};
        binning = BinningPolicy(fPosZ=self.binsVtxZ, fNumContrib=self.binsNContrib)
        # O2: SameKindPair<UDCollisions, UDTracks, BinningType> pair{binning, nMix, -1, &cache};
        self.mixing = SameKindPair(binning, depth=self.nMix)
        axis = [self.binsMass]
        self.histos.add("hMassSame", "same event;m_{#pi#pi} (GeV/c^{2});pairs", axis)
        self.histos.add("hMassMixed", "mixed event;m_{#pi#pi} (GeV/c^{2});pairs", axis)
        self.histos.add("hMixingBin", "collision pairs per bin;bin;pairs", [(8, -0.5, 7.5)])

    @process(
        UDCollisions=["fPosZ", "fNumContrib"],
        UDTracks=["fIndexUDCollisions", "fPx", "fPy", "fPz", "fSign"],
    )
    def process(self, df) -> None:
        collisions, tracks = df.table("UDCollisions"), df.table("UDTracks")
        per_collision = tracks.grouped_by(collisions)
        two = collisions.select(per_collision.counts == 2)  # exclusive two-track events
        sign = tracks["fSign"]

        # same event: the opposite-sign pair of each two-track collision
        first, second, event = per_collision.pairs(return_group=True)
        keep = (per_collision.counts[event] == 2) & (sign[first] * sign[second] < 0)
        self.histos["hMassSame"].fill(pair_mass(tracks, first[keep], second[keep]))

        # mixed event: O2's  for (auto& [c1, tracks1, c2, tracks2] : pair)
        #                      for (auto& [t1, t2] : combinations(
        #                               CombinationsFullIndexPolicy(tracks1, tracks2)))
        mixed = self.mixing.mix(two, tracks)
        keep = sign[mixed.first] * sign[mixed.second] < 0
        self.histos["hMassMixed"].fill(pair_mass(tracks, mixed.first[keep], mixed.second[keep]))
        self.histos["hMixingBin"].fill(mixed.bin)


WORKFLOWS = [Workflow("mixed-mass", (MixedMass,), doc="Mixed-event background of a mass.")]
# --8<-- [end:task]


def run(ao2d: str, out: str, n_mix: int = 3, cores: int = 1, mode: str = "auto"):
    package = package_from_workflows(WORKFLOWS)
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [
                {
                    "workflow_name": "mixed-mass",
                    "configuration": {"mixed-mass": {"nMix": str(n_mix)}},
                }
            ],
        }
    )
    return run_train(build_plan(spec, package), [ao2d], out, cores=cores, mode=mode)


if __name__ == "__main__":
    result = run(sys.argv[1], sys.argv[2])
    print(result.outputs.get("AnalysisResults", "no output"))
    sys.exit(result.exit_code)
