"""Wagon and train tests without a shared filesystem: the tests' attempts on an S3-compatible
server (moto's, started by the test), computed by external Dask workers in scratch folders
of their own with the package tag fetched from the storage and checked by its hash.

A wagon's test and the test of the train composed of it end done; what the scheduler
recorded (expected resources, per-device figures, sharing) is what their
``metrics_summary.json`` in S3 says, and nothing is written under the scheduler's
``work_dir/tests``. A storage that refuses the attempt fails the test naming it."""

from __future__ import annotations

import json

import fsspec
import pytest
from tests.e2e.conftest import SystemFactory
from tests.s3server import BUCKET, s3_server

from hyperloop.analysis.tags import tree_digest
from hyperloop.core import sharing
from hyperloop.db.models import PackageTag, TrainRun, WagonTest


@pytest.fixture
def s3(tmp_path):
    with s3_server(tmp_path / "moto.log") as env:
        yield env


def _attempt(fs, folder: str) -> tuple[dict, dict]:
    """(record.json, metrics_summary.json) of a test attempt stored in S3."""
    record = json.loads(fs.cat_file(f"{folder}/record.json"))
    summary = json.loads(fs.cat_file(f"{folder}/metrics_summary.json"))
    return record, summary


@pytest.mark.slow
def test_wagon_and_train_tests_run_through_s3_storage(s3, system_factory: SystemFactory, tmp_path):
    url = f"s3://{BUCKET}/work"
    scratch = tmp_path / "worker-scratch"  # the workers' own folder (not the scheduler's)
    system = system_factory(storage_url=url, worker_scratch=str(scratch))
    fs = fsspec.filesystem("s3")
    wagon = system.wagon("gt-pt")
    test = system.wagon_test(wagon)
    assert test["status"] == "done", test

    folder = f"{BUCKET}/work/tests/wagon-test-{test['id']}/sample/attempt-1"
    record, summary = _attempt(fs, folder)
    assert record["state"] == "done", record
    assert record["outputs"]["AnalysisResults"] == f"s3://{folder}/AnalysisResults.root"
    for name in ("console.log", "full_config.json", "performanceMetrics.json"):
        assert fs.exists(f"{folder}/{name}"), name
    with system.sessions() as s:
        assert s.get(WagonTest, test["id"]).output_dir == f"{url}/tests/wagon-test-{test['id']}"
        digest = s.get(PackageTag, system.tag_id).digest or tree_digest(system.package)
    # what the scheduler recorded is what the summary and the outputs in S3 say
    result = system.get(f"/api/wagons/{wagon}/tests/{test['id']}")
    expected, full = result["expected"], summary["__full_train__"]
    assert expected["scale"] > 0, expected
    assert expected["cpu_seconds"] == pytest.approx(full["cpu"] * expected["scale"])
    assert expected["wall_seconds"] == pytest.approx(full["wall"] * expected["scale"])
    # the output size is the analysis's files, not the metrics files beside them
    sizes = sum(
        fs.size(u.removeprefix("s3://"))
        for kind, u in record["outputs"].items()
        if kind not in ("performanceMetrics", "metrics_summary")
    )
    assert expected["output_bytes"] == sizes
    assert "gt-pt" in summary, sorted(summary)  # the wagon's device measured on its own
    # the test's page reads its files from S3 through the web server's mirror
    devices = {d["device"]: d for d in result["devices"]}
    assert set(devices) == set(summary) - {"__full_train__"}
    for name, entry in devices.items():
        pss = summary[name]["proportionalSetSize_summary"]
        assert (entry["cpu_s"], entry["pss_avg_bytes"]) == (summary[name]["cpu"], pss["avg"])
    assert result["total"]["cpu_s"] == full["cpu"]
    assert result["logs"] and result["output_bytes"] == sizes
    assert (
        result["results"] == f"tests/wagon-test-{test['id']}/sample/attempt-1/AnalysisResults.root"
    )
    with system.client("alice") as c:
        served = c.get("/outputs/file", params={"path": result["results"]})
        assert served.status_code == 200, served.text[:300]
        assert served.content == fs.cat_file(f"{folder}/AnalysisResults.root")
        page = c.get(f"/wagon-test/{test['id']}")
        assert page.status_code == 200 and "Metrics per device" in page.text
        assert "gt-pt" in page.text and "console.log" in page.text
        stats = c.get(f"/api/wagons/{wagon}/test-statistics").json()
        [point] = [p for d in stats["datasets"] for p in d["points"]]
        assert point["cpu_s"] == full["cpu"] and point["output_bytes"] == sizes, point

    train = system.train([wagon], submit=False)
    assert system.wait_train(train, ("test_done", "test_warning", "test_failed")) == "test_done"
    folder = f"{BUCKET}/work/tests/train-test-{train}/sample/attempt-1"
    record, summary = _attempt(fs, folder)
    assert record["state"] == "done", record
    metrics = system.get(f"/api/train-runs/{train}")["test_metrics"]
    # the API's per-device figures are those of the summary stored in S3
    assert metrics["devices"] == sharing.compact_devices(summary)
    assert metrics["devices"]["gt-pt"]["cpu"] == summary["gt-pt"]["cpu"] > 0
    with system.sessions() as s:
        wagons = s.get(TrainRun, train).wagons_snapshot
    assert metrics["sharing"] == sharing.sample_savings(metrics["devices"], wagons)
    assert metrics["expected"]["cpu_seconds"] == pytest.approx(
        summary["__full_train__"]["cpu"] * metrics["expected"]["scale"]
    )

    # nothing of the tests in the scheduler's work folder; the workers ran the tag they
    # fetched and checked, and removed their attempts' scratch
    assert not (system.root / "var" / "work" / "tests").exists()
    assert digest and fs.exists(f"{BUCKET}/work/tags/{digest}/.complete")
    assert (scratch / "tags" / digest).is_dir()
    assert [p.name for p in scratch.iterdir()] == ["tags"]


@pytest.mark.slow
def test_a_test_on_a_storage_refusing_writes_fails_naming_the_storage(
    s3, system_factory: SystemFactory, tmp_path
):
    system = system_factory(
        storage_url="s3://no-such-bucket/work", worker_scratch=str(tmp_path / "scratch")
    )
    wagon = system.wagon("gt-pt")
    test = system.wagon_test(wagon)
    assert test["status"] == "failed", test
    error = system.get(f"/api/wagons/{wagon}/tests/{test['id']}")["test"]["error"]
    assert error.startswith("system (StorageError at upload): "), error
    assert f"s3://no-such-bucket/work/tests/wagon-test-{test['id']}/sample/attempt-1" in error
    assert len(error) < 600, error
    assert not (system.root / "var" / "work" / "tests").exists()
