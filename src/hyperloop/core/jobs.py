"""Jobs of a submitted train: records, state changes, resubmission, error groups, counts
and the "trains with issues" of SPEC §3. Queries stay on the (train_run_id, state) index."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from hyperloop.core import story
from hyperloop.core.actor import Actor
from hyperloop.core.common import get_or_404
from hyperloop.core.errors import NotFound, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.states import JOB_ERRORS, JOB_TRANSITIONS, can_transition, transition
from hyperloop.core.story import Cause
from hyperloop.db.base import utcnow
from hyperloop.db.models import Job, TrainMerge, TrainRun
from hyperloop.enums import JobState, TrainState

MAX_ATTEMPTS = 3
ISSUE_FAILED_FRACTION = 0.30
_FINAL = frozenset({JobState.DONE} | JOB_ERRORS)


@dataclass(frozen=True)
class JobSpec:
    """One job to create: the files of (part of) one run."""

    run_number: int
    files: tuple[str, ...]


def add_jobs(s: Session, train_id: int, specs: Iterable[JobSpec], *, cause: Cause) -> int:
    """Insert the jobs of a submitted/running train in one statement, and their creation
    (``cause``) in their stories in another; returns how many."""
    train = get_or_404(s, TrainRun, train_id, "train run")
    if train.state not in (TrainState.SUBMITTED, TrainState.RUNNING):
        raise ValidationError(f"train run {train.id} is {train.state.value}: no jobs to add")
    before = story.last_job_id(s, train.id)
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
    if rows and _is_postgres(s):
        _insert_from_arrays(s, rows)
    elif rows:
        s.execute(Job.__table__.insert(), rows)  # executemany
    if rows:
        story.record_created_jobs(s, train.id, before, cause)
    return len(rows)


def _insert_from_arrays(s: Session, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: ``INSERT INTO jobs ... SELECT FROM unnest(<one array per column>)``, one
    short statement instead of a parameter list per row; the columns' Python defaults are
    applied as the ORM would (one value for the whole insert)."""
    table = Job.__table__
    dialect = s.get_bind().dialect
    given = list(rows[0])
    binds: dict[str, Any] = {}
    selects, arrays, names = [], [], []
    for c in given:
        col = table.c[c]
        kind = "TEXT" if c == "files" else col.type.compile(dialect=dialect)
        arrays.append(f"CAST(:a_{c} AS {kind}[])")
        names.append(c)
        selects.append(f"CAST(new.{c} AS JSONB)" if c == "files" else f"new.{c}")
        values = [r[c] for r in rows]
        binds[f"a_{c}"] = [json.dumps(v) for v in values] if c == "files" else values
    defaults = []
    for col in table.columns:
        d = col.default
        if col.name in given or col.primary_key or d is None:
            continue
        binds[f"d_{col.name}"] = d.arg(None) if d.is_callable else d.arg
        defaults.append(col.name)
        selects.append(f":d_{col.name}")
    sql = (
        f"INSERT INTO jobs ({', '.join([*given, *defaults])}) SELECT {', '.join(selects)} "
        f"FROM unnest({', '.join(arrays)}) AS new({', '.join(names)})"
    )
    s.execute(text(sql), binds)


def error_signature(exc_type: str, where: str) -> str:
    """Same exception type at the same place -> same group."""
    return hashlib.sha1(f"{exc_type}@{where}".encode()).hexdigest()[:16]


_JOB_FIELDS = frozenset(
    {"site", "cpu_s", "wall_s", "bytes_read", "error_signature", "error_message"}
)
_LOAD_CHUNK = 500  # ids per SELECT ... IN (...) (well below SQLite's variable limit)
_UPDATE_CHUNK = 5000  # rows per UPDATE ... FROM unnest(...) on PostgreSQL


def set_job_state(
    s: Session, job_id: int, to: JobState | str, *, cause: Cause, **fields: Any
) -> Job:
    """Move a job (scheduler/grid) for ``cause`` and record its figures (site, cpu_s,
    wall_s, bytes_read, error_signature, error_message). Not flushed here: the session
    writes many jobs' changes together (batched UPDATEs) at its next query or commit."""
    unknown = set(fields) - _JOB_FIELDS
    if unknown:
        raise ValidationError(f"unknown job field(s) {sorted(unknown)}")
    job = get_or_404(s, Job, job_id, "job")
    transition(job, JobState(to), actor=None, cause=cause)
    for k, v in fields.items():
        setattr(job, k, v)
    return job


