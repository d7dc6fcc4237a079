"""Expected resources and the warnings of SPEC §4, from a test's measured metrics."""

from __future__ import annotations

import pytest

from hyperloop.core.assessment import (
    GB,
    MB,
    DatasetSize,
    SampleFacts,
    Thresholds,
    evaluate,
    memory_class,
    summarise,
)


def summary(cpu=100.0, wall=120.0, avg=1.0 * GB, peak=1.1 * GB, read=1.0 * GB):
    return {
        "__full_train__": {
            "cpu": cpu,
            "wall": wall,
            "proportionalSetSize_summary": {"avg": avg, "max": peak},
            "aod-bytes-read-compressed": read,
            "number_of_input_files": 2,
        }
    }


DATASET = DatasetSize(bytes=1000 * GB, files=2000, cpu_limit_hours=100_000, files_per_job=10)


def codes(warnings):
    return [w.code for w in warnings]


def test_a_light_wagon_extrapolates_and_has_no_warning():
    expected, warnings = evaluate(summary(), SampleFacts(output_bytes=1 * MB), DATASET)
    assert warnings == [] and summarise(warnings) == "done"
    assert expected.scale == pytest.approx(1000)
    assert expected.cpu_seconds == pytest.approx(100_000)
    assert expected.jobs == 200
    # 20 W per core at 0.301 kgCO2eq/kWh (about 6 t per million CPU hours)
    assert expected.co2_kg == pytest.approx(100_000 / 3600 * 0.020 * 0.301)
    assert expected.memory_class == "single-core"


@pytest.mark.parametrize(
    ("avg_gb", "cls"), [(3.0, "single-core"), (3.5, "two-core"), (4.5, "too-large")]
)
def test_memory_classes_follow_the_spec_thresholds(avg_gb, cls):
    assert memory_class(avg_gb * GB) == cls


def test_memory_above_the_wagon_test_limit_warns_and_train_tests_use_their_target():
    _, warnings = evaluate(
        summary(avg=3.7 * GB, peak=3.8 * GB), SampleFacts(output_bytes=MB), DATASET
    )
    assert codes(warnings) == ["memory"]
    assert "3.70 GB" in warnings[0].message and "3.60 GB" in warnings[0].message
    big_target = SampleFacts(kind="train", target_memory_limit=8 * GB, output_bytes=MB)
    _, warnings = evaluate(summary(avg=3.5 * GB, peak=3.6 * GB), big_target, DATASET)
    assert codes(warnings) == ["memory-two-core"]


def test_memory_growth_needs_both_the_ratio_and_an_absolute_growth():
    """A test job's start-up ramp (80 % above a small average) is not a leak; the same
    ratio on a real workload is."""
    _, warnings = evaluate(summary(avg=0.09 * GB, peak=0.16 * GB), SampleFacts(), DATASET)
    assert "memory-growth" not in codes(warnings)
    _, warnings = evaluate(summary(avg=1.0 * GB, peak=1.8 * GB), SampleFacts(), DATASET)
    assert "memory-growth" in codes(warnings)


def test_growing_memory_cpu_conditions_logs_and_reduction_all_warn_together():
    facts = SampleFacts(output_bytes=100 * MB, log_bytes=50 * MB, conditions_calls=5000)
    small_limit = DatasetSize(bytes=1000 * GB, files=2000, cpu_limit_hours=10)
    expected, warnings = evaluate(summary(peak=1.5 * GB), facts, small_limit)
    assert codes(warnings) == [
        "memory-growth",
        "cpu-time",
        "conditions-calls",
        "reduction-factor",
        "log-size",
    ]
    assert summarise(warnings) == "warning"
    reduction = next(w for w in warnings if w.code == "reduction-factor")
    assert reduction.value == pytest.approx(1000 / 100)  # decimal units (hyperloop.units)
    assert "not allowed" not in reduction.advice  # analysis output stays 100 MB < 50 GB


def test_derived_data_warnings_slim_size_unbound_index_and_linked_inputs():
    facts = SampleFacts(
        output_bytes=10 * MB,
        derived_type="slim",
        saved_tables={"SkimTracks": {"fIndexSkimCollisions": "SkimCollisions"}},
    )
    expected, warnings = evaluate(summary(), facts, DATASET)
    assert expected.output_bytes == pytest.approx(10 * MB * 1000)
    assert {"slim-output", "unbound-index"} <= set(codes(warnings))
    unbound = next(w for w in warnings if w.code == "unbound-index")
    assert "SkimTracks.fIndexSkimCollisions -> SkimCollisions" in unbound.message

    linked = SampleFacts(
        output_bytes=MB,
        derived_type="linked",
        saved_tables={
            "SkimCollisions": {},
            "SkimTracks": {"fIndexSkimCollisions": "SkimCollisions"},
        },
    )
    many = DatasetSize(bytes=1000 * GB, files=2000, files_per_job=40)
    _, warnings = evaluate(summary(), linked, many)
    assert "linked-inputs" in codes(warnings) and "unbound-index" not in codes(warnings)


def test_the_job_count_is_the_split_per_run_with_the_files_per_job_in_force():
    # a job never spans runs: 25 files in runs of 12, 12 and 1 make 2 + 2 + 1 jobs at 10 per job
    per_run = DatasetSize(bytes=GB, files=25, files_per_job=10, run_files=(12, 12, 1))
    assert per_run.jobs == 5 and DatasetSize(bytes=GB, files=25, files_per_job=10).jobs == 3
    assert DatasetSize(bytes=GB, files=25, files_per_job=4, run_files=(12, 12, 1)).jobs == 7
    assert DatasetSize(bytes=0.0, files=0).jobs == 0
    expected, _ = evaluate(summary(), SampleFacts(output_bytes=MB), per_run)
    assert expected.jobs == 5


def test_thresholds_are_data():
    strict = Thresholds(max_log_bytes=1 * MB)
    _, warnings = evaluate(
        summary(), SampleFacts(output_bytes=MB, log_bytes=2 * MB), DATASET, strict
    )
    assert codes(warnings) == ["log-size"]


def test_a_summary_without_totals_is_refused():
    with pytest.raises(ValueError, match="__full_train__"):
        evaluate({}, SampleFacts(), DATASET)
