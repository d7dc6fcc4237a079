"""Devices as processes: shared-memory slots reused across dataframes, and what tasks see."""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from tests.factories import random_dataframe

from hyperloop.analysis.devices import IN_FLIGHT
from hyperloop.analysis.plan import build_plan
from hyperloop.analysis.runner import run_train
from hyperloop.analysis.shm import Slot, SlotMaps
from hyperloop.analysis.spec import TrainSpec
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.workflows import Workflow, package_from_workflows


class KeepsColumns(Task):
    """Keeps views of every dataframe's columns and histograms them only at the end: the
    kept values must still be those of their own dataframe (not of a later one)."""

    name = "test-keeps-columns"

    def init(self):
        self.histos.add("hPt", "kept pt;p_{T};tracks", [(40, 0.0, 4.0)])
        self.histos.add("hTgl", "kept fTgl;tan#lambda;tracks", [(40, -2.0, 2.0)])
        self.kept: list[tuple[np.ndarray, np.ndarray]] = []

    @process(Tracks=["pt", "fTgl"])
    def process(self, df):
        t = df.table("Tracks")
        self.kept.append((t["pt"], t["fTgl"][1:]))  # a stored column and a view of one

    def finalize(self):
        for pt, tgl in self.kept:
            self.histos["hPt"].fill(pt)
            self.histos["hTgl"].fill(tgl)


class Spectrum(Task):
    """Histograms each dataframe right away (reads the same shared columns)."""

    name = "test-spectrum"

    def init(self):
        self.histos.add("hPt", "pt;p_{T};tracks", [(40, 0.0, 4.0)])
        self.histos.add("hEta", "eta;#eta;tracks", [(40, -2.0, 2.0)])

    @process(Tracks=["pt", "eta", "fTgl"])
    def process(self, df):
        t = df.table("Tracks")
        self.histos["hPt"].fill(t["pt"])
        self.histos["hEta"].fill(t["eta"])


PACKAGE = package_from_workflows(
    [
        Workflow("test-keeps-columns", (KeepsColumns,), "keeps column views"),
        Workflow("test-spectrum", (Spectrum,), "spectrum"),
    ]
)


def _spec() -> TrainSpec:
    return TrainSpec.from_json(
        {
            "workflows": [
                {"workflow_name": "test-keeps-columns", "wagon_id": 1},
                {"workflow_name": "test-spectrum", "wagon_id": 2},
            ]
        }
    )


@pytest.fixture
def many_dataframes(tmp_ao2d) -> list[str]:
    """More dataframes than slots, of growing size (slots are reused and must grow)."""
    rng = np.random.default_rng(11)
    files = []
    for f in range(2):
        dfs = {10 * f + d: random_dataframe(rng, 20 + 40 * d, 12) for d in range(IN_FLIGHT + 1)}
        files.append(str(tmp_ao2d(dfs)))
    return files


def _histograms(path: str) -> dict[str, np.ndarray]:
    with uproot.open(path) as f:
        return {
            name: f[name].values()
            for name in ("test-keeps-columns/hPt", "test-keeps-columns/hTgl")
            + ("test-spectrum/hPt", "test-spectrum/hEta")
        }


@pytest.mark.slow
def test_columns_a_task_keeps_survive_later_dataframes_in_device_processes(
    many_dataframes, tmp_path
):
    one = run_train(build_plan(_spec(), PACKAGE), many_dataframes, tmp_path / "one", cores=1)
    two = run_train(
        build_plan(_spec(), PACKAGE), many_dataframes, tmp_path / "two", cores=2, mode="processes"
    )
    assert one.exit_code == two.exit_code == 0
    a, b = _histograms(one.outputs["AnalysisResults"]), _histograms(two.outputs["AnalysisResults"])
    for name in a:
        assert a[name].sum() > 0, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # the kept histograms hold every track of every dataframe (minus one per dataframe)
    n_dfs = 2 * (IN_FLIGHT + 1)
    kept = a["test-keeps-columns/hTgl"].sum()
    assert kept <= a["test-spectrum/hEta"].sum() - n_dfs + 1


def test_a_slot_is_reused_while_dataframes_fit_and_grows_when_one_does_not(tmp_path):
    slot = Slot(tmp_path, 0)
    maps = SlotMaps()
    slot.begin(1000)
    first = slot.path
    col = slot.alloc(("Tracks", "fPt"), np.dtype("float32"), (100,))
    col[:] = np.arange(100, dtype=np.float32)
    seen = maps.arrays(slot.segment())[("Tracks", "fPt")]
    np.testing.assert_array_equal(seen, np.arange(100, dtype=np.float32))
    assert not seen.flags.writeable  # devices map slots read-only

    slot.begin(2000)  # fits: same file, the device's mapping sees the new values
    assert slot.path == first
    col = slot.alloc(("Tracks", "fPt"), np.dtype("float32"), (50,))
    col[:] = 7
    assert (maps.arrays(slot.segment())[("Tracks", "fPt")] == 7).all()
    assert (seen[:50] == 7).all()  # same pages: why a task's kept view retires a slot
    before = seen.copy()

    slot.begin(slot.capacity + 1)  # does not fit: a new, larger file
    assert slot.path != first and slot.capacity > 2000
    big = slot.alloc(("Tracks", "fPt"), np.dtype("float64"), (slot.capacity // 8,))
    big[:] = 1.5
    again = maps.arrays(slot.segment())[("Tracks", "fPt")]
    assert again.dtype == np.float64 and (again == 1.5).all()
    np.testing.assert_array_equal(seen, before)  # a view of the replaced file stays intact
    # what does not fit (or is not a 1-D column) is left to the caller
    assert slot.alloc(("Tracks", "fTgl"), np.dtype("float32"), (10,)) is None
    slot.begin(100)
    assert slot.alloc(("Tracks", "fCov"), np.dtype("float32"), (3, 2)) is None
    maps.close()
    slot.retire()
    assert list(tmp_path.iterdir()) == []


def test_the_runner_runs_the_strategy_it_is_given(many_dataframes, tmp_path):
    """The execution strategy is an injected object: a strategy of the caller's runs the
    train (here one that counts its calls and runs in-process), and the mode names map to
    the three strategies of the package."""
    from hyperloop.analysis.dataparallel import run_dataframe_workers
    from hyperloop.analysis.devices import run_devices
    from hyperloop.analysis.runner import choose_strategy, run_inprocess

    calls: list[int] = []

    def counting(plan, inputs, out, *, cores, sample_interval, progress):
        calls.append(cores)
        return run_inprocess(
            plan, inputs, out, cores=cores, sample_interval=sample_interval, progress=progress
        )

    plan = build_plan(_spec(), PACKAGE)
    mine = run_train(plan, many_dataframes, tmp_path / "mine", cores=3, strategy=counting)
    plain = run_train(build_plan(_spec(), PACKAGE), many_dataframes, tmp_path / "plain")
    assert calls == [3] and mine.exit_code == plain.exit_code == 0
    a, b = (
        _histograms(mine.outputs["AnalysisResults"]),
        _histograms(plain.outputs["AnalysisResults"]),
    )
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert choose_strategy(plan, 1) is run_inprocess
    assert choose_strategy(plan, 2, "processes") is run_devices
    assert choose_strategy(plan, 2, "dataframes") is run_dataframe_workers
    with pytest.raises(ValueError, match="unknown mode 'threads'"):
        choose_strategy(plan, 2, "threads")
