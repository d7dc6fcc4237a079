"""Pure decisions of the scheduler for the slower life cycles (SPEC §2, §5, §6): automatic
composition on dataset schedules (all three types) with operator-scheduled derived-data
wagons, wagon tests waiting for a pull request's tag, long-train requests, and e-mail
delivery. Views in, instructions out; :mod:`hyperloop.scheduler.decide` calls these from
``decide`` and the shell performs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hyperloop.enums import AutoComposeType, NotificationKind, TrainState, TrainType

K = NotificationKind

# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class DerivedBatch:
    """Scheduled derived-data wagons that go in one train: standard (or slim) ones with the
    same settings together, a linked one alone (never with standard ones)."""

    wagon_ids: tuple[int, ...]
    train_type: TrainType = TrainType.STANDARD_DERIVED
    slow: bool = False
    auto_submit: bool = False


@dataclass(frozen=True)
class ComposeView:
    """A dataset with automatic composition on, as the shell read it: its schedule, when a
    slot was last handled, and the wagons that may go in now."""

    dataset_id: int
    kind: AutoComposeType
    days: tuple[int, ...] = ()  # 0 = Monday
    times: tuple[str, ...] = ()  # "HH:MM", UTC
    last_run: datetime | None = None  # the last handled slot record (None: never)
    wagons: tuple[int, ...] = ()  # clean done tests, no derived data, free and compatible
    derived: tuple[DerivedBatch, ...] = ()  # derived-data wagons an operator scheduled, ready
    full: bool = False  # ``wagons`` fill >= 75 % of the target's memory
    max_cpu_hours: float | None = None  # the dataset's "max CPU" of an automatic train
    cpu_hours: Mapping[int, float] = field(default_factory=dict)  # wagon -> expected (test)
    # trains an operator submitted on this (over 50 TB) dataset: submitted at the next slot
    requested: tuple[int, ...] = ()
    # automatic trains its size class still allows this rolling week (None: no size class)
    auto_left: int | None = None


def within_cpu(v: ComposeView) -> tuple[int, ...]:
    """The wagons, in order, as long as their expected CPU hours together stay within the
    dataset's maximum (the others wait for the next slot)."""
    if v.max_cpu_hours is None:
        return v.wagons
    out, total = [], 0.0
    for w in v.wagons:
        cpu = v.cpu_hours.get(w, 0.0)
        if total + cpu <= v.max_cpu_hours:
            out.append(w)
            total += cpu
    return tuple(out)


@dataclass(frozen=True)
class LongTrainView:
    """A long-train request (staged submission) whose decision may need the scheduler."""

    id: int
    state: TrainState
    requested_at: datetime
    approved: bool = False
    notified: frozenset[str] = frozenset()  # long-train notification kinds already sent
    reason: str = ""  # why it was closed (the last transition's reason)


# --------------------------------------------------------------------------- instructions


@dataclass(frozen=True)
class Notify:
    """Tell the people concerned (and e-mail them per ``hyperloop.core.mail.EMAIL_POLICY``)."""

    kind: str  # a NotificationKind value
    message: str
    object_type: str
    object_id: int


@dataclass(frozen=True)
class ComposeTrain:
    """Compose an automatic train (no human actor; analysis trains are submitted
    automatically, scheduled derived-data trains as the operator chose)."""

    dataset_id: int
    wagon_ids: tuple[int, ...]
    train_type: TrainType
    why: str
    slow: bool = False
    auto_submit: bool = True


@dataclass(frozen=True)
class RecordComposeSlot:
    """Remember that the dataset's slot up to ``at`` was handled (it fires once)."""

    dataset_id: int
    at: datetime
    note: str


@dataclass(frozen=True)
class SubmitRequested:
    """Submit a train an operator asked for, at its dataset's automatic submission time."""

    train_id: int
    why: str


@dataclass(frozen=True)
class AssignTestTag:
    """A tag containing the pull request a queued wagon test waits for was released."""

    test_id: int
    tag_id: int
    pull_request: str


@dataclass(frozen=True)
class ExpireLongTrain:
    train_id: int
    why: str


@dataclass(frozen=True)
class DeliverMail:
    """Send the queued e-mails through the configured sender."""


# --------------------------------------------------------------------------- decisions


def due_slot(
    days: Sequence[int], times: Sequence[str], start: datetime, end: datetime
) -> datetime | None:
    """The latest scheduled slot (weekday + HH:MM) in ``(start, end]``, or None."""
    if end <= start:
        return None
    found = None
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        if day.weekday() in days:
            for hhmm in times:
                h, m = (int(x) for x in hhmm.split(":"))
                slot = day.replace(hour=h, minute=m)
                if start < slot <= end and (found is None or slot > found):
                    found = slot
        day += timedelta(days=1)
    return found


