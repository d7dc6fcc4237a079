"""Dask workers as batch jobs (dask-jobqueue) for Hyperloop's scheduler.

Run on a login node: python jobqueue_cluster.py slurm|htcondor
then start `HYPERLOOP_DASK_SCHEDULER_ADDRESS=<printed address> hyperloop scheduler`.
Needs `pip install dask-jobqueue`.
"""

from __future__ import annotations

import sys
import time


def make_cluster(kind: str, jobs: int = 10, submit: bool = True):
    # --8<-- [start:cluster]
    from dask_jobqueue import HTCondorCluster, SLURMCluster

    common = dict(
        cores=1,  # one Dask thread per worker: a worker runs one Hyperloop job at a time ...
        processes=1,
        memory="32GB",
        worker_extra_args=["--resources", "cores=8"],  # ... using up to 8 cores (the target's)
        job_script_prologue=["source /opt/hyperloop/bin/activate"],  # hyperloop installed
    )
    if kind == "slurm":  # the batch job reserves 8 cores for the worker
        cluster = SLURMCluster(
            queue="analysis", account="alice", job_cpu=8, walltime="24:00:00", **common
        )
    else:
        cluster = HTCondorCluster(disk="20GB", job_extra_directives={"request_cpus": "8"}, **common)
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
