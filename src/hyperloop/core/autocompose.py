"""Automatic composition (SPEC §5): when a dataset's schedule is due, which wagons go in,
and the "train full" rule (compatible wagons fill >= 75 % of the target's memory).

Only tests that ended ``done`` without warnings and wagons without derived data are
composed automatically; derived-data wagons go in only when an operator scheduled them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hyperloop.core.common import get_or_404
from hyperloop.core.enabling import current_test
from hyperloop.core.quotas import WEEK, pss_avg_bytes
from hyperloop.core.trains import compatible_wagons, compose_train
from hyperloop.db.models import (
    Dataset,
    Target,
    TrainRun,
    Wagon,
    WagonDataset,
    train_run_wagons,
)
from hyperloop.enums import AutoComposeType, TestStatus, TrainState

TRAIN_FULL_FRACTION = 0.75


def schedule_due(ds: Dataset, now: datetime, last_run: datetime | None) -> bool:
    """True when a scheduled slot (day + HH:MM, UTC) passed since ``last_run``."""
    if not ds.auto_compose or ds.auto_compose_type is AutoComposeType.TRAIN_FULL:
        return False
    start = last_run or now - timedelta(days=1)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= now:
        if day.weekday() in (ds.auto_compose_days or []):
            for hhmm in ds.auto_compose_times or []:
                h, m = (int(x) for x in hhmm.split(":"))
                slot = day.replace(hour=h, minute=m)
                if start < slot <= now:
                    return True
        day += timedelta(days=1)
    return False


def _trains_this_week(s: Session, analysis_id: int, dataset_id: int, now: datetime) -> int:
    stmt = (
        select(func.count(func.distinct(TrainRun.id)))
        .join(train_run_wagons, train_run_wagons.c.train_run_id == TrainRun.id)
        .where(
            train_run_wagons.c.analysis_id == analysis_id,
            TrainRun.dataset_id == dataset_id,
            TrainRun.composed_at >= now - WEEK,
            TrainRun.state != TrainState.DECOMPOSED,
        )
    )
    return int(s.scalar(stmt) or 0)


def auto_candidates(s: Session, dataset_id: int, now: datetime) -> list[int]:
    """Wagons the automatic composition may take: clean ``done`` test, no derived data
    (unless scheduled by an operator), free, and within the per-analysis weekly limit."""
    ds = get_or_404(s, Dataset, dataset_id, "dataset")
    rows = s.scalars(
        select(WagonDataset).where(
            WagonDataset.dataset_id == dataset_id, WagonDataset.enabled.is_(True)
        )
    )
    report = {c.wagon_id: c for c in compatible_wagons(s, dataset_id, []).candidates}
    out = []
    for row in rows:
        wagon = s.get(Wagon, row.wagon_id)
        test = current_test(s, row.wagon_id, dataset_id)
        if wagon is None or test is None or test.status is not TestStatus.DONE or test.warnings:
            continue
        if wagon.derived_tables and not row.scheduled:
            continue
        cand = report.get(wagon.id)
        if cand is None or not cand.compatible:
            continue
        limit = ds.auto_compose_max_trains_per_week
        if limit is not None and _trains_this_week(s, wagon.analysis_id, ds.id, now) >= limit:
            continue
        out.append(wagon.id)
    return sorted(out)


def train_full(s: Session, dataset_id: int, wagon_ids: list[int], target: Target) -> bool:
    """Do the wagons' test memories fill at least 75 % of the target's memory?"""
    total = 0.0
    for wid in wagon_ids:
        test = current_test(s, wid, dataset_id)
        total += (pss_avg_bytes(test.metrics) or 0.0) if test else 0.0
    return total >= TRAIN_FULL_FRACTION * target.memory_limit_mb * 1e6


def auto_compose(
    s: Session, dataset_id: int, target_id: int, *, now: datetime, last_run: datetime | None
) -> TrainRun | None:
    """Compose the automatic train of a dataset if its schedule or fill level says so."""
    ds = get_or_404(s, Dataset, dataset_id, "dataset")
    target = get_or_404(s, Target, target_id, "target")
    if not ds.auto_compose or not ds.active:
        return None
    ids = auto_candidates(s, ds.id, now)
    if not ids:
        return None
    report = compatible_wagons(s, ds.id, ids[:1])
    ids = [i for i in ids if i in set(report.compatible_ids()) or i == ids[0]]
    due = schedule_due(ds, now, last_run)
    full = ds.auto_compose_type in (
        AutoComposeType.TRAIN_FULL,
        AutoComposeType.BOTH,
    ) and train_full(s, ds.id, ids, target)
    if not (due or full):
        return None
    return compose_train(s, None, ds.id, ids, target_id=target.id, auto_submit=True)
