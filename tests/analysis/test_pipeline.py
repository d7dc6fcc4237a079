"""Pipelined devices: a stateless task run as N copies over alternate dataframes gives the
histograms of one device; tasks that keep state across dataframes are never split."""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from tests.analysis.pipeline_tasks import LazyCounter, Spectra
from tests.factories import random_dataframe

from hyperloop.analysis.plan import PlanError, build_plan, pipeline_blocker, pipeline_copies
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.schema import TableSchema
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, load_package, package_from_workflows

SEL = TableSchema("PipeSel", "O2pipesel", {"fIsGood": "bool"}, extends="Tracks")


class Selector(Task):
    """Produces a table (per dataframe, no state): duplicated only when asked for."""

    name = "pipe-selector"
    produces = (SEL,)

    @process(Tracks=["eta"])
    def process(self, df):
        df.produce(SEL, fIsGood=np.abs(df.table("Tracks")["eta"]) < 0.5)


class Selected(Task):
    """pT of the tracks the selector kept."""

    name = "pipe-selected"

    def init(self):
        self.histos.add("hPt", "selected;p_{T};tracks", [(50, 0.0, 5.0)])

    @process(Tracks=["pt"], PipeSel=["fIsGood"])
    def process(self, df):
        self.histos["hPt"].fill(df.table("Tracks")["pt"][df.table("PipeSel")["fIsGood"]])


class Mixing(Task):
    """Keeps a pool of earlier events (event mixing): its result depends on the order."""

    name = "pipe-mixing"

    def init(self):
        self.histos.add("hPool", "pool size;n;dataframes", [(100, 0, 100000)])
        self.pool: list[np.ndarray] = []

    @process(Tracks=["pt"])
    def process(self, df):
        self.pool = [*self.pool[-2:], df.table("Tracks")["pt"]]
        self.histos["hPool"].fill(np.array([float(sum(map(len, self.pool)))]))


PACKAGE = package_from_workflows(
    [
        Workflow("pipe-spectra", (Spectra,), "spectra"),
        Workflow("pipe-selector", (Selector,), "selector"),
        Workflow("pipe-selected", (Selected,), "selected"),
        Workflow("pipe-mixing", (Mixing,), "mixing"),
        Workflow("pipe-lazy", (LazyCounter,), "lazy"),
    ]
)


def _spec(*entries: tuple[str, dict[str, int]], **extra) -> TrainSpec:
    return TrainSpec.from_json(
        {
            "workflows": [
                {"workflow_name": wf, "wagon_id": i + 1, "pipeline_strategy": strategy}
                for i, (wf, strategy) in enumerate(entries)
            ],
            **extra,
        }
    )


@pytest.fixture
def inputs(tmp_ao2d) -> list[str]:
    """Two files of five dataframes each (more dataframes than copies)."""
    rng = np.random.default_rng(5)
    return [
        str(tmp_ao2d({10 * f + d: random_dataframe(rng, 30 + 7 * d, 15) for d in range(5)}))
        for f in range(2)
    ]


