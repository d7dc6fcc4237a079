"""Targets: where trains run (cores per job, memory limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from hyperloop.core import trains
from hyperloop.core.errors import NotFound
from hyperloop.db import models as m
from hyperloop.readmodels.paging import Page
from hyperloop.readmodels.targets import TargetOut, targets_list_data
from hyperloop.web.deps import DB, CurrentActor
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/targets", tags=["targets"])


class TargetIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    cores: int = Field(ge=1, le=1024)
    memory_limit_mb: int = Field(ge=100, le=10_000_000)
    engine: str = Field(default="local", min_length=1, max_length=64)
    description: str = Field(default="", max_length=10000)


@router.get("", response_model=Page[TargetOut], summary="All targets")
def list_targets(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    min_cores: Annotated[
        int | None, Query(ge=0, le=1024, description="Only targets with this many cores or more.")
    ] = None,
):
    return targets_list_data(db, paging, min_cores=min_cores)


@router.post("", response_model=TargetOut, status_code=201, summary="Create a target (admins)")
def create_target(body: TargetIn, actor: CurrentActor, db: DB) -> TargetOut:
    target = trains.create_target(db, actor, **body.model_dump())
    return TargetOut.model_validate(target)


@router.get("/{target_id}", response_model=TargetOut, summary="One target")
def get_target(
    target_id: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: CurrentActor, db: DB
) -> TargetOut:
    target = db.get(m.Target, target_id)
    if target is None:
        raise NotFound(f"target {target_id} does not exist")
    return TargetOut.model_validate(target)
