"""Jobs of a submitted train: records, state changes, resubmission, error groups, counts
and the "trains with issues" of SPEC §3. Queries stay on the (train_run_id, state) index."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.common import get_or_404
from hyperloop.core.enums import JobState, TrainState
from hyperloop.core.errors import ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.states import JOB_ERRORS, transition
from hyperloop.db.models import Job, TrainRun

MAX_ATTEMPTS = 3
ISSUE_FAILED_FRACTION = 0.30
_FINAL = frozenset({JobState.DONE} | JOB_ERRORS)


@dataclass(frozen=True)
class JobSpec:
    """One job to create: the files of (part of) one run."""

    run_number: int
    files: tuple[str, ...]


def add_jobs(s: Session, train_id: int, specs: Iterable[JobSpec]) -> int:
    """Insert the jobs of a submitted/running train in one statement; returns how many."""
    train = get_or_404(s, TrainRun, train_id, "train run")
    if train.state not in (TrainState.SUBMITTED, TrainState.RUNNING):
        raise ValidationError(f"train run {train.id} is {train.state.value}: no jobs to add")
    rows = [
        {
            "train_run_id": train.id,
            "run_number": spec.run_number,
            "files": list(spec.files),
            "n_files": len(spec.files),
            "state": JobState.WAITING.value,
            "attempts": 0,
        }
        for spec in specs
    ]
    if rows:
        s.execute(Job.__table__.insert(), rows)
    return len(rows)


def error_signature(exc_type: str, where: str) -> str:
    """Same exception type at the same place -> same group."""
    return hashlib.sha1(f"{exc_type}@{where}".encode()).hexdigest()[:16]


_JOB_FIELDS = frozenset(
    {"site", "cpu_s", "wall_s", "bytes_read", "error_signature", "error_message"}
)
_LOAD_CHUNK = 500  # ids per SELECT ... IN (...) (well below SQLite's variable limit)


def load_jobs(s: Session, job_ids: Iterable[int]) -> dict[int, Job]:
    """Load many jobs into the session in a few ``IN`` queries (one per 500 ids), so that
    the following ``set_job_state`` calls find them without a query each."""
    ids = sorted(set(job_ids))
    out: dict[int, Job] = {}
    for start in range(0, len(ids), _LOAD_CHUNK):
        chunk = ids[start : start + _LOAD_CHUNK]
        out.update((j.id, j) for j in s.scalars(select(Job).where(Job.id.in_(chunk))))
    return out


def set_job_state(
    s: Session, job_id: int, to: JobState | str, *, reason: str = "", **fields: Any
) -> Job:
    """Move a job (scheduler/grid) and record its figures (site, cpu_s, wall_s, bytes_read,
    error_signature, error_message). Not flushed here: the session writes many jobs'
    changes together (batched UPDATEs) at its next query or commit."""
    unknown = set(fields) - _JOB_FIELDS
    if unknown:
        raise ValidationError(f"unknown job field(s) {sorted(unknown)}")
    job = get_or_404(s, Job, job_id, "job")
    transition(job, JobState(to), actor=None, reason=reason)
    for k, v in fields.items():
        setattr(job, k, v)
    return job


def resubmit_failed(
    s: Session, actor: Actor | None, train_id: int, *, max_attempts: int | None = MAX_ATTEMPTS
) -> int:
    """Put failed jobs back to waiting: automatically below ``max_attempts`` (actor None),
    or every failed job when an operator asks (``max_attempts=None``)."""
    if actor is not None:
        require(actor, Action.TRAIN_OPERATE)
    stmt = select(Job).where(Job.train_run_id == train_id, Job.state.in_(JOB_ERRORS))
    n = 0
    for job in s.scalars(stmt):
        if max_attempts is not None and job.attempts >= max_attempts:
            continue
        transition(job, JobState.WAITING, actor=actor, reason="resubmitted")
        n += 1
    s.flush()
    return n


def job_counts(s: Session, train_id: int) -> dict[str, int]:
    stmt = select(Job.state, func.count()).where(Job.train_run_id == train_id).group_by(Job.state)
    return {state.value: int(n) for state, n in s.execute(stmt)}


@dataclass(frozen=True)
class ErrorGroup:
    signature: str
    count: int
    example: str


def error_groups(s: Session, train_id: int) -> list[ErrorGroup]:
    """Failed jobs grouped by signature, largest group first, with one example message."""
    stmt = (
        select(Job.error_signature, func.count(), func.min(Job.error_message))
        .where(Job.train_run_id == train_id, Job.state.in_(JOB_ERRORS))
        .group_by(Job.error_signature)
        .order_by(func.count().desc())
    )
    return [ErrorGroup(sig or "unknown", int(n), msg or "") for sig, n, msg in s.execute(stmt)]


def trains_with_issues(
    s: Session, *, merge_jobs_final: dict[int, bool] | None = None
) -> list[tuple[TrainRun, str]]:
    """Running trains where > 30 % of the jobs failed, or whose jobs are all final while the
    train did not move on to merging (merge-side checks come from the merge records)."""
    out = []
    active = (TrainState.SUBMITTED, TrainState.RUNNING, TrainState.MERGING)
    trains = s.scalars(select(TrainRun).where(TrainRun.state.in_(active))).all()
    by_train: dict[int, dict[str, int]] = {}
    if trains:  # one grouped query for every active train (not one per train)
        stmt = (
            select(Job.train_run_id, Job.state, func.count())
            .join(TrainRun, TrainRun.id == Job.train_run_id)
            .where(TrainRun.state.in_(active))
            .group_by(Job.train_run_id, Job.state)
        )
        for train_id, state, n in s.execute(stmt):
            by_train.setdefault(train_id, {})[state.value] = int(n)
    for train in trains:
        counts = by_train.get(train.id, {})
        total = sum(counts.values())
        if not total:
            continue
        failed = sum(counts.get(e.value, 0) for e in JOB_ERRORS)
        final = sum(counts.get(e.value, 0) for e in _FINAL)
        if failed / total > ISSUE_FAILED_FRACTION:
            out.append((train, f"{failed} of {total} jobs failed"))
        elif final == total and train.state is not TrainState.MERGING:
            out.append((train, "all analysis jobs are final but no merge started"))
        elif merge_jobs_final and merge_jobs_final.get(train.id):
            out.append((train, "merge jobs are final but no final merge"))
    return out
