"""What sharing saved (hyperloop.core.sharing): the formula on hand-made per-device figures."""

from __future__ import annotations

import pytest

from hyperloop.core.co2 import co2_kg_from_seconds
from hyperloop.core.sharing import SECONDS_PER_YEAR, compact_devices, sample_savings, scaled


def _wagon(wid, analysis, workflow="a", config=None, deps=()):
    return {
        "wagon_id": wid,
        "name": f"w{wid}",
        "analysis_id": analysis,
        "analysis_name": f"analysis {analysis}",
        "workflow": workflow,
        "base_config": config or {},
        "dependency_snapshots": list(deps),
    }


SUMMARY = {
    "spectra": {"wagon_id": 1, "cpu": 10.0, "wall": 11.0, "proportionalSetSize_summary": {}},
    "flow": {"wagon_id": 2, "cpu": 20.0},
    "v0": {"wagon_id": 3, "cpu": 5.0},
    "propagation": {"wagon_id": 9, "cpu": 30.0},
    "reader": {"cpu": 40.0, "wagon_id": None},
    "writer": {"cpu": 1.0, "wagon_id": None},
    "__full_train__": {"cpu": 106.0, "aod-bytes-read-compressed": 1000, "host_name": "x"},
}
PROPAGATION = {"wagon_id": 9, "workflow": "propagation", "base_config": {"field": 5}}


def test_compact_devices_keeps_what_the_formula_needs():
    devices = compact_devices(SUMMARY)
    assert devices["spectra"] == {"wagon_id": 1, "cpu": 10.0}
    assert devices["reader"] == {"cpu": 40.0}
    assert devices["__full_train__"] == {"cpu": 106.0, "bytes": 1000.0}


def test_reader_and_a_shared_service_wagon_are_saved_per_extra_wagon():
    wagons = [
        _wagon(1, 10, "spectra", deps=[PROPAGATION]),
        _wagon(2, 10, "flow", deps=[PROPAGATION]),
        _wagon(3, 20, "v0", deps=[PROPAGATION]),
    ]
    out = sample_savings(compact_devices(SUMMARY), wagons)
    # (N-1) * reader + (k-1) * propagation = 2 * 40 + 2 * 30
    assert out["cpu_s"] == pytest.approx(140.0)
    assert out["bytes"] == pytest.approx(2000.0)
    # separately: each wagon pays reader + propagation + itself
    assert out["separate_cpu_s"] == pytest.approx(3 * 70 + 10 + 20 + 5)
    assert out["train_cpu_s"] == pytest.approx(40 + 10 + 20 + 5 + 30)
    assert out["separate_cpu_s"] - out["train_cpu_s"] == pytest.approx(out["cpu_s"])
    # per analysis: each wagon saves 2/3 of the reader and of the service
    by = {a["analysis_id"]: a for a in out["analyses"]}
    assert by[10]["cpu_s"] == pytest.approx(2 * (40 + 30) * 2 / 3)
    assert by[20]["cpu_s"] == pytest.approx((40 + 30) * 2 / 3)
    assert by[10]["wagons"] == 2 and by[10]["bytes"] == pytest.approx(2 * 1000 * 2 / 3)
    assert [a["analysis_id"] for a in out["analyses"]] == [10, 20]


def test_equal_dependencies_of_different_wagon_ids_count_as_one_device():
    twin = {**PROPAGATION, "wagon_id": 19}  # same workflow and configuration, other id
    wagons = [_wagon(1, 10, "spectra", deps=[PROPAGATION]), _wagon(2, 10, "flow", deps=[twin])]
    out = sample_savings(compact_devices(SUMMARY), wagons)
    assert out["cpu_s"] == pytest.approx(40 + 30)


def test_a_dependency_only_one_wagon_needs_saves_nothing():
    wagons = [_wagon(1, 10, "spectra", deps=[PROPAGATION]), _wagon(2, 10, "flow")]
    out = sample_savings(compact_devices(SUMMARY), wagons)
    assert out["cpu_s"] == pytest.approx(40)  # the reader only


def test_a_train_of_one_wagon_saves_nothing():
    out = sample_savings(compact_devices(SUMMARY), [_wagon(1, 10, "spectra")])
    assert out["cpu_s"] == 0 and out["bytes"] == 0


def test_scaled_to_the_dataset_in_cpu_years_and_co2():
    wagons = [_wagon(1, 10, "spectra"), _wagon(2, 20, "flow")]
    out = scaled(sample_savings(compact_devices(SUMMARY), wagons), scale=1e6)
    assert out["total"]["cpu_s"] == pytest.approx(40e6)
    assert out["total"]["cpu_years"] == pytest.approx(40e6 / SECONDS_PER_YEAR)
    assert out["total"]["co2_kg"] == pytest.approx(co2_kg_from_seconds(40e6))
    assert out["total"]["bytes"] == pytest.approx(1000e6)
    assert sum(a["cpu_s"] for a in out["analyses"]) == pytest.approx(40e6)
