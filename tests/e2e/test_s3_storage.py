"""Storage without a shared filesystem: train jobs and merges on an S3-compatible server
(moto's, started by the test), the Dask workers computing in their own scratch folders.

A train's attempts are uploaded by the workers to ``s3://.../trains/<id>/jobs/...``, the
scheduler merges by reading them back from S3, and nothing of the train is written under
the scheduler's ``work_dir``; its merged histograms equal one local run over the same files.
A storage that refuses the uploads (its bucket deleted once the train's test, stored there
too, is done) fails each attempt once, with one grouped error, the jobs are retried up to
the limit and the train is flagged: never "done"."""

from __future__ import annotations

import json

import fsspec
import pytest
from tests.e2e.conftest import SystemFactory
from tests.grid.helpers import assert_same_histograms, config, reference_run
from tests.s3server import BUCKET, s3_server

from hyperloop.analysis.tags import tree_digest
from hyperloop.db.models import Job, PackageTag, TrainMerge, TrainRun


@pytest.fixture
def s3(tmp_path):
    with s3_server(tmp_path / "moto.log") as env:
        yield env


@pytest.mark.slow
def test_a_train_stored_on_s3_gives_the_result_of_a_local_run(
    s3, system_factory: SystemFactory, tmp_path
):
    url = f"s3://{BUCKET}/work"
    scratch = tmp_path / "worker-scratch"  # the workers' own folder (not the scheduler's)
    system = system_factory(storage_url=url, worker_scratch=str(scratch))
    wagon = system.wagon("gt-pt")
    train = system.train([wagon])
    assert system.wait_train(train) == "done", system.tails()
    jobs = system.get(f"/api/jobs?train_run_id={train}")["items"]
    assert jobs and all(j["state"] == "done" for j in jobs), jobs

    with system.sessions() as s:
        merged = s.get(TrainRun, train).output_dir
        merges = s.query(TrainMerge).filter_by(train_run_id=train).all()
        job_ids = [j.id for j in s.query(Job).filter_by(train_run_id=train)]
        digest = s.get(PackageTag, system.tag_id).digest or tree_digest(system.package)
    assert merged.startswith(f"{url}/trains/{train}/merged/"), merged
    assert merges and all(m.state == "done" for m in merges)
    # each job's verdict and outputs are in S3, named by URL
    fs = fsspec.filesystem("s3")
    for job_id in job_ids:
        folder = f"{BUCKET}/work/trains/{train}/jobs/job-{job_id}/attempt-1"
        record = json.loads(fs.cat_file(f"{folder}/record.json"))
        assert record["state"] == "done", record
        assert record["outputs"]["AnalysisResults"] == f"s3://{folder}/AnalysisResults.root"
        assert fs.exists(f"{folder}/console.log")
    # nothing of the train went through the scheduler's local work folder
    assert not (system.root / "var" / "work" / "trains").exists()
    # the tag was published once to the storage; the workers ran their verified copy of it
    assert digest and fs.exists(f"{BUCKET}/work/tags/{digest}/.complete")
    assert (scratch / "tags" / digest).is_dir()
    assert [p.name for p in scratch.iterdir()] == ["tags"]  # attempts' scratch removed

    parts = system.get("/api/health")["parts"]  # the operator's view of the deployment
    assert all(p["alive"] for p in parts.values()), parts
    assert parts["storage"]["detail"].startswith(url), parts

    log = system.log("scheduler")  # one line per decision, with its ids
    assert f"decision=StartRunMerge train_id={train} run=" in log, log[-3000:]
    assert f"decision=SubmitJob job_id={job_ids[0]} target=small" in log

    local = tmp_path / "merged.root"  # through the web server, which reads it from S3
    with system.client("admin") as c:
        r = c.get(f"/api/train-runs/{train}/result")
        assert r.status_code == 200, r.text
    local.write_bytes(r.content)
    assert r.content == fs.cat_file(merged.removeprefix("s3://"))
    reference = reference_run(config("gt-pt"), system.files, tmp_path / "ref", system.package)
    assert_same_histograms(str(local), reference)


