"""Database reads the shell turns into the snapshot's views for the slower life cycles:
automatic composition, wagon tests waiting for a pull request, long-train requests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from hyperloop.core.autocompose import auto_candidates, train_full
from hyperloop.core.enabling import current_test
from hyperloop.core.trains import compatible_wagons, expected_cpu_hours_of
from hyperloop.db.models import (
    Dataset,
    HistoryEntry,
    PackageTag,
    Target,
    TrainRun,
    Wagon,
    WagonDataset,
    WagonTest,
)
from hyperloop.enums import AutoComposeType, NotificationKind, TagPolicy, TestStatus
from hyperloop.scheduler import decide
from hyperloop.scheduler.cycles import ComposeView, LongTrainView
from hyperloop.scheduler.notices import notified_kinds

#: ``HistoryEntry.object_type`` of the record "this dataset's composition slot was handled"
COMPOSE_RECORD = "auto_compose"
_LONG_KINDS = [
    NotificationKind.LONG_TRAIN_APPROVED,
    NotificationKind.LONG_TRAIN_REJECTED,
    NotificationKind.LONG_TRAIN_EXPIRED,
]


def wagon_test_views(s: Session) -> tuple[decide.TestView, ...]:
    """Queued and running wagon tests; a queued one without a tag says which pull request
    it waits for (its enabling's future-tag policy)."""
    rows = s.execute(
        select(
            WagonTest.id,
            WagonTest.status,
            WagonTest.tag_id,
            WagonDataset.tag_policy,
            WagonDataset.pull_request,
        )
        .outerjoin(
            WagonDataset,
            and_(
                WagonDataset.wagon_id == WagonTest.wagon_id,
                WagonDataset.dataset_id == WagonTest.dataset_id,
            ),
        )
        .where(
            WagonTest.status.in_((TestStatus.QUEUED, TestStatus.RUNNING)),
            WagonTest.superseded.is_(False),
        )
    )
    out = []
    for test_id, status, tag_id, policy, pr in rows:
        tagless = tag_id is None and status is TestStatus.QUEUED
        waits = pr if tagless and policy is TagPolicy.PULL_REQUEST and pr else ""
        out.append(decide.TestView(test_id, status, pull_request=str(waits), tagless=tagless))
    return tuple(out)


def pr_tags(s: Session, pull_requests: Iterable[str]) -> dict[str, int]:
    """The first released, available tag containing each awaited pull request."""
    wanted = {str(p) for p in pull_requests if p}
    if not wanted:
        return {}
    out: dict[str, int] = {}
    stmt = select(PackageTag.id, PackageTag.pull_requests).where(PackageTag.available)
    for tag_id, prs in s.execute(stmt.order_by(PackageTag.released_at, PackageTag.id)):
        for pr in wanted & {str(p) for p in prs or []}:
            out.setdefault(pr, tag_id)
    return out


def _compatible(s: Session, dataset_id: int, ids: list[int]) -> tuple[int, ...]:
    """The first wagon and those compatible with it (a common tag, same dependencies)."""
    if not ids:
        return ()
    report = compatible_wagons(s, dataset_id, ids[:1])
    ok = set(report.compatible_ids())
    return tuple(i for i in ids if i in ok or i == ids[0])


def last_compose_runs(s: Session) -> dict[int, datetime]:
    rows = s.execute(
        select(HistoryEntry.object_id, func.max(HistoryEntry.at))
        .where(HistoryEntry.object_type == COMPOSE_RECORD, HistoryEntry.action == "slot")
        .group_by(HistoryEntry.object_id)
    )
    return {oid: at for oid, at in rows}


def compose_views(s: Session, now: datetime, target: Target | None) -> tuple[ComposeView, ...]:
    """Active datasets with automatic composition on, their last handled slot and the
    wagons that could be composed now (clean analysis wagons; scheduled derived ones)."""
    datasets = s.scalars(
        select(Dataset)
        .where(Dataset.auto_compose.is_(True), Dataset.active.is_(True))
        .order_by(Dataset.id)
    ).all()
    if not datasets:
        return ()
    last = last_compose_runs(s)
    out = []
    for ds in datasets:
        ids = auto_candidates(s, ds.id, now)
        derived_ids = {
            w.id for w in s.scalars(select(Wagon).where(Wagon.id.in_(ids))) if w.derived_tables
        }
        plain = _compatible(s, ds.id, [i for i in ids if i not in derived_ids])
        cpu = {}
        for wid in plain:
            test = current_test(s, wid, ds.id)
            hours = expected_cpu_hours_of(test.metrics or {}) if test is not None else None
            if hours is not None:
                cpu[wid] = hours
        derived = _compatible(s, ds.id, [i for i in ids if i in derived_ids])
        kind = AutoComposeType(ds.auto_compose_type)
        full = bool(
            plain
            and target is not None
            and kind is not AutoComposeType.SCHEDULED
            and train_full(s, ds.id, list(plain), target)
        )
        out.append(
            ComposeView(
                dataset_id=ds.id,
                kind=kind,
                days=tuple(int(d) for d in ds.auto_compose_days or ()),
                times=tuple(str(t) for t in ds.auto_compose_times or ()),
                last_run=last.get(ds.id),
                wagons=plain,
                derived=derived,
                full=full,
                max_cpu_hours=ds.auto_compose_max_cpu_hours,
                cpu_hours=cpu,
            )
        )
    return tuple(out)


def long_train_views(s: Session, now: datetime, horizon: timedelta) -> tuple[LongTrainView, ...]:
    """Long-train requests of the last ``horizon`` whose decision was not told yet."""
    trains = s.scalars(
        select(TrainRun)
        .where(TrainRun.requested_by_id.is_not(None), TrainRun.composed_at >= now - horizon)
        .order_by(TrainRun.id)
    ).all()
    if not trains:
        return ()
    told = notified_kinds(s, "train_run", [t.id for t in trains], _LONG_KINDS)
    out = []
    for t in trains:
        reason = ""
        if t.finished_at is not None:
            last = s.scalars(
                select(HistoryEntry.reason)
                .where(
                    HistoryEntry.object_type == "train_run",
                    HistoryEntry.object_id == t.id,
                    HistoryEntry.action == "transition",
                )
                .order_by(HistoryEntry.id.desc())
                .limit(1)
            ).first()
            reason = last or ""
        out.append(
            LongTrainView(
                id=t.id,
                state=t.state,
                requested_at=t.composed_at,
                approved=t.approved_by_id is not None,
                notified=told.get(t.id, frozenset()),
                reason=reason,
            )
        )
    return tuple(out)
