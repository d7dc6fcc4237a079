"""Fair-usage train slots of an analysis on a dataset (rolling week)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hyperloop.core import quotas
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.web.deps import DB, CurrentActor, _load, require_action

router = APIRouter(prefix="/slots", tags=["slots"])

Ident = Annotated[int, Query(ge=1, le=2**31 - 1)]


class SlotsOut(BaseModel):
    analysis_id: int
    dataset_id: int
    slots_per_week: int
    used: float
    available: float


@router.get("", response_model=SlotsOut, summary="Train slots used and available this week")
def slots(analysis_id: Ident, dataset_id: Ident, actor: CurrentActor, db: DB) -> SlotsOut:
    analysis = _load(db, m.Analysis, analysis_id, "analysis")
    dataset = _load(db, m.Dataset, dataset_id, "dataset")
    require_action(actor, Action.READ, analysis)
    return SlotsOut(
        analysis_id=analysis.id,
        dataset_id=dataset.id,
        slots_per_week=dataset.slots_per_week,
        used=quotas.slots_used(db, analysis.id, dataset.id),
        available=quotas.slots_available(db, actor.user, analysis.id, dataset.id),
    )
