"""Fair-usage train slots of an analysis on a dataset (rolling week)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hyperloop.core import quotas
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.web.deps import DB, CurrentActor, _load, require_action

router = APIRouter(prefix="/slots", tags=["slots"])

Ident = Annotated[int, Query(ge=1, le=2**31 - 1)]


class SlotsOut(BaseModel):
    analysis_id: int
    dataset_id: int
    used: int = Field(description="Slots the analysis used on the dataset in the last 7 days.")
    allowed: int = Field(description="Slots per rolling week for the analysis.")
    my_used: int = Field(description="Summed over every analysis of mine using the dataset.")
    my_allowed: int


@router.get("", response_model=SlotsOut, summary="Train slots used and available this week")
def slots(analysis_id: Ident, dataset_id: Ident, actor: CurrentActor, db: DB) -> SlotsOut:
    analysis = _load(db, m.Analysis, analysis_id, "analysis")
    dataset = _load(db, m.Dataset, dataset_id, "dataset")
    require_action(actor, Action.READ, analysis)
    used, allowed = quotas.analysis_slots(db, analysis.id, dataset.id)
    my_used, my_allowed = quotas.user_slots(db, actor.user, dataset.id)
    return SlotsOut(
        analysis_id=analysis.id,
        dataset_id=dataset.id,
        used=used,
        allowed=allowed,
        my_used=my_used,
        my_allowed=my_allowed,
    )
