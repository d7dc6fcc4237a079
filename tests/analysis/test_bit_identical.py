"""Same inputs, same bits, on any number of cores (SPEC §7): weighted histogram sums are
added dataframe by dataframe in input order, whichever process filled them."""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from tests.factories import random_dataframe

from hyperloop.analysis.histograms import HistogramRegistry
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


class Weighted(Task):
    """Weighted fills with weights that are not whole numbers (order-dependent sums)."""

    name = "bi-weighted"

    def init(self):
        self.histos.add("hPtW", "pT weighted;p_{T};w", [(60, 0.0, 6.0)])
        self.histos.add(
            "hPtEtaW", "weighted;p_{T};#eta", [(30, 0.0, 6.0), (20, -2, 2)], weighted=True
        )
        self.histos.add("hPt", "unweighted;p_{T};tracks", [(60, 0.0, 6.0)])

    @process(Tracks=["pt", "eta"])
    def process(self, df):
        t = df.table("Tracks")
        pt = np.asarray(t["pt"], dtype=np.float64)
        w = 1.0 / (1.0 + pt**2) + np.sqrt(pt) * 1e-3
        self.histos["hPtW"].fill(pt, weight=w)
        self.histos["hPtEtaW"].fill(pt, t["eta"], weight=w * np.pi)
        self.histos["hPt"].fill(pt)


class Unweighted(Task):
    """A second, unweighted wagon (whole-number sums)."""

    name = "bi-unweighted"

    def init(self):
        self.histos.add("hEta", "eta;#eta;tracks", [(40, -2.0, 2.0)])

    @process(Tracks=["eta"])
    def process(self, df):
        self.histos["hEta"].fill(df.table("Tracks")["eta"])


PACKAGE = package_from_workflows(
    [
        Workflow("bi-weighted", (Weighted,), "weighted"),
        Workflow("bi-unweighted", (Unweighted,), "unweighted"),
    ]
)


def _plan(pipeline: int = 0):
    wf = {"workflow_name": "bi-weighted", "wagon_id": 1}
    if pipeline:
        wf["pipeline_strategy"] = {"bi-weighted": pipeline}
    spec = {"workflows": [wf, {"workflow_name": "bi-unweighted", "wagon_id": 2}]}
    return build_plan(TrainSpec.from_json(spec), PACKAGE)


@pytest.fixture
def inputs(tmp_ao2d) -> list[str]:
    """Three files of eight dataframes of different sizes."""
    rng = np.random.default_rng(5)
    return [
        str(tmp_ao2d({10 * f + d: random_dataframe(rng, 30 + 17 * d, 25) for d in range(8)}))
        for f in range(3)
    ]


def _arrays(path: str) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    out = {}
    with uproot.open(path) as f:
        for key, cls in f.classnames(cycle=False).items():
            if cls.startswith("TH"):
                h = f[key]
                out[key] = (h.values(flow=True), h.variances(flow=True), h.member("fEntries"))
    return out


def _assert_identical(a: dict, b: dict, what: str) -> None:
    assert set(a) == set(b), what
    for name, (values, variances, entries) in a.items():
        np.testing.assert_array_equal(b[name][0], values, err_msg=f"{what}: {name}")
        np.testing.assert_array_equal(b[name][1], variances, err_msg=f"{what}: {name}")
        assert b[name][2] == entries, f"{what}: {name}"


def test_weighted_parts_added_in_dataframe_order_whatever_the_split():
    """The histogram level: dataframes filled by one registry, or split over three that
    keep their parts and are merged in any order, give the same bits."""
    rng = np.random.default_rng(1)
    frames = [(rng.exponential(1.0, 500), rng.uniform(0.1, 3.0, 500)) for _ in range(12)]

    def registry() -> HistogramRegistry:
        r = HistogramRegistry("t")
        r.add("h", "h;x;w", [(20, 0.0, 5.0)], weighted=True)
        return r

    one = registry()
    for key, (x, w) in enumerate(frames):
        one["h"].fill(x, weight=w)
        one["h"].fill(x[:10])  # unweighted fills too
        one.seal(key)
    one.settle()
    parts = [registry() for _ in range(3)]
    owner = rng.permutation(np.arange(12) % 3)
    for key, (x, w) in enumerate(frames):
        part = parts[owner[key]]
        part.keep_parts()
        part["h"].fill(x, weight=w)
        part["h"].fill(x[:10])
        part.seal(key)
    total = parts[2]
    for other in (parts[1], parts[0]):  # arrival order, not input order
        total["h"].merge(other["h"])
    total.settle()
    np.testing.assert_array_equal(total["h"].hist.view(flow=True), one["h"].hist.view(flow=True))
    assert total["h"].entries == one["h"].entries


@pytest.mark.slow
def test_one_two_and_three_cores_give_byte_identical_histograms(inputs, tmp_path):
    reference = run_train(_plan(), inputs, tmp_path / "one", cores=1)
    assert reference.exit_code == 0
    expected = _arrays(reference.outputs["AnalysisResults"])
    assert float(expected["bi-weighted/hPtW"][0].sum()) % 1.0 != 0.0  # really not whole
    for repetition in range(3):
        for cores in (2, 3):
            out = tmp_path / f"c{cores}-r{repetition}"
            result = run_train(_plan(), inputs, out, cores=cores)
            assert result.exit_code == 0
            _assert_identical(expected, _arrays(result.outputs["AnalysisResults"]), out.name)


@pytest.mark.slow
def test_pipelined_device_copies_give_the_one_core_bits(inputs, tmp_path):
    reference = run_train(_plan(), inputs, tmp_path / "one", cores=1)
    expected = _arrays(reference.outputs["AnalysisResults"])
    for repetition in range(2):
        out = tmp_path / f"pipelined-{repetition}"
        result = run_train(_plan(pipeline=3), inputs, out, cores=2, mode="processes")
        assert result.exit_code == 0
        assert any(d.name.endswith("_t2") for d in result.devices)  # three copies ran
        _assert_identical(expected, _arrays(result.outputs["AnalysisResults"]), out.name)
