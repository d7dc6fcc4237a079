"""dashboard per-day totals: done / failed jobs, CPU and jobs per site of each stored day in
``dashboard_days``, CPU per analysis and day in ``dashboard_analysis_days`` (a year reads
366 rows and a grouped sum, not every train's rows), and an index on dashboard_job_days
(train_run_id, day)

Revision ID: 0007_dashboard_day_totals
Revises: 0006_dashboard_daily
Create Date: 2026-11-29

The days stored before have no totals: their markers are dropped (the dashboard refills).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_dashboard_day_totals"
down_revision = "0006_dashboard_daily"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.execute("DELETE FROM dashboard_days")
    # plain ADD / DROP COLUMN (no SQLite table rebuild: the triggers on jobs name this table)
    op.add_column(
        "dashboard_days", sa.Column("n_done", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "dashboard_days", sa.Column("n_failed", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "dashboard_days", sa.Column("cpu_s", sa.Float(), server_default="0", nullable=False)
    )
    op.add_column("dashboard_days", sa.Column("sites", _json(), nullable=True))
    op.create_table(
        "dashboard_analysis_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("cpu_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "analysis_id", name=op.f("pk_dashboard_analysis_days")),
    )
    op.create_index(
        "ix_dashboard_job_days_train_day", "dashboard_job_days", ["train_run_id", "day"]
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_job_days_train_day", table_name="dashboard_job_days")
    op.drop_table("dashboard_analysis_days")
    for name in ("sites", "cpu_s", "n_failed", "n_done"):
        op.drop_column("dashboard_days", name)
