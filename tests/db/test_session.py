"""Engine factory: SQLite runs in WAL mode with foreign keys enforced."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hyperloop.db.models import Wagon
from hyperloop.db.session import make_engine, make_sessionmaker


def test_sqlite_file_gets_wal_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'h.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "sub" / "h.db").exists()


def test_foreign_keys_are_enforced_on_every_backend(db_engine):
    with make_sessionmaker(db_engine)() as s:
        s.add(Wagon(analysis_id=12345, name="w", workflow="x", base_config={}, subwagons={}))
        with pytest.raises(IntegrityError):
            s.flush()
