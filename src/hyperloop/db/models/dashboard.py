"""The dashboard's per-day job figures of closed UTC days (filled on demand, read-only cache).

A day's figures count the jobs whose *last update* (``jobs.updated_at``) falls on that day
and whose state is final. That is not immutable: a resubmitted job leaves its old day, a
job written with an older ``updated_at`` lands on a past one. Database triggers on ``jobs``
therefore delete the marker (:class:`DashboardDay`) of every day a job row enters or leaves
(insert, update, delete, by any code path); the dashboard refills unmarked days.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Index, Integer, bindparam, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from hyperloop.db.base import Base, JSONType, utcnow


class DashboardDay(Base):
    """A closed UTC day whose rows in ``dashboard_job_days`` are complete and current, with
    their sums over all trains (what a long interval reads instead of the rows): done /
    failed jobs, CPU seconds and jobs per site (the CPU per analysis is in
    :class:`DashboardAnalysisDay`)."""

    __tablename__ = "dashboard_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    filled_at: Mapped[datetime] = mapped_column(default=utcnow)
    n_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    n_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    sites: Mapped[dict[str, int] | None] = mapped_column(JSONType, default=dict)


class DashboardAnalysisDay(Base):
    """CPU seconds of one analysis on one stored day: each train's CPU of the day shared in
    proportion to its wagons (valid while the day is marked in :class:`DashboardDay`)."""

    __tablename__ = "dashboard_analysis_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)


class DashboardJobDay(Base):
    """Final jobs of one train last updated on one UTC day: done / failed counts, CPU
    seconds and jobs per site (``{"site": n}``, None as ``"unknown"``). No foreign key: rows
    of a deleted train are dropped by the join with ``train_runs`` (and its jobs' delete
    triggers invalidate the day)."""

    __tablename__ = "dashboard_job_days"
    # the days of one train (the trains of an analysis with figures in an interval)
    __table_args__ = (Index("ix_dashboard_job_days_train_day", "train_run_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    train_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_done: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    sites: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)


# --------------------------------------------------------------------- invalidation triggers
# The same statements are in migration 0006 (migrations stay frozen; keep both in step).
TRIGGER_NAMES = ("trg_jobs_dashboard_ins", "trg_jobs_dashboard_upd", "trg_jobs_dashboard_del")

SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS trg_jobs_dashboard_ins AFTER INSERT ON jobs "
    "WHEN date(NEW.updated_at) < date('now') BEGIN "
    "DELETE FROM dashboard_days WHERE day = date(NEW.updated_at); END",
    "CREATE TRIGGER IF NOT EXISTS trg_jobs_dashboard_upd AFTER UPDATE ON jobs "
    "WHEN date(OLD.updated_at) < date('now') OR date(NEW.updated_at) < date('now') BEGIN "
    "DELETE FROM dashboard_days WHERE day IN (date(OLD.updated_at), date(NEW.updated_at)); END",
    "CREATE TRIGGER IF NOT EXISTS trg_jobs_dashboard_del AFTER DELETE ON jobs "
    "WHEN date(OLD.updated_at) < date('now') BEGIN "
    "DELETE FROM dashboard_days WHERE day = date(OLD.updated_at); END",
)
# row-level, but the function only runs (WHEN, checked in C) for a row whose old or new
# update time lies before today (UTC): only such days can have stored figures. "Today" is
# taken one hour ahead, so that a transaction still open an hour after midnight is seen
# (a fill waits for it) however late in the day it began
_PG_TODAY = "((clock_timestamp() + interval '1 hour') AT TIME ZONE 'UTC')::date"
POSTGRES_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION hl_dashboard_invalidate() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP <> 'INSERT' THEN DELETE FROM dashboard_days "
    "WHERE day = (OLD.updated_at AT TIME ZONE 'UTC')::date; END IF; "
    "IF TG_OP <> 'DELETE' THEN DELETE FROM dashboard_days "
    "WHERE day = (NEW.updated_at AT TIME ZONE 'UTC')::date; END IF; "
    "RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER trg_jobs_dashboard_ins AFTER INSERT ON jobs FOR EACH ROW "
    f"WHEN ((NEW.updated_at AT TIME ZONE 'UTC')::date < {_PG_TODAY}) "
    "EXECUTE FUNCTION hl_dashboard_invalidate()",
    "CREATE OR REPLACE TRIGGER trg_jobs_dashboard_upd AFTER UPDATE ON jobs FOR EACH ROW "
    f"WHEN ((OLD.updated_at AT TIME ZONE 'UTC')::date < {_PG_TODAY} "
    f"OR (NEW.updated_at AT TIME ZONE 'UTC')::date < {_PG_TODAY}) "
    "EXECUTE FUNCTION hl_dashboard_invalidate()",
    "CREATE OR REPLACE TRIGGER trg_jobs_dashboard_del AFTER DELETE ON jobs FOR EACH ROW "
    f"WHEN ((OLD.updated_at AT TIME ZONE 'UTC')::date < {_PG_TODAY}) "
    "EXECUTE FUNCTION hl_dashboard_invalidate()",
)


def create_dashboard_triggers(conn: Connection) -> None:
    """Create the invalidation triggers on ``jobs`` (idempotent)."""
    statements = POSTGRES_TRIGGERS if conn.dialect.name == "postgresql" else SQLITE_TRIGGERS
    for sql in statements:
        conn.execute(text(sql))


def dashboard_triggers_present(conn: Connection) -> bool:
    """Whether all three triggers exist (a SQLite batch rebuild of ``jobs`` drops them)."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT count(*) FROM pg_trigger WHERE tgname IN :names AND NOT tgisinternal"
    else:
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names"
    stmt = text(sql).bindparams(bindparam("names", expanding=True))
    return conn.execute(stmt, {"names": list(TRIGGER_NAMES)}).scalar() == len(TRIGGER_NAMES)


@event.listens_for(Base.metadata, "after_create")
def _triggers_after_create_all(target: Any, connection: Connection, **kw: Any) -> None:
    """``create_all`` (tests, fresh databases) gets the triggers as the migrations do."""
    created = kw.get("tables")
    names = {t.name for t in created} if created is not None else set(target.tables)
    if {"jobs", "dashboard_days"} <= names:
        create_dashboard_triggers(connection)
