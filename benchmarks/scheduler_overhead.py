"""Scheduler overhead: a train of many short jobs on the embedded Dask LocalCluster.

Each job is a real attempt (``hyperloop run-train`` in a child process with PSS and
wall-time watching, outputs validated). Reports the total wall time of all jobs against
the ideal ``sum(job wall times) / workers`` and the ratio (goal, issue 5: <= 1.15).

    python benchmarks/scheduler_overhead.py [--jobs 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.grid.engine import Engine
from hyperloop.grid.splitting import all_jobs, split_catalogue
from hyperloop.grid.targets import Target

WAGON = """
import numpy as np
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow


class BenchVz(Task):
    name = "bench-vz"

    def init(self):
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20.0, 20.0)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])


WORKFLOWS = [Workflow("bench-vz", (BenchVz,), "vertex z")]
"""


def make_package(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "bench_wagons.py").write_text(WAGON)
    info = root / "bench_wagons-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-wagons\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[hyperloop.workflows]\nbench = bench_wagons:WORKFLOWS\n"
    )
    return root


def make_catalogue(root: Path, n: int) -> dict[int, list[tuple[str, int]]]:
    root.mkdir(parents=True)
    first = root / "AO2D_0000.root"
    rng = np.random.default_rng(1)
    with AO2DWriter(first) as w:
        w.write_dataframe(
            1,
            {
                "O2collision": {
                    "fPosZ": rng.normal(0, 6, 100).astype(np.float32),
                    "fIndexBCs": np.arange(100, dtype=np.int32),
                }
            },
        )
    cat = {}
    for i in range(n):
        path = root / f"AO2D_{i:04d}.root"
        if i:
            os.link(first, path)
        cat[100000 + i] = [(str(path), path.stat().st_size)]
    return cat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hyperloop-bench-sched-"))
    try:
        package = make_package(work / "tag")
        jobs = all_jobs(split_catalogue(make_catalogue(work / "data", args.jobs)))
        config = {
            "package_tag": "bench",
            "workflows": [{"workflow_name": "bench-vz", "wagon_id": 1}],
        }
        target = Target("single-core", 1, 2 * 1024**3, 600)
        with Engine.local(n_workers=args.workers) as engine:
            t0 = time.perf_counter()
            futures = [
                engine.submit(job, config, target, work / "jobs", 1, package_dir=package)
                for job in jobs
            ]
            attempts = engine.client.gather(futures)
            total = time.perf_counter() - t0
        done = sum(1 for a in attempts if a.ok)
        job_sum = sum(a.wall_s for a in attempts)
        ideal = job_sum / args.workers
        print(f"jobs: {len(jobs)} ({done} done), workers: {args.workers}")
        print(f"mean job wall (child process, incl. start-up): {job_sum / len(attempts):.2f} s")
        print(f"ideal  (sum of job walls / workers): {ideal:.1f} s")
        print(f"actual (all jobs, submit to last record): {total:.1f} s")
        print(f"ratio actual/ideal: {total / ideal:.3f} (goal <= 1.15)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
