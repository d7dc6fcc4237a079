#!/usr/bin/env bash
# Storage of train jobs, merges and tags on S3 (docs/operator-guide/deployment.md).
set -euo pipefail
# --8<-- [start:setup]
# on the scheduler, on every web server and on every worker node
pip install s3fs
export AWS_ACCESS_KEY_ID=hyperloop AWS_SECRET_ACCESS_KEY=secret
export FSSPEC_S3_ENDPOINT_URL=https://s3.example.org   # another S3 than Amazon's
# on the scheduler and the web servers
export HYPERLOOP_STORAGE_URL=s3://hyperloop/work
hyperloop storage check
# on each worker node: its own scratch folder, nothing shared
HYPERLOOP_WORKER_SCRATCH=/scratch/hyperloop dask worker tcp://head:8786 --nthreads 1
# --8<-- [end:setup]
