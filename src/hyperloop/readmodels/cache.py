"""Per-process cache of read models, versioned by a database change counter
(:mod:`hyperloop.db.models.changes`): correct across server processes and any writer.

A cached value is served while the counter still has the value read *before* the value was
computed, the caller-supplied rights key is unchanged and its optional expiry time has not
passed (time-dependent content, e.g. slots over a rolling week). Nothing is cached when the
database lacks the triggers, or from a transaction that has written (its changes may still
roll back), so a stale page can only come from a write that bypasses the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hyperloop.db.base import utcnow
from hyperloop.db.models.changes import GRID, change_triggers_present, ensure_counter

MAX_ENTRIES = 512  # per engine: one per user and variant (a heavy user's grid is ~130 kB)

_TOKEN_PG = text(
    "SELECT epoch, n, pg_current_xact_id_if_assigned() IS NOT NULL "
    "FROM change_counters WHERE name = :name"
)
_TOKEN_SQLITE = text("SELECT epoch, n FROM change_counters WHERE name = :name")


@dataclass
class Entry:
    """A cached value: the counter it was computed under, rights key, expiry, value."""

    token: tuple[str, int]
    rights: Hashable
    expires: datetime | None
    value: Any


@dataclass
class _EngineCache:
    triggers_ok: bool | None = None
    entries: OrderedDict[Hashable, Entry] = field(default_factory=OrderedDict)


@dataclass
class CacheStats:
    """Counts since start (tests and the benchmark read them)."""

    hits: int = 0
    misses: int = 0
    uncacheable: int = 0


class VersionedCache:
    """Values keyed per engine (each database its own cache) and per caller key."""

    def __init__(self, counter: str = GRID, max_entries: int = MAX_ENTRIES) -> None:
        self.counter = counter
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._engines: WeakKeyDictionary[Engine, _EngineCache] = WeakKeyDictionary()

    def _state(self, engine: Engine) -> _EngineCache:
        with self._lock:
            state = self._engines.get(engine)
            if state is None:
                state = self._engines[engine] = _EngineCache()
        return state

    def token(self, s: Session) -> tuple[str, int] | None:
        """The counter, read now through the session (before the data it versions), or None
        when nothing may be cached (no triggers, no counter row, or the transaction wrote).
        Only reads through the session: it may hold the only connection (in-memory SQLite)."""
        conn = s.connection()
        state = self._state(conn.engine)
        if state.triggers_ok is None:  # once per engine (a catalogue query, never fails)
            state.triggers_ok = change_triggers_present(conn)
        if not state.triggers_ok:
            return None
        if conn.dialect.name == "postgresql":
            row = conn.execute(_TOKEN_PG, {"name": self.counter}).first()
            wrote = bool(row[2]) if row else False
        else:
            row = conn.execute(_TOKEN_SQLITE, {"name": self.counter}).first()
            wrote = bool(getattr(conn.connection.dbapi_connection, "in_transaction", True))
        if row is None:
            self._recreate_counter(conn.engine)
            return None
        return None if wrote else (str(row[0]), int(row[1]))

    def _recreate_counter(self, engine: Engine) -> None:
        """The counter row is gone (tests empty every table): insert it again, with a new
        epoch, in its own transaction (PostgreSQL only: on SQLite the request's transaction
        may hold the write lock; the migrations and ``create_all`` always insert it)."""
        if engine.dialect.name != "postgresql":
            return
        try:
            with engine.begin() as conn:
                ensure_counter(conn, self.counter)
        except IntegrityError:  # another server inserted it meanwhile
            pass

    def lookup(
        self, engine: Engine, key: Hashable, token: tuple[str, int], rights: Hashable = None
    ) -> Entry | None:
        """The cached entry of ``key`` if current under ``token`` (see :meth:`token`)."""
        state = self._state(engine)
        with self._lock:
            entry = state.entries.get(key)
            if entry is not None and self._fresh(entry, token, rights):
                state.entries.move_to_end(key)
                self.stats.hits += 1
                return entry
        self.stats.misses += 1
        return None

    def store(self, engine: Engine, key: Hashable, entry: Entry) -> None:
        """Keep ``entry`` (unless a newer one of the same key is there), oldest out first."""
        state = self._state(engine)
        token = entry.token
        with self._lock:
            old = state.entries.get(key)
            if old is None or old.token[0] != token[0] or old.token[1] <= token[1]:
                state.entries[key] = entry
                state.entries.move_to_end(key)
                while len(state.entries) > self.max_entries:
                    state.entries.popitem(last=False)

    def get_or_compute(
        self,
        s: Session,
        key: Hashable,
        rights: Hashable,
        compute: Callable[[], tuple[Any, datetime | None]],
    ) -> Entry:
        """The entry of ``key``, computed by ``compute() -> (value, expires)`` unless a current
        one is cached (same counter, same ``rights``, not expired). Values are shared between
        threads: store immutable ones (e.g. the serialised bytes)."""
        token = self.token(s)
        engine = s.connection().engine
        if token is None:
            self.stats.uncacheable += 1
            value, expires = compute()
            return Entry(("", -1), rights, expires, value)
        entry = self.lookup(engine, key, token, rights)
        if entry is None:
            value, expires = compute()
            entry = Entry(token, rights, expires, value)
            self.store(engine, key, entry)
        return entry

    @staticmethod
    def _fresh(entry: Entry, token: tuple[str, int], rights: Hashable) -> bool:
        if entry.token != token or entry.rights != rights:
            return False
        return entry.expires is None or utcnow() < entry.expires

    def clear(self) -> None:
        with self._lock:
            self._engines.clear()
