"""Targets as listed by ``GET /api/targets`` and the pages that offer them (admin, dataset)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.db import models as m
from hyperloop.readmodels.paging import PageParams, paginate
from hyperloop.readmodels.schemas import ORMModel


class TargetOut(ORMModel):
    id: int
    name: str
    cores: int
    memory_limit_mb: int
    engine: str
    description: str


def targets_list_data(
    db: Session, paging: PageParams, *, min_cores: int | None = None
) -> dict[str, Any]:
    """One page of targets by name (only those with ``min_cores`` cores or more)."""
    stmt = select(m.Target).order_by(m.Target.name)
    if min_cores is not None:
        stmt = stmt.where(m.Target.cores >= min_cores)
    return paginate(db, stmt, paging, TargetOut.model_validate)
