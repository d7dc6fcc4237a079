"""Filters and partitions on columns (O2's Filter, Partition, soa::Filtered) and a task's
conditions access (O2's Service<ccdb::BasicCCDBManager>)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import uproot
from tests.docs.conftest import UD_FILE
from tests.docs.test_examples import load_example

from hyperloop.analysis import ccdb
from hyperloop.analysis.ccdb import ConditionsError
from hyperloop.analysis.configurables import Configurable
from hyperloop.analysis.filters import Filter, FilterError, Partition, aod, nabs
from hyperloop.analysis.frame import Frame
from hyperloop.analysis.metrics import READER
from hyperloop.analysis.plan import PlanError, build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.schema import TableSchema, default_registry
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


class Selected(Task):
    """Tracks with pT above a cut in collisions near the centre, split by charge."""

    name = "selected"
    ptMin = Configurable(0.5, "minimum pT")
    zMax = Configurable(5.0, "maximum |z|")
    collisions = Filter(nabs(aod.UDCollisions.fPosZ) < zMax)
    tracks = Filter(aod.UDTracks.pt > ptMin)
    pions = Filter(nabs(aod.UDTracksPID.fTPCNSigmaPi) < 3)
    positive = Partition(aod.UDTracks.fSign > 0)

    @process(UDTracks=["fIndexUDCollisions"], filtered=["UDCollisions"])
    def process(self, df):
        self.seen = {
            "tracks": df.filtered("UDTracks").rows.tolist(),
            "pions": df.filtered("UDTracks", "UDTracksPID").rows.tolist(),
            "collisions": df.filtered("UDCollisions").rows.tolist(),
            "positive": self.positive(df.filtered("UDTracks")).rows.tolist(),
            "all_positive": self.positive(df).rows.tolist(),
        }


def _frame(task: Task, z=(0.0, 9.0)) -> Frame:
    px = np.array([0.1, 0.6, 1.0, 2.0], np.float32)
    columns = {
        ("UDCollisions", "fPosZ"): np.asarray(z, np.float32),
        ("UDTracks", "fIndexUDCollisions"): np.array([0, 0, 1, 1], np.int32),
        ("UDTracks", "fPx"): px,
        ("UDTracks", "fPy"): np.zeros(4, np.float32),
        ("UDTracks", "fSign"): np.array([1, -1, 1, -1], np.int8),
        ("UDTracksPID", "fTPCNSigmaPi"): np.array([0.0, 1.0, 5.0, -2.0], np.float32),
    }
    sizes = {"UDCollisions": len(z), "UDTracks": 4, "UDTracksPID": 4}
    return Frame("DF_1", "mem.root", default_registry(), sizes, columns, declared=task.reads())


def test_filters_follow_the_configuration_and_apply_to_the_views_holding_their_columns():
    task = Selected()
    task.run_dataframe(_frame(task))
    assert task.seen == {
        "tracks": [1, 2, 3],
        "pions": [1, 3],  # the PID filter too, on the join only
        "collisions": [0],
        "positive": [2],  # within the filtered tracks
        "all_positive": [0, 2],  # the whole table
    }
    strict = Selected({"ptMin": 1.5, "zMax": 10.0})
    strict.run_dataframe(_frame(strict))
    assert strict.seen["tracks"] == [3] and strict.seen["collisions"] == [0, 1]


def test_a_dataframe_where_no_row_of_a_filtered_table_passes_is_skipped():
    task = Selected()
    frame = _frame(task, z=(7.0, -9.0))
    task.run_dataframe(frame)
    assert not hasattr(task, "seen")  # the process function was not called
    assert frame.stats.skipped == [("selected", "process", "UDCollisions")]
    assert frame.filters is None  # the task's filters do not leak to the next task
    # the filter read its own column only: no dynamic column was computed
    assert frame.stats.dynamic_computed == 0


def test_filter_and_partition_columns_are_read_and_described():
    reads = Selected().reads()
    assert reads["UDCollisions"] == {"fPosZ"}
    assert {"pt", "fSign", "fIndexUDCollisions"} <= reads["UDTracks"]
    assert reads["UDTracksPID"] == {"fTPCNSigmaPi"}
    described = Selected.describe()
    assert described["filters"]["collisions"] == "(nabs(aod.UDCollisions.fPosZ) < zMax)"
    assert described["partitions"] == {"positive": "(aod.UDTracks.fSign > 0)"}
    assert described["consumes"]["UDCollisions"] == ["fPosZ"]


def _plan(task_cls):
    package = package_from_workflows([Workflow("wf", (task_cls,))])
    spec = TrainSpec.from_json({"package_tag": "local", "workflows": [{"workflow_name": "wf"}]})
    return build_plan(spec, package)


def test_filter_columns_are_pruned_in_and_checked_at_plan_time():
    plan = _plan(Selected)
    assert plan.file_columns["UDCollisions"] == {"fPosZ"}
    assert {"fPx", "fPy", "fSign"} <= plan.file_columns["UDTracks"]

    class Misspelt(Task):
        zMax = Configurable(5.0, "maximum |z|")
        collisions = Filter(nabs(aod.UDCollisions.fPosz) < zMax)

        @process(UDTracks=["fPx"])
        def process(self, df):
            pass

    with pytest.raises(PlanError, match=r"column 'fPosz' of UDCollisions.*did you mean 'fPosZ'"):
        _plan(Misspelt)


def test_wrong_filters_are_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"no truth value: combine conditions with & \| ~"):

        class WithAnd(Task):
            f = Filter(aod.UDTracks.pt > 1 and aod.UDTracks.fSign > 0)

    other = Configurable(1.0, "a cut of another task")

    class Owner(Task):
        cut = other

    with pytest.raises(TypeError, match="uses configurable 'cut', which is not a configurable"):

        class Borrower(Task):
            f = Filter(aod.UDTracks.pt > other)

    with pytest.raises(TypeError, match="takes UDCollisions filtered, but no Filter"):

        class Unfiltered(Task):
            f = Filter(aod.UDTracks.pt > 1)

            @process(UDTracks=["pt"], filtered=["UDCollisions"])
            def process(self, df):
                pass

    with pytest.raises(FilterError, match="needs an expression over columns"):
        Filter(1 > 0)
    with pytest.raises(FilterError, match="cannot be part of a filter expression"):
        Filter(aod.UDTracks.pt > "1")


def test_a_partition_of_a_view_without_its_columns_is_named():
    class Parts(Task):
        pions = Partition(nabs(aod.UDTracksPID.fTPCNSigmaPi) < 3)

        @process(UDTracks=["fPx"])
        def process(self, df):
            self.pions(df.table("UDTracks"))

    task = Parts()
    frame = _frame(task)
    with pytest.raises(FilterError, match="partition pions reads UDTracksPID.*join"):
        task.run_dataframe(frame)


@pytest.mark.parametrize("mode", ["processes", "dataframes"])
def test_filters_give_the_same_result_in_every_execution_strategy(tmp_path, mode):
    recipe = load_example("cookbook_filters")
    spec = TrainSpec.from_json(
        {
            "package_tag": "local",
            "workflows": [
                {
                    "workflow_name": "filtered-spectra",
                    "configuration": {"filtered-spectra": {"zMax": "2"}},
                }
            ],
        }
    )
    package = package_from_workflows(recipe.WORKFLOWS)
    one = run_train(build_plan(spec, package), [str(UD_FILE)], tmp_path / "one")
    two = run_train(build_plan(spec, package), [str(UD_FILE)], tmp_path / "two", cores=2, mode=mode)
    assert one.exit_code == two.exit_code == 0
    with (
        uproot.open(one.outputs["AnalysisResults"]) as a,
        uproot.open(two.outputs["AnalysisResults"]) as b,
    ):
        for name in ("hCalls", "hZ", "hPt", "hPtPos", "hPtNeg"):
            h = f"filtered-spectra/{name}"
            assert a[h].values().tolist() == b[h].values().tolist(), name
        assert 0 < a["filtered-spectra/hCalls"].values().sum() < 43
    if mode == "processes":  # each device in a process of its own, named in the run report
        report = json.loads((tmp_path / "two" / "run_report.json").read_text())
        copies = ("filtered-spectra_t0", "filtered-spectra_t1")  # pipelined on 2 cores
        pids = {report["devices"][d]["pid"] for d in (*copies, READER)}
        assert len(pids) == 3 and os.getpid() not in pids


@pytest.fixture
def conditions(tmp_path):
    folder = tmp_path / "ccdb"
    for name, gain in (("1000_2000.json", 1.5), ("2000_3000.json", 2.5)):
        path = folder / "TEST" / "Gain" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"gain": gain}))
    run_obj = folder / "TEST" / "Gain" / "0_9000_run7-7.json"
    run_obj.write_text(json.dumps({"gain": 7.0}))
    ccdb.reset(str(folder))
    yield
    ccdb.reset()


def test_a_task_reads_conditions_by_timestamp_and_once_per_run(conditions):
    task = Selected()
    assert task.ccdb.get("TEST/Gain", 1500, run=5) == {"gain": 1.5}
    assert task.ccdb.get("TEST/Gain", 2500, run=5)["gain"] == 2.5
    runs = np.array([5, 5, 7, 5, 7, 6])
    stamps = np.array([1100, 2100, 1200, 2900, 1300, 2200])
    # each run's object at its first timestamp; run 7 has its own object
    assert task.ccdb.per_run("TEST/Gain", runs, stamps) == {
        5: {"gain": 1.5},
        6: {"gain": 2.5},
        7: {"gain": 7.0},
    }
    values = task.ccdb.column("TEST/Gain", "gain", runs, stamps)
    assert values.tolist() == [1.5, 1.5, 7.0, 1.5, 7.0, 2.5]
    before = sum(ccdb.calls().values())
    task.ccdb.column("TEST/Gain", "gain", runs, stamps)  # every run's object is cached
    assert sum(ccdb.calls().values()) == before
    with pytest.raises(ConditionsError, match=r"TEST/Gain \(run 5\) has no 'offset'; it has: gain"):
        task.ccdb.column("TEST/Gain", "offset", runs, stamps)
    with pytest.raises(ConditionsError, match="6 runs but 2 timestamps"):
        task.ccdb.per_run("TEST/Gain", runs, stamps[:2])
    with pytest.raises(
        ConditionsError, match="no conditions object TEST/Gain valid at timestamp 5000"
    ):
        task.ccdb.get("TEST/Gain", 5000, run=5)


def test_a_misspelt_table_or_column_of_a_filtered_view_is_a_plan_error():
    class TypoTable(Task):
        f = Filter(aod.UDTracks.fPx > 0)

        @process(UDTracks=["fPx"])
        def process(self, df):
            df.filtered("UDTrakcs")

    with pytest.raises(PlanError, match=r"unknown table 'UDTrakcs'.*did you mean 'UDTracks'"):
        _plan(TypoTable)

    class TypoColumn(Task):
        f = Filter(aod.UDTracks.fPx > 0)

        @process(UDTracks=["fPx"], UDTracksPID=["fTPCNSigmaPi"])
        def process(self, df):
            tracks = df.filtered("UDTracks", "UDTracksPID")
            return tracks["fTPCNSigmaPii"]

    with pytest.raises(
        PlanError, match=r"reads column 'fTPCNSigmaPii' of UDTracks, which has no such column"
    ):
        _plan(TypoColumn)


def test_expressions_read_in_either_order_with_arithmetic_and_negation():
    class Forms(Task):
        cut = Configurable(0.5, "a cut")
        reversed_ = Filter((cut < aod.UDTracks.pt) & ~(aod.UDTracks.fSign < 0))
        arithmetic = Partition(2 * aod.UDTracks.fPx - 0.5 - cut >= 1.0)
        either = Partition((aod.UDTracks.fSign == -1) | (aod.UDTracks.fPx / 2 > 0.9))

        @process(UDTracks=["fPx"])
        def process(self, df):
            self.rows = df.filtered("UDTracks").rows.tolist()
            self.arith = self.arithmetic(df).rows.tolist()
            self.either_rows = self.either(df).rows.tolist()

    task = Forms()
    task.run_dataframe(_frame(task))
    # pt = fPx = 0.1, 0.6, 1.0, 2.0; sign +, -, +, -
    assert task.rows == [2]
    assert task.arith == [2, 3]  # 2 px - 0.5 >= 1.5
    assert task.either_rows == [1, 3]  # negative, or px / 2 > 0.9
    assert str(Forms._filters["reversed_"].expr) == (
        "((aod.UDTracks.pt > cut) & ~(aod.UDTracks.fSign < 0))"
    )


CENTRAL_TRACKS = TableSchema(
    "CentralTracks",
    "O2centraltrack",
    {"fIndexUDCollisions": "int32", "fPtSq": "float32"},
    index_columns={"fIndexUDCollisions": "UDCollisions"},
    doc="a column only the filtered task reads (computed for it by a producer)",
)


class CentralProducer(Task):
    """Computes a column for the next task; books no histogram of its own."""

    name = "central-producer"
    produces = (CENTRAL_TRACKS,)

    @process(UDTracks=["fIndexUDCollisions", "pt"])
    def process(self, df) -> None:
        tracks = df.table("UDTracks")
        df.produce(
            CENTRAL_TRACKS,
            fIndexUDCollisions=tracks["fIndexUDCollisions"],
            fPtSq=(tracks["pt"] ** 2).astype(np.float32),
        )


class CentralConsumer(Task):
    """Reads the producer's column in the dataframes whose collisions pass its filter."""

    name = "central-consumer"
    zMax = Configurable(2.0, "maximum |z|")
    central = Filter(nabs(aod.UDCollisions.fPosZ) < zMax)

    def init(self) -> None:
        self.histos.add("hPtSq", ";p_{T}^{2}", [(50, 0.0, 4.0)])

    @process(UDCollisions=["fPosZ"], CentralTracks=["fPtSq"], filtered=["UDCollisions"])
    def process(self, df) -> None:
        self.histos["hPtSq"].fill(df.table("CentralTracks")["fPtSq"])


