"""Trains end to end: plan checks, in-process and multi-process runs, outputs and failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot
from tests.factories import random_dataframe

from hyperloop.analysis.ao2d import open_ao2d
from hyperloop.analysis.configurables import Configurable, ConfigurableAxis, ConfigurationError
from hyperloop.analysis.plan import PlanError, build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.schema import TableSchema
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows

SEL = TableSchema("TestSel", "O2testsel", {"fIsGood": "bool"}, extends="Tracks")
SKIM = TableSchema(
    "TestSkimTracks",
    "O2testskimtrack",
    {"fPt": "float32", "fIndexCollisions": "int32"},
    index_columns={"fIndexCollisions": "Collisions"},
)
CYC_A = TableSchema("CycA", "O2cyca", {"fA": "float32"}, extends="Collisions")
CYC_B = TableSchema("CycB", "O2cycb", {"fB": "float32"}, extends="Collisions")


class Selector(Task):
    """Marks tracks inside an eta window."""

    name = "test-selector"
    etaMax = Configurable(0.8, "maximum |eta|")
    produces = (SEL,)
    calls = 0

    @process(Tracks=["eta"])
    def process(self, df):
        df.produce(SEL, fIsGood=np.abs(df.table("Tracks")["eta"]) < self.etaMax)


class PtSpectrum(Task):
    """pT of selected tracks."""

    name = "test-pt"
    ptAxis = ConfigurableAxis((50, 0.0, 5.0), "pT binning")
    scale = Configurable(1.0, "scale applied to pT")

    def init(self):
        self.histos.add("hPt", "pT;p_{T} (GeV/c);tracks", [self.ptAxis])
        self.histos.add("hVz", "vertex;z (cm);collisions", [(40, -20, 20)])

    @process(Tracks=["pt"], TestSel=["fIsGood"], Collisions=["fPosZ"])
    def processData(self, df):
        tracks = df.table("Tracks")
        good = df.table("TestSel")["fIsGood"]
        self.histos["hPt"].fill(tracks["pt"][good] * self.scale)
        self.histos["hVz"].fill(df.table("Collisions")["fPosZ"])

    @process(Tracks=["phi"], default=False)
    def processPhi(self, df):
        raise AssertionError("switched off: must not run")


class Skimmer(Task):
    """Keeps tracks above 1 GeV/c as a derived table."""

    name = "test-skimmer"
    produces = (SKIM,)

    @process(Tracks=["pt", "fIndexCollisions"])
    def process(self, df):
        t = df.table("Tracks")
        keep = t["pt"] > 1.0
        df.produce(SKIM, fPt=t["pt"][keep], fIndexCollisions=t["fIndexCollisions"][keep])


class Exploding(Task):
    name = "test-exploding"

    @process(Collisions=["fPosZ"])
    def process(self, df):
        raise ZeroDivisionError("deliberate failure")


class CycleA(Task):
    name = "test-cycle-a"
    produces = (CYC_A,)

    @process(CycB=["fB"])
    def process(self, df):
        pass


class CycleB(Task):
    name = "test-cycle-b"
    produces = (CYC_B,)

    @process(CycA=["fA"])
    def process(self, df):
        pass


PACKAGE = package_from_workflows(
    [
        Workflow("test-selector", (Selector,), "selection service"),
        Workflow("test-pt", (PtSpectrum,), "pt spectrum"),
        Workflow("test-skimmer", (Skimmer,), "skimmer"),
        Workflow("test-exploding", (Exploding,), "raises"),
        Workflow("test-cycle", (CycleA, CycleB), "cycle"),
    ]
)


def spec(*entries, **extra) -> TrainSpec:
    workflows = []
    for i, entry in enumerate(entries):
        name, suffix, config = (
            (entry + ("", {}))[:3] if isinstance(entry, tuple) else (entry, "", {})
        )
        workflows.append(
            {"workflow_name": name, "suffix": suffix, "wagon_id": i + 1, "configuration": config}
        )
    return TrainSpec.from_json({"package_tag": "test", "workflows": workflows, **extra})


@pytest.fixture
def inputs(tmp_ao2d) -> list[str]:
    rng = np.random.default_rng(7)
    files = []
    for f in range(2):
        files.append(str(tmp_ao2d({100 * f + d: random_dataframe(rng, 40, 15) for d in range(3)})))
    return files


def expected_pt(files: list[str], eta_max: float = 0.8) -> np.ndarray:
    pts = []
    for path in files:
        with uproot.open(path) as f:
            for key in f.keys(recursive=False, cycle=False):
                t = f[key]["O2track"].arrays(["fSigned1Pt", "fTgl"], library="np")
                pt = 1 / np.abs(t["fSigned1Pt"])
                eta = np.arcsinh(t["fTgl"])
                pts.append(pt[np.abs(eta) < eta_max])
    return np.histogram(np.concatenate(pts), bins=50, range=(0, 5))[0]


def test_train_fills_histograms_from_dynamic_columns_of_selected_tracks(inputs, tmp_path):
    plan = build_plan(spec("test-selector", "test-pt"), PACKAGE)
    result = run_train(plan, inputs, tmp_path / "out")
    assert result.exit_code == 0
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        h = f["test-pt/hPt"]
        assert h.classname == "TH1D"
        np.testing.assert_array_equal(h.values(), expected_pt(inputs))
        assert f["test-pt/hVz"].member("fEntries") == 2 * 3 * 40


def test_plan_reads_only_declared_columns_and_fills_defaults():
    plan = build_plan(spec("test-selector", ("test-pt", "", {"test-pt": {"scale": "1"}})), PACKAGE)
    assert plan.file_tables() == {"O2track": {"fTgl", "fSigned1Pt"}, "O2collision_001": {"fPosZ"}}
    assert plan.defaults_filled["test-pt"] == ["ptAxis", "processData", "processPhi"]
    assert [i.name for i in plan.instances] == ["test-selector", "test-pt"]


def test_tasks_are_ordered_by_tables_not_by_list_order():
    plan = build_plan(spec("test-pt", "test-selector"), PACKAGE)
    assert [i.name for i in plan.instances] == ["test-selector", "test-pt"]


def test_missing_producer_is_reported_before_reading():
    with pytest.raises(PlanError, match="needs table TestSel.*add a dependency on test-selector"):
        build_plan(spec("test-pt"), PACKAGE)


def test_cycle_is_reported():
    with pytest.raises(PlanError, match="cycle"):
        build_plan(spec("test-cycle"), PACKAGE)


def test_unknown_workflow_task_and_parameter_are_named():
    with pytest.raises(Exception, match="unknown workflow 'test-ptt'.*did you mean 'test-pt'"):
        build_plan(spec("test-ptt"), PACKAGE)
    with pytest.raises(PlanError, match="names task 'nope'"):
        build_plan(spec(("test-pt", "", {"nope": {}}), "test-selector"), PACKAGE)
    with pytest.raises(ConfigurationError, match="scale"):
        build_plan(spec(("test-pt", "", {"test-pt": {"scale": "abc"}}), "test-selector"), PACKAGE)


def test_shared_dependency_with_same_configuration_runs_once(inputs, tmp_path):
    train = spec(
        "test-selector",
        "test-pt",
        "test-selector",
        ("test-pt", "_tight", {"test-pt": {"scale": "2"}}),
    )
    plan = build_plan(train, PACKAGE)
    assert [i.name for i in plan.instances] == ["test-selector", "test-pt", "test-pt_tight"]
    assert plan.shared["test-selector"] == [1, 3]
    result = run_train(plan, inputs, tmp_path / "out")
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        assert set(f.keys(recursive=False, cycle=False)) == {"test-pt", "test-pt_tight"}
        assert f["test-pt/hPt"].values().sum() > f["test-pt_tight/hPt"].values().sum()


def test_two_configurations_of_one_service_cannot_share_a_train():
    train = spec(
        "test-selector", ("test-selector", "_b", {"test-selector": {"etaMax": "0.5"}}), "test-pt"
    )
    with pytest.raises(PlanError, match="produced twice"):
        build_plan(train, PACKAGE)


def test_bad_file_is_a_failure_record_and_other_files_complete(inputs, tmp_path):
    bad = tmp_path / "corrupt.root"
    bad.write_bytes(b"root" + bytes(range(256)) * 40)
    missing = str(tmp_path / "missing.root")
    plan = build_plan(spec("test-selector", "test-pt"), PACKAGE)
    result = run_train(plan, [inputs[0], str(bad), missing, inputs[1]], tmp_path / "out")
    assert result.exit_code == 1
    failed = {Path(r.file).name: r for r in result.failed_files}
    assert set(failed) == {"corrupt.root", "missing.root"}
    assert "corrupt.root" in failed["corrupt.root"].message
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        np.testing.assert_array_equal(f["test-pt/hPt"].values(), expected_pt(inputs))
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    assert report["failed_files"] == 2 and report["exit_code"] == 1


def test_file_without_needed_table_names_file_and_table(tmp_ao2d, tmp_path):
    rng = np.random.default_rng(1)
    df = random_dataframe(rng)
    del df["O2track"]
    path = tmp_ao2d({1: df})
    plan = build_plan(spec("test-selector", "test-pt"), PACKAGE)
    result = run_train(plan, [str(path)], tmp_path / "out")
    (rec,) = result.failed_files
    assert "O2track" in rec.message and str(path) in rec.message


def test_task_that_raises_is_reported_with_name_and_traceback(inputs, tmp_path):
    plan = build_plan(spec("test-exploding"), PACKAGE)
    result = run_train(plan, inputs, tmp_path / "out")
    assert result.exit_code == 3
    assert result.task_failure["task"] == "test-exploding"
    assert "ZeroDivisionError" in result.task_failure["traceback"]
    assert "AnalysisResults" not in result.outputs


def test_metrics_files_follow_the_o2_layout(inputs, tmp_path):
    plan = build_plan(spec("test-selector", "test-pt"), PACKAGE)
    run_train(plan, inputs, tmp_path / "out", sample_interval=0.05)
    perf = json.loads((tmp_path / "out" / "performanceMetrics.json").read_text())
    assert {"internal-dpl-aod-reader", "test-selector", "test-pt", "driver"} <= set(perf)
    cpu = perf["test-pt"]["cpuUsedAbsolute"]
    assert all(isinstance(p["value"], str) for p in cpu)
    assert int(perf["internal-dpl-aod-reader"]["aod-bytes-read-uncompressed"][-1]["value"]) > 0
    summary = json.loads((tmp_path / "out" / "metrics_summary.json").read_text())
    full = summary["__full_train__"]
    assert full["number_of_input_files"] == 2
    assert full["aod-bytes-read-compressed"] > 0
    assert summary["test-pt"]["wagon_id"] == 2
    assert summary["test-pt"]["proportionalSetSize_summary"]["max"] > 0
    assert (
        json.loads((tmp_path / "out" / "full_config.json").read_text())["workflows"][1]["wagon_id"]
        == 2
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["processes", "dataframes"])
def test_two_cores_give_the_same_outputs_as_in_process(inputs, tmp_path, mode):
    train = spec(
        "test-selector",
        "test-pt",
        "test-skimmer",
        derived_data=True,
        OutputDirector={"OutputDescriptors": [{"table": "O2testskimtrack"}]},
    )
    one = run_train(build_plan(train, PACKAGE), inputs, tmp_path / "one", cores=1)
    two = run_train(build_plan(train, PACKAGE), inputs, tmp_path / "two", cores=2, mode=mode)
    assert one.exit_code == two.exit_code == 0
    with (
        uproot.open(one.outputs["AnalysisResults"]) as a,
        uproot.open(two.outputs["AnalysisResults"]) as b,
    ):
        for name in ("test-pt/hPt", "test-pt/hVz"):
            np.testing.assert_array_equal(a[name].values(), b[name].values())
            assert a[name].member("fEntries") == b[name].member("fEntries")
    with uproot.open(one.outputs["AO2D"]) as a, uproot.open(two.outputs["AO2D"]) as b:
        assert a.keys(cycle=False, recursive=False) == b.keys(cycle=False, recursive=False)
        for key in a.keys(cycle=False, recursive=False, filter_classname="TDirectory"):
            np.testing.assert_array_equal(
                a[key]["O2testskimtrack"]["fPt"].array(library="np"),
                b[key]["O2testskimtrack"]["fPt"].array(library="np"),
            )
    with open_ao2d(one.outputs["AO2D"]) as derived:
        parents = derived.parent_files()
        assert set(parents) == set(derived.dataframes())
        assert set(parents.values()) == set(inputs)
    pids = {d.pid for d in two.devices}
    if mode == "processes":
        assert len(pids) >= 4  # reader, three task devices (and the driver as writer)
    else:  # two whole-train workers; the skimmer writes the derived data from worker 0
        assert len(pids) == 3
        assert "test-skimmer" in {d.name for d in two.devices}


def test_inputs_given_as_fsspec_urls_give_the_same_histograms(inputs, tmp_path):
    import fsspec

    memfs = fsspec.filesystem("memory")
    urls = []
    for i, path in enumerate(inputs):
        with open(path, "rb") as src, memfs.open(f"/train-inputs/{i}.root", "wb") as dst:
            dst.write(src.read())
        urls.append(f"memory://train-inputs/{i}.root")
    plan = build_plan(spec("test-selector", "test-pt"), PACKAGE)
    result = run_train(plan, [f"file://{inputs[0]}", urls[1]], tmp_path / "out")
    assert result.exit_code == 0, [f.message for f in result.failed_files]
    with uproot.open(result.outputs["AnalysisResults"]) as f:
        np.testing.assert_array_equal(f["test-pt/hPt"].values(), expected_pt(inputs))
