"""Cookbook: conditions (CCDB) objects in a task as in O2Physics — by path and timestamp,
fetched once per run and cached for the job, with the timestamps of the collisions' bunch
crossings from the ``timestamp`` service (O2's ``BCsWithTimestamps``).

Run:  python docs/examples/cookbook_conditions.py out-dir   (writes a small AO2D of two runs)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows
from hyperloop_physics.timestamp import Timestamp


# --8<-- [start:task]
class FieldPerRun(Task):
    """The solenoid field of each collision's run, and a calibration read by timestamp."""

    name = "field-per-run"

    def init(self) -> None:
        self.histos.add(
            "hBz", "field of the collision's run;B_{z} (kG);collisions", [(20, -10, 10)]
        )
        self.histos.add("hMip", "TPC dE/dx of a MIP;signal;dataframes", [(100, 0, 100)])

    @process(Collisions=["fIndexBCs"], BCs=["fRunNumber"], Timestamps=["fTimestamp"])
    def process(self, df) -> None:
        # O2: collision.bc_as<aod::BCsWithTimestamps>() for every collision at once
        bcs = df.table("Collisions").follow("BCs").join("Timestamps")
        runs, timestamps = bcs["fRunNumber"], bcs["fTimestamp"]

        # O2: if (bc.runNumber() != mRunNumber)
        #       grpmag = ccdb->getForTimeStamp<o2::parameters::GRPMagField>(path, bc.timestamp());
        # one object per run (fetched once per run and job), its value for every collision
        bz = self.ccdb.column("GLO/Config/GRPMagField", "bz_kg", runs, timestamps)
        self.histos["hBz"].fill(bz)

        # O2: ccdb->getForTimeStamp<T>("TPC/Calib/BetheBloch", timestamp): one object
        if len(timestamps):
            mip = self.ccdb.get("TPC/Calib/BetheBloch", int(timestamps[0]))["mip"]
            self.histos["hMip"].fill([mip])


WORKFLOWS = [
    Workflow("timestamp", (Timestamp,), doc="Service: Timestamps of the BCs."),
    Workflow("field-per-run", (FieldPerRun,), doc="Conditions per run."),
]
# --8<-- [end:task]

RUNS = (523308, 523309)  # the built-in conditions: +5 kG, and -5 kG for run 523309


def write_file(path: str | Path, seed: int = 3) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """Two dataframes, each with bunch crossings of both runs and collisions pointing to
    them. Returns its tables."""
    rng = np.random.default_rng(seed)
    dataframes = {}
    for df_id in (1, 2):
        runs = np.repeat(np.array(RUNS, np.int32), [3, 2 + df_id])
        n_coll = 6 + df_id
        dataframes[df_id] = {
            "O2bc_001": {
                "fRunNumber": runs,
                "fGlobalBC": (runs.astype(np.uint64) * 3564 * 10**6 + np.arange(len(runs))).astype(
                    np.uint64
                ),
                "fTriggerMask": np.zeros(len(runs), np.uint64),
                "fInputMask": np.zeros(len(runs), np.uint64),
            },
            "O2collision_001": {
                "fIndexBCs": rng.integers(0, len(runs), n_coll).astype(np.int32),
                "fPosZ": rng.uniform(-9, 9, n_coll).astype(np.float32),
            },
        }
    with AO2DWriter(path) as writer:
        for df_id, tables in dataframes.items():
            writer.write_dataframe(df_id, tables)
    return dataframes


def run(ao2d: str, out: str):
    package = package_from_workflows(WORKFLOWS)
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [{"workflow_name": "timestamp"}, {"workflow_name": "field-per-run"}],
        }
    )
    return run_train(build_plan(spec, package), [ao2d], out)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    write_file(folder / "AO2D_runs.root")
    result = run(str(folder / "AO2D_runs.root"), str(folder / "out"))
    print(result.outputs.get("AnalysisResults", "no output"))
    print({d.name: d.conditions_calls for d in result.devices if d.conditions_calls})
    sys.exit(result.exit_code)
