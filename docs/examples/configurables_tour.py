"""Every configurable type on one task, its O2 JSON form, and what validation says.

Run:  python docs/examples/configurables_tour.py
"""

from __future__ import annotations

import json

from hyperloop.analysis.configurables import (
    Configurable,
    ConfigurableAxis,
    ConfigurationError,
    FixedArray,
    LabelledMatrix,
    Matrix,
    Variable,
    VariableArray,
)
from hyperloop.analysis.o2config import parse_task_config
from hyperloop.analysis.task import Task, process


# --8<-- [start:declare]
class Tour(Task):
    """One configurable of each type."""

    name = "configurables-tour"

    # scalars: the type is inferred from the default (bool before int before float)
    useTof = Configurable(False, "require a TOF match")
    minClusters = Configurable(70, "minimum TPC clusters", min=0, max=159)
    ptMin = Configurable(0.15, "minimum pT (GeV/c)", min=0.0)
    estimator = Configurable("FT0M", "multiplicity estimator", choices=["FT0M", "FV0A", "NTracks"])

    # arrays: fixed length (the default's) or variable length
    etaWindow = FixedArray([-0.8, 0.8], "eta window (low, high)")
    centralityEdges = VariableArray([0, 10, 30, 50, 100], "centrality class edges (%)")

    # matrices: a plain matrix of fixed shape, and one with named rows and columns
    weights = Matrix([[1.0, 0.5], [0.5, 1.0]], "2x2 weight matrix")
    nSigmaCuts = LabelledMatrix(
        [[3.0, 3.0], [2.0, 0.0]],
        "n-sigma cut per species (rows) and detector (columns); 0 = off",
        rows=["Pi", "Ka"],
        cols=["TPC", "TOF"],
    )

    # histogram binnings: fixed (nbins, min, max) or variable edges
    binsPt = ConfigurableAxis((100, 0.0, 10.0), "pT binning")
    binsCent = ConfigurableAxis(Variable([0, 5, 10, 20, 40, 60, 100]), "centrality binning")

    # a processXxx function is itself a boolean configurable (the O2 "process switch")
    @process(Tracks=["pt"], default=False)
    def processMc(self, df) -> None:
        """Fill MC histograms."""


# --8<-- [end:declare]


def main() -> None:
    # --8<-- [start:use]
    # values as Python objects ...
    task = Tour({"ptMin": 0.2, "binsPt": (50, 0.0, 5.0)})
    print(task.ptMin, task.binsPt.nbins, task.nSigmaCuts.get("Ka", "TPC"))
    print("took their defaults:", ", ".join(task.defaulted))
    o2 = task.export_config()  # ... and in O2 JSON form (strings, {"values": [...]})
    print(json.dumps(o2))

    # O2 JSON (a wagon configuration, a dpl-config.json) is parsed with the declarations
    o2["binsPt"] = {"values": ["0", "0", "0.5", "1", "2", "5"]}  # variable: marker "0", edges
    again = Tour(parse_task_config(Tour.name, o2, Tour.configurables()))
    print("variable binning edges:", [float(e) for e in again.binsPt.edges])

    for bad in ({"minClusters": "70.5"}, {"etaWindow": {"values": ["-0.8"]}}, {"ptMinn": "1"}):
        try:
            Tour(parse_task_config(Tour.name, bad, Tour.configurables()))
        except ConfigurationError as exc:
            print("refused:", exc)
    # --8<-- [end:use]
    for conf in Tour.describe()["configurables"]:
        print(f"{conf['name']:16} {conf['kind']:16} {conf['help']}")


if __name__ == "__main__":
    main()
