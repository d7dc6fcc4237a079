"""The workflows of my package (entry point ``hyperloop.workflows``): my task, and the
service workflow it depends on, taken from the collaboration's package."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import Configurable, ConfigurableAxis
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow
from hyperloop_physics.workflows import WORKFLOWS as PHYSICS


class Sel8Spectra(Task):
    """pT of the tracks of collisions that pass the event selection (sel8)."""

    name = "sel8-spectra"
    etaMax = Configurable(0.8, "maximum |eta| of the tracks", min=0.0)
    binsPt = ConfigurableAxis((50, 0.0, 5.0), "pT binning (GeV/c)")

    def init(self) -> None:
        self.histos.add("hPt", "tracks of sel8 collisions;p_{T} (GeV/c);tracks", [self.binsPt])
        self.histos.add("hSel8", "collisions;sel8;collisions", [(2, -0.5, 1.5)])

    @process(
        EvSels=["fSel8"],  # produced by the service workflow event-selection
        Tracks=["fIndexCollisions", "pt", "eta"],
    )
    def process(self, df) -> None:
        sel8 = df.table("EvSels")["fSel8"]
        self.histos["hSel8"].fill(sel8.astype(np.int64))
        tracks = df.table("Tracks")
        tracks = tracks.select(tracks.has("Collisions"))
        ok = sel8[tracks.index("Collisions")] & (np.abs(tracks["eta"]) < self.etaMax)
        self.histos["hPt"].fill(tracks["pt"][ok])


SERVICES = [wf for wf in PHYSICS if wf.name == "event-selection"]

WORKFLOWS = [
    *SERVICES,  # the services my workflow needs: a train runs the tables of one tag
    Workflow("sel8-spectra", (Sel8Spectra,), doc="pT spectrum of sel8 collisions."),
]
