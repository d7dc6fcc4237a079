"""Login sessions kept on the server: created at login, checked on every request, ended by
logout, a password or role change, idle expiry or old age.

The browser holds a random key; only its SHA-256 hash is stored, so a copy of the database
cannot be replayed as a cookie.  ``last_seen_at`` is written at most once a minute, so an
active session does not turn every read into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hyperloop.db.base import utcnow
from hyperloop.db.models import LoginSession, User

SEEN_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionLimits:
    """How long a session lives at most, and unused."""

    max_age: timedelta
    idle: timedelta


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(
    s: Session, user: User, *, method: str = "password", impersonate: User | None = None
) -> tuple[LoginSession, str]:
    """A new session of ``user``; returns the record and the key for the cookie (once)."""
    key = secrets.token_urlsafe(32)
    record = LoginSession(
        key_hash=_hash(key),
        user_id=user.id,
        impersonate_user_id=impersonate.id if impersonate is not None else None,
        method=method,
    )
    s.add(record)
    s.flush()
    return record, key


def find(
    s: Session, key: str, limits: SessionLimits, now: datetime | None = None
) -> LoginSession | None:
    """The live session of ``key``, or None when unknown, ended, idle too long or too old.
    A session found idle or too old is ended on the way."""
    record = s.scalar(select(LoginSession).where(LoginSession.key_hash == _hash(key)))
    if record is None or record.ended_at is not None:
        return None
    now = now or utcnow()
    if now - record.created_at > limits.max_age:
        _end(record, now, "expired")
        return None
    if now - record.last_seen_at > limits.idle:
        _end(record, now, "idle")
        return None
    if now - record.last_seen_at > SEEN_PRECISION:
        record.last_seen_at = now
    return record


def _end(record: LoginSession, now: datetime, reason: str) -> None:
    record.ended_at = now
    record.end_reason = reason


def end(s: Session, key: str, reason: str = "logout") -> bool:
    """End the session of ``key``; False when there was no live one."""
    record = s.scalar(select(LoginSession).where(LoginSession.key_hash == _hash(key)))
    if record is None or record.ended_at is not None:
        return False
    _end(record, utcnow(), reason)
    s.flush()
    return True


def end_all(s: Session, user_id: int, reason: str) -> int:
    """End every live session of a user (password or role change); returns how many."""
    result = s.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0
