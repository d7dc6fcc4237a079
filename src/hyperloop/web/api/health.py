"""GET /api/health: anonymous liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from hyperloop import __version__
from hyperloop.web.deps import DB

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    version: str
    database: str


@router.get("/health", response_model=HealthOut, summary="Server and database are alive")
def health(db: DB) -> HealthOut:
    db.execute(text("SELECT 1"))
    return HealthOut(status="ok", version=__version__, database=db.get_bind().dialect.name)
