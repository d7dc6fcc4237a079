"""The story of a job, wagon test or train run: every state change with its cause.

Each move of ``core.states.transition`` (and the scheduler's bulk job moves of
``core.jobs.JobMoves``) writes one ``transitions`` row in the transaction that moves the
object: from-state, to-state, time and a :class:`Cause` (a stimulus id such as
``tick-1796580000``, the kind of cause such as ``job-failed``, a sentence, and the acting
user if any), as Dask's worker state machine keeps a ``stimulus_id`` per transition.
Creation is a transition from no state (``from_state`` None). ``story(kind, id)`` reads
them back in order: "what happened and why".

``prune(s, before, limit)`` (the scheduler, ``story_keep_days``) deletes the transitions of
jobs whose train run ended before ``before`` and of wagon tests that ended before it, a
bounded batch at a time; a train's jobs' moves are first added to its ``story_job_moves``
rows, so that ``jobs_summary`` answers as before. A train run's own transitions are kept
(a few per train, like its history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, union_all
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.errors import ValidationError
from hyperloop.db.base import UTCDateTime, utcnow
from hyperloop.db.models import Job, StoryJobMoves, TrainRun, Transition, User, WagonTest
from hyperloop.enums import TestStatus, TrainState

#: object kinds with a story (a train test is a phase of its train run: the train's story)
KINDS = ("job", "wagon_test", "train_run")
#: train runs whose jobs' stories may be pruned (ended: ``finished_at`` is set)
TRAIN_ENDED = (TrainState.DONE, TrainState.KILLED, TrainState.CLOSED)
#: wagon tests whose stories may be pruned (ended: ``finished_at`` is set)
TEST_ENDED = (TestStatus.DONE, TestStatus.WARNING, TestStatus.FAILED)


@dataclass(frozen=True)
class Cause:
    """Why a state changed: ``stimulus`` is the id of what set it off (``tick-<unix time>``
    for a scheduler tick, ``user`` for a user's request), ``kind`` a short name of the
    cause (``job-failed``, ``retry``, ``kill``), ``text`` one sentence for people."""

    stimulus: str
    kind: str
    text: str
    actor_id: int | None = None

    @classmethod
    def by(cls, actor: Actor | None, kind: str, text: str) -> Cause:
        """A user's request (``user:<kind>``, the user in ``actor_id``: the story names
        them); without an actor, the system's (``system:<kind>``)."""
        if actor is None:
            return cls("system", kind, text)
        return cls("user", kind, text, actor.user.id)

    @classmethod
    def system(cls, kind: str, text: str) -> Cause:
        """A move the system makes outside a scheduler tick (e.g. a direct core call)."""
        return cls("system", kind, text)

    @property
    def label(self) -> str:
        return f"{self.stimulus}:{self.kind}"


