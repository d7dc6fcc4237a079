"""Only one active scheduler: a lease row in the database, taken and renewed by one atomic
UPDATE that succeeds only for the current holder or once the lease has expired.

A scheduler killed at any moment stops renewing; ``ttl`` later another one takes over
(and the ``epoch`` fencing token grows). The conditional UPDATE is atomic on SQLite (one
writer) and on PostgreSQL (the row lock re-checks the WHERE clause under READ COMMITTED),
so two schedulers racing for an expired lease cannot both win. Times come from the
caller's clock (tests inject ``now``); hosts sharing a lease need synchronised clocks,
with ``ttl`` well above their skew.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hyperloop.db.models import SchedulerLease

DEFAULT_TTL = timedelta(seconds=30)


def default_holder() -> str:
    """A name unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str | None
    epoch: int
    expires_at: datetime | None


class Lease:
    """The lease ``name`` as seen by ``holder``; ``acquire()`` also renews."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        holder: str | None = None,
        *,
        ttl: timedelta = DEFAULT_TTL,
        name: str = "scheduler",
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"lease {name!r}: ttl must be positive, got {ttl}")
        self.sessions = sessions
        self.holder = holder or default_holder()
        self.ttl = ttl
        self.name = name
        # (seconds, when) of the holder's last step, written with the next renewal
        self.last_tick: tuple[float, datetime] | None = None

    def _ensure_row(self) -> None:
        with self.sessions() as s:
            try:
                with s.begin():
                    if s.get(SchedulerLease, self.name) is None:
                        s.add(SchedulerLease(name=self.name, holder=None, epoch=0))
            except IntegrityError:
                pass  # another scheduler created it first

    def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease until ``now + ttl``; False while another holder's lease
        is unexpired."""
        now = now or datetime.now(UTC)
        self._ensure_row()
        tick = {}
        if self.last_tick is not None:  # the holder's last step, for the metrics
            tick = {"last_tick_s": self.last_tick[0], "last_tick_at": self.last_tick[1]}
        t = SchedulerLease
        mine = t.holder == self.holder
        stmt = (
            update(t)
            .where(t.name == self.name)
            .where(or_(mine, t.holder.is_(None), t.expires_at.is_(None), t.expires_at < now))
            .values(
                holder=self.holder,
                expires_at=now + self.ttl,
                # a change of holder: new epoch (fencing token) and acquisition time
                epoch=case((mine, t.epoch), else_=t.epoch + 1),
                acquired_at=case((mine, t.acquired_at), else_=now),
                **tick,
            )
            .execution_options(synchronize_session=False)
        )
        with self.sessions() as s, s.begin():
            return s.execute(stmt).rowcount == 1

    renew = acquire

    def release(self) -> None:
        """Give the lease up (a clean shutdown): another scheduler may take it at once."""
        t = SchedulerLease
        with self.sessions() as s, s.begin():
            s.execute(
                update(t)
                .where(t.name == self.name, t.holder == self.holder)
                .values(holder=None, expires_at=None)
                .execution_options(synchronize_session=False)
            )

    def info(self) -> LeaseInfo | None:
        with self.sessions() as s:
            row = s.scalars(select(SchedulerLease).where(SchedulerLease.name == self.name)).first()
            if row is None:
                return None
            return LeaseInfo(row.name, row.holder, row.epoch, row.expires_at)

    def held(self, now: datetime | None = None) -> bool:
        """Whether this holder's lease is unexpired at ``now`` (a check, not a renewal)."""
        now = now or datetime.now(UTC)
        info = self.info()
        return bool(
            info and info.holder == self.holder and info.expires_at and info.expires_at > now
        )
