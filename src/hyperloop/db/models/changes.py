"""Change counters for read caches: database triggers bump a counter in the same transaction
as every write that changes what a cached view shows, by any code path or process.

The ``grid`` counter covers the My Analyses grid (analyses, membership, wagons, enablings,
wagon tests, datasets, train runs and their wagons for the slots, targets). A reader reads the
counter *before* the data: a cached copy made under counter value ``n`` is current while the
counter still reads ``n``. ``epoch`` is random per database (a rebuilt or copied-then-reset
database never reuses an old (epoch, n) pair). Columns that the grid does not show are left
out of the update triggers (editing a wagon's configuration does not invalidate it).

PostgreSQL: deferred constraint triggers, so the counter row is locked only while the
transaction commits (writers do not queue behind one another for their whole transaction,
and no lock-order deadlock can involve it); one bump per transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from hyperloop.db.base import Base

GRID = "grid"

#: table -> columns whose update changes the grid (None: any update); inserts and deletes
#: always count. The migration 0008 copies this (migrations stay frozen; keep both in step).
GRID_WATCH: dict[str, tuple[str, ...] | None] = {
    "analyses": None,
    "analysis_members": None,
    "analysis_datasets": None,
    "datasets": ("name", "active", "slots_per_week"),
    "wagons": ("analysis_id", "name", "workflow", "disabled_reason"),
    "wagon_datasets": ("wagon_id", "dataset_id", "enabled", "tag_policy", "disabled_reason"),
    "wagon_tests": ("wagon_id", "dataset_id", "status", "superseded"),
    "train_runs": ("dataset_id", "target_id", "state", "composed_at"),
    "train_run_wagons": None,
    "targets": ("cores",),
}


class ChangeCounter(Base):
    """One named counter (``grid``) bumped by triggers; (epoch, n) is a cache version."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(BigInteger, default=0)


def _update_of(columns: tuple[str, ...] | None) -> str:
    return f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"


def sqlite_trigger_statements(watch: dict[str, tuple[str, ...] | None]) -> list[str]:
    """Row triggers (SQLite has no others); a single writer at a time, so no contention."""
    bump = f"UPDATE change_counters SET n = n + 1 WHERE name = '{GRID}';"
    out = []
    for table, columns in watch.items():
        for suffix, when in (("ins", "INSERT"), ("upd", _update_of(columns)), ("del", "DELETE")):
            out.append(
                f"CREATE TRIGGER IF NOT EXISTS trg_grid_{table}_{suffix} AFTER {when} "
                f"ON {table} BEGIN {bump} END"
            )
    return out


#: the function bumps once per transaction (a transaction-local flag), at commit time
POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION hl_grid_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF current_setting('hyperloop.grid_changed', true) IS DISTINCT FROM 'y' THEN "
    "PERFORM set_config('hyperloop.grid_changed', 'y', true); "
    f"UPDATE change_counters SET n = n + 1 WHERE name = '{GRID}'; "
    "END IF; RETURN NULL; END $$"
)


def postgres_trigger_statements(watch: dict[str, tuple[str, ...] | None]) -> list[str]:
    out = [POSTGRES_FUNCTION]
    for table, columns in watch.items():
        out.append(f"DROP TRIGGER IF EXISTS trg_grid_{table} ON {table}")
        out.append(
            f"CREATE CONSTRAINT TRIGGER trg_grid_{table} "
            f"AFTER INSERT OR DELETE OR {_update_of(columns)} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hl_grid_changed()"
        )
    return out