def row(
    kind: str,
    object_id: int,
    start: Any,
    to: Any,
    cause: Cause,
    *,
    train_run_id: int | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """One transitions row as a plain dict (what ``record_many`` writes)."""
    return {
        "object_kind": kind,
        "object_id": object_id,
        "train_run_id": train_run_id,
        "from_state": _value(start),
        "to_state": _value(to),
        "at": at or utcnow(),
        "stimulus": cause.stimulus[:64],
        "cause": cause.kind[:64],
        "reason": cause.text,
        "actor_id": cause.actor_id,
    }


def _value(state: Any) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def record(
    s: Session,
    kind: str,
    object_id: int,
    start: Any,
    to: Any,
    cause: Cause,
    *,
    train_run_id: int | None = None,
) -> None:
    """Add one transition to the session (written with the object's change)."""
    s.add(Transition(**row(kind, object_id, start, to, cause, train_run_id=train_run_id)))


def record_many(s: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write many transitions in the open transaction: one executemany INSERT on SQLite,
    one ``INSERT ... SELECT FROM unnest(<array per column>)`` per 5000 rows on PostgreSQL."""
    if not rows:
        return
    table = Transition.__table__
    if s.get_bind().dialect.name != "postgresql":
        s.execute(table.insert(), list(rows))
        return
    dialect = s.get_bind().dialect
    cols = list(rows[0])
    arrays = ", ".join(
        f"CAST(:a_{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in cols
    )
    sql = text(
        f"INSERT INTO transitions ({', '.join(cols)}) SELECT {', '.join(cols)} "
        f"FROM unnest({arrays}) AS new({', '.join(cols)})"
    )
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        s.execute(sql, {f"a_{c}": [r[c] for r in chunk] for c in cols})


def record_created_jobs(s: Session, train_run_id: int, after_id: int, cause: Cause) -> None:
    """The creation of the jobs of a train with ids above ``after_id`` (just inserted in
    bulk), in one ``INSERT ... SELECT`` on both backends."""
    values = row("job", 0, None, "waiting", cause, train_run_id=train_run_id)
    stmt = text(
        "INSERT INTO transitions (object_kind, object_id, train_run_id, from_state, "
        "to_state, at, stimulus, cause, reason, actor_id) "
        "SELECT 'job', id, train_run_id, NULL, state, :at, :stimulus, :cause, :reason, "
        ":actor_id FROM jobs WHERE train_run_id = :train AND id > :after"
    ).bindparams(bindparam("at", values["at"], type_=UTCDateTime()))
    s.execute(
        stmt,
        {
            **{k: values[k] for k in ("stimulus", "cause", "reason", "actor_id")},
            "train": train_run_id,
            "after": after_id,
        },
    )


def last_job_id(s: Session, train_run_id: int) -> int:
    """The largest job id of a train so far (0: none): what ``record_created_jobs`` takes."""
    return int(s.scalar(select(func.max(Job.id)).where(Job.train_run_id == train_run_id)) or 0)


@dataclass(frozen=True)
class Step:
    """One transition of a story."""

    from_state: str | None
    state: str
    at: datetime
    stimulus: str
    cause: str
    reason: str
    actor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "from_state": self.from_state,
            "state": self.state,
            "at": self.at.isoformat(),
            "stimulus": self.stimulus,
            "cause": self.cause,
            "reason": self.reason,
            "actor": self.actor,
        }


def story(s: Session, kind: str, object_id: int) -> list[Step]:
    """Every recorded transition of one object, oldest first."""
    if kind not in KINDS:
        raise ValidationError(f"no story for {kind!r}: one of {', '.join(KINDS)}")
    stmt = (
        select(Transition, User.username)
        .outerjoin(User, User.id == Transition.actor_id)
        .where(Transition.object_kind == kind, Transition.object_id == object_id)
        .order_by(Transition.id)
    )
    return [
        Step(t.from_state, t.to_state, t.at, t.stimulus, t.cause, t.reason, name)
        for t, name in s.execute(stmt)
    ]


def jobs_summary(s: Session, train_run_id: int) -> list[dict[str, Any]]:
    """The moves of a train's jobs grouped by (from, to, cause): how many, first and last
    time, and one example sentence; in order of first occurrence. The moves still in
    ``transitions`` and those kept in ``story_job_moves`` when their transitions were
    pruned count alike."""
    live = (
        select(
            Transition.from_state,
            Transition.to_state,
            Transition.cause,
            func.count(),
            func.min(Transition.at),
            func.max(Transition.at),
            func.min(Transition.reason),
            func.min(Transition.id),
        )
        .where(Transition.train_run_id == train_run_id, Transition.object_kind == "job")
        .group_by(Transition.from_state, Transition.to_state, Transition.cause)
    )
    kept = select(
        StoryJobMoves.from_state,
        StoryJobMoves.to_state,
        StoryJobMoves.cause,
        StoryJobMoves.count,
        StoryJobMoves.first_at,
        StoryJobMoves.last_at,
        StoryJobMoves.example,
        StoryJobMoves.first_id,
    ).where(StoryJobMoves.train_run_id == train_run_id)
    groups: dict[tuple[str | None, str, str], _Moves] = {}
    # one statement: a prune committing meanwhile is counted once (before or after it)
    for a, b, c, n, first, last, example, first_id in s.execute(union_all(live, kept)):
        _add(groups, (a, b, c), _Moves(int(n), first, last, example or "", int(first_id)))
    return [
        {
            "from_state": a,
            "state": b,
            "cause": c,
            "count": mv.count,
            "first_at": mv.first_at.isoformat() if mv.first_at else None,
            "last_at": mv.last_at.isoformat() if mv.last_at else None,
            "example": mv.example,
        }
        for (a, b, c), mv in sorted(groups.items(), key=lambda kv: kv[1].first_id)
    ]


@dataclass
class _Moves:
    """Moves of one (from, to, cause) group: how many, first and last time, the smallest
    sentence (the example) and the smallest transition id (their order)."""

    count: int
    first_at: datetime
    last_at: datetime
    example: str
    first_id: int

    def merge(self, other: _Moves) -> None:
        self.count += other.count
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.example = min(self.example, other.example)
        self.first_id = min(self.first_id, other.first_id)


def _add(groups: dict[Any, _Moves], key: Any, moves: _Moves) -> None:
    if key in groups:
        groups[key].merge(moves)
    else:
        groups[key] = moves


#: ids per DELETE statement of ``prune`` (well under SQLite's bound-parameter limit)
_DELETE_CHUNK = 1000


def prune(s: Session, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` transitions: first those of the jobs of train runs that
    ended (done, killed, closed) before ``before``, their moves added to the train's
    ``story_job_moves`` (``jobs_summary`` is unchanged), then those of wagon tests that
    ended before it. A train run's own transitions are kept. Returns how many were
    deleted (``limit``: there may be more)."""
    pruned = _prune_job_moves(s, before, limit)
    if pruned < limit:
        pruned += _prune_tests(s, before, limit - pruned)
    return pruned


def _prune_job_moves(s: Session, before: datetime, limit: int) -> int:
    ended = select(TrainRun.id).where(
        TrainRun.state.in_(TRAIN_ENDED), TrainRun.finished_at < before
    )
    rows = s.execute(
        select(
            Transition.id,
            Transition.train_run_id,
            Transition.from_state,
            Transition.to_state,
            Transition.cause,
            Transition.at,
            Transition.reason,
        )
        .where(Transition.object_kind == "job", Transition.train_run_id.in_(ended))
        .limit(limit)
    ).all()
    if not rows:
        return 0
    groups: dict[tuple[int, str | None, str, str], _Moves] = {}
    for r in rows:
        key = (r.train_run_id, r.from_state, r.to_state, r.cause)
        _add(groups, key, _Moves(1, r.at, r.at, r.reason, r.id))
    trains = sorted({r.train_run_id for r in rows})
    kept = {
        (m.train_run_id, m.from_state, m.to_state, m.cause): m
        for m in s.scalars(select(StoryJobMoves).where(StoryJobMoves.train_run_id.in_(trains)))
    }
    for key, mv in groups.items():
        m = kept.get(key)
        if m is None:
            train, a, b, c = key
            s.add(
                StoryJobMoves(
                    train_run_id=train,
                    from_state=a,
                    to_state=b,
                    cause=c,
                    count=mv.count,
                    first_at=mv.first_at,
                    last_at=mv.last_at,
                    example=mv.example,
                    first_id=mv.first_id,
                )
            )
            continue
        mv.merge(_Moves(m.count, m.first_at, m.last_at, m.example, m.first_id))
        m.count, m.first_at, m.last_at = mv.count, mv.first_at, mv.last_at
        m.example, m.first_id = mv.example, mv.first_id
    s.flush()
    _delete(s, [r.id for r in rows])
    return len(rows)


def _prune_tests(s: Session, before: datetime, limit: int) -> int:
    ended = select(WagonTest.id).where(
        WagonTest.status.in_(TEST_ENDED), WagonTest.finished_at < before
    )
    ids = list(
        s.scalars(
            select(Transition.id)
            .where(Transition.object_kind == "wagon_test", Transition.object_id.in_(ended))
            .limit(limit)
        )
    )
    _delete(s, ids)
    return len(ids)


def _delete(s: Session, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), _DELETE_CHUNK):
        chunk = ids[start : start + _DELETE_CHUNK]
        stmt = delete(Transition).where(Transition.id.in_(chunk))
        s.execute(stmt.execution_options(synchronize_session=False))
