"""Engine and session factories; SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


#: connections kept open, and opened beyond them under a burst: the web server runs sync
#: endpoints in a pool of ``api_threads`` threads (8 by default, up to 40 sensible), so that
#: many requests hold a session at once, plus the scheduler's and other processes'. With
#: SQLAlchemy's default (5 + 10) concurrent clients made the pool close and reopen
#: connections all the time (a cold SQLite page cache, a PostgreSQL login each time).
POOL = {"pool_size": 20, "max_overflow": 20}


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; for a SQLite file its folder is created first."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            for key, value in POOL.items():
                kwargs.setdefault(key, value)
        engine = create_engine(url, echo=echo, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    for key, value in POOL.items():
        kwargs.setdefault(key, value)
    return create_engine(url, echo=echo, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (handy for returning results)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
