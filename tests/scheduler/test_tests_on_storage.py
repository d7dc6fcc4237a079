"""Wagon and train tests through the storage (``storage_url``), the scheduler's side.

With a remote storage (moto's S3 server, a real process) a test's attempt goes to
``<storage>/tests/<kind>-test-<id>/sample/attempt-<n>/``, numbered by what the storage holds,
with the package tag published there (the worker fetches it and checks its hash). The
scheduler reads a finished test's files through the storage and records the same figures
as from a local folder; a test whose files cannot be found or stored ends failed, naming
the storage and the step. A local storage keeps tests in ``work_dir/tests``."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import pytest
from tests.factories import make_catalogue, make_package, seed_files_world
from tests.s3server import BUCKET, s3_server

from hyperloop.analysis.tags import tree_digest
from hyperloop.core.assessment import DatasetSize, SampleFacts, Thresholds
from hyperloop.db.models import PackageTag, TrainRun
from hyperloop.enums import TestStatus, TrainState
from hyperloop.grid import store
from hyperloop.grid.execute import AttemptRecord, execute_attempt
from hyperloop.grid.splitting import JobSpec
from hyperloop.grid.targets import Target
from hyperloop.scheduler import decide
from hyperloop.scheduler.shell import (
    METRICS_OUTPUTS,
    SchedulerShell,
    ShellConfig,
    _attempt_files,
    _Running,
)

GiB = 1024**3
TARGET = Target("small", 1, int(1.5 * GiB), 120)
URL = f"s3://{BUCKET}/work"


@pytest.fixture
def s3(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERLOOP_WORKER_SCRATCH", str(tmp_path / "scratch"))
    with s3_server(tmp_path / "moto.log") as env:
        yield env


class RecordingEngine:
    """An engine that keeps what it was asked to run; each future finishes with ``result``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.result: AttemptRecord | None = None

    def submit(self, job, full_config, target, train_dir, attempt, **kwargs) -> Future:
        self.calls.append({"job": job, "train_dir": train_dir, "attempt": attempt, **kwargs})
        future: Future = Future()
        if self.result is not None:
            future.set_result(self.result)
        return future


def _shell(sessions, root: Path, storage_url: str, engine: Any) -> SchedulerShell:
    config = ShellConfig(
        work_dir=root / "work",
        targets={"small": TARGET},
        test_target="small",
        storage_url=storage_url,
        core=decide.SchedulerConfig(thresholds=Thresholds(min_reduction_factor=1)),
    )
    shell = SchedulerShell(sessions, engine, config)
    shell.last_stale_clean = datetime.now(UTC)
    return shell


def _local_attempt(tmp_path: Path) -> AttemptRecord:
    """A real test attempt of the gt-pt wagon (every device a process, profiled), computed
    in a local folder."""
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    run = min(catalogue)
    job = JobSpec("sample", run, 0, tuple(p for p, _ in catalogue[run]))
    config = {
        "package_tag": "gridtest-1.0",
        "workflows": [{"workflow_name": "gt-pt", "suffix": "", "wagon_id": 7}],
    }
    folder = tmp_path / "work" / "tests" / "wagon-test-1"
    rec = execute_attempt(
        job, config, TARGET, folder, 1, package_dir=package, profile=True, mode="processes"
    )
    assert rec.ok, rec.message
    return rec


def _uploaded(rec: AttemptRecord, url: str) -> AttemptRecord:
    """The same attempt as a worker leaves it on a remote storage: its folder uploaded,
    its record naming the outputs by URL (``grid.execute._upload``)."""
    folder = Path(rec.folder)
    store.upload_folder(folder, url, skip=frozenset({"heartbeat"}))
    outputs = {
        kind: store.join(url, Path(path).relative_to(folder.resolve()).as_posix())
        for kind, path in rec.outputs.items()
    }
    return replace(rec, folder=url, outputs=outputs)


@pytest.mark.slow
def test_the_scheduler_records_the_same_figures_from_s3_as_from_a_local_folder(
    s3, tmp_path, db_sessionmaker
):
    local = _local_attempt(tmp_path)
    remote = _uploaded(local, f"{URL}/tests/wagon-test-1/sample/attempt-1")
    shell = _shell(db_sessionmaker, tmp_path, URL, engine=None)
    facts = SampleFacts(kind="wagon", derived_type=None, input_bytes=1e6)
    item = _Running(None, facts, DatasetSize(bytes=5e7, files=10, files_per_job=10))

    # every file the scheduler reads of a test: summary, run report, output and log sizes
    files = _attempt_files(remote)
    assert files == _attempt_files(local)
    assert files[1]["plan"]["tasks"] and files[2] > 0 and files[3] > 0, files[1:]

    from_local = shell._test_event("wagon", 1, local, item)
    from_s3 = shell._test_event("wagon", 1, remote, item)
    assert not from_s3.error, from_s3.error
    assert from_s3 == from_local  # summary per device, CPU, output and log sizes, ...
    devices = [k for k in from_s3.summary if k != "__full_train__"]
    assert "gt-pt" in devices, devices
    analysis_files = [p for k, p in local.outputs.items() if k not in METRICS_OUTPUTS]
    assert [Path(p).suffix for p in analysis_files] == [".root"]  # the metrics are not output
    assert from_s3.facts.output_bytes == sum(Path(p).stat().st_size for p in analysis_files)
    assert from_s3.facts.log_bytes == (Path(local.folder) / "console.log").stat().st_size > 0
    # hence the same verdict, warnings and expected resources
    thresholds = Thresholds(min_reduction_factor=1, wagon_test_memory_limit=1.0)  # warns
    status, warnings, expected, _ = decide.assess(from_s3, thresholds)
    assert (status, warnings, expected) == decide.assess(from_local, thresholds)[:3]
    assert status is TestStatus.WARNING and "gt-pt" in warnings[0]["message"]


