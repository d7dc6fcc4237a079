"""final merge request: an operator's "final merge now" on a train run (when, by whom);
dashboard indexes on train_runs.finished_at, train_runs.submitted_at and
jobs(train_run_id, updated_at)

Revision ID: 0004_final_merge_request
Revises: 0003_perf_indexes
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hyperloop.db.base

revision = "0004_final_merge_request"
down_revision = "0003_perf_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("train_runs", schema=None) as batch:
        batch.add_column(
            sa.Column(
                "final_merge_requested_at",
                hyperloop.db.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("final_merge_requested_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_train_runs_final_merge_requested_by_id_users"),
            "users",
            ["final_merge_requested_by_id"],
            ["id"],
        )
        # the dashboard counts trains finished / submitted within an interval
        batch.create_index("ix_train_runs_finished_at", ["finished_at"], unique=False)
        batch.create_index("ix_train_runs_submitted_at", ["submitted_at"], unique=False)
    # the dashboard's recent job activity of each train
    op.create_index("ix_jobs_train_run_updated", "jobs", ["train_run_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_train_run_updated", table_name="jobs")
    with op.batch_alter_table("train_runs", schema=None) as batch:
        batch.drop_index("ix_train_runs_submitted_at")
        batch.drop_index("ix_train_runs_finished_at")
        batch.drop_constraint(
            op.f("fk_train_runs_final_merge_requested_by_id_users"), type_="foreignkey"
        )
        batch.drop_column("final_merge_requested_by_id")
        batch.drop_column("final_merge_requested_at")
