"""What a wagon or train test says about the full dataset: expected resources and warnings.

A test runs on a small, fixed sample of the dataset. From its ``metrics_summary.json`` the
system extrapolates the expected CPU time, wall time, output size and number of jobs of the
whole dataset, the CO2-equivalent estimate, and raises the warnings of SPEC §4. A test with
any warning ends in ``warning`` and is excluded from automatic composition. Pure functions:
numbers in, records out; thresholds are data (settings), not code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from hyperloop.core.co2 import co2_kg_from_seconds
from hyperloop.units import GB, MB, format_bytes

#: warning codes that block the submission of a train (SPEC §4 warning 9: a linked
#: derived output would combine too many input files)
BLOCKING_WARNINGS = frozenset({"linked-inputs"})


def blocking_warning(warnings: Iterable[Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    """The first stored warning (``Warning.to_json``) that blocks submission, or None."""
    return next((w for w in warnings or () if w.get("code") in BLOCKING_WARNINGS), None)


@dataclass(frozen=True)
class Thresholds:
    """Warning thresholds (SPEC §4); the server reads them from settings."""

    wagon_test_memory_limit: float = 3.6 * GB  # 2-core target minus a buffer
    single_core_max_avg_pss: float = 3.2 * GB
    two_core_max_avg_pss: float = 4.0 * GB
    leak_ratio: float = 1.3  # max PSS more than 30% above the average
    # ... and by at least this much: a short test on a small sample starts from a small
    # baseline (interpreter, libraries), so its start-up ramp alone exceeds 30%
    leak_min_growth: float = 200 * MB
    max_conditions_calls: int = 1000  # calls to the conditions database per test
    min_reduction_factor: float = 50.0
    reduction_exempt_output: float = 50 * GB  # below this, a low reduction may be requested
    max_log_bytes: float = 10 * MB
    max_slim_output: float = 4000 * MB
    max_linked_inputs_per_output: int = 25


@dataclass(frozen=True)
class DatasetSize:
    """What the extrapolation scales to."""

    bytes: float
    files: int
    cpu_limit_hours: float | None = None  # per train, from the dataset's size class
    files_per_job: int = 10
    # the most files one run has in the catalogue: a job never spans runs, so a linked
    # derived output combines at most min(files_per_job, largest_run_files) inputs
    largest_run_files: int | None = None
    # files of each run in the catalogue: a train is split per run, so each run makes
    # ceil(files / files_per_job) jobs (empty: counted from ``files`` alone)
    run_files: tuple[int, ...] = ()

    @property
    def jobs(self) -> int:
        """Jobs the split of a train makes with these settings (0 for an empty dataset)."""
        per_job = max(1, self.files_per_job)
        if self.run_files:
            return sum(-(-n // per_job) for n in self.run_files if n > 0)
        return max(1, -(-self.files // per_job)) if self.files else 0

    @property
    def inputs_per_output(self) -> int:
        """Input files one job (hence one derived output) combines at most."""
        if self.largest_run_files is None:
            return self.files_per_job
        return min(self.files_per_job, self.largest_run_files)


@dataclass(frozen=True)
class SampleFacts:
    """What the test measured, beyond metrics_summary.json."""

    kind: str = "wagon"  # "wagon" or "train"
    target_memory_limit: float | None = None  # bytes; train tests use their target's
    input_bytes: float = 0.0  # compressed bytes of the test sample
    output_bytes: float = 0.0  # AnalysisResults + derived output of the test
    log_bytes: float = 0.0
    conditions_calls: int = 0
    derived_type: str | None = None  # None, "standard", "linked", "slim"
    saved_tables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # saved derived table -> {index column: target table}


@dataclass(frozen=True)
class Warning:
    """One warning: a stable code, a sentence, and what the user can do about it."""

    code: str
    message: str
    advice: str
    value: float | None = None
    limit: float | None = None
    blocks_submission: bool = False  # the train cannot be submitted (warning 9)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Expected:
    """Extrapolated to the whole dataset."""

    scale: float
    cpu_seconds: float
    wall_seconds: float
    output_bytes: float
    jobs: int
    co2_kg: float
    memory_class: str  # "single-core", "two-core" (on request), "too-large"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _full(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        return summary["__full_train__"]
    except KeyError:
        raise ValueError("metrics_summary.json has no __full_train__ entry") from None


def heaviest_devices(summary: Mapping[str, Any], n: int = 3) -> list[tuple[str, float]]:
    """(workflow or device, average PSS in bytes) of the ``n`` largest entries of a
    metrics summary besides the whole train: each measured in its own process (tests run
    every device as a process), so this is who holds the memory."""
    rows = []
    for name, entry in summary.items():
        if name == "__full_train__" or not isinstance(entry, Mapping):
            continue
        avg = (entry.get("proportionalSetSize_summary") or {}).get("avg")
        if avg:
            rows.append((str(name), float(avg)))
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows[:n]


def _who(summary: Mapping[str, Any]) -> str:
    """ "; largest: a 412.3 MB, reader 80.1 MB" (empty when the summary has no devices)."""
    rows = heaviest_devices(summary)
    if not rows:
        return ""
    return "; largest: " + ", ".join(f"{name} {format_bytes(avg)}" for name, avg in rows)


def memory_class(avg_pss: float, t: Thresholds = Thresholds()) -> str:
    """Which queue the memory needs: single core, 2-core on request, or none."""
    if avg_pss <= t.single_core_max_avg_pss:
        return "single-core"
    if avg_pss <= t.two_core_max_avg_pss:
        return "two-core"
    return "too-large"


def expected_resources(
    summary: Mapping[str, Any],
    facts: SampleFacts,
    dataset: DatasetSize,
    t: Thresholds = Thresholds(),
) -> Expected:
    """Scale the test's measurements by dataset bytes / test input bytes."""
    full = _full(summary)
    sample = facts.input_bytes or float(full.get("aod-bytes-read-compressed") or 0.0)
    scale = dataset.bytes / sample if sample > 0 else 0.0
    cpu = float(full.get("cpu", 0.0)) * scale
    pss = full.get("proportionalSetSize_summary", {})
    return Expected(
        scale=scale,
        cpu_seconds=cpu,
        wall_seconds=float(full.get("wall", 0.0)) * scale,
        output_bytes=facts.output_bytes * (1.0 if facts.derived_type is None else scale),
        jobs=dataset.jobs,
        co2_kg=co2_kg_from_seconds(cpu),
        memory_class=memory_class(float(pss.get("avg", 0.0)), t),
    )