@pytest.mark.slow
def test_a_test_whose_files_are_missing_in_the_storage_fails_naming_them(
    s3, tmp_path, db_sessionmaker
):
    local = _local_attempt(tmp_path)
    url = f"{URL}/tests/wagon-test-1/sample/attempt-1"
    remote = _uploaded(local, url)
    shell = _shell(db_sessionmaker, tmp_path, URL, engine=None)
    item = _Running(None, SampleFacts(kind="wagon"), DatasetSize(bytes=5e7, files=10))
    fs = fsspec.filesystem("s3")

    fs.rm_file(f"{url}/AnalysisResults.root".removeprefix("s3://"))
    event = shell._test_event("wagon", 1, remote, item)
    assert event.error.startswith("OutputNotFound: the output "), event.error
    assert f"{url}/AnalysisResults.root" in event.error
    assert "reading the outputs' sizes" in event.error
    assert decide.assess(event, Thresholds())[0] is TestStatus.FAILED  # never done

    fs.rm_file(f"{url}/metrics_summary.json".removeprefix("s3://"))
    event = shell._test_event("wagon", 1, remote, item)
    assert event.error.startswith("OutputNotFound: no metrics summary: "), event.error
    assert f"{url}/metrics_summary.json" in event.error

    # the same on a local folder: a validated attempt whose output is gone is not done
    Path(local.outputs["AnalysisResults"]).unlink()
    event = shell._test_event("wagon", 1, local, item)
    assert event.error.startswith("OutputNotFound: the output "), event.error


@pytest.mark.slow
def test_an_attempt_that_cannot_be_stored_fails_the_test_naming_the_storage(
    s3, tmp_path, db_sessionmaker
):
    package = make_package(tmp_path / "tag")
    catalogue = make_catalogue(tmp_path / "data", files_per_run=1)
    run = min(catalogue)
    job = JobSpec("sample", run, 0, tuple(p for p, _ in catalogue[run]))
    config = {"package_tag": "gridtest-1.0", "workflows": [{"workflow_name": "gt-pt"}]}
    refused = "s3://no-such-bucket/work/tests/wagon-test-1"
    rec = execute_attempt(job, config, TARGET, refused, 1, package_dir=package, mode="processes")
    shell = _shell(db_sessionmaker, tmp_path, "s3://no-such-bucket/work", engine=None)
    item = _Running(None, SampleFacts(kind="wagon"), DatasetSize(bytes=5e7, files=10))
    event = shell._test_event("wagon", 1, rec, item)
    assert event.error.startswith("system (StorageError at upload): "), event.error
    assert "no-such-bucket/work/tests/wagon-test-1/sample/attempt-1" in event.error
    assert "(claim)" in event.error or "(upload)" in event.error
    assert decide.assess(event, Thresholds())[0] is TestStatus.FAILED


def test_a_train_test_on_s3_is_stored_there_with_the_published_tag(s3, tmp_path):
    world = seed_files_world(tmp_path, state=TrainState.COMPOSED)
    digest = tree_digest(world.package)
    with world.sessions.begin() as s:  # the tag's hash, as registration records it
        s.get(PackageTag, s.get(TrainRun, world.train_id).tag_id).digest = digest
    folder = f"{URL}/tests/train-test-{world.train_id}"
    # a lost attempt left its claim: the test's next attempt is numbered after it
    store.write_bytes(f"{folder}/sample/attempt-1/attempt.json", b"{}")
    engine = RecordingEngine()
    shell = _shell(world.sessions, tmp_path, URL, engine)

    tick = shell.tick()
    assert decide.StartTrainTest(world.train_id) in tick.instructions, tick
    assert not tick.failed, tick.failed
    (call,) = engine.calls
    assert (call["train_dir"], call["attempt"]) == (folder, 2)
    assert call["package_dir"] == f"{URL}/tags/{digest}"
    assert call["package_digest"] == digest
    assert store.exists(f"{URL}/tags/{digest}/.complete")
    assert not (tmp_path / "work" / "tests").exists()


def test_a_test_on_a_local_storage_stays_in_the_work_dir(tmp_path):
    world = seed_files_world(tmp_path, state=TrainState.COMPOSED)
    engine = RecordingEngine()
    shell = _shell(world.sessions, tmp_path, str(tmp_path / "store"), engine)
    (tmp_path / "work" / "tests" / f"train-test-{world.train_id}" / "sample" / "attempt-1").mkdir(
        parents=True
    )
    shell.tick()
    (call,) = engine.calls
    folder = tmp_path / "work" / "tests" / f"train-test-{world.train_id}"
    assert (call["train_dir"], call["attempt"]) == (folder, 2)
    assert call["package_dir"] == str(world.package) and "package_digest" not in call