def trigger_names(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [f"trg_grid_{t}" for t in GRID_WATCH]
    return [f"trg_grid_{t}_{s}" for t in GRID_WATCH for s in ("ins", "upd", "del")]


def ensure_counter(conn: Connection, name: str = GRID) -> None:
    """Insert the counter row with a fresh random epoch unless it exists."""
    exists = conn.execute(
        text("SELECT 1 FROM change_counters WHERE name = :name"), {"name": name}
    ).first()
    if exists is None:
        conn.execute(
            text("INSERT INTO change_counters (name, epoch, n) VALUES (:name, :epoch, 0)"),
            {"name": name, "epoch": uuid.uuid4().hex},
        )


def create_change_triggers(conn: Connection) -> None:
    """Create the grid triggers and the counter row (idempotent)."""
    postgres = conn.dialect.name == "postgresql"
    statements = postgres_trigger_statements if postgres else sqlite_trigger_statements
    for sql in statements(GRID_WATCH):
        conn.execute(text(sql))
    ensure_counter(conn)


def change_triggers_present(conn: Connection) -> bool:
    """Whether every grid trigger exists (a SQLite batch rebuild of a table drops its
    triggers; without them a cache keyed on the counter would go stale)."""
    names = trigger_names(conn.dialect.name)
    if conn.dialect.name == "postgresql":
        sql = "SELECT count(*) FROM pg_trigger WHERE tgname IN :names AND tgenabled <> 'D'"
    else:
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names"
    stmt = text(sql).bindparams(bindparam("names", expanding=True))
    return conn.execute(stmt, {"names": names}).scalar() == len(names)


def read_counter(conn: Connection, name: str = GRID) -> tuple[str, int] | None:
    """(epoch, n) of a counter, or None when its row is missing."""
    row = conn.execute(
        text("SELECT epoch, n FROM change_counters WHERE name = :name"), {"name": name}
    ).first()
    return (str(row[0]), int(row[1])) if row else None


# ------------------------------------------------------------------ job changes
#
# The scheduler's snapshot reads the jobs of its trains once and then only the jobs changed
# since its last tick (hyperloop.scheduler.readers.JobViews). Every insert of a job and
# every update of a column the snapshot reads stamps the row's ``change_seq`` (a trigger,
# so no code path or process can forget it); every delete (and PostgreSQL's TRUNCATE)
# bumps the ``jobs_deleted`` counter. A reader takes a watermark *before* it reads; the
# next read takes the rows with ``change_seq >= watermark`` (a missing trigger or counter
# row makes the reader read everything):
#
# - SQLite has one writer at a time: a counter ``jobs`` handed out per row in commit order;
#   the watermark is the committed counter + 1.
# - PostgreSQL: the row gets its writing transaction's id (``pg_current_xact_id``); the
#   watermark is the reader's snapshot: its xmax and the transactions it sees in progress
#   (``pg_snapshot_xip``). A write not yet visible to a read comes from a transaction in
#   progress or not begun when the watermark was taken, so its id is in that list or
#   >= xmax: a change committed late is never skipped (rows may be read twice: harmless).

JOB_SEQ = "jobs"
JOB_DELETES = "jobs_deleted"
#: the columns of ``jobs`` the scheduler's snapshot reads (the migration 0010 copies them)
JOB_WATCH = ("train_run_id", "run_number", "state", "attempts", "target")

_SQLITE_STAMP = (
    f"UPDATE change_counters SET n = n + 1 WHERE name = '{JOB_SEQ}'; "
    "UPDATE jobs SET change_seq = COALESCE("
    f"(SELECT n FROM change_counters WHERE name = '{JOB_SEQ}'), 0) WHERE id = NEW.id;"
)
_DELETE_BUMP = f"UPDATE change_counters SET n = n + 1 WHERE name = '{JOB_DELETES}';"


def job_trigger_statements(dialect: str) -> list[str]:
    """The job triggers of ``dialect`` (idempotent statements)."""
    cols = ", ".join(JOB_WATCH)
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION hl_job_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN NEW.change_seq := pg_current_xact_id()::text::bigint; RETURN NEW; END $$",
            "CREATE OR REPLACE FUNCTION hl_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_DELETE_BUMP} RETURN NULL; END $$",
            "DROP TRIGGER IF EXISTS trg_jobs_stamp ON jobs",
            f"CREATE TRIGGER trg_jobs_stamp BEFORE INSERT OR UPDATE OF {cols} ON jobs "
            "FOR EACH ROW EXECUTE FUNCTION hl_job_stamp()",
            "DROP TRIGGER IF EXISTS trg_jobs_deleted ON jobs",
            "CREATE TRIGGER trg_jobs_deleted AFTER DELETE OR TRUNCATE ON jobs "
            "FOR EACH STATEMENT EXECUTE FUNCTION hl_jobs_deleted()",
        ]
    return [
        f"CREATE TRIGGER IF NOT EXISTS trg_jobs_stamp_ins AFTER INSERT ON jobs "
        f"BEGIN {_SQLITE_STAMP} END",
        f"CREATE TRIGGER IF NOT EXISTS trg_jobs_stamp_upd AFTER UPDATE OF {cols} ON jobs "
        f"BEGIN {_SQLITE_STAMP} END",
        f"CREATE TRIGGER IF NOT EXISTS trg_jobs_deleted AFTER DELETE ON jobs "
        f"BEGIN {_DELETE_BUMP} END",
    ]


