"""Fair usage: train slots per analysis per dataset over a rolling week (SPEC §5).

A train uses, for each analysis, as many slots as it has wagons of that analysis (a heavy
wagon, needing the 2-core queue for memory, counts double), capped by the target's cores.
An analyzer using a dataset in several analyses has the sum of their slots.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hyperloop.core.enums import TrainState
from hyperloop.db.base import utcnow
from hyperloop.db.models import (
    AnalysisDataset,
    AnalysisMember,
    Dataset,
    Target,
    TrainRun,
    User,
    train_run_wagons,
)

WEEK = timedelta(days=7)
HEAVY_PSS_BYTES = 3.2e9  # above this average PSS a wagon needs the 2-core queue
_NOT_COUNTED = (TrainState.DECOMPOSED,)


def pss_avg_bytes(metrics: dict[str, Any]) -> float | None:
    """Average PSS of a test from its metrics (metrics_summary layout or a flat key)."""
    if not metrics:
        return None
    full = metrics.get("__full_train__") or {}
    summary = full.get("proportionalSetSize_summary") or metrics.get("proportionalSetSize_summary")
    if isinstance(summary, dict) and "avg" in summary:
        return float(summary["avg"])
    value = metrics.get("pss_avg_bytes")
    return float(value) if value is not None else None


def is_heavy(metrics: dict[str, Any]) -> bool:
    pss = pss_avg_bytes(metrics)
    return pss is not None and pss > HEAVY_PSS_BYTES


def slots_of(snapshot: list[dict[str, Any]], cores: int) -> dict[int, int]:
    """Slots per analysis used by a train with this wagon snapshot on a ``cores`` target."""
    per: dict[int, int] = {}
    for w in snapshot:
        aid = int(w["analysis_id"])
        per[aid] = per.get(aid, 0) + (2 if w.get("heavy") else 1)
    return {aid: min(n, max(cores, 1)) for aid, n in per.items()}


def slots_used(
    s: Session, analysis_id: int, dataset_id: int, *, now: datetime | None = None
) -> int:
    """Slots the analysis used on the dataset in the rolling week (one indexed query)."""
    now = now or utcnow()
    weight = case((train_run_wagons.c.heavy.is_(True), 2), else_=1)
    stmt = (
        select(TrainRun.id, Target.cores, func.sum(weight))
        .join(train_run_wagons, train_run_wagons.c.train_run_id == TrainRun.id)
        .join(Target, Target.id == TrainRun.target_id)
        .where(
            train_run_wagons.c.analysis_id == analysis_id,
            TrainRun.dataset_id == dataset_id,
            TrainRun.composed_at >= now - WEEK,
            TrainRun.state.not_in(_NOT_COUNTED),
        )
        .group_by(TrainRun.id, Target.cores)
    )
    return sum(min(int(n), max(int(cores), 1)) for _, cores, n in s.execute(stmt))


def analysis_slots(
    s: Session, analysis_id: int, dataset_id: int, *, now: datetime | None = None
) -> tuple[int, int]:
    """(used, allowed) slots of one analysis on one dataset in the rolling week."""
    ds = s.get(Dataset, dataset_id)
    allowed = ds.slots_per_week if ds else 0
    return slots_used(s, analysis_id, dataset_id, now=now), allowed


def user_slots(
    s: Session, user: User, dataset_id: int, *, now: datetime | None = None
) -> tuple[int, int]:
    """(used, allowed) summed over every analysis of ``user`` that uses the dataset."""
    stmt = (
        select(AnalysisMember.analysis_id)
        .join(AnalysisDataset, AnalysisDataset.analysis_id == AnalysisMember.analysis_id)
        .where(AnalysisMember.user_id == user.id, AnalysisDataset.dataset_id == dataset_id)
    )
    used = allowed = 0
    for aid in set(s.scalars(stmt)):
        u, a = analysis_slots(s, aid, dataset_id, now=now)
        used, allowed = used + u, allowed + a
    return used, allowed


def slots_available(
    s: Session, user: User, analysis_id: int, dataset_id: int, *, now: datetime | None = None
) -> int:
    """Slots ``user`` has left this week on the dataset: the sum over every analysis of the
    user that uses it (falls back to ``analysis_id`` alone for non-members, e.g. operators)."""
    used, allowed = user_slots(s, user, dataset_id, now=now)
    if allowed == 0:
        used, allowed = analysis_slots(s, analysis_id, dataset_id, now=now)
    return max(0, allowed - used)