class BookingProducer(CentralProducer):
    """The same producer with a QA histogram of its own: it must see every dataframe."""

    name = "booking-producer"

    def init(self) -> None:
        self.histos.add("hN", ";tracks", [(50, -0.5, 49.5)])

    @process(UDTracks=["fIndexUDCollisions", "pt"])
    def process(self, df) -> None:
        self.histos["hN"].fill([len(df.table("UDTracks"))])
        CentralProducer.process(self, df)


@pytest.mark.parametrize("mode", ["inprocess", "dataframes"])
@pytest.mark.parametrize("producer", [CentralProducer, BookingProducer])
def test_a_filter_spares_the_producer_feeding_only_its_task(tmp_path, mode, producer):
    """Dataframes where no collision passes the consumer's filter are ruled out before any
    task runs: the consumer is not called, and a producer whose columns only it reads (and
    that books no histogram) does not compute them. The histograms equal those of running
    every task on every dataframe; a producer with histograms of its own sees them all."""
    package = package_from_workflows([Workflow("central", (producer, CentralConsumer))])
    spec = TrainSpec.from_json(
        {"package_tag": "local", "workflows": [{"workflow_name": "central"}]}
    )
    cores = 1 if mode == "inprocess" else 2
    options = {} if mode == "inprocess" else {"mode": mode}
    out = tmp_path / "out"
    result = run_train(build_plan(spec, package), [str(UD_FILE)], out, cores=cores, **options)
    assert result.exit_code == 0

    with uproot.open(UD_FILE) as f:
        dfs = [k for k in f.keys(recursive=False, cycle=False) if k.startswith("DF_")]
        ruled_out, want = 0, []
        for name in dfs:
            z = f[name]["O2udcollision"]["fPosZ"].array(library="np")
            t = f[name]["O2udtrack"].arrays(["fPx", "fPy"], library="np")
            if not (np.abs(z) < 2.0).any():
                ruled_out += 1
                continue
            pt = np.hypot(t["fPx"], t["fPy"]).astype(np.float32)
            want.append((pt**2).astype(np.float32))
    assert 0 < ruled_out < len(dfs)
    with uproot.open(out / "AnalysisResults.root") as f:
        got = f["central-consumer/hPtSq"].values()
        assert got.tolist() == np.histogram(np.concatenate(want), 50, (0.0, 4.0))[0].tolist()
        if producer is BookingProducer:
            assert f["booking-producer/hN"].values().sum() == len(dfs)

    report = json.loads((out / "run_report.json").read_text())
    skipped = {}
    for device, figures in report["devices"].items():
        task = re.sub(r"_t\d+$", "", device)  # a task's copies: name_t0, name_t1, ...
        skipped[task] = skipped.get(task, 0) + figures.get("dataframes_skipped", 0)
    assert skipped.get("central-consumer", 0) == ruled_out
    spared = 0 if producer is BookingProducer else ruled_out
    assert skipped.get(producer.name, 0) == spared
