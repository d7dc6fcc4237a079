"""Whole-train workers on a job's cores: each core runs reader and tasks on the dataframes
it claims; tasks that must see every dataframe in order stay in worker 0. The outputs are
those of the one-core run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot
from tests.analysis.pipeline_tasks import LazyCounter, Spectra
from tests.factories import random_dataframe

from hyperloop.analysis.dataparallel import serial_tasks, use_dataframe_parallelism
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.schema import TableSchema
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, load_package, package_from_workflows

GOOD = TableSchema("DpGood", "O2dpgood", {"fIsGood": "bool"}, extends="Tracks")


class Selector(Task):
    """A stateless producer with a histogram of its own (must not be counted twice)."""

    name = "dp-selector"
    produces = (GOOD,)

    def init(self):
        self.histos.add("hEta", "all tracks;#eta;tracks", [(40, -2.0, 2.0)])

    @process(Tracks=["eta"])
    def process(self, df):
        eta = df.table("Tracks")["eta"]
        self.histos["hEta"].fill(eta)
        df.produce(GOOD, fIsGood=np.abs(eta) < 0.6)


class Selected(Task):
    """Stateless consumer of the selector's table."""

    name = "dp-selected"

    def init(self):
        self.histos.add("hPt", "selected;p_{T};tracks", [(50, 0.0, 5.0)])

    @process(Tracks=["pt"], DpGood=["fIsGood"])
    def process(self, df):
        self.histos["hPt"].fill(df.table("Tracks")["pt"][df.table("DpGood")["fIsGood"]])


class Mixing(Task):
    """Keeps the last dataframes' selected tracks (event mixing): order matters."""

    name = "dp-mixing"

    def init(self):
        self.histos.add("hPool", "pool size;n;dataframes", [(400, 0, 4000)])
        self.pool: list[np.ndarray] = []

    @process(Tracks=["pt"], DpGood=["fIsGood"])
    def process(self, df):
        pt = df.table("Tracks")["pt"][df.table("DpGood")["fIsGood"]]
        self.pool = [*self.pool[-2:], pt]
        self.histos["hPool"].fill(np.array([float(sum(map(len, self.pool)))]))


class Exploding(Task):
    """Raises on the third dataframe it sees."""

    name = "dp-exploding"

    def init(self):
        self.histos.add("hN", "n;n;", [(10, 0, 10)])

    @process(Collisions=["fPosZ"])
    def process(self, df):
        if df.name.endswith("3"):
            raise ValueError("vertex out of range in this dataframe")


PACKAGE = package_from_workflows(
    [
        Workflow("dp-selector", (Selector,), "selector"),
        Workflow("pipe-spectra", (Spectra,), "spectra"),
        Workflow("dp-selected", (Selected,), "selected"),
        Workflow("dp-mixing", (Mixing,), "mixing"),
        Workflow("pipe-lazy", (LazyCounter,), "lazy"),
        Workflow("dp-exploding", (Exploding,), "exploding"),
    ]
)
TRAIN = ["dp-selector", "pipe-spectra", "dp-selected", "dp-mixing"]


def _spec(*workflows: str) -> TrainSpec:
    return TrainSpec.from_json(
        {"workflows": [{"workflow_name": wf, "wagon_id": i + 1} for i, wf in enumerate(workflows)]}
    )


@pytest.fixture
def inputs(tmp_ao2d) -> list[str]:
    """Three files of six dataframes each, of different sizes."""
    rng = np.random.default_rng(11)
    return [
        str(tmp_ao2d({10 * f + d: random_dataframe(rng, 20 + 9 * d, 12) for d in range(6)}))
        for f in range(3)
    ]


def _histos(path: str) -> dict[str, tuple[np.ndarray, np.ndarray | None, float]]:
    out = {}
    with uproot.open(path) as f:
        for key, cls in f.classnames(cycle=False).items():
            if cls.startswith("TH"):
                h = f[key]
                variances = h.variances(flow=True) if h.weighted else None
                out[key] = (h.values(flow=True), variances, h.member("fEntries"))
    return out


def _assert_same(one: str, two: str) -> None:
    a, b = _histos(one), _histos(two)
    assert set(a) == set(b)
    for name, (values, variances, entries) in a.items():
        np.testing.assert_allclose(b[name][0], values, rtol=1e-12, err_msg=name)
        if variances is not None:
            np.testing.assert_allclose(b[name][1], variances, rtol=1e-12, err_msg=name)
        assert b[name][2] == entries, name


def test_stateful_tasks_and_their_consumers_are_serial_and_their_producers_feed_them():
    plan = build_plan(_spec(*TRAIN), PACKAGE)
    serial, feeders = serial_tasks(plan)
    assert serial == {"dp-mixing"}
    assert feeders == {"dp-selector"}
    assert use_dataframe_parallelism(plan, 2)
    assert not use_dataframe_parallelism(plan, 1)
    # a train whose only task keeps state has nothing to split: devices instead
    assert not use_dataframe_parallelism(build_plan(_spec("dp-selector", "dp-mixing"), PACKAGE), 2)