def set_job_fields(s: Session, job_id: int, **fields: Any) -> Job:
    """Record figures of a job (``site`` once its attempt began, ...) without a move."""
    unknown = set(fields) - _JOB_FIELDS
    if unknown:
        raise ValidationError(f"unknown job field(s) {sorted(unknown)}")
    job = get_or_404(s, Job, job_id, "job")
    for k, v in fields.items():
        setattr(job, k, v)
    return job


def running_split(s: Session, train_id: int | None = None) -> tuple[int, int]:
    """(queued, running) among the jobs in state running (of one train, or all): a job
    whose attempt has not begun on a worker yet has no ``site`` and is only queued."""
    stmt = select(Job.site.is_(None), func.count()).where(Job.state == JobState.RUNNING)
    if train_id is not None:
        stmt = stmt.where(Job.train_run_id == train_id)
    split = dict(s.execute(stmt.group_by(Job.site.is_(None))).all())
    return int(split.get(True, 0)), int(split.get(False, 0))


@dataclass(slots=True)
class JobRow:
    """A plain copy of the job columns the scheduler moves and submits (no ORM object)."""

    id: int
    train_run_id: int
    run_number: int
    state: JobState
    attempts: int
    target: str | None
    files: list[str] | None = None  # read only for jobs about to be submitted


