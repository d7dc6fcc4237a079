"""The pages of a train whose jobs and merges are stored on S3 (moto's server), with Dask
workers that share no folder with the scheduler or the web server: the web server reads
the storage through its mirror (``grid.store.Mirror`` in ``<cache_dir>/storage-mirror``).
While the train runs, its partial results are merged by the scheduler from the storage into
``<storage>/trains/<id>/partial/`` and shown; once it is done, the jobs tab shows each
attempt and its console log (and reproduces it from its recorded files), the output browser lists the merged file's histograms and
serves its bytes, and nothing else of the storage is served."""

from __future__ import annotations

import fsspec
import pytest
from tests.e2e.conftest import SystemFactory
from tests.e2e.test_partial_results import SLOW, _files_of
from tests.factories import RUNS
from tests.grid.helpers import assert_same_histograms, config, reference_run
from tests.s3server import BUCKET, s3_server


@pytest.fixture
def s3(tmp_path):
    with s3_server(tmp_path / "moto.log") as env:
        yield env


@pytest.mark.slow
def test_the_pages_of_a_train_stored_on_s3(s3, system_factory: SystemFactory, tmp_path):
    url = f"s3://{BUCKET}/browse"
    scratch = tmp_path / "worker-scratch"  # the workers' own folder
    start = ("dask-scheduler", "worker-0", "scheduler", "server")  # one job at once
    system = system_factory(
        start=start,
        storage_url=url,
        worker_scratch=str(scratch),
        scheduler_partial_results_every_s="0.2",
    )
    fs = fsspec.filesystem("s3")
    train = system.train([system.wagon("gt-pt", SLOW)])
    partial_url = f"/api/train-runs/{train}/partial"

    # --- while it runs: partial results merged from the storage, into the storage
    system.wait_for("partial results", lambda: system.get(partial_url)["partial"], timeout=300)
    system.stop("worker-0")  # no job finishes any more: the partial results stay as they are

    def stable():
        before = system.get(partial_url)["partial"]
        done = {
            j["run_number"]
            for j in system.get(f"/api/jobs?train_run_id={train}&limit=100")["items"]
            if j["state"] == "done"
        }
        if before is None or set(before["runs_included"]) != done:
            return None
        with system.client("alice") as c:
            r = c.get("/outputs/file", params={"path": before["overall"]["path"]})
        assert r.status_code == 200, r.text
        return (before, r.content) if system.get(partial_url)["partial"] == before else None

    partial, data = system.wait_for("stable partial results", stable, timeout=120)
    runs = partial["runs_included"]
    assert 1 <= len(runs) < len(RUNS)
    assert partial["overall"]["path"].startswith(f"trains/{train}/partial/"), partial
    assert fs.exists(f"{BUCKET}/browse/trains/{train}/partial/partial.json")
    copy = tmp_path / "partial.root"
    copy.write_bytes(data)
    ref = reference_run(
        config(("gt-pt", SLOW)), _files_of(system, runs), tmp_path / "r", system.package
    )
    assert_same_histograms(copy, ref)  # equal to a plain run over the finished runs
    with system.client("alice") as c:
        html = c.get(f"/train-run/{train}?tab=outputs").text
    assert "Partial results (live)" in html and partial["label"] in html

    system.start("worker-0")
    assert system.wait_train(train) == "done", system.tails()
    assert system.get(partial_url)["partial"] is None
    assert not fs.exists(f"{BUCKET}/browse/trains/{train}/partial")  # removed after the merge
    assert not (system.root / "var" / "work" / "trains").exists()  # nothing shared locally

    # --- the jobs tab: every attempt, its files and its console log
    jobs = system.get(f"/api/jobs?train_run_id={train}&limit=100")["items"]
    for job in jobs:
        view = system.get(f"/api/jobs/{job['id']}/attempts", user="alice")
        attempts = view["attempt_details"]
        assert attempts and attempts[-1]["state"] == "done", view
        log = next(f for f in attempts[-1]["files"] if f["label"] == "console.log")
        assert log["path"] == f"{attempts[-1]['folder']}/console.log"
        remote_log = fs.cat_file(f"{BUCKET}/browse/{log['path']}")
        assert view["log_tail"] and view["log_tail"] in remote_log.decode(errors="replace")
        with system.client("alice") as c:
            served = c.get("/outputs/file", params={"path": log["path"]})
            page = c.get(f"/job/{job['id']}")
        assert served.status_code == 200 and served.content == remote_log
        assert page.status_code == 200 and "console.log" in page.text
        reproduce = system.get(f"/api/jobs/{job['id']}/reproduce", user="alice")
        assert reproduce["source"].endswith(attempts[-1]["folder"]), reproduce["source"]

    # --- merging view, outputs view and the output browser on the merged file
    final = system.get(f"/api/train-runs/{train}/merging")["final"]
    assert final["done"] and final["file"]["path"].startswith(f"trains/{train}/merged/")
    outputs = system.get(f"/api/train-runs/{train}/outputs", user="alice")
    path = outputs["final"]["path"]
    assert path == final["file"]["path"]
    with system.client("alice") as c:
        listing = c.get("/api/outputs/browse", params={"path": path})
        got = c.get("/outputs/file", params={"path": path})
        ranged = c.get("/outputs/file", params={"path": path}, headers={"Range": "bytes=0-99"})
        page = c.get("/outputs/browse", params={"path": path})
    assert listing.status_code == 200, listing.text
    assert listing.json()["kind"] == "root" and listing.json()["histograms"]
    merged = fs.cat_file(f"{BUCKET}/browse/{path}")
    assert got.status_code == 200 and got.content == merged
    assert ranged.status_code == 206 and ranged.content == merged[:100]  # JSROOT's reads
    assert page.status_code == 200
    every = reference_run(config(("gt-pt", SLOW)), system.files, tmp_path / "all", system.package)
    (tmp_path / "merged.root").write_bytes(got.content)
    assert_same_histograms(tmp_path / "merged.root", every)

    # --- only what the owner permits: not the anonymous, not a folder of no train, not tags
    fs.pipe_file(f"{BUCKET}/browse/trains/999999/AnalysisResults.root", b"not a train's")
    with system.client("alice") as c:
        c.headers.pop("Authorization")
        assert c.get("/outputs/file", params={"path": path}).status_code == 401
    with system.client("alice") as c:
        ghost = c.get("/outputs/file", params={"path": "trains/999999/AnalysisResults.root"})
        assert ghost.status_code == 404, ghost.text
        top = c.get("/api/outputs/browse", params={"path": ""}).json()
        names = [e["name"] for e in top["entries"]]
        assert "trains" in names and set(names) <= {"trains", "tests"}, names  # no tags/
        trains = c.get("/api/outputs/browse", params={"path": "trains"}).json()
        assert [e["name"] for e in trains["entries"]] == [str(train)]
        tags = [p.rsplit("/", 1)[-1] for p in fs.ls(f"{BUCKET}/browse/tags")]
        assert tags
        refused = c.get("/api/outputs/browse", params={"path": f"tags/{tags[0]}"})
        assert refused.status_code == 404, refused.text
    # the server's copy is in its cache folder, not in the work folder
    assert (system.root / "var" / "cache" / "storage-mirror").is_dir()
