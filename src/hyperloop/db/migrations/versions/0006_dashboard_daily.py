"""dashboard per-day job figures: dashboard_days (closed UTC days whose figures are stored),
dashboard_job_days (final jobs per train and day), triggers on jobs that drop a day's marker
when a job row enters or leaves it, an index on jobs.updated_at and two covering indexes
on train_runs (submitted_at, finished_at)

Revision ID: 0006_dashboard_daily
Revises: 0005_derived_output_deletion
Create Date: 2026-11-29

The trigger statements are copied from hyperloop.db.models.dashboard (frozen here). On
SQLite a later batch rebuild of ``jobs`` drops the triggers: such a migration must create
them again (the dashboard counts everything live while they are missing).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hyperloop.db.base

revision = "0006_dashboard_daily"
down_revision = "0005_derived_output_deletion"
branch_labels = None
depends_on = None

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
TRIGGERS = ("trg_jobs_dashboard_ins", "trg_jobs_dashboard_upd", "trg_jobs_dashboard_del")
FUNCTIONS = ("hl_dashboard_invalidate",)


def upgrade() -> None:
    op.create_table(
        "dashboard_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("filled_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_dashboard_days")),
    )
    op.create_table(
        "dashboard_job_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("n_done", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("cpu_s", sa.Float(), nullable=False),
        sa.Column(
            "sites",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("day", "train_run_id", name=op.f("pk_dashboard_job_days")),
    )
    # the jobs of one day (filling a day, the open parts of an interval)
    op.create_index("ix_jobs_updated_at", "jobs", ["updated_at"])
    # the interval's active / finished trains read from the index alone
    op.create_index(
        "ix_train_runs_submitted_finished", "train_runs", ["submitted_at", "finished_at"]
    )
    op.create_index(
        "ix_train_runs_finished_state", "train_runs", ["finished_at", "state", "submitted_at"]
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for sql in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON jobs" if postgres else ""))
    if postgres:
        for name in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_train_runs_finished_state", table_name="train_runs")
    op.drop_index("ix_train_runs_submitted_finished", table_name="train_runs")
    op.drop_index("ix_jobs_updated_at", table_name="jobs")
    op.drop_table("dashboard_job_days")
    op.drop_table("dashboard_days")
