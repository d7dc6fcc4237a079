"""Throttling password guessing: failed logins are counted per username (existing or not, so
a refusal reveals nothing) and per client address; past a limit further logins are refused
for a delay that doubles with every further failure, up to a maximum.  Counters live in the
database, so every server process sees the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hyperloop.db.base import utcnow
from hyperloop.db.models import LoginFailures


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failures allowed per account and per address, first and longest delay."""

    account_failures: int
    address_failures: int
    delay: timedelta
    max_delay: timedelta


def account_key(username: str) -> str:
    return f"account:{username}"


def address_key(address: str | None) -> str:
    return f"address:{address or 'unknown'}"


def retry_after(s: Session, keys: list[str], now: datetime | None = None) -> int:
    """Seconds until a login for these keys is accepted again (0: now)."""
    now = now or utcnow()
    rows = s.scalars(select(LoginFailures).where(LoginFailures.key.in_(keys)))
    wait = max(
        ((row.locked_until - now).total_seconds() for row in rows if row.locked_until),
        default=0.0,
    )
    return max(0, math.ceil(wait))


def _insert(s: Session):
    dialect = s.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(LoginFailures)


def record_failure(
    s: Session, key: str, allowed: int, policy: ThrottlePolicy, now: datetime | None = None
) -> None:
    """Count one failed login for ``key``; past ``allowed`` failures lock it for a while."""
    now = now or utcnow()
    s.execute(
        _insert(s)
        .values(key=key, failures=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = s.scalar(
        select(LoginFailures)
        .where(LoginFailures.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None  # inserted above
    if now - row.last_failure_at > policy.max_delay:
        row.failures = 0  # old failures are forgotten
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= allowed:
        doublings = min(row.failures - allowed, 30)
        row.locked_until = now + min(policy.delay * 2**doublings, policy.max_delay)
    s.flush()


def record_success(s: Session, key: str) -> None:
    """A correct login clears the failures of its account (not those of its address)."""
    row = s.get(LoginFailures, key)
    if row is not None:
        s.delete(row)
        s.flush()


def clear(s: Session, key: str) -> bool:
    """Forget the failures of ``key`` (an admin unlocking an account); False if none."""
    row = s.get(LoginFailures, key)
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True
