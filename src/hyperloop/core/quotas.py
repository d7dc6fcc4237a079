"""Fair usage: train slots per analysis per dataset over a rolling week (SPEC §5).

A train uses, for each analysis, as many slots as it has wagons of that analysis (a heavy
wagon, needing the 2-core queue for memory, counts double), capped by the target's cores.
An analyzer using a dataset in several analyses has the sum of their slots.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

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
from hyperloop.enums import TrainState

WEEK = timedelta(days=7)
HEAVY_PSS_BYTES = 3.2e9  # above this average PSS a wagon needs the 2-core queue
_NOT_COUNTED = (TrainState.DECOMPOSED,)
_CHUNK = 500  # ids per IN (...) list


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


def _used_many(
    s: Session,
    wanted: set[tuple[int, int]],
    now: datetime,
    first: dict[tuple[int, int], datetime] | None = None,
) -> dict[tuple[int, int], int]:
    """Slots used per (analysis, dataset) in the rolling week. Two indexed queries: the
    week's trains on those datasets (ix_train_runs_dataset_composed), then their wagon rows
    by train (not by analysis: a service analysis has wagons in nearly every train ever).
    ``first``, when given, receives the composition time of each pair's earliest counted
    train (its slots free up a week later)."""
    used = dict.fromkeys(wanted, 0)
    if not wanted:
        return used
    recent = s.execute(
        select(TrainRun.id, TrainRun.dataset_id, Target.cores, TrainRun.composed_at)
        .join(Target, Target.id == TrainRun.target_id)
        .where(
            TrainRun.dataset_id.in_(sorted({d for _, d in wanted})),
            TrainRun.composed_at >= now - WEEK,
            TrainRun.state.not_in(_NOT_COUNTED),
        )
    )
    trains = {tid: (did, int(cores), at) for tid, did, cores, at in recent}
    ids = sorted(trains)
    weight = case((train_run_wagons.c.heavy.is_(True), 2), else_=1)
    for start in range(0, len(ids), _CHUNK):
        stmt = (
            select(
                train_run_wagons.c.train_run_id, train_run_wagons.c.analysis_id, func.sum(weight)
            )
            .where(train_run_wagons.c.train_run_id.in_(ids[start : start + _CHUNK]))
            .group_by(train_run_wagons.c.train_run_id, train_run_wagons.c.analysis_id)
        )
        for tid, aid, n in s.execute(stmt):
            did, cores, at = trains[tid]
            if (aid, did) in used:
                used[(aid, did)] += min(int(n), max(cores, 1))
                if first is not None and ((aid, did) not in first or at < first[(aid, did)]):
                    first[(aid, did)] = at
    return used


def slots_used(
    s: Session, analysis_id: int, dataset_id: int, *, now: datetime | None = None
) -> int:
    """Slots the analysis used on the dataset in the rolling week (two indexed queries)."""
    pair = (analysis_id, dataset_id)
    return _used_many(s, {pair}, now or utcnow())[pair]


def analysis_slots(
    s: Session, analysis_id: int, dataset_id: int, *, now: datetime | None = None
) -> tuple[int, int]:
    """(used, allowed) slots of one analysis on one dataset in the rolling week."""
    ds = s.get(Dataset, dataset_id)
    allowed = ds.slots_per_week if ds else 0
    return slots_used(s, analysis_id, dataset_id, now=now), allowed


def analysis_slots_many(
    s: Session,
    pairs: Iterable[tuple[int, int]],
    *,
    now: datetime | None = None,
    first: dict[tuple[int, int], datetime] | None = None,
) -> dict[tuple[int, int], tuple[int, int]]:
    """``analysis_slots`` of many (analysis, dataset) pairs in a few queries, whatever their
    number (the My Analyses grid shows one per analysis and dataset)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    used = _used_many(s, wanted, now or utcnow(), first)
    allowed = {
        did: n
        for did, n in s.execute(
            select(Dataset.id, Dataset.slots_per_week).where(
                Dataset.id.in_(sorted({d for _, d in wanted}))
            )
        )
    }
    return {(a, d): (used[(a, d)], int(allowed.get(d) or 0)) for a, d in wanted}


def train_slot_usage(
    s: Session, train: Any, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per analysis of a train: the slots this train takes, the analysis's slots used and
    allowed on the dataset this rolling week and when the next one frees up."""
    cores = s.scalar(select(Target.cores).where(Target.id == train.target_id)) or 1
    mine = slots_of(train.wagons_snapshot or [], int(cores))
    pairs = [(aid, train.dataset_id) for aid in mine]
    first: dict[tuple[int, int], datetime] = {}
    counts = analysis_slots_many(s, pairs, now=now, first=first)
    names = {
        int(w["analysis_id"]): w.get("analysis_name") or str(w["analysis_id"])
        for w in train.wagons_snapshot or []
    }
    return [
        {
            "analysis_id": aid,
            "analysis": names.get(aid),
            "train_slots": n,
            "used": counts[(aid, train.dataset_id)][0],
            "allowed": counts[(aid, train.dataset_id)][1],
            "frees_at": first[(aid, train.dataset_id)] + WEEK
            if (aid, train.dataset_id) in first
            else None,
        }
        for aid, n in sorted(mine.items())
    ]


def user_slots(
    s: Session, user: User, dataset_id: int, *, now: datetime | None = None
) -> tuple[int, int]:
    """(used, allowed) summed over every analysis of ``user`` that uses the dataset."""
    stmt = (
        select(AnalysisMember.analysis_id)
        .join(AnalysisDataset, AnalysisDataset.analysis_id == AnalysisMember.analysis_id)
        .where(AnalysisMember.user_id == user.id, AnalysisDataset.dataset_id == dataset_id)
    )
    per = analysis_slots_many(s, [(aid, dataset_id) for aid in set(s.scalars(stmt))], now=now)
    return sum(u for u, _ in per.values()), sum(a for _, a in per.values())


def slots_available(
    s: Session, user: User, analysis_id: int, dataset_id: int, *, now: datetime | None = None
) -> int:
    """Slots ``user`` has left this week on the dataset: the sum over every analysis of the
    user that uses it (falls back to ``analysis_id`` alone for non-members, e.g. operators)."""
    used, allowed = user_slots(s, user, dataset_id, now=now)
    if allowed == 0:
        used, allowed = analysis_slots(s, analysis_id, dataset_id, now=now)
    return max(0, allowed - used)


def summed_slots_fit(
    s: Session,
    analysis_id: int,
    dataset_id: int,
    needed: int,
    user_ids: Iterable[int | None],
    *,
    now: datetime | None = None,
) -> bool:
    """Whether ``needed`` more slots of the analysis fit in the summed slots of one of the
    analyzers (members of the analysis among ``user_ids``, e.g. the wagons' creators): an
    analyzer using the dataset in several analyses has the sum of their slots (SPEC §5)."""
    ids = sorted({u for u in user_ids if u is not None})
    if not ids:
        return False
    members = s.scalars(
        select(User)
        .join(AnalysisMember, AnalysisMember.user_id == User.id)
        .where(AnalysisMember.analysis_id == analysis_id, User.id.in_(ids))
    ).all()
    for user in members:
        used, allowed = user_slots(s, user, dataset_id, now=now)
        if used + needed <= allowed:
            return True
    return False
