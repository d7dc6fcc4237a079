"""Life cycles as data: allowed transitions of train runs, wagon tests and jobs.

``transition(obj, to, actor=..., cause=...)`` is the only way code changes one of these
states: an illegal move raises ``IllegalTransition``; side effects (timestamps, attempt
counters) are keyed by ``(from, to)``; every move is written to the object's story with its
cause (``core.story``, required: no move without a reason), train-run moves also to the
history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session, object_session

from hyperloop.core import history, story
from hyperloop.core.actor import Actor
from hyperloop.core.errors import IllegalTransition
from hyperloop.core.story import Cause
from hyperloop.db.base import utcnow
from hyperloop.db.models import Job, TrainRun, WagonTest
from hyperloop.enums import JobState, TestStatus, TrainState

T = TrainState
TRAIN_TRANSITIONS: Mapping[TrainState, frozenset[TrainState]] = {
    T.COMPOSED: frozenset({T.TESTING, T.DECOMPOSED}),
    T.TESTING: frozenset({T.TEST_DONE, T.TEST_WARNING, T.TEST_FAILED, T.DECOMPOSED, T.KILLED}),
    T.TEST_DONE: frozenset({T.SUBMITTED, T.TESTING, T.DECOMPOSED, T.CLOSED}),
    T.TEST_WARNING: frozenset({T.SUBMITTED, T.TESTING, T.DECOMPOSED, T.CLOSED}),
    T.TEST_FAILED: frozenset({T.TESTING, T.DECOMPOSED, T.CLOSED}),
    T.LONG_TRAIN_REQUESTED: frozenset({T.LONG_TRAIN_APPROVED, T.DECOMPOSED, T.CLOSED}),
    T.LONG_TRAIN_APPROVED: frozenset({T.SUBMITTED, T.DECOMPOSED, T.CLOSED}),
    T.SUBMITTED: frozenset({T.RUNNING, T.KILLED, T.CLOSED}),
    T.RUNNING: frozenset({T.MERGING, T.DONE, T.KILLED, T.CLOSED}),
    T.MERGING: frozenset({T.DONE, T.KILLED, T.CLOSED}),
    T.DONE: frozenset({T.CLOSED}),
    T.KILLED: frozenset(),
    T.CLOSED: frozenset(),
    T.DECOMPOSED: frozenset(),
}
TRAIN_INITIAL = frozenset({T.COMPOSED, T.LONG_TRAIN_REQUESTED})
#: states in which the train holds its wagons (they cannot join another train)
TRAIN_HOLDS_WAGONS = frozenset({T.COMPOSED, T.TESTING, T.TEST_DONE, T.TEST_WARNING, T.TEST_FAILED})
TRAIN_ACTIVE = frozenset(
    {T.SUBMITTED, T.RUNNING, T.MERGING, T.LONG_TRAIN_REQUESTED, T.LONG_TRAIN_APPROVED}
)
TRAIN_FINAL = frozenset({T.DONE, T.KILLED, T.CLOSED, T.DECOMPOSED})

S = TestStatus
TEST_TRANSITIONS: Mapping[TestStatus, frozenset[TestStatus]] = {
    S.QUEUED: frozenset({S.RUNNING}),
    S.RUNNING: frozenset({S.DONE, S.WARNING, S.FAILED, S.QUEUED}),  # QUEUED: worker lost
    S.DONE: frozenset(),
    S.WARNING: frozenset(),
    S.FAILED: frozenset(),
}
TEST_SUBMITTABLE = frozenset({S.DONE, S.WARNING})

J = JobState
JOB_ERRORS = frozenset({J.EXECUTION_ERROR, J.VALIDATION_ERROR, J.EXPIRED, J.LOST})
JOB_TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    J.WAITING: frozenset({J.RUNNING, J.EXPIRED, J.LOST}),  # LOST: its train was killed
    # RUNNING -> WAITING: the attempt never began on a worker (queued in the engine when
    # the scheduler restarted): back in the queue, its attempt not counted
    J.RUNNING: frozenset({J.DONE, J.WAITING} | JOB_ERRORS),
    J.DONE: frozenset(),
    **{err: frozenset({J.WAITING}) for err in JOB_ERRORS},  # resubmission
}

_MACHINES: dict[type, tuple[str, Mapping[Any, frozenset[Any]]]] = {
    TrainRun: ("state", TRAIN_TRANSITIONS),
    WagonTest: ("status", TEST_TRANSITIONS),
    Job: ("state", JOB_TRANSITIONS),
}
#: the object kind of each machine in the stories (``core.story.KINDS``)
STORY_KIND: dict[type, str] = {TrainRun: "train_run", WagonTest: "wagon_test", Job: "job"}


def can_transition(table: Mapping[Any, frozenset[Any]], start: StrEnum, finish: StrEnum) -> bool:
    return finish in table.get(start, frozenset())


def _train_submitted(obj: Any) -> None:
    obj.submitted_at = utcnow()


def _finished(obj: Any) -> None:
    obj.finished_at = utcnow()


def _test_started(obj: Any) -> None:
    obj.started_at = utcnow()


def _job_started(obj: Any) -> None:
    obj.attempts = (obj.attempts or 0) + 1


def _job_not_started(obj: Any) -> None:
    obj.attempts = max(0, (obj.attempts or 0) - 1)


_EFFECTS: dict[tuple[Any, Any], Callable[[Any], None]] = {
    (T.TEST_DONE, T.SUBMITTED): _train_submitted,
    (T.TEST_WARNING, T.SUBMITTED): _train_submitted,
    (T.LONG_TRAIN_APPROVED, T.SUBMITTED): _train_submitted,
    **{(a, b): _finished for a in T for b in (T.DONE, T.KILLED, T.CLOSED) if a not in TRAIN_FINAL},
    (S.QUEUED, S.RUNNING): _test_started,
    **{(S.RUNNING, b): _finished for b in (S.DONE, S.WARNING, S.FAILED)},
    (J.WAITING, J.RUNNING): _job_started,
    (J.RUNNING, J.WAITING): _job_not_started,
}


def transition(
    obj: TrainRun | WagonTest | Job, to: StrEnum, *, actor: Actor | None, cause: Cause
) -> None:
    """Move ``obj`` to state ``to`` or raise ``IllegalTransition`` naming both states; the
    move and its ``cause`` are recorded in the object's story (and a train run's history)."""
    attr, table = _MACHINES[type(obj)]
    start = getattr(obj, attr)
    kind = type(obj).__name__
    if not can_transition(table, start, to):
        allowed = ", ".join(sorted(s.value for s in table.get(start, ()))) or "none (final)"
        raise IllegalTransition(
            f"{kind} {obj.id}: cannot go from {start.value!r} to {to.value!r} (allowed: {allowed})",
            {"object": kind, "id": obj.id, "from": start.value, "to": to.value},
        )
    setattr(obj, attr, to)
    effect = _EFFECTS.get((start, to))
    if effect is not None:
        effect(obj)
    session = object_session(obj)
    if session is None:
        return
    if obj.id is None:
        session.flush()
    train_id = obj.id if isinstance(obj, TrainRun) else getattr(obj, "train_run_id", None)
    story.record(session, STORY_KIND[type(obj)], obj.id, start, to, cause, train_run_id=train_id)
    if isinstance(obj, TrainRun):
        history.record(
            session,
            actor,
            "train_run",
            obj.id,
            "transition",
            {"state": to.value},
            previous={"state": start.value},
            reason=cause.text,
        )


def created(s: Session, obj: TrainRun | WagonTest, cause: Cause) -> None:
    """Record the creation of a train run or wagon test (flushed: it has its id) in the
    state it starts in: the first step of its story."""
    attr, _ = _MACHINES[type(obj)]
    train_id = obj.id if isinstance(obj, TrainRun) else None
    kind = STORY_KIND[type(obj)]
    story.record(s, kind, obj.id, None, getattr(obj, attr), cause, train_run_id=train_id)
