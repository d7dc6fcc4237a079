"""Cookbook: index navigation as in O2Physics — a track's collision (``track.collision()``),
a collision's tracks (``SliceBy``), MC matching through the track labels to the MC particle
and its mother — vectorised, without np.repeat/reduceat bookkeeping.

Run:  python docs/examples/cookbook_navigation.py out-dir   (writes a small MC AO2D first)
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


# --8<-- [start:task]
class McMatching(Task):
    """Reconstructed tracks matched to their MC particles and mothers; tracks per collision."""

    name = "mc-matching"

    def init(self) -> None:
        self.histos.add("hNTracks", "tracks per collision;n;collisions", [(10, -0.5, 9.5)])
        self.histos.add("hTrackZ", "vertex z of each track;z (cm)", [(20, -10.0, 10.0)])
        self.histos.add("hPdg", "matched particle;|PDG code|", [(400, -0.5, 399.5)])
        self.histos.add("hMotherPdg", "mother of the matched particle;|PDG|", [(400, -0.5, 399.5)])
        self.histos.add("hPtRes", ";(p_{T}^{rec} - p_{T}^{gen}) / p_{T}^{gen}", [(40, -0.2, 0.2)])
        self.histos.add("hMaxPt", "leading track per collision;p_{T} (GeV/c)", [(20, 0.0, 4.0)])

    @process(
        Collisions=["fPosZ"],
        Tracks=["fIndexCollisions", "pt"],
        McTrackLabels=["fIndexMcParticles"],
        McParticles=["fPdgCode", "fIndexArray_Mothers", "pt"],
    )
    def process(self, df) -> None:
        tracks = df.table("Tracks").join("McTrackLabels")  # O2: soa::Join<Tracks, McTrackLabels>

        # SliceBy: the tracks of each collision, all collisions at once
        per_collision = tracks.grouped_by("Collisions")
        self.histos["hNTracks"].fill(per_collision.counts)

        # track.collision(): each track's collision row (tracks with a collision only)
        assigned = tracks.select(tracks.has("Collisions"))  # O2: track.has_collision()
        self.histos["hTrackZ"].fill(assigned.follow("Collisions")["fPosZ"])

        # MC matching: track -> McTrackLabels -> McParticles (O2: track.mcParticle())
        matched = tracks.select(tracks.has("McParticles"))
        particles = matched.follow("McParticles")
        self.histos["hPdg"].fill(np.abs(particles["fPdgCode"]))
        self.histos["hPtRes"].fill((matched["pt"] - particles["pt"]) / particles["pt"])

        # particle -> its first mother (O2: mcParticle.mothers_first_as<aod::McParticles>())
        with_mother = particles.select(particles.has("McParticles", column="fIndexArray_Mothers"))
        mothers = with_mother.follow("McParticles", column="fIndexArray_Mothers")
        self.histos["hMotherPdg"].fill(np.abs(mothers["fPdgCode"]))

        # a loop over collisions when one is really needed: a slice per collision
        for i in np.flatnonzero(per_collision.counts):
            slice_ = per_collision.slice(i)  # O2: tracks.sliceBy(perCollision, i)
            self.histos["hMaxPt"].fill([slice_["pt"].max()])


WORKFLOWS = [Workflow("mc-matching", (McMatching,), doc="Index navigation of O2.")]
# --8<-- [end:task]


def write_mc_file(path: str | Path, seed: int = 7) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """A small MC AO2D: rho0 -> pi+ pi- and kaons generated, reconstructed as tracks with MC
    labels (some fake: label -1), some tracks without collision (-1). Returns its tables."""
    rng = np.random.default_rng(seed)
    dataframes = {}
    for df_id in (1, 2):
        n_rho, n_k, n_coll = 4 + df_id, 3, 3
        pdg = [113, 211, -211] * n_rho + [321] * n_k
        mothers = np.empty(len(pdg), dtype=object)
        for i in range(len(pdg)):
            rho = i - i % 3 if i < 3 * n_rho else -1
            mothers[i] = np.array([] if rho in (-1, i) else [rho], dtype=np.int32)
        px = rng.uniform(0.3, 2.0, len(pdg)).astype(np.float32)
        py = rng.uniform(0.3, 2.0, len(pdg)).astype(np.float32)
        daughters = np.array([i for i, code in enumerate(pdg) if code != 113], dtype=np.int32)
        labels = np.concatenate([daughters, np.full(2, -1, np.int32)])  # two fakes
        true_pt = np.hypot(px, py)
        pt = np.where(labels >= 0, true_pt[labels] * 1.01, 1.0).astype(np.float32)
        collision = rng.integers(0, n_coll, len(labels)).astype(np.int32)
        collision[0] = -1  # a track without collision
        dataframes[df_id] = {
            "O2collision_001": {"fPosZ": rng.uniform(-9, 9, n_coll).astype(np.float32)},
            "O2track": {
                "fIndexCollisions": collision,
                "fSigned1Pt": (1.0 / pt).astype(np.float32),
            },
            "O2mctracklabel": {
                "fIndexMcParticles": labels,
                "fMcMask": np.zeros(len(labels), np.uint16),
            },
            "O2mcparticle_001": {
                "fPdgCode": np.array(pdg, np.int32),
                "fIndexArray_Mothers": mothers,
                "fPx": px,
                "fPy": py,
            },
        }
    with AO2DWriter(path) as writer:
        for df_id, tables in dataframes.items():
            writer.write_dataframe(df_id, tables)
    return dataframes


def run(ao2d: str, out: str):
    package = package_from_workflows(WORKFLOWS)
    spec = TrainSpec.from_json(
        {"package_tag": "local", "workflows": [{"workflow_name": "mc-matching"}]}
    )
    return run_train(build_plan(spec, package), [ao2d], out)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    write_mc_file(folder / "AO2D_mc.root")
    result = run(str(folder / "AO2D_mc.root"), str(folder / "out"))
    print(result.outputs.get("AnalysisResults", "no output"))
    sys.exit(result.exit_code)