@pytest.mark.slow
def test_two_workers_give_the_one_core_outputs_with_a_serial_mixer(inputs, tmp_path):
    one = run_train(build_plan(_spec(*TRAIN), PACKAGE), inputs, tmp_path / "one")
    two = run_train(build_plan(_spec(*TRAIN), PACKAGE), inputs, tmp_path / "two", cores=2)
    assert one.exit_code == two.exit_code == 0
    _assert_same(one.outputs["AnalysisResults"], two.outputs["AnalysisResults"])
    h = _histos(two.outputs["AnalysisResults"])
    # the selector ran on every dataframe once in the result, not again as a feeder
    assert h["dp-selector/hEta"][2] == h["pipe-spectra/hPt"][2]
    # the mixer saw the dataframes in input order: its pool sizes are the one-core ones
    assert h["dp-mixing/hPool"][2] == 18
    names = {d.name for d in two.devices}
    assert {"pipe-spectra_t0", "pipe-spectra_t1", "dp-mixing"} <= names
    assert "dp-mixing_t1" not in names
    assert len({d.pid for d in two.devices if d.name.startswith(("dp-", "pipe-"))}) == 2
    # every dataframe is counted once, whichever worker claimed it
    assert [(r.dataframes, r.dataframes_total, r.rows) for r in two.files] == [
        (r.dataframes, r.dataframes_total, r.rows) for r in one.files
    ]
    assert sum(d.cpu for d in two.devices if d.name.startswith("pipe-spectra_t")) > 0
    reader = [d for d in two.devices if d.name.startswith("internal-dpl-aod-reader")]
    assert sum(d.bytes_uncompressed for d in reader) > 0


@pytest.mark.slow
def test_a_task_that_keeps_state_unannounced_fails_the_run_by_name(inputs, tmp_path):
    result = run_train(build_plan(_spec("pipe-lazy"), PACKAGE), inputs, tmp_path / "out", cores=2)
    assert result.exit_code == 3
    assert result.task_failure["task"] == "pipe-lazy"
    assert "changed its attribute 'seen'" in result.task_failure["error"]
    assert "AnalysisResults" not in result.outputs


@pytest.mark.slow
def test_a_task_that_raises_in_a_worker_is_reported_with_its_name(inputs, tmp_path):
    spec = _spec("pipe-spectra", "dp-exploding")
    result = run_train(build_plan(spec, PACKAGE), inputs, tmp_path / "out", cores=2)
    assert result.exit_code == 3
    assert result.task_failure["task"] == "dp-exploding"
    assert "vertex out of range" in result.task_failure["error"]
    assert "Traceback" in result.task_failure["traceback"]


@pytest.mark.slow
def test_a_bad_file_is_one_record_and_the_other_files_complete(inputs, tmp_path):
    bad = tmp_path / "corrupt.root"
    bad.write_bytes(b"root" + bytes(range(256)) * 40)
    files = [inputs[0], str(bad), inputs[1]]
    one = run_train(build_plan(_spec(*TRAIN), PACKAGE), files, tmp_path / "one")
    two = run_train(build_plan(_spec(*TRAIN), PACKAGE), files, tmp_path / "two", cores=2)
    assert one.exit_code == two.exit_code == 1
    assert [Path(r.file).name for r in two.failed_files] == ["corrupt.root"]
    assert "corrupt.root" in two.failed_files[0].message
    _assert_same(one.outputs["AnalysisResults"], two.outputs["AnalysisResults"])


@pytest.mark.slow
def test_real_ud_file_on_two_cores_gives_the_one_core_histograms(realdata, tmp_path):
    """The real derived UD file (43 dataframes) split over two whole-train workers."""
    package = load_package()
    path = [str(realdata / "AO2D_ud_rho_run3.root")]
    spec = TrainSpec.from_json({"workflows": [{"workflow_name": "ud-rho"}]})
    one = run_train(build_plan(spec, package), path, tmp_path / "one")
    two = run_train(build_plan(spec, package), path, tmp_path / "two", cores=2)
    assert one.exit_code == two.exit_code == 0
    assert _histos(one.outputs["AnalysisResults"])["ud-rho/hMass"][0].sum() > 0
    _assert_same(one.outputs["AnalysisResults"], two.outputs["AnalysisResults"])
    assert {d.name for d in two.devices} >= {"ud-rho_t0", "ud-rho_t1"}
    assert two.files[0].dataframes == 43


@pytest.mark.slow
def test_a_file_corrupt_in_the_middle_fails_alone_on_two_cores(realdata, tmp_path):
    package = load_package()
    good = realdata / "AO2D_ud_rho_run3.root"
    corrupt = tmp_path / "corrupt.root"
    data = bytearray(good.read_bytes())
    lo, hi = len(data) // 4, 3 * len(data) // 4
    data[lo:hi] = np.random.default_rng(2).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    corrupt.write_bytes(bytes(data))
    spec = TrainSpec.from_json({"workflows": [{"workflow_name": "ud-rho"}]})
    result = run_train(
        build_plan(spec, package), [str(corrupt), str(good)], tmp_path / "two", cores=2
    )
    assert result.exit_code == 1
    assert [Path(r.file).name for r in result.failed_files] == ["corrupt.root"]
    assert "cannot read" in result.failed_files[0].message
    assert result.files[1].ok and result.files[1].dataframes == 43
    assert result.files[0].dataframes < 43
    assert "AnalysisResults" in result.outputs