@pytest.mark.slow
def test_a_storage_refusing_outputs_fails_the_jobs_once_each_and_flags_the_train(
    s3, system_factory: SystemFactory
):
    bucket = "vanishing"  # holds the tests, then is deleted: the jobs' storage refuses all
    fs = fsspec.filesystem("s3")
    fs.mkdir(bucket)
    system = system_factory(storage_url=f"s3://{bucket}/work", scheduler_max_attempts="2")
    wagon = system.wagon("gt-pt")
    train = system.train([wagon], submit=False)
    tested = system.wait_train(train, ("test_done", "test_warning", "test_failed"))
    assert tested != "test_failed", system.get(f"/api/train-runs/{train}")
    fs.rm(bucket, recursive=True)
    assert not fs.exists(bucket)
    with system.client("admin") as c:
        r = c.post(f"/api/train-runs/{train}/submit")
        assert r.status_code == 200, r.text

    def failed_for_good():
        jobs = system.get(f"/api/jobs?train_run_id={train}")["items"]
        final = [j for j in jobs if j["state"] not in ("waiting", "running")]
        return jobs if jobs and len(final) == len(jobs) else None

    jobs = system.wait_for("every job to fail after its retries", failed_for_good, timeout=240)
    assert {j["state"] for j in jobs} == {"execution_error"}, jobs
    with system.sessions() as s:
        rows = s.query(Job).filter_by(train_run_id=train).all()
        assert {r.error_signature for r in rows} == {"StorageError at upload"}
        assert all(r.attempts == 2 for r in rows), [(r.id, r.attempts) for r in rows]
        assert all(f"s3://{bucket}/work/trains/{train}/jobs/" in r.error_message for r in rows)
        assert all(len(r.error_message) < 600 for r in rows)
    train_view = system.get(f"/api/train-runs/{train}")
    assert train_view["state"] != "done"
    # the health endpoint looks at the storage at most every STORAGE_TTL_S (15 s)
    storage = system.wait_for(
        "the health endpoint to see the storage gone",
        lambda: (part := system.get("/api/health")["parts"]["storage"])["alive"] is False and part,
        timeout=60,
    )
    assert bucket in storage["detail"], storage
    issues = system.get("/api/train-runs/with-issues")["items"]
    assert [i for i in issues if i["id"] == train], issues
    # bounded: the scheduler's log does not grow with every tick
    log = system.log("scheduler")
    assert log.count("StorageError") <= 2 * len(rows) + 2, log[-3000:]


@pytest.mark.slow
def test_a_train_on_s3_survives_a_lost_worker_and_a_scheduler_restart(
    s3, system_factory: SystemFactory, tmp_path
):
    """The deployment of the operator guide: PostgreSQL (when the suite has it), an external
    Dask scheduler whose workers share no folder with the scheduler, S3 storage, the
    scheduler apart and two web servers. A worker killed mid-attempt (its attempt never
    uploaded) and the scheduler restarted (it judges running attempts by what the storage
    holds): every job done, the output of an undisturbed run, the same through either web
    server."""
    import psutil

    url = f"s3://{BUCKET}/lost"
    scratch = tmp_path / "worker-scratch"
    system = system_factory(
        storage_url=url, worker_scratch=str(scratch), scheduler_max_files_per_job="1"
    )
    system.start("server-2")  # a second web server on the same database and storage
    wagon = system.wagon("gt-pt", {"gt-pt": {"sleepPerDf": "2.5"}})
    train = system.train([wagon])
    worker = system.procs["worker-0"].pid

    def attempt_on_worker_0() -> bool:
        for p in psutil.process_iter(["cmdline", "cwd"]):
            cwd = p.info["cwd"] or ""
            if cwd.startswith(str(scratch)) and "run-train" in (p.info["cmdline"] or []):
                try:
                    if any(parent.pid == worker for parent in p.parents()):
                        return True
                except psutil.Error:
                    continue
        # stop waiting if the train got past running without one (the assertion says so)
        return system.get(f"/api/train-runs/{train}")["state"] not in ("submitted", "running")

    system.wait_for("an attempt running on worker-0", attempt_on_worker_0)
    assert system.get(f"/api/train-runs/{train}")["state"] == "running"
    system.kill("worker-0")
    system.start("worker-0")
    system.restart("scheduler")

    assert system.wait_train(train) == "done", system.tails()
    done = system.get(f"/api/jobs?train_run_id={train}&limit=100")["items"]
    assert len(done) == 6 and all(j["state"] == "done" for j in done), done
    assert any(j["attempts"] >= 2 for j in done), done  # the lost attempt ran again
    assert not (system.root / "var" / "work" / "trains").exists()
    reference = reference_run(config("gt-pt"), system.files, tmp_path / "ref", system.package)
    for server in ("server", "server-2"):
        local = tmp_path / f"merged-{server}.root"
        with system.client("admin", server=server) as c:
            r = c.get(f"/api/train-runs/{train}/result")
            assert r.status_code == 200, r.text
            health = c.get("/api/health").json()
        local.write_bytes(r.content)
        assert_same_histograms(str(local), reference)
        parts = health["parts"]
        assert all(parts[p]["alive"] for p in ("database", "scheduler", "engine", "storage"))
