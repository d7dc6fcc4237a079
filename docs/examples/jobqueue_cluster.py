"""Dask workers as batch jobs (dask-jobqueue) for Hyperloop's scheduler.

Run on a login node: python jobqueue_cluster.py slurm|htcondor
then start `HYPERLOOP_DASK_SCHEDULER_ADDRESS=<printed address> hyperloop scheduler`.
Needs `pip install dask-jobqueue`, and the batch system's submit command (`sbatch` or
`condor_submit`) on this node: without it the script stops at once, saying so.
"""

from __future__ import annotations

import shutil
import sys
import time

SUBMIT = {"slurm": "sbatch", "htcondor": "condor_submit"}


def make_cluster(kind: str, jobs: int = 10, submit: bool = True):
    if kind not in SUBMIT:
        raise SystemExit(f"unknown batch system {kind!r}: slurm or htcondor")
    if submit and shutil.which(SUBMIT[kind]) is None:
        raise SystemExit(
            f"{SUBMIT[kind]} not found on this node: run this script where {kind} jobs can "
            "be submitted (a login node of the batch system)"
        )
    # --8<-- [start:cluster]
    from dask_jobqueue import HTCondorCluster, SLURMCluster

    common = dict(
        cores=8,  # each batch job reserves 8 cores for one worker with 8 threads ...
        processes=1,
        memory="32GB",
        worker_extra_args=["--resources", "cores=8"],  # ... shared by Hyperloop's jobs:
        # a job of a 1-core target takes 1 of them, of a 2-core target 2 (8 or 4 at once)
        job_script_prologue=["source /opt/hyperloop/bin/activate"],  # hyperloop installed
    )
    if kind == "slurm":
        cluster = SLURMCluster(queue="analysis", account="alice", walltime="24:00:00", **common)
    else:
        cluster = HTCondorCluster(disk="20GB", **common)
    print(cluster.job_script())  # what will be submitted
    if submit:
        cluster.scale(jobs=jobs)  # or cluster.adapt(minimum_jobs=1, maximum_jobs=100)
    print("HYPERLOOP_DASK_SCHEDULER_ADDRESS =", cluster.scheduler_address)
    # --8<-- [end:cluster]
    return cluster


if __name__ == "__main__":
    cluster = make_cluster(sys.argv[1] if len(sys.argv) > 1 else "slurm")
    while True:  # keep the Dask scheduler alive as long as Hyperloop uses it
        time.sleep(3600)