def evaluate(
    summary: Mapping[str, Any],
    facts: SampleFacts,
    dataset: DatasetSize,
    t: Thresholds = Thresholds(),
) -> tuple[Expected, list[Warning]]:
    """Expected resources and every warning of SPEC §4 that applies (several may)."""
    full = _full(summary)
    expected = expected_resources(summary, facts, dataset, t)
    pss = full.get("proportionalSetSize_summary", {})
    avg, peak = float(pss.get("avg", 0.0)), float(pss.get("max", 0.0))
    warnings: list[Warning] = []

    limit = (
        facts.target_memory_limit
        if facts.kind == "train" and facts.target_memory_limit
        else t.wagon_test_memory_limit
    )
    if avg > limit or expected.memory_class == "too-large":
        warnings.append(
            Warning(
                "memory",
                f"average memory (PSS) {format_bytes(avg)} is above the limit of "
                f"{format_bytes(limit)}{_who(summary)}",
                "reduce histogram sizes or the number of subwagons; above 4 GB the wagon cannot "
                "be composed, between 3.2 and 4 GB it needs the 2-core queue (on request)",
                avg,
                limit,
            )
        )
    elif expected.memory_class == "two-core":
        warnings.append(
            Warning(
                "memory-two-core",
                f"average memory (PSS) {format_bytes(avg)} needs the 2-core queue{_who(summary)}",
                "request the 2-core target; the wagon then counts double in the slot usage",
                avg,
                t.single_core_max_avg_pss,
            )
        )
    if avg > 0 and peak > t.leak_ratio * avg and peak - avg > t.leak_min_growth:
        warnings.append(
            Warning(
                "memory-growth",
                f"maximum PSS {format_bytes(peak)} is {100 * (peak / avg - 1):.0f}% above the "
                f"average {format_bytes(avg)} (possible memory leak)",
                "check for objects kept across dataframes (mixing buffers, growing lists)",
                peak / avg,
                t.leak_ratio,
            )
        )
    if (
        dataset.cpu_limit_hours is not None
        and expected.cpu_seconds > dataset.cpu_limit_hours * 3600
    ):
        warnings.append(
            Warning(
                "cpu-time",
                f"expected CPU time {expected.cpu_seconds / 3600:.0f} h is above the dataset's "
                f"limit of {dataset.cpu_limit_hours:.0f} h per train",
                "make the wagon faster, or ask your PWG conveners for approval",
                expected.cpu_seconds / 3600,
                dataset.cpu_limit_hours,
            )
        )
    if facts.conditions_calls > t.max_conditions_calls:
        warnings.append(
            Warning(
                "conditions-calls",
                f"{facts.conditions_calls} calls to the conditions database (limit "
                f"{t.max_conditions_calls})",
                "cache conditions objects per run instead of fetching them per dataframe",
                facts.conditions_calls,
                t.max_conditions_calls,
            )
        )
    input_bytes = facts.input_bytes or float(full.get("aod-bytes-read-compressed") or 0.0)
    if facts.output_bytes > 0 and input_bytes > 0:
        reduction = input_bytes / facts.output_bytes
        if reduction < t.min_reduction_factor:
            allowed = expected.output_bytes < t.reduction_exempt_output
            warnings.append(
                Warning(
                    "reduction-factor",
                    f"reduction factor (input/output size) {reduction:.1f} is below "
                    f"{t.min_reduction_factor:.0f}",
                    "save fewer or smaller histograms / derived columns"
                    + (
                        "; can be allowed on request since the expected output is below 50 GB"
                        if allowed
                        else "; not allowed: the expected output exceeds 50 GB"
                    ),
                    reduction,
                    t.min_reduction_factor,
                )
            )
    if facts.log_bytes > t.max_log_bytes:
        warnings.append(
            Warning(
                "log-size",
                f"log output {facts.log_bytes / MB:.1f} MB is above {t.max_log_bytes / MB:.0f} MB",
                "remove per-event printing (verbose switches) from the configuration",
                facts.log_bytes,
                t.max_log_bytes,
            )
        )
    if facts.derived_type == "slim" and expected.output_bytes > t.max_slim_output:
        warnings.append(
            Warning(
                "slim-output",
                f"expected slim derived output {expected.output_bytes / MB:.0f} MB is above "
                f"{t.max_slim_output / MB:.0f} MB (it is merged into one file)",
                "select fewer events or columns, or use standard derived data",
                expected.output_bytes,
                t.max_slim_output,
            )
        )
    # linked derived data reaches its parent's tables through the parent files: only
    # standard and slim derived outputs must hold every table they index
    unbound = unbound_index_columns(facts.saved_tables)
    if facts.derived_type in ("standard", "slim") and unbound:
        listing = ", ".join(f"{tab}.{col} -> {target}" for tab, col, target in unbound)
        warnings.append(
            Warning(
                "unbound-index",
                f"derived output has index columns into tables that are not saved: {listing}",
                "save the target tables too, or drop the index columns",
            )
        )
    per_output = dataset.inputs_per_output
    if facts.derived_type == "linked" and per_output > t.max_linked_inputs_per_output:
        warnings.append(
            Warning(
                "linked-inputs",
                f"linked derived data would combine {per_output} input files in one "
                f"output (limit {t.max_linked_inputs_per_output}); the train cannot be "
                "submitted",
                "use standard derived data, or ask the operators for smaller jobs",
                per_output,
                t.max_linked_inputs_per_output,
                blocks_submission=True,
            )
        )
    return expected, warnings


def unbound_index_columns(
    saved_tables: Mapping[str, Mapping[str, str]],
) -> list[tuple[str, str, str]]:
    """(table, index column, target) for index columns whose target table is not saved."""
    saved = set(saved_tables)
    return [
        (table, col, target)
        for table, indices in saved_tables.items()
        for col, target in indices.items()
        if target not in saved
    ]


def summarise(warnings: Iterable[Warning]) -> str:
    """The test status a list of warnings gives: ``done`` or ``warning``."""
    return "warning" if any(True for _ in warnings) else "done"