def job_trigger_names(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ["trg_jobs_stamp", "trg_jobs_deleted"]
    return ["trg_jobs_stamp_ins", "trg_jobs_stamp_upd", "trg_jobs_deleted"]


def create_job_triggers(conn: Connection) -> None:
    """Create the job triggers and their counter rows (idempotent)."""
    ensure_counter(conn, JOB_SEQ)
    ensure_counter(conn, JOB_DELETES)
    for sql in job_trigger_statements(conn.dialect.name):
        conn.execute(text(sql))


def job_triggers_present(conn: Connection) -> bool:
    """Whether every job trigger exists (a SQLite batch rebuild of ``jobs`` drops them)."""
    names = job_trigger_names(conn.dialect.name)
    if conn.dialect.name == "postgresql":
        sql = "SELECT count(*) FROM pg_trigger WHERE tgname IN :names AND tgenabled <> 'D'"
    else:
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN :names"
    stmt = text(sql).bindparams(bindparam("names", expanding=True))
    return conn.execute(stmt, {"names": names}).scalar() == len(names)


def job_counters(conn: Connection) -> tuple[str, int] | None:
    """(epoch, n) of the delete counter; None (after creating them) when a job counter row
    was missing (a test emptied the table): whatever was stamped meanwhile is suspect."""
    stmt = text("SELECT name, epoch, n FROM change_counters WHERE name IN :names")
    stmt = stmt.bindparams(bindparam("names", expanding=True))
    rows = {
        r[0]: (str(r[1]), int(r[2])) for r in conn.execute(stmt, {"names": [JOB_SEQ, JOB_DELETES]})
    }
    if len(rows) < 2:
        ensure_counter(conn, JOB_SEQ)
        ensure_counter(conn, JOB_DELETES)
        return None
    return rows[JOB_DELETES]


def job_watermark(conn: Connection) -> tuple[int, tuple[int, ...]]:
    """(mark, pending), read before the jobs: every job change not visible to a later read
    has ``change_seq >= mark`` or ``change_seq in pending``. PostgreSQL: the snapshot's
    xmax and its transactions in progress (a transaction left open elsewhere does not
    widen the next read); SQLite: the committed counter + 1, nothing pending."""
    if conn.dialect.name == "postgresql":
        sql = (
            "SELECT pg_snapshot_xmax(s)::text::bigint, "
            "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x) "
            "FROM (SELECT pg_current_snapshot() AS s) AS q"
        )
        xmax, xip = conn.execute(text(sql)).one()
        return int(xmax), tuple(sorted(int(x) for x in xip or ()))
    row = read_counter(conn, JOB_SEQ)
    return (row[1] if row else 0) + 1, ()


@event.listens_for(Base.metadata, "after_create")
def _triggers_after_create_all(target: Any, connection: Connection, **kw: Any) -> None:
    """``create_all`` (tests, fresh databases) gets the triggers as the migrations do."""
    created = kw.get("tables")
    names = {t.name for t in created} if created is not None else set(target.tables)
    if {"change_counters", *GRID_WATCH} <= names:
        create_change_triggers(connection)
    if {"change_counters", "jobs"} <= names:
        create_job_triggers(connection)
