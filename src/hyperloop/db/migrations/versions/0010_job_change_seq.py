"""job change stamps for the scheduler's incremental snapshot: ``jobs.change_seq`` (indexed),
set by triggers on every insert and on every update of the columns the snapshot reads, and
the ``jobs_deleted`` counter bumped by every delete (and PostgreSQL's TRUNCATE); SQLite also
gets the ``jobs`` counter that hands out the stamps

Revision ID: 0010_job_change_seq
Revises: 0009_login_sessions
Create Date: 2026-12-06

The trigger statements are copied from hyperloop.db.models.changes (frozen here). On SQLite
a later batch rebuild of ``jobs`` drops its triggers: such a migration must create them
again (until then the scheduler reads every job each tick: it checks the triggers).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0010_job_change_seq"
down_revision = "0009_login_sessions"
branch_labels = None
depends_on = None

COLS = "train_run_id, run_number, state, attempts, target"
STAMP = (
    "UPDATE change_counters SET n = n + 1 WHERE name = 'jobs'; "
    "UPDATE jobs SET change_seq = COALESCE("
    "(SELECT n FROM change_counters WHERE name = 'jobs'), 0) WHERE id = NEW.id;"
)
DELETE_BUMP = "UPDATE change_counters SET n = n + 1 WHERE name = 'jobs_deleted';"
POSTGRES = [
    "CREATE OR REPLACE FUNCTION hl_job_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN NEW.change_seq := pg_current_xact_id()::text::bigint; RETURN NEW; END $$",
    "CREATE OR REPLACE FUNCTION hl_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN {DELETE_BUMP} RETURN NULL; END $$",
    f"CREATE TRIGGER trg_jobs_stamp BEFORE INSERT OR UPDATE OF {COLS} ON jobs "
    "FOR EACH ROW EXECUTE FUNCTION hl_job_stamp()",
    "CREATE TRIGGER trg_jobs_deleted AFTER DELETE OR TRUNCATE ON jobs "
    "FOR EACH STATEMENT EXECUTE FUNCTION hl_jobs_deleted()",
]
SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS trg_jobs_stamp_ins AFTER INSERT ON jobs BEGIN {STAMP} END",
    f"CREATE TRIGGER IF NOT EXISTS trg_jobs_stamp_upd AFTER UPDATE OF {COLS} ON jobs "
    f"BEGIN {STAMP} END",
    f"CREATE TRIGGER IF NOT EXISTS trg_jobs_deleted AFTER DELETE ON jobs BEGIN {DELETE_BUMP} END",
]


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_index(op.f("ix_jobs_change_seq"), "jobs", ["change_seq"], unique=False)
    bind = op.get_bind()
    for name in ("jobs", "jobs_deleted"):
        bind.execute(
            sa.text("INSERT INTO change_counters (name, epoch, n) VALUES (:name, :epoch, 0)"),
            {"name": name, "epoch": uuid.uuid4().hex},
        )
    for sql in POSTGRES if bind.dialect.name == "postgresql" else SQLITE:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_jobs_stamp ON jobs")
        op.execute("DROP TRIGGER IF EXISTS trg_jobs_deleted ON jobs")
        op.execute("DROP FUNCTION IF EXISTS hl_job_stamp()")
        op.execute("DROP FUNCTION IF EXISTS hl_jobs_deleted()")
    else:
        for name in ("trg_jobs_stamp_ins", "trg_jobs_stamp_upd", "trg_jobs_deleted"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DELETE FROM change_counters WHERE name IN ('jobs', 'jobs_deleted')")
    op.drop_index(op.f("ix_jobs_change_seq"), table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("change_seq")