def compose(
    views: Sequence[ComposeView], now: datetime, catch_up: timedelta
) -> list[ComposeTrain | RecordComposeSlot | SubmitRequested]:
    """Per dataset: at a due slot (types *scheduled* and *both*) compose the clean wagons
    and, in trains of their own, the scheduled derived-data wagons (one train per batch:
    standard ones with the same settings share one, linked ones run alone), then record the
    slot (even
    when nothing was composed, so it fires once); at any time compose when the wagons fill
    the train (types *train full* and *both*). Datasets of type *train full* have no slots:
    scheduled derived-data wagons go at the next step. At a slot the trains operators
    submitted on the dataset (over 50 TB, policy) are submitted; automatic analysis trains
    stop once the size class's automatic submissions of the rolling week are used."""
    out: list[ComposeTrain | RecordComposeSlot | SubmitRequested] = []
    for v in sorted(views, key=lambda v: v.dataset_id):
        slot = None
        if v.kind is not AutoComposeType.TRAIN_FULL:
            start = v.last_run if v.last_run is not None else now - catch_up
            slot = due_slot(v.days, v.times, start, now)
        if slot is not None:
            for train_id in v.requested:
                why = f"submitted at the dataset's automatic submission time {slot:%a %H:%M}"
                out.append(SubmitRequested(train_id, why))
        fills = v.kind is not AutoComposeType.SCHEDULED and v.full
        wagons = within_cpu(v)
        frequency_used = v.auto_left is not None and v.auto_left <= 0
        if wagons and (slot is not None or fills) and not frequency_used:
            why = f"scheduled slot {slot:%a %H:%M}" if slot is not None else "train full"
            out.append(ComposeTrain(v.dataset_id, wagons, TrainType.ANALYSIS, why))
        if v.derived and (slot is not None or v.kind is AutoComposeType.TRAIN_FULL):
            why = (
                f"scheduled derived data, slot {slot:%a %H:%M}"
                if slot is not None
                else "scheduled derived data"
            )
            for b in v.derived:  # one train per batch: linked wagons alone
                out.append(
                    ComposeTrain(
                        v.dataset_id, b.wagon_ids, b.train_type, why, b.slow, b.auto_submit
                    )
                )
        if slot is not None:
            composed = sum(
                1 for i in out if isinstance(i, ComposeTrain) and i.dataset_id == v.dataset_id
            )
            note = f"slot {slot.isoformat()}: {composed} train(s) composed"
            if frequency_used and v.wagons:
                note += " (the automatic submissions of the dataset's size class are used up)"
            out.append(RecordComposeSlot(v.dataset_id, now, note))
    return out


def pull_request_tags(
    waiting: Sequence[tuple[int, str]], pr_tags: Mapping[str, int]
) -> list[AssignTestTag | Notify]:
    """Queued wagon tests waiting for a pull request: once a tag containing it is available
    the test gets that tag (and then starts) and the analysis is told."""
    out: list[AssignTestTag | Notify] = []
    for test_id, pr in sorted(waiting):
        tag = pr_tags.get(pr)
        if tag is None:
            continue
        out.append(AssignTestTag(test_id, tag, pr))
        message = f"pull request {pr} is in a released package tag: wagon test {test_id} starts"
        out.append(Notify(K.PULL_REQUEST_AVAILABLE.value, message, "wagon_test", test_id))
    return out


def long_trains(views: Sequence[LongTrainView], now: datetime, expiry: timedelta) -> list:
    """Requests nobody decided on within ``expiry`` are closed; every decision (approved,
    rejected, expired) is told once to the requester (the notification is the record)."""
    out: list[ExpireLongTrain | Notify] = []
    decided = {K.LONG_TRAIN_APPROVED.value, K.LONG_TRAIN_REJECTED.value, K.LONG_TRAIN_EXPIRED.value}
    for v in sorted(views, key=lambda v: v.id):
        if v.notified & decided:
            continue
        if v.state is TrainState.LONG_TRAIN_REQUESTED:
            if now - v.requested_at >= expiry:
                days = expiry.total_seconds() / 86400
                why = f"long train request expired: not approved within {days:g} days"
                out.append(ExpireLongTrain(v.id, why))
                out.append(
                    Notify(K.LONG_TRAIN_EXPIRED.value, f"train {v.id}: {why}", "train_run", v.id)
                )
        elif v.state is TrainState.LONG_TRAIN_APPROVED:
            message = (
                f"long train {v.id} approved; it waits for an operator to submit it "
                "(memory warning or CPU time above the dataset limit)"
            )
            out.append(Notify(K.LONG_TRAIN_APPROVED.value, message, "train_run", v.id))
        elif v.approved:
            message = f"long train {v.id} approved and submitted"
            out.append(Notify(K.LONG_TRAIN_APPROVED.value, message, "train_run", v.id))
        elif v.state in (TrainState.CLOSED, TrainState.DECOMPOSED):
            why = v.reason or "long train rejected"
            out.append(
                Notify(K.LONG_TRAIN_REJECTED.value, f"train {v.id}: {why}", "train_run", v.id)
            )
    return out
