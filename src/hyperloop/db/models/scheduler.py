"""The scheduler lease: one row per lease name saying who may act and until when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hyperloop.db.base import Base


class SchedulerLease(Base):
    """Only the holder of an unexpired lease acts; ``epoch`` grows at every change of holder
    (a fencing token: work stamped with an older epoch came from a deposed scheduler)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(255), default=None)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # the holder's last step: how long it took and when it ended (metrics, written with
    # each renewal)
    last_tick_s: Mapped[float | None] = mapped_column(Float, default=None)
    last_tick_at: Mapped[datetime | None] = mapped_column(default=None)
