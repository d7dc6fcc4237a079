"""GET /api/health: anonymous liveness of the server, and which parts of the system are alive.

``status`` is "ok" whenever this server and its database answer (what uptime checks
watch); ``parts`` says, for an operator, whether the database, the scheduler (the holder
of an unexpired lease), the engine (the external Dask scheduler answers, or the embedded
one lives in the scheduler) and the storage of train jobs (looked at read-only: the
storage or its nearest existing parent; cached ``STORAGE_TTL_S``) are alive, each with one
sentence. ``hyperloop storage check`` writes and reads a probe file."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlparse

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hyperloop import __version__
from hyperloop.db.models import SchedulerLease
from hyperloop.settings import Settings
from hyperloop.web.deps import DB, SettingsDep

router = APIRouter(tags=["health"])

STORAGE_TTL_S = 15.0
_storage_seen: dict[str, tuple[float, PartOut]] = {}
_storage_lock = threading.Lock()


class PartOut(BaseModel):
    alive: bool
    detail: str = Field(description="What was checked and what it answered.")


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
    parts: dict[str, PartOut] = Field(
        default_factory=dict,
        description="database, scheduler, engine, storage: whether each is alive, and why.",
    )


def _scheduler(db: Session) -> PartOut:
    try:
        lease = db.scalars(select(SchedulerLease).where(SchedulerLease.name == "scheduler")).first()
    except DBAPIError as exc:  # a database not migrated yet: say so, do not fail the check
        db.rollback()
        return PartOut(
            alive=False,
            detail=f"cannot read the scheduler lease ({type(exc.orig).__name__}): "
            "is the database migrated? (`hyperloop db upgrade`)",
        )
    if lease is None or lease.holder is None or lease.expires_at is None:
        return PartOut(alive=False, detail="no scheduler holds the lease")
    expires = lease.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    until = expires.strftime("%H:%M:%S UTC")
    if expires < datetime.now(UTC):
        return PartOut(alive=False, detail=f"lease of {lease.holder} expired at {until}")
    return PartOut(alive=True, detail=f"{lease.holder} holds the lease until {until}")


def _engine(settings: Settings, scheduler: PartOut) -> PartOut:
    address = settings.dask_scheduler_address
    if not address:
        return PartOut(
            alive=scheduler.alive, detail="embedded Dask cluster, inside the active scheduler"
        )
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parsed.hostname or "", parsed.port or 8786), timeout=2):
            return PartOut(alive=True, detail=f"Dask scheduler {address} answers")
    except OSError as exc:
        return PartOut(alive=False, detail=f"Dask scheduler {address}: {exc}")


def _storage(settings: Settings) -> PartOut:
    from hyperloop.grid import store
    from hyperloop.scheduler.service import storage_location

    where = storage_location(settings)
    with _storage_lock:
        seen = _storage_seen.get(where)
        if seen is not None and time.monotonic() - seen[0] < STORAGE_TTL_S:
            return seen[1]
        try:
            part = PartOut(alive=True, detail=store.reachable(where))
        except OSError as exc:
            part = PartOut(alive=False, detail=str(exc)[:300])
        _storage_seen[where] = (time.monotonic(), part)
        return part


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Server and database are alive; which parts of the system are",
)
def health(db: DB, settings: SettingsDep) -> HealthOut:
    db.execute(text("SELECT 1"))
    dialect = db.get_bind().dialect.name
    scheduler = _scheduler(db)
    parts = {
        "database": PartOut(alive=True, detail=f"{dialect} answers"),
        "scheduler": scheduler,
        "engine": _engine(settings, scheduler),
        "storage": _storage(settings),
    }
    return HealthOut(status="ok", version=__version__, database=dialect, parts=parts)
