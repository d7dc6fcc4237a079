""" "Why am I waiting?": the current reason of a wagon test, train run or job in one sentence.

Each object's reason is computed by a pure function (``wagon_test_reason``,
``train_reason``, ``job_reason``) from a small record of facts: its state, the cause of its
last recorded move (``core.story``) and the queue and schedule it waits in (tests ahead of
it and the test slots, the dataset's composition slots, the engine's queue, the retries of
the train's jobs, the runs the merge still waits for). The ``*_why`` functions read those
facts from the database; the pages and the ``/api/.../why`` endpoints show the sentence
with the timeline of states and causes (the story).

A reason names what the object waits for (``waiting_for``): ``test-slot``, ``tag``,
``engine``, ``composition``, ``operator``, ``approval``, ``jobs``, ``retry``, ``merge``,
``scheduler`` (the next tick), or ``nothing`` (final, or running with nothing ahead of it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hyperloop.core import story
from hyperloop.core.errors import NotFound
from hyperloop.db.base import utcnow
from hyperloop.db.models import (
    Dataset,
    Job,
    Notification,
    Target,
    TrainMerge,
    TrainRun,
    Transition,
    Wagon,
    WagonDataset,
    WagonTest,
    train_run_wagons,
)
from hyperloop.enums import AutoComposeType, JobState, NotificationKind, TestStatus, TrainState
from hyperloop.units import format_duration

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: finished tests (or jobs) whose durations estimate the next one's
RECENT = 20
#: a train's job states that still move (the others are final)
ACTIVE_JOBS = (JobState.WAITING, JobState.RUNNING)
#: at most this many retried jobs of a train are looked at for the train's reason
RETRY_LOOKUP = 5000


@dataclass(frozen=True)
class Reason:
    """The one sentence and what it waits for; ``expected_at`` when an estimate exists."""

    text: str
    waiting_for: str
    expected_at: datetime | None = None


@dataclass(frozen=True)
class Why:
    """What the pages and the API show: the reason, the state, since when, the timeline."""

    kind: str
    id: int
    state: str
    reason: Reason
    since: datetime | None
    steps: tuple[story.Step, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "state": self.state,
            "reason": self.reason.text,
            "waiting_for": self.reason.waiting_for,
            "expected_at": self.reason.expected_at,
            "since": self.since,
            "timeline": [s.as_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class Settings:
    """The scheduler's knobs a reason names (from ``hyperloop.settings``)."""

    max_running_tests: int = 4
    test_target: str = "test"
    test_target_cores: int = 1
    max_attempts: int = 3
    interval_s: float = 1.0

    @classmethod
    def of(cls, s: Session, settings: Any) -> Settings:
        target = s.scalars(select(Target).where(Target.name == settings.scheduler_test_target))
        found = target.first()
        return cls(
            max_running_tests=settings.scheduler_max_running_tests,
            test_target=settings.scheduler_test_target,
            test_target_cores=found.cores if found is not None else 1,
            max_attempts=settings.scheduler_max_attempts,
            interval_s=settings.scheduler_interval_s,
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _about(seconds: float) -> str:
    """``~4 min`` (at least a minute: the estimate is coarse)."""
    return f"~{format_duration(max(60.0, seconds))}"


def _when(at: datetime) -> str:
    return f"{DAYS[at.weekday()]} {at:%H:%M}"


# --------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class Composition:
    """A dataset's automatic composition (None on the facts: off)."""

    kind: AutoComposeType
    days: tuple[int, ...] = ()
    times: tuple[str, ...] = ()
    active: bool = True


def next_slot(days: Sequence[int], times: Sequence[str], now: datetime) -> datetime | None:
    """The first scheduled slot (weekday, 0 = Monday, and ``HH:MM`` UTC) after ``now``."""
    if not days or not times:
        return None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(8):
        if day.weekday() in days:
            for hhmm in sorted(times):
                h, m = (int(x) for x in hhmm.split(":"))
                slot = day.replace(hour=h, minute=m)
                if slot > now:
                    return slot
        day += timedelta(days=1)
    return None


# --------------------------------------------------------------------------- wagon tests


@dataclass(frozen=True)
class WagonTestFacts:
    """A wagon test and what it waits in."""

    id: int
    status: TestStatus
    now: datetime
    superseded: bool = False
    tagless: bool = False
    pull_request: str = ""
    ahead: int = 0  # queued tests that start before it
    running: int = 0  # tests running on the engine now
    typical_s: float | None = None  # how long recent tests took
    started_at: datetime | None = None
    error: str = ""
    warnings: tuple[str, ...] = ()  # warning codes
    enabled: bool = True  # the wagon is still enabled on the test's dataset
    derived: bool = False  # the wagon produces derived data
    scheduled: bool = False  # (derived) an operator scheduled it for the next slot
    composition: Composition | None = None
    train: tuple[int, TrainState] | None = None  # the latest train it went in after the test


def wagon_test_reason(f: WagonTestFacts, cfg: Settings = Settings()) -> Reason:
    """Why the wagon test is where it is (see the module's docstring)."""
    target = f"the {cfg.test_target_cores}-core test target {cfg.test_target!r}"
    if f.superseded:
        return Reason("superseded by a newer test of the wagon: nothing to wait for", "nothing")
    if f.status is TestStatus.QUEUED:
        if f.tagless and f.pull_request:
            return Reason(
                f"waiting for a released package tag containing pull request {f.pull_request}; "
                "the test starts once one is available",
                "tag",
            )
        if f.tagless:
            return Reason(
                "waiting for a released package tag that fits the wagon's tag policy", "tag"
            )
        free = max(0, cfg.max_running_tests - f.running)
        if f.ahead < free:
            return Reason(
                f"a test slot is free on {target} ({f.running} of {cfg.max_running_tests} "
                "running): starts at the next scheduler tick",
                "scheduler",
                f.now + timedelta(seconds=cfg.interval_s),
            )
        queue = f"queued behind {_plural(f.ahead, 'test')} on {target}"
        slots = f"{cfg.max_running_tests} at a time"
        if f.typical_s is None:
            return Reason(
                f"{queue} ({slots}); no finished test yet to estimate the wait", "test-slot"
            )
        rounds = math.ceil((f.ahead - free + 1) / cfg.max_running_tests)
        wait = rounds * f.typical_s
        return Reason(
            f"{queue} ({slots}), expected start in {_about(wait)}",
            "test-slot",
            f.now + timedelta(seconds=wait),
        )
    if f.status is TestStatus.RUNNING:
        since = f" since {f.started_at:%H:%M} UTC" if f.started_at else ""
        text = f"running on {target}{since}"
        if f.typical_s is not None and f.started_at is not None:
            left = f.typical_s - (f.now - f.started_at).total_seconds()
            if left > 0:
                at = f.now + timedelta(seconds=left)
                return Reason(f"{text}; recent tests took {_about(f.typical_s)}", "nothing", at)
        return Reason(text, "nothing")
    if f.status is TestStatus.FAILED:
        why = f": {f.error[:200]}" if f.error else ""
        return Reason(
            f"test failed{why}; nothing happens until the wagon is changed or re-enabled",
            "nothing",
        )
    # done or warning: the wagon now waits for a train
    ended = (
        "test done"
        if f.status is TestStatus.DONE
        else (
            f"test ended with warnings ({', '.join(f.warnings)})"
            if f.warnings
            else "test ended with warnings"
        )
    )
    if f.train is not None:
        train_id, state = f.train
        return Reason(
            f"{ended}; in train run {train_id} ({state.value.replace('_', ' ')})", "nothing"
        )
    if not f.enabled:
        return Reason(f"{ended}; the wagon is no longer enabled on this dataset", "nothing")
    c = f.composition
    if c is None or not c.active:
        return Reason(
            f"{ended}, waiting for an operator to compose a train "
            "(the dataset has no automatic composition)",
            "operator",
        )
    if f.status is TestStatus.WARNING:
        return Reason(
            f"{ended}: automatic composition takes only clean tests; waiting for an operator "
            "to compose it by hand",
            "operator",
        )
    if f.derived and not f.scheduled:
        return Reason(
            f"{ended}; derived data goes in automatic trains only when an operator schedules "
            "it: waiting for an operator",
            "operator",
        )
    slot = next_slot(c.days, c.times, f.now) if c.kind is not AutoComposeType.TRAIN_FULL else None
    if c.kind is AutoComposeType.TRAIN_FULL or (slot is None and c.kind is AutoComposeType.BOTH):
        return Reason(
            f"{ended}, waiting until the enabled wagons fill a train (75 % of the target's memory)",
            "composition",
        )
    if slot is None:
        return Reason(
            f"{ended}; the dataset's composition schedule has no slot: waiting for an operator",
            "operator",
        )
    full = " (or earlier, when the wagons fill a train)" if c.kind is AutoComposeType.BOTH else ""
    return Reason(
        f"{ended}, waiting for the {_when(slot)} composition slot{full}", "composition", slot
    )


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobFacts:
    """A job and what it waits in."""

    id: int
    state: JobState
    now: datetime
    attempts: int = 0
    target: str = ""
    site: str = ""
    run: int = 0
    last_cause: str = ""  # the kind of its last move's cause (retry, job-failed, ...)
    last_reason: str = ""  # its sentence
    ahead: int = 0  # jobs queued in the engine before it
    typical_s: float | None = None  # wall time of the train's finished jobs
    train_state: TrainState = TrainState.RUNNING
    error: str = ""


def job_reason(f: JobFacts, cfg: Settings = Settings()) -> Reason:
    """Why the job is where it is."""
    if f.state is JobState.DONE:
        return Reason(
            f"done after {_plural(f.attempts, 'attempt')}: nothing to wait for", "nothing"
        )
    if f.state is JobState.WAITING:
        if f.train_state is TrainState.MERGING or f.train_state in _FINAL_TRAINS:
            return Reason(
                f"not submitted: train run is {f.train_state.value.replace('_', ' ')}", "nothing"
            )
        if f.attempts and f.last_cause in ("retry", "lost-requeue", "not-started"):
            return Reason(
                f"{f.last_reason}; attempt {f.attempts + 1} of {cfg.max_attempts} is submitted "
                f"on target {f.target!r} at the next scheduler tick",
                "retry",
                f.now + timedelta(seconds=cfg.interval_s),
            )
        return Reason(
            f"waiting to be submitted on target {f.target!r} at the next scheduler tick",
            "scheduler",
            f.now + timedelta(seconds=cfg.interval_s),
        )
    if f.state is JobState.RUNNING:
        if not f.site:
            text = (
                f"queued in the engine behind {_plural(f.ahead, 'job')} on target {f.target!r}"
                if f.ahead
                else f"queued in the engine on target {f.target!r}: starts when a worker is free"
            )
            if f.attempts > 1:
                text += f" (attempt {f.attempts} of {cfg.max_attempts})"
            if f.last_cause == "retry":
                return Reason(f"{f.last_reason}; {text}", "retry")
            return Reason(text, "engine")
        text = (
            f"running on {f.site} (attempt {f.attempts} of {cfg.max_attempts}, target {f.target!r})"
        )
        return Reason(text, "nothing")
    why = f": {f.error[:200]}" if f.error else ""
    state = f.state.value.replace("_", " ")
    if f.attempts >= cfg.max_attempts:
        return Reason(
            f"{state} after {_plural(f.attempts, 'attempt')} (the most allowed){why}; "
            "an operator resubmits it or merges what succeeded",
            "operator",
        )
    return Reason(
        f"{state}{why}; not retried automatically: an operator resubmits it or merges what "
        "succeeded",
        "operator",
    )


# --------------------------------------------------------------------------- trains

_FINAL_TRAINS = (TrainState.DONE, TrainState.KILLED, TrainState.CLOSED, TrainState.DECOMPOSED)


@dataclass(frozen=True)
class Retrying:
    """Jobs back in waiting after failed attempts, by the error kind and the target."""

    kind: str  # memory, execution, lost, ...
    target: str
    count: int


@dataclass(frozen=True)
class TrainFacts:
    """A train run and what it waits in."""

    id: int
    state: TrainState
    now: datetime
    auto_submit: bool = False
    slow: bool = False
    split: bool = False
    flagged: str = ""  # the "with issues" sentence, if flagged
    jobs: Mapping[JobState, int] = field(default_factory=dict)
    queued_in_engine: int = 0  # jobs running in the database but not begun on a worker
    retrying: tuple[Retrying, ...] = ()
    open_runs: Mapping[int, int] = field(default_factory=dict)  # run -> jobs not done
    runs_merged: int = 0
    final_merge_requested: bool = False
    test_started_at: datetime | None = None
    typical_test_s: float | None = None
    warnings: tuple[str, ...] = ()
    requested_at: datetime | None = None  # long-train request
    expiry: timedelta = timedelta(days=14)
    error: str = ""  # test error
    express_fraction: float = 0.98
    last_reason: str = ""  # the sentence of its last move


def train_reason(f: TrainFacts, cfg: Settings = Settings()) -> Reason:
    """Why the train run is where it is."""
    st = f.state
    tick = f.now + timedelta(seconds=cfg.interval_s)
    if st is TrainState.COMPOSED:
        return Reason(
            "composed: its train test starts at the next scheduler tick", "scheduler", tick
        )
    if st is TrainState.TESTING:
        since = f" since {f.test_started_at:%H:%M} UTC" if f.test_started_at else ""
        target = f"the {cfg.test_target_cores}-core test target {cfg.test_target!r}"
        if f.typical_test_s is not None:
            return Reason(
                f"train test running on {target}{since}; recent tests took "
                f"{_about(f.typical_test_s)}",
                "nothing",
            )
        return Reason(f"train test running on {target}{since}", "nothing")
    if st is TrainState.TEST_DONE:
        if f.auto_submit:
            return Reason(
                "train test done: submitted automatically at the next scheduler tick",
                "scheduler",
                tick,
            )
        return Reason("train test done, waiting for an operator to submit it", "operator")
    if st is TrainState.TEST_WARNING:
        codes = f" ({', '.join(f.warnings)})" if f.warnings else ""
        return Reason(
            f"train test ended with warnings{codes}: waiting for an operator to submit it, "
            "request a long train or decompose it",
            "operator",
        )
    if st is TrainState.TEST_FAILED:
        why = f": {f.error[:200]}" if f.error else ""
        return Reason(f"train test failed{why}; an operator decomposes the train", "operator")
    if st is TrainState.LONG_TRAIN_REQUESTED:
        if f.requested_at is not None:
            until = f.requested_at + f.expiry
            return Reason(
                f"long-train request waiting for approval (requested "
                f"{f.requested_at:%Y-%m-%d %H:%M} UTC; closed if undecided by "
                f"{until:%Y-%m-%d %H:%M} UTC)",
                "approval",
                until,
            )
        return Reason("long-train request waiting for approval", "approval")
    if st is TrainState.LONG_TRAIN_APPROVED:
        return Reason("long train approved, waiting for an operator to submit it", "operator")
    if st in (TrainState.SUBMITTED, TrainState.RUNNING):
        return _running_reason(f, tick)
    if st is TrainState.MERGING:
        if f.flagged:
            return Reason(f"{f.flagged}: waiting for an operator", "operator")
        return Reason("final merge running: the train is done when it finishes", "merge")
    if st is TrainState.DONE:
        return Reason("done: nothing to wait for", "nothing")
    state = st.value.replace("_", " ")
    last = f" ({f.last_reason})" if f.last_reason else ""
    return Reason(f"{state}{last}: nothing more happens", "nothing")


def _running_reason(f: TrainFacts, tick: datetime) -> Reason:
    if not f.split:
        if f.flagged:
            return Reason(f"{f.flagged}: waiting for an operator", "operator")
        return Reason("submitted: split into jobs at the next scheduler tick", "scheduler", tick)
    total = sum(f.jobs.values())
    done = f.jobs.get(JobState.DONE, 0)
    waiting = f.jobs.get(JobState.WAITING, 0)
    running = f.jobs.get(JobState.RUNNING, 0)
    failed = total - done - waiting - running
    if f.flagged and not (waiting or running):
        return Reason(f"{f.flagged}: waiting for an operator", "operator")
    if f.final_merge_requested:
        return Reason(
            "final merge requested by an operator: starts at the next tick", "merge", tick
        )
    parts: list[str] = []
    retrying = sum(r.count for r in f.retrying)
    if f.retrying:
        by = sorted(f.retrying, key=lambda r: -r.count)
        kinds = " and ".join(
            f"{_plural(r.count, 'job')} retrying after "
            f"{'memory kills' if r.kind == 'memory' else r.kind + ' errors'}"
            f", next attempt on the {r.target!r} target"
            for r in by
        )
        parts.append(kinds)
    if done == total:
        return Reason(
            f"all {total} jobs done: the final merge starts once every run is merged "
            f"({f.runs_merged} of {len(f.open_runs) + f.runs_merged} merged)",
            "merge",
        )
    if not (waiting or running):
        return Reason(
            f"{done} of {total} jobs done, {failed} failed after all retries: waiting for an "
            "operator to resubmit them or merge what succeeded",
            "operator",
        )
    unfinished = {r: n for r, n in f.open_runs.items() if n}
    if len(unfinished) == 1 and not retrying:
        run, n = next(iter(unfinished.items()))
        last = "last job" if n == 1 else f"last {n} jobs"
        return Reason(
            f"{done} of {total} jobs done; the merge waits for run {run}'s {last}", "jobs"
        )
    queued = f.queued_in_engine
    begun = running - queued
    head = f"{done} of {total} jobs done, {begun} running"
    if queued:
        head += f", {queued} queued in the engine"
    if waiting:
        head += f", {waiting} waiting for submission"
    if not f.slow:
        need = math.ceil(f.express_fraction * total) - done
        if need > 0:
            head += f"; the final merge starts after {_plural(need, 'more job')}"
    if parts:
        return Reason(f"{'; '.join(parts)} ({head})", "retry")
    return Reason(head, "jobs")


# --------------------------------------------------------------------------- reading facts


def _last(steps: Sequence[story.Step]) -> story.Step | None:
    return steps[-1] if steps else None


def _typical_test_s(s: Session) -> float | None:
    """The median duration of the latest finished wagon tests (None: none yet)."""
    rows = s.execute(
        select(WagonTest.started_at, WagonTest.finished_at)
        .where(WagonTest.started_at.is_not(None), WagonTest.finished_at.is_not(None))
        .order_by(WagonTest.id.desc())
        .limit(RECENT)
    ).all()
    durations = sorted((b - a).total_seconds() for a, b in rows)
    return durations[len(durations) // 2] if durations else None


def _composition(ds: Dataset | None) -> Composition | None:
    if ds is None or not ds.auto_compose:
        return None
    return Composition(
        ds.auto_compose_type,
        tuple(ds.auto_compose_days or ()),
        tuple(ds.auto_compose_times or ()),
        ds.active,
    )


def wagon_test_facts(s: Session, test: WagonTest, now: datetime) -> WagonTestFacts:
    row = s.scalars(
        select(WagonDataset).where(
            WagonDataset.wagon_id == test.wagon_id, WagonDataset.dataset_id == test.dataset_id
        )
    ).first()
    ahead = running = 0
    if test.status is TestStatus.QUEUED:
        queued = s.execute(
            select(WagonTest.id, WagonTest.tag_id).where(
                WagonTest.status == TestStatus.QUEUED, WagonTest.id < test.id
            )
        ).all()
        ahead = sum(1 for _, tag in queued if tag is not None)
    if test.status in (TestStatus.QUEUED, TestStatus.RUNNING):
        running = int(
            s.scalar(select(func.count()).where(WagonTest.status == TestStatus.RUNNING)) or 0
        )
    train = None
    if test.status in (TestStatus.DONE, TestStatus.WARNING) and test.finished_at is not None:
        found = s.execute(
            select(TrainRun.id, TrainRun.state)
            .join(train_run_wagons, train_run_wagons.c.train_run_id == TrainRun.id)
            .where(
                train_run_wagons.c.wagon_id == test.wagon_id,
                TrainRun.dataset_id == test.dataset_id,
                TrainRun.composed_at >= test.finished_at,
                TrainRun.state != TrainState.DECOMPOSED,
            )
            .order_by(TrainRun.id.desc())
            .limit(1)
        ).first()
        train = (found[0], found[1]) if found else None
    wagon = s.get(Wagon, test.wagon_id)
    error = str((test.metrics or {}).get("error", "")) if test.status is TestStatus.FAILED else ""
    if test.status is TestStatus.FAILED and not error:
        last = _last(story.story(s, "wagon_test", test.id))
        error = last.reason if last is not None else ""
    return WagonTestFacts(
        id=test.id,
        status=test.status,
        now=now,
        superseded=test.superseded,
        tagless=test.tag_id is None and test.status is TestStatus.QUEUED,
        pull_request=(row.pull_request or "") if row is not None else "",
        ahead=ahead,
        running=running,
        typical_s=_typical_test_s(s),
        started_at=test.started_at,
        error=error,
        warnings=tuple(str(w.get("code", "?")) for w in test.warnings or ()),
        enabled=bool(row is not None and row.enabled),
        derived=bool(wagon is not None and wagon.derived_tables),
        scheduled=bool(row is not None and row.scheduled),
        composition=_composition(s.get(Dataset, test.dataset_id)),
        train=train,
    )


def _job_target(s: Session, job: Job) -> str:
    if job.target:
        return job.target
    train = s.get(TrainRun, job.train_run_id)
    target = s.get(Target, train.target_id) if train is not None else None
    return target.name if target is not None else ""


def job_facts(s: Session, job: Job, now: datetime, steps: Sequence[story.Step]) -> JobFacts:
    last = _last(steps)
    ahead = 0
    if job.state is JobState.RUNNING and not job.site:
        ahead = int(
            s.scalar(
                select(func.count()).where(
                    Job.state == JobState.RUNNING, Job.site.is_(None), Job.id < job.id
                )
            )
            or 0
        )
    train = s.get(TrainRun, job.train_run_id)
    return JobFacts(
        id=job.id,
        state=job.state,
        now=now,
        attempts=job.attempts,
        target=_job_target(s, job),
        site=job.site or "",
        run=job.run_number,
        last_cause=last.cause if last else "",
        last_reason=last.reason if last else "",
        ahead=ahead,
        train_state=train.state if train is not None else TrainState.RUNNING,
        error=job.error_message or "",
    )


def _retrying(s: Session, train_id: int) -> tuple[Retrying, ...]:
    """Active jobs whose current attempt is an automatic retry (their last move's cause is
    ``retry``: back in waiting, then submitted again in the same tick), by error kind and
    target. Only jobs past their first attempt are looked at (at most ``RETRY_LOOKUP``)."""
    active = dict(
        s.execute(
            select(Job.id, Job.target)
            .where(Job.train_run_id == train_id, Job.state.in_(ACTIVE_JOBS), Job.attempts > 1)
            .limit(RETRY_LOOKUP)
        ).all()
    )
    if not active:
        return ()
    last_ids = (
        select(func.max(Transition.id))
        .where(Transition.object_kind == "job", Transition.object_id.in_(list(active)))
        .group_by(Transition.object_id)
    )
    rows = s.execute(
        select(Transition.object_id, Transition.cause, Transition.reason).where(
            Transition.id.in_(last_ids)
        )
    ).all()
    counts: dict[tuple[str, str], int] = {}
    train = s.get(TrainRun, train_id)
    default = s.get(Target, train.target_id).name if train is not None else ""
    for job_id, cause, reason in rows:
        if cause != "retry":
            continue
        key = (_error_kind(reason), active[job_id] or default)
        counts[key] = counts.get(key, 0) + 1
    return tuple(Retrying(k, t, n) for (k, t), n in sorted(counts.items()))


def _error_kind(reason: str) -> str:
    """``automatic retry after memory in attempt 1, ...`` -> ``memory``."""
    head = "automatic retry after "
    if reason.startswith(head):
        return reason[len(head) :].split(" ", 1)[0]
    return "error"


def train_facts(
    s: Session, train: TrainRun, now: datetime, steps: Sequence[story.Step], settings: Any
) -> TrainFacts:
    counts = {
        JobState(st) if not isinstance(st, JobState) else st: int(n)
        for st, n in s.execute(
            select(Job.state, func.count()).where(Job.train_run_id == train.id).group_by(Job.state)
        )
    }
    queued = int(
        s.scalar(
            select(func.count()).where(
                Job.train_run_id == train.id, Job.state == JobState.RUNNING, Job.site.is_(None)
            )
        )
        or 0
    )
    open_runs = {
        int(r): int(n)
        for r, n in s.execute(
            select(Job.run_number, func.count())
            .where(Job.train_run_id == train.id, Job.state != JobState.DONE)
            .group_by(Job.run_number)
        )
    }
    merged = int(
        s.scalar(
            select(func.count()).where(
                TrainMerge.train_run_id == train.id,
                TrainMerge.stage == "run",
                TrainMerge.state == "done",
            )
        )
        or 0
    )
    test_started = requested = None
    for step in steps:
        if step.state == TrainState.TESTING.value:
            test_started = step.at
        if step.state == TrainState.LONG_TRAIN_REQUESTED.value:
            requested = step.at
    flagged = _issues(s, train.id)
    last = _last(steps)
    error = str((train.test_metrics or {}).get("error", "")) if train.test_metrics else ""
    if train.state is TrainState.TEST_FAILED and not error and last is not None:
        error = last.reason
    return TrainFacts(
        id=train.id,
        state=train.state,
        now=now,
        auto_submit=train.auto_submit,
        slow=train.slow,
        split=bool(counts),
        flagged=flagged,
        jobs=counts,
        queued_in_engine=queued,
        retrying=_retrying(s, train.id),
        open_runs=open_runs,
        runs_merged=merged,
        final_merge_requested=train.final_merge_requested_at is not None,
        test_started_at=test_started,
        typical_test_s=_typical_test_s(s),
        warnings=tuple(str(w.get("code", "?")) for w in train.test_warnings or ()),
        requested_at=requested,
        error=error,
        express_fraction=settings.scheduler_express_fraction,
        last_reason=last.reason if last else "",
    )


def _issues(s: Session, train_id: int) -> str:
    """The sentence of the train's latest "with issues" notification (``train <id>: why``);
    the scheduler flags a train once and tells its people (the flag itself is in memory)."""
    message = s.scalars(
        select(Notification.message)
        .where(
            Notification.kind == NotificationKind.TRAIN_ISSUES,
            Notification.object_type == "train_run",
            Notification.object_id == train_id,
        )
        .order_by(Notification.id.desc())
        .limit(1)
    ).first()
    if not message:
        return ""
    return message.split(": ", 1)[1] if ": " in message else message


# --------------------------------------------------------------------------- page data


def wagon_test_why(s: Session, test_id: int, settings: Any, now: datetime | None = None) -> Why:
    test = s.get(WagonTest, test_id)
    if test is None:
        raise NotFound(f"wagon test {test_id} not found")
    now = now or utcnow()
    steps = tuple(story.story(s, "wagon_test", test.id))
    reason = wagon_test_reason(wagon_test_facts(s, test, now), Settings.of(s, settings))
    return Why("wagon_test", test.id, test.status.value, reason, _since(steps), steps)


def job_why(s: Session, job_id: int, settings: Any, now: datetime | None = None) -> Why:
    job = s.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    now = now or utcnow()
    steps = tuple(story.story(s, "job", job.id))
    reason = job_reason(job_facts(s, job, now, steps), Settings.of(s, settings))
    return Why("job", job.id, job.state.value, reason, _since(steps), steps)


def train_why(s: Session, train_id: int, settings: Any, now: datetime | None = None) -> Why:
    train = s.get(TrainRun, train_id)
    if train is None:
        raise NotFound(f"train run {train_id} not found")
    now = now or utcnow()
    steps = tuple(story.story(s, "train_run", train.id))
    facts = train_facts(s, train, now, steps, settings)
    reason = train_reason(facts, Settings.of(s, settings))
    return Why("train_run", train.id, train.state.value, reason, _since(steps), steps)


def _since(steps: Sequence[story.Step]) -> datetime | None:
    return steps[-1].at if steps else None