def _histos(path: str, names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    out = {}
    with uproot.open(path) as f:
        for name in names:
            h = f[name]
            variances = h.variances(flow=True) if hasattr(h, "variances") else None
            out[name] = (h.values(flow=True), variances, h.member("fEntries"))
    return out


SPECTRA = [
    "pipe-spectra/hPt",
    "pipe-spectra/hEtaPhi",
    "pipe-spectra/hPtW",
    "pipe-spectra/hSteps",
    "pipe-spectra/hPtFraction",
]


def test_stateful_tasks_are_never_split_and_histogram_tasks_are_with_two_cores():
    plan = build_plan(
        _spec(
            ("pipe-spectra", {}), ("pipe-mixing", {}), ("pipe-selector", {}), ("pipe-selected", {})
        ),
        PACKAGE,
    )
    assert pipeline_copies(plan, 1) == dict.fromkeys(
        ["pipe-spectra", "pipe-mixing", "pipe-selector", "pipe-selected"], 1
    )
    copies = pipeline_copies(plan, 2)
    assert copies == {"pipe-spectra": 2, "pipe-selected": 2, "pipe-mixing": 1, "pipe-selector": 1}
    assert "'pool'" in pipeline_blocker(plan.instance("pipe-mixing").task)
    assert "produces" in pipeline_blocker(plan.instance("pipe-selector").task)
    # an explicit strategy wins, also to keep a device single
    plan = build_plan(
        _spec(("pipe-spectra", {"pipe-spectra": 1}), ("pipe-selector", {"pipe-selector": 3})),
        PACKAGE,
    )
    assert pipeline_copies(plan, 2) == {"pipe-spectra": 1, "pipe-selector": 3}


def test_asking_to_split_a_stateful_or_unknown_task_is_a_plan_error():
    with pytest.raises(
        PlanError, match=r"pipe-mixing cannot run as 2 copies: init sets attribute 'pool'"
    ):
        build_plan(_spec(("pipe-mixing", {"pipe-mixing": 2})), PACKAGE)
    with pytest.raises(PlanError, match=r"names task 'nope', which this workflow does not run"):
        build_plan(_spec(("pipe-spectra", {"nope": 2})), PACKAGE)
    with pytest.raises(PlanError, match=r"whole number of copies >= 1, got 0"):
        build_plan(_spec(("pipe-spectra", {"pipe-spectra": 0})), PACKAGE)


@pytest.mark.slow
def test_three_copies_give_the_histograms_of_one_device(inputs, tmp_path):
    one = run_train(build_plan(_spec(("pipe-spectra", {})), PACKAGE), inputs, tmp_path / "one")
    spec = _spec(("pipe-spectra", {"pipe-spectra": 3}))
    three = run_train(build_plan(spec, PACKAGE), inputs, tmp_path / "three", cores=2)
    assert one.exit_code == three.exit_code == 0
    a = _histos(one.outputs["AnalysisResults"], SPECTRA)
    b = _histos(three.outputs["AnalysisResults"], SPECTRA)
    for name in SPECTRA:
        (va, wa, ea), (vb, wb, eb) = a[name], b[name]
        assert va.sum() > 0, name
        assert ea == eb, name
        if name.endswith(("hPtW", "hPtFraction")):  # float sums: the order of additions differs
            np.testing.assert_allclose(vb, va, rtol=1e-12, err_msg=name)
            np.testing.assert_allclose(wb, wa, rtol=1e-12, err_msg=name)
        else:  # counts: exactly equal
            np.testing.assert_array_equal(vb, va, err_msg=name)
    devices = {d.name: d for d in three.devices}
    copies = [devices[f"pipe-spectra_t{k}"] for k in range(3)]
    assert len({d.pid for d in copies}) == 3
    # every dataframe went to exactly one copy
    assert sum(d.rows for d in copies) == sum(f.rows for f in three.files)


@pytest.mark.slow
def test_a_split_producer_keeps_the_derived_data_in_input_order(inputs, tmp_path):
    derived = {
        "derived_data": True,
        "OutputDirector": {"OutputDescriptors": [{"table": "O2pipesel"}]},
    }
    single = _spec(("pipe-selector", {}), ("pipe-selected", {}), **derived)
    split = _spec(
        ("pipe-selector", {"pipe-selector": 2}), ("pipe-selected", {"pipe-selected": 2}), **derived
    )
    one = run_train(build_plan(single, PACKAGE), inputs, tmp_path / "one")
    two = run_train(build_plan(split, PACKAGE), inputs, tmp_path / "two", cores=2)
    assert one.exit_code == two.exit_code == 0
    np.testing.assert_array_equal(
        _histos(two.outputs["AnalysisResults"], ["pipe-selected/hPt"])["pipe-selected/hPt"][0],
        _histos(one.outputs["AnalysisResults"], ["pipe-selected/hPt"])["pipe-selected/hPt"][0],
    )
    with uproot.open(one.outputs["AO2D"]) as a, uproot.open(two.outputs["AO2D"]) as b:
        keys = a.keys(cycle=False, recursive=False, filter_classname="TDirectory")
        assert keys == b.keys(cycle=False, recursive=False, filter_classname="TDirectory")
        for key in keys:
            np.testing.assert_array_equal(
                a[key]["O2pipesel"]["fIsGood"].array(library="np"),
                b[key]["O2pipesel"]["fIsGood"].array(library="np"),
            )


@pytest.mark.slow
def test_a_copy_that_turns_out_to_keep_state_fails_the_run_by_name(inputs, tmp_path):
    spec = _spec(("pipe-lazy", {"pipe-lazy": 2}))
    result = run_train(build_plan(spec, PACKAGE), inputs, tmp_path / "out", cores=2)
    assert result.exit_code == 3
    assert result.task_failure["task"] == "pipe-lazy"
    assert "changed its attribute 'seen'" in result.task_failure["error"]
    assert "keeps state across dataframes" in result.task_failure["error"]


@pytest.mark.slow
def test_real_ud_file_split_over_copies_gives_the_one_device_histograms(realdata, tmp_path):
    """The real derived UD file (43 dataframes): ud-rho as 3 copies == in one process."""
    package = load_package()
    path = [str(realdata / "AO2D_ud_rho_run3.root")]
    spec = TrainSpec.from_json({"workflows": [{"workflow_name": "ud-rho"}]})
    assert pipeline_copies(build_plan(spec, package), 2) == {"ud-rho": 2}
    one = run_train(build_plan(spec, package), path, tmp_path / "one")
    split = TrainSpec.from_json(
        {"workflows": [{"workflow_name": "ud-rho", "pipeline_strategy": {"ud-rho": 3}}]}
    )
    three = run_train(build_plan(split, package), path, tmp_path / "three", cores=2)
    assert one.exit_code == three.exit_code == 0
    names = ["ud-rho/hSelection", "ud-rho/hMass", "ud-rho/hMassVsPt", "ud-rho/hNSigmaPi"]
    a = _histos(one.outputs["AnalysisResults"], names)
    b = _histos(three.outputs["AnalysisResults"], names)
    assert a["ud-rho/hMass"][0].sum() > 0
    for name in names:
        np.testing.assert_array_equal(b[name][0], a[name][0], err_msg=name)
        assert a[name][2] == b[name][2], name
    assert sum(d.name.startswith("ud-rho_t") for d in three.devices) == 3
