"""Attempts stored on an S3-compatible server (moto's, a real process): the worker computes
in its own scratch folder, uploads the attempt, its verdict last; it runs a package tag
fetched from the storage only when the tag's content hash is the registered one; a storage
that refuses the upload fails the attempt with one grouped error. The scheduler counts a
validated attempt only when it can find its outputs."""

from __future__ import annotations

import json

import fsspec
import pytest
from tests.grid.helpers import config
from tests.s3server import BUCKET, s3_server

from hyperloop.analysis.tags import tree_digest
from hyperloop.grid import store
from hyperloop.grid.execute import AttemptRecord, execute_attempt
from hyperloop.grid.splitting import split_run
from hyperloop.grid.targets import Target
from hyperloop.scheduler.trainwork import TrainWork

GiB = 1024**3


@pytest.fixture
def s3(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERLOOP_WORKER_SCRATCH", str(tmp_path / "scratch"))
    with s3_server(tmp_path / "moto.log") as env:
        yield env


@pytest.fixture
def job(catalogue):
    run = min(catalogue)
    (job,) = split_run(run, catalogue[run][:1])
    return job


TARGET = Target("small", 1, int(1.5 * GiB), 120)


@pytest.mark.slow
def test_an_attempt_on_s3_runs_the_verified_tag_and_uploads_its_outputs(
    s3, job, package_dir, tmp_path
):
    digest = tree_digest(package_dir)
    tag = store.publish_tag(package_dir, digest, f"s3://{BUCKET}/work")
    assert tag == f"s3://{BUCKET}/work/tags/{digest}"
    jobs = f"s3://{BUCKET}/work/trains/1/jobs"
    rec = execute_attempt(
        job, config("gt-pt"), TARGET, jobs, 1, package_dir=tag, package_digest=digest
    )
    assert rec.ok, rec.message
    folder = f"{jobs}/{job.job_id}/attempt-1"
    assert rec.folder == folder
    assert rec.outputs["AnalysisResults"] == f"{folder}/AnalysisResults.root"
    fs = fsspec.filesystem("s3")
    stored = json.loads(fs.cat_file(f"{folder}/record.json".removeprefix("s3://")))
    assert stored["state"] == "done" and stored["outputs"] == rec.outputs
    for url in rec.outputs.values():
        assert store.exists(url), url
    scratch = tmp_path / "scratch"
    assert sorted(p.name for p in scratch.iterdir()) == ["tags"]  # the attempt's scratch removed
    assert tree_digest(scratch / "tags" / digest) == digest

    again = execute_attempt(job, config("gt-pt"), TARGET, jobs, 1, package_dir=tag)
    assert (again.error_kind, again.signature) == ("lost", "LostWorker")  # claimed once


def test_a_tag_whose_content_differs_from_its_digest_is_not_run(s3, job, package_dir, tmp_path):
    registered = "0" * 64  # what the database recorded; the folder holds something else
    tag = store.publish_tag(package_dir, registered, f"s3://{BUCKET}/work")
    rec = execute_attempt(
        job,
        config("gt-pt"),
        TARGET,
        tmp_path / "jobs",
        1,
        package_dir=tag,
        package_digest=registered,
    )
    assert (rec.state, rec.error_kind, rec.signature) == ("error", "system", "TagFetchError")
    assert "differs from the registered 000000000000" in rec.message
    assert not (tmp_path / "scratch" / "tags" / registered).exists()
    assert rec.exit_code is None  # nothing ran


def test_a_storage_refusing_the_upload_fails_the_attempt_with_one_grouped_error(s3, job):
    rec = execute_attempt(job, config("gt-pt"), TARGET, "s3://no-such-bucket/work/jobs", 1)
    assert (rec.state, rec.error_kind, rec.signature) == (
        "error",
        "system",
        "StorageError at upload",
    )
    assert "s3://no-such-bucket/work/jobs" in rec.message and len(rec.message) < 600
    assert rec.outputs == {}


def test_a_validated_attempt_whose_outputs_the_scheduler_cannot_find_is_not_done(tmp_path):
    """A worker that wrote to its own disk (no shared folder): never recorded done."""
    work = TrainWork(engine=None, targets={}, work_dir=tmp_path)  # type: ignore[arg-type]
    rec = AttemptRecord(
        job_id="job-7",
        run=1,
        attempt=2,
        target="small",
        state="done",
        host="node-b",
        outputs={"AnalysisResults": str(tmp_path / "elsewhere" / "AnalysisResults.root")},
    )
    event = work._finished(7, rec)
    assert (event.error_kind, event.signature, event.attempt) == ("system", "OutputNotFound", 2)
    assert "node-b" in event.message and "elsewhere" in event.message
    assert 7 not in work.records

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "AnalysisResults.root").write_bytes(b"root")
    assert work._finished(7, rec).error_kind == ""
    assert work.records[7] is rec
