"""A whole train run on the engine: split -> submit -> retries -> per-run merges -> final.

``run_train_on_engine`` runs it without a database (tests and drivers use it); the
scheduler performs the same steps itself, one instruction at a time, in
``hyperloop.scheduler.trainwork``. Layout under ``out_root/<train_id>/``:
``jobs/<job_id>/attempt-<n>/`` (attempt folders) and the merge storage (``merged/`` unless
``storage_url`` points elsewhere): ``runs/<run>/``, ``mergelists/<name>/``, ``final/``.

A run is merged only when every one of its jobs has a validated attempt, so a run is
either complete or listed as missing — never partially counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperloop.analysis.merge import MergeError
from hyperloop.analysis.spec import TrainSpec
from hyperloop.grid.engine import (
    Engine,
    ErrorGroup,
    JobOutcome,
    RetryPolicy,
    group_errors,
    run_jobs,
)
from hyperloop.grid.execute import AttemptRecord, scan_attempts
from hyperloop.grid.merging import (
    MergeRecord,
    MergeStageError,
    Storage,
    derived_production,
    final_merge,
    merge_mergelist,
    merge_run,
)
from hyperloop.grid.splitting import all_jobs, split_catalogue
from hyperloop.grid.targets import Target

FINAL_MERGE_MODES = ("auto", "force", "never")


@dataclass
class TrainRunResult:
    """Everything a train run did, as plain records."""

    train_id: str
    train_type: str
    jobs: dict[str, JobOutcome]
    runs: dict[int, list[str]]  # run -> job ids
    run_merges: dict[int, MergeRecord] = field(default_factory=dict)
    mergelist_merges: dict[str, MergeRecord] = field(default_factory=dict)
    final: MergeRecord | None = None
    storage_url: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the full_config every job ran
    train_dir: str = ""  # where attempt folders live
    target: str = ""
    package_dir: str | None = None
    expected_tasks: list[str] | None = None
    merge_errors: dict[int, str] = field(default_factory=dict)  # run -> why its merge failed

    @property
    def attempts(self) -> list[AttemptRecord]:
        return [a for o in self.jobs.values() for a in o.attempts]

    @property
    def errors(self) -> list[ErrorGroup]:
        return group_errors(self.attempts)

    @property
    def done_jobs(self) -> list[str]:
        return [j for j, o in self.jobs.items() if o.result is not None]

    @property
    def failed_jobs(self) -> list[str]:
        return [j for j, o in self.jobs.items() if o.result is None]

    @property
    def missing_runs(self) -> list[int]:
        return sorted(r for r in self.runs if r not in self.run_merges)

    @property
    def failed_fraction(self) -> float:
        return len(self.failed_jobs) / len(self.jobs) if self.jobs else 0.0

    @property
    def state(self) -> str:
        """``done`` (final merge over every run), ``merging`` (final merge pending) or ``failed``."""
        if self.final is not None and not self.final.runs_missing:
            return "done"
        return "merging" if self.run_merges else "failed"

    def derived_production(self) -> dict[int, list[tuple[str, int]]]:
        """Kept derived files (standard/linked) as a catalogue for a new production."""
        return derived_production(self.run_merges, Storage(self.storage_url))


def _train_type(spec: dict[str, Any], train_type: str | None) -> str:
    if train_type:
        return train_type
    return "standard" if spec.get("derived_data") else "analysis"


def run_train_on_engine(
    spec: TrainSpec | dict[str, Any],
    catalogue: Mapping[int, Iterable[tuple[str, int]]],
    engine: Engine,
    targets: Mapping[str, Target],
    out_root: str | os.PathLike,
    *,
    target: str,
    train_id: str = "train",
    package_dir: str | os.PathLike | None = None,
    max_files_per_job: int = 10,
    max_bytes_per_job: int | None = None,
    excluded_runs: Iterable[int] = (),
    policy: RetryPolicy = RetryPolicy(),
    mergelists: Mapping[str, Iterable[int]] | None = None,
    final_runs: Iterable[int] | None = None,
    final_merge_mode: str = "auto",
    train_type: str | None = None,
    storage_url: str | None = None,
    expected_tasks: list[str] | None = None,
    on_attempt: Callable[[AttemptRecord], None] | None = None,
    resume: bool = False,
) -> TrainRunResult:
    """Run a train over a catalogue ``{run: [(path, size)]}`` and merge it (module doc).

    ``final_merge_mode``: ``auto`` merges only when no run is missing, ``force`` merges what
    succeeded and lists the missing runs (the operator's choice), ``never`` stops after the
    per-run and mergelist merges. ``resume=True`` first judges the attempt folders a
    previous (killed) life of this train left (``scan_attempts``): validated attempts
    count and are not rerun; others continue with the next attempt number.
    """
    if final_merge_mode not in FINAL_MERGE_MODES:
        raise ValueError(f"final_merge_mode {final_merge_mode!r}; expected {FINAL_MERGE_MODES}")
    config = spec.to_json() if isinstance(spec, TrainSpec) else dict(spec)
    ttype = _train_type(config, train_type)
    base = Path(out_root) / train_id
    storage = Storage(storage_url or base / "merged")
    masters = split_catalogue(
        catalogue,
        max_files=max_files_per_job,
        max_bytes=max_bytes_per_job,
        excluded_runs=excluded_runs,
    )
    jobs = all_jobs(masters)
    result = TrainRunResult(
        train_id=train_id,
        train_type=ttype,
        jobs={},
        runs={m.run: [j.job_id for j in m.jobs] for m in masters},
        storage_url=storage.url,
        config=config,
        train_dir=str(base / "jobs"),
        target=target,
        package_dir=str(package_dir) if package_dir else None,
        expected_tasks=expected_tasks,
    )
    history: dict[str, list[AttemptRecord]] = {}
    if resume:
        for job in jobs:
            history[job.job_id] = scan_attempts(
                job, config, targets[target], result.train_dir, expected_tasks=expected_tasks
            )
    done: dict[int, dict[str, AttemptRecord]] = {run: {} for run in result.runs}
    for job in jobs:
        ok = next((a for a in history.get(job.job_id, []) if a.ok), None)
        if ok is not None:
            done[job.run][job.job_id] = ok

    def record(rec: AttemptRecord) -> None:
        """Merge a run as soon as its last job is validated, while other jobs still run."""
        if on_attempt is not None:
            on_attempt(rec)
        if not rec.ok or rec.job_id in done[rec.run]:
            return
        done[rec.run][rec.job_id] = rec
        if len(done[rec.run]) == len(result.runs[rec.run]):
            _merge_one(result, rec.run, list(done[rec.run].values()), storage)

    result.jobs = run_jobs(
        engine,
        jobs,
        config,
        targets,
        target,
        result.train_dir,
        package_dir=package_dir,
        expected_tasks=expected_tasks,
        policy=policy,
        on_attempt=record,
        history=history,
        first_reason="resubmitted after a restart" if resume else "submitted",
    )
    merge_stages(result, storage, mergelists=mergelists)
    if final_merge_mode == "force" or (final_merge_mode == "auto" and not result.missing_runs):
        result.final = final_merge(
            result.run_merges, storage, runs=final_runs or list(result.runs), train_type=ttype
        )
    return result


def _merge_one(
    result: TrainRunResult, run: int, records: list[AttemptRecord], storage: Storage
) -> None:
    """Per-run merge; a failure is kept in ``merge_errors`` and the run stays missing."""
    try:
        result.run_merges[run] = merge_run(run, records, storage, train_type=result.train_type)
        result.merge_errors.pop(run, None)
    except (MergeStageError, MergeError, OSError) as exc:
        result.merge_errors[run] = f"{type(exc).__name__}: {exc}"


def merge_stages(
    result: TrainRunResult,
    storage: Storage,
    *,
    mergelists: Mapping[str, Iterable[int]] | None = None,
) -> None:
    """Per-run merges of complete runs not merged yet, then every mergelist."""
    for run, job_ids in result.runs.items():
        if run in result.run_merges:
            continue
        records = [result.jobs[j].result for j in job_ids]
        if any(r is None for r in records):
            continue
        _merge_one(result, run, [r for r in records if r is not None], storage)
    for name, runs in (mergelists or {}).items():
        result.mergelist_merges[name] = merge_mergelist(
            name, runs, result.run_merges, storage, train_type=result.train_type
        )


def resubmit_jobs(
    result: TrainRunResult,
    engine: Engine,
    targets: Mapping[str, Target],
    job_ids: Iterable[str] | None = None,
    *,
    policy: RetryPolicy = RetryPolicy(max_attempts=1),
    reason: str = "operator resubmission",
) -> dict[str, JobOutcome]:
    """Operator resubmission of failed jobs (default: all of them), continuing their history.

    Attempt numbers continue after the last one (new folders); by default no automatic
    retry follows (``max_attempts`` counts only the new attempts here). Newly complete
    runs are merged; call ``operator_final_merge`` (or the scheduler's final merge) next.
    """
    wanted = list(job_ids) if job_ids is not None else result.failed_jobs
    unknown = [j for j in wanted if j not in result.jobs]
    if unknown:
        raise KeyError(f"train {result.train_id} has no job {unknown[0]!r}")
    history = {j: list(result.jobs[j].attempts) for j in wanted}
    offset = max((len(h) for h in history.values()), default=0)
    outcomes = run_jobs(
        engine,
        [result.jobs[j].job for j in wanted],
        result.config,
        targets,
        result.target,
        result.train_dir,
        package_dir=result.package_dir,
        expected_tasks=result.expected_tasks,
        policy=RetryPolicy(
            max_attempts=policy.max_attempts + offset,
            retry_kinds=policy.retry_kinds,
            bigger_target_on_memory=policy.bigger_target_on_memory,
        ),
        history=history,
        first_reason=reason,
    )
    result.jobs.update(outcomes)
    merge_stages(result, Storage(result.storage_url))
    return outcomes


def operator_final_merge(result: TrainRunResult, runs: Iterable[int] | None = None) -> MergeRecord:
    """The operator's "final merge anyway": merges what succeeded, lists missing runs."""
    storage = Storage(result.storage_url)
    merge_stages(result, storage)
    result.final = final_merge(
        result.run_merges,
        storage,
        runs=list(runs) if runs is not None else list(result.runs),
        train_type=result.train_type,
    )
    return result.final
