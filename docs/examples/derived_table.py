"""Derived data: a task that produces tables, the train that saves them to an AO2D, and a
second train that reads the derived AO2D instead of the original data.

Run:  python docs/examples/derived_table.py AO2D_ud_rho_run3.root my-output
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import uproot

from hyperloop.analysis.configurables import Configurable
from hyperloop.analysis.frame import reindex
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.schema import TableSchema
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows

# --8<-- [start:tables]
TWO_TRACK_EVENTS = TableSchema(
    "TwoTrackEvents",  # logical name tasks use
    "O2twotrackevent",  # TTree name in the derived AO2D
    {"fPosZ": "float32", "fNetCharge": "int8"},
    doc="UD collisions with exactly two tracks",
)
TWO_TRACK_TRACKS = TableSchema(
    "TwoTrackTracks",
    "O2twotracktrack",
    {"fIndexTwoTrackEvents": "int32", "fPx": "float32", "fPy": "float32", "fPz": "float32"},
    index_columns={"fIndexTwoTrackEvents": "TwoTrackEvents"},  # rows point into the events
    doc="the tracks of TwoTrackEvents",
)
# --8<-- [end:tables]


# --8<-- [start:producer]
class TwoTrackSkim(Task):
    """Keeps UD collisions with exactly two tracks (and |z| < maxVertexZ) and their tracks."""

    name = "two-track-skim"
    produces = (TWO_TRACK_EVENTS, TWO_TRACK_TRACKS)
    maxVertexZ = Configurable(15.0, "maximum |z| of the vertex (cm)", min=0.0)

    @process(
        UDCollisions=["fPosZ", "fNetCharge"],
        UDTracks=["fIndexUDCollisions", "fPx", "fPy", "fPz"],
    )
    def process(self, df) -> None:
        events = df.table("UDCollisions")
        tracks = df.table("UDTracks")
        per_event = tracks.grouped_by("UDCollisions")
        keep = (per_event.counts == 2) & (np.abs(events["fPosZ"]) < self.maxVertexZ)
        kept_events = np.flatnonzero(keep)
        df.produce(
            TWO_TRACK_EVENTS,
            fPosZ=events["fPosZ"][kept_events],
            fNetCharge=events["fNetCharge"][kept_events],
        )
        idx = tracks["fIndexUDCollisions"].astype(np.int64)
        rows = np.flatnonzero((idx >= 0) & keep[np.clip(idx, 0, None)])
        df.produce(
            TWO_TRACK_TRACKS,
            # the index must point at rows of the *saved* events table, not the original one
            fIndexTwoTrackEvents=reindex(idx[rows], kept_events, len(events)),
            fPx=tracks["fPx"][rows],
            fPy=tracks["fPy"][rows],
            fPz=tracks["fPz"][rows],
        )


# --8<-- [end:producer]


class TwoTrackVertex(Task):
    """Reads the derived tables: vertex z of the skimmed events, tracks per event."""

    name = "two-track-vertex"

    def init(self) -> None:
        self.histos.add("hVertexZ", "skimmed events;z (cm);events", [(60, -30.0, 30.0)])
        self.histos.add("hTracks", "tracks per skimmed event;n;events", [(5, -0.5, 4.5)])

    @process(TwoTrackEvents=["fPosZ"], TwoTrackTracks=["fIndexTwoTrackEvents"])
    def process(self, df) -> None:
        self.histos["hVertexZ"].fill(df.table("TwoTrackEvents")["fPosZ"])
        per_event = df.table("TwoTrackTracks").grouped_by("TwoTrackEvents")
        self.histos["hTracks"].fill(per_event.counts)


WORKFLOWS = [
    Workflow("two-track-skim", (TwoTrackSkim,), doc="Derived data: two-track UD events."),
    Workflow("two-track-vertex", (TwoTrackVertex,), doc="Analysis of the two-track skim."),
]


def main(ao2d: str, out: str) -> int:
    package = package_from_workflows(WORKFLOWS)
    # --8<-- [start:derived-train]
    derived_train = TrainSpec.from_json(
        {
            "package_tag": "local",
            "derived_data": True,
            "OutputDirector": {
                "resfile": "AO2D",
                "OutputDescriptors": [{"table": "TwoTrackEvents"}, {"table": "TwoTrackTracks"}],
            },
            "workflows": [{"workflow_name": "two-track-skim"}],
        }
    )
    first = run_train(build_plan(derived_train, package), [ao2d], Path(out) / "skim")
    derived_ao2d = first.outputs["AO2D"]
    # --8<-- [end:derived-train]
    if first.exit_code:
        return first.exit_code
    # --8<-- [start:second-train]
    analysis = TrainSpec.from_json(
        {"package_tag": "local", "workflows": [{"workflow_name": "two-track-vertex"}]}
    )
    second = run_train(build_plan(analysis, package), [derived_ao2d], Path(out) / "analysis")
    # --8<-- [end:second-train]
    with uproot.open(derived_ao2d) as f:
        frames = [k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")]
        events = sum(f[k]["O2twotrackevent"].num_entries for k in frames)
    with uproot.open(second.outputs["AnalysisResults"]) as f:
        counts, _ = f["two-track-vertex/hTracks"].to_numpy()
    print(f"derived AO2D: {len(frames)} dataframes, {events} events")
    print(f"second train: {int(counts.sum())} events, all with {int(np.argmax(counts))} tracks")
    return second.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