class JobMoves:
    """State changes of many jobs in one transaction without an ORM object per job: rows
    are read in a few ``IN`` queries, each move is checked against the same state machine
    as ``set_job_state`` (an illegal move raises the very ``IllegalTransition`` of
    ``transition``) with the same effect (WAITING -> RUNNING counts an attempt), and
    ``flush()`` writes one executemany UPDATE per set of changed columns (PostgreSQL: one
    ``UPDATE ... FROM unnest(arrays)`` statement per 5000 rows) and the moves' transitions
    with their causes in bulk (``story.record_many``), in the same transaction.

    The database sees the moves only after ``flush()``: flush before reading jobs."""

    _COLUMNS = (Job.id, Job.train_run_id, Job.run_number, Job.state, Job.attempts, Job.target)

    def __init__(self, s: Session) -> None:
        self.s = s
        self.jobs: dict[int, JobRow] = {}  # the current state of each job read
        self.changes: dict[int, dict[str, Any]] = {}  # job id -> column -> new value
        self.steps: list[dict[str, Any]] = []  # the moves' transitions rows (story)

    def load(self, job_ids: Iterable[int], *, files: Iterable[int] = ()) -> None:
        """Read the jobs ``job_ids`` not read yet, and the file lists of ``files``."""
        ids = sorted(set(job_ids) - self.jobs.keys())
        for chunk in _id_chunks(self.s, ids):
            stmt = select(*self._COLUMNS).where(_id_in(self.s, chunk))
            for row in self.s.execute(stmt):
                self.jobs[row[0]] = JobRow(*row)
        want = sorted({j for j in files if j in self.jobs and self.jobs[j].files is None})
        for chunk in _id_chunks(self.s, want):
            for job_id, paths in self.s.execute(
                select(Job.id, Job.files).where(_id_in(self.s, chunk))
            ):
                self.jobs[job_id].files = list(paths or ())

    def get(self, job_id: int, *, files: bool = False) -> JobRow:
        """The job's current row (read now if ``load`` did not); NotFound if it is gone."""
        if job_id not in self.jobs or (files and self.jobs[job_id].files is None):
            self.load([job_id], files=[job_id] if files else ())
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job

    def move(self, job_id: int, to: JobState | str, *, cause: Cause, **fields: Any) -> JobRow:
        """``set_job_state`` on the row, its transition recorded with ``cause``; written at
        ``flush()``."""
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise ValidationError(f"unknown job field(s) {sorted(unknown)}")
        job = self.get(job_id)
        to, start = JobState(to), job.state
        if not can_transition(JOB_TRANSITIONS, start, to):  # raise transition()'s own error
            transition(Job(id=job.id, state=start), to, actor=None, cause=cause)
        job.state = to
        self.steps.append(story.row("job", job_id, start, to, cause, train_run_id=job.train_run_id))
        if start is JobState.WAITING and to is JobState.RUNNING:  # as transition(): an attempt
            job.attempts = (job.attempts or 0) + 1
        elif start is JobState.RUNNING and to is JobState.WAITING:  # it never began
            job.attempts = max(0, (job.attempts or 0) - 1)
        self.changes.setdefault(job_id, {}).update(state=to, attempts=job.attempts, **fields)
        return job

    def set_fields(self, job_id: int, **fields: Any) -> None:
        """Record job figures (``_JOB_FIELDS``) without a move (written at ``flush()``)."""
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise ValidationError(f"unknown job field(s) {sorted(unknown)}")
        self.get(job_id)
        self.changes.setdefault(job_id, {}).update(fields)

    def set_target(self, job_id: int, target: str | None) -> None:
        """Record the target of the job's current attempt (written with its move)."""
        self.get(job_id).target = target
        self.changes.setdefault(job_id, {})["target"] = target

    def flush(self) -> int:
        """Write the pending changes; returns how many jobs were updated."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for job_id, changed in self.changes.items():
            keys = tuple(sorted(changed))
            params = {"b_id": job_id, **{f"b_{k}": changed[k] for k in keys}}
            groups.setdefault(keys, []).append(params)
        n, self.changes = len(self.changes), {}
        steps, self.steps = self.steps, []
        story.record_many(self.s, steps)
        table = Job.__table__
        now = utcnow()
        by_arrays = _is_postgres(self.s)
        for keys, params in groups.items():
            if by_arrays:  # one statement per chunk of rows
                for start in range(0, len(params), _UPDATE_CHUNK):
                    self._update_from_arrays(keys, params[start : start + _UPDATE_CHUNK], now)
                continue
            values = {k: bindparam(f"b_{k}", type_=table.c[k].type) for k in keys}
            stmt = update(table).where(table.c.id == bindparam("b_id")).values(updated_at=now)
            self.s.execute(stmt.values(**values), params)  # executemany
        return n

    def _update_from_arrays(
        self, keys: tuple[str, ...], params: list[dict[str, Any]], now: datetime
    ) -> None:
        """PostgreSQL: ``UPDATE jobs ... FROM unnest(<one array per column>)``, a single
        short statement (same text for the same columns) whatever the number of rows."""
        table = Job.__table__
        dialect = self.s.get_bind().dialect
        cols = ("id", *keys)
        arrays = ", ".join(
            f"CAST(:a_{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in cols
        )
        sets = ", ".join(f"{c} = moved.{c}" for c in keys)
        sql = (
            f"UPDATE jobs SET updated_at = :now, {sets} FROM unnest({arrays}) "
            f"AS moved({', '.join(cols)}) WHERE jobs.id = moved.id"
        )
        binds = {"now": now}
        for c in cols:
            binds[f"a_{c}"] = [_plain(p[f"b_{c}"]) for p in params]
        self.s.execute(text(sql), binds)


def _is_postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _id_chunks(s: Session, ids: list[int]) -> Iterator[list[int]]:
    """``ids`` in pieces one query takes: 500 ``IN`` values (SQLite's variable limit), or
    5000 in one array parameter on PostgreSQL."""
    size = _UPDATE_CHUNK if _is_postgres(s) else _LOAD_CHUNK
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _id_in(s: Session, ids: list[int]) -> Any:
    """``jobs.id IN (...)``; on PostgreSQL ``jobs.id = ANY(<one array parameter>)``."""
    if _is_postgres(s):
        return Job.id == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return Job.id.in_(ids)


def _plain(value: Any) -> Any:
    """Enum members as the value the enum columns store."""
    return value.value if isinstance(value, Enum) else value


def resubmit_failed(
    s: Session, actor: Actor | None, train_id: int, *, max_attempts: int | None = MAX_ATTEMPTS
) -> int:
    """Put failed jobs back to waiting: automatically below ``max_attempts`` (actor None),
    or every failed job when an operator asks (``max_attempts=None``)."""
    if actor is not None:
        require(actor, Action.TRAIN_OPERATE)
    cause = (
        Cause.by(actor, "resubmit", "failed jobs resubmitted")
        if actor is not None
        else Cause.system("retry", f"automatic resubmission (fewer than {max_attempts} attempts)")
    )
    stmt = select(Job).where(Job.train_run_id == train_id, Job.state.in_(JOB_ERRORS))
    n = 0
    for job in s.scalars(stmt):
        if max_attempts is not None and job.attempts >= max_attempts:
            continue
        transition(job, JobState.WAITING, actor=actor, cause=cause)
        n += 1
    s.flush()
    return n


def stop_unfinished(s: Session, train_id: int, why: str, *, cause: Cause) -> int:
    """Record the train's waiting and running jobs lost with ``why`` (its train was killed:
    nothing runs them any more; the scheduler stops attempts still on a worker), each move
    with ``cause``. Returns how many."""
    active = (JobState.WAITING, JobState.RUNNING)
    ids = list(s.scalars(select(Job.id).where(Job.train_run_id == train_id, Job.state.in_(active))))
    moves = JobMoves(s)
    moves.load(ids)
    for job_id in ids:
        moves.move(
            job_id, JobState.LOST, cause=cause, error_signature="TrainKilled", error_message=why
        )
    return moves.flush()


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


@dataclass(frozen=True)
class MergeFacts:
    """What the merge records (``train_merges``) say about a train: how many per-run
    merges are done, and how its final merge ended (None: not ended yet)."""

    runs_merged: int = 0
    final: str | None = None  # "done" or "failed"
    final_error: str = ""
    latest: datetime | None = None  # when the newest merge of the train finished


#: how long the scheduler may take to start the next merge stage (or mark the train done)
#: before a train whose jobs all succeeded counts as stuck there
MERGE_GRACE = timedelta(seconds=60)


def merge_facts(s: Session, train_ids: Iterable[int]) -> dict[int, MergeFacts]:
    """The :class:`MergeFacts` of each train (absent: no merge recorded), in one query."""
    ids = list(train_ids)
    if not ids:
        return {}
    runs: dict[int, int] = {}
    final: dict[int, tuple[str, str]] = {}
    latest: dict[int, datetime] = {}
    stmt = select(
        TrainMerge.train_run_id,
        TrainMerge.stage,
        TrainMerge.state,
        TrainMerge.error,
        TrainMerge.finished_at,
    ).where(TrainMerge.train_run_id.in_(ids))
    for tid, stage, state, error, at in s.execute(stmt):
        if at is not None and (tid not in latest or at > latest[tid]):
            latest[tid] = at
        if stage == "run":
            runs[tid] = runs.get(tid, 0) + (state == "done")
        elif final.get(tid, ("", ""))[0] != "failed":
            final[tid] = (state, error or "")
    return {
        tid: MergeFacts(runs.get(tid, 0), *(final.get(tid) or (None, "")), latest.get(tid))
        for tid in set(runs) | set(final)
    }


def trains_with_issues(s: Session) -> list[tuple[TrainRun, str]]:
    """Running trains where > 30 % of the jobs failed, whose jobs are all final while the
    train did not move on to merging, or whose final merge ended without the train being
    done (the merge side from the merge records, :func:`merge_facts`)."""
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
    merges = merge_facts(s, [t.id for t in trains])
    now = utcnow()
    for train in trains:
        why = issue_of(train.state, by_train.get(train.id, {}), merges.get(train.id), now)
        if why is not None:
            out.append((train, why))
    return out


def issue_of(
    state: TrainState,
    counts: dict[str, int],
    merges: MergeFacts | None = None,
    now: datetime | None = None,
) -> str | None:
    """Why an active train with these job counts per state (``{state value: n}``) and merge
    records is a train with issues (SPEC §3); None when it is not. In order: the final
    merge failed, or it is done but the train is not; > 30 % of the jobs failed; all jobs
    final but no merge (no per-run merge recorded) or no final merge (per-run merges
    recorded). A train whose jobs all succeeded and whose last merge ended less than
    :data:`MERGE_GRACE` before ``now`` is waiting for the scheduler's next step, not stuck."""
    merges = merges or MergeFacts()
    settled = now is None or merges.latest is None or now - merges.latest > MERGE_GRACE
    if state is TrainState.MERGING and merges.final == "failed":
        return f"final merge failed ({merges.final_error}); the train is not done"
    if state is TrainState.MERGING and merges.final == "done" and settled:
        return "final merge done but the train is not declared done"
    total = sum(counts.values())
    if not total:
        return None
    failed = sum(counts.get(e.value, 0) for e in JOB_ERRORS)
    final = sum(counts.get(e.value, 0) for e in _FINAL)
    if failed / total > ISSUE_FAILED_FRACTION:
        return f"{failed} of {total} jobs failed"
    if final == total and state is not TrainState.MERGING:
        if merges.runs_merged and (failed or settled):
            return f"merges final ({merges.runs_merged} runs merged) but no final merge"
        if merges.runs_merged:
            return None
        return "all analysis jobs are final but no merge started"
    return None
    failed = sum(counts.get(e.value, 0) for e in JOB_ERRORS)
    final = sum(counts.get(e.value, 0) for e in _FINAL)
    if failed / total > ISSUE_FAILED_FRACTION:
        return f"{failed} of {total} jobs failed"
    if final == total and state is not TrainState.MERGING:
        return "all analysis jobs are final but no merge started"
    return None
