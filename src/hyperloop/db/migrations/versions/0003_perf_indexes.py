"""performance indexes: jobs by (train, run) for per-run merges; the composite
train_run_wagons analysis index also on databases created before it became composite

Revision ID: 0003_perf_indexes
Revises: 0003
Create Date: 2026-11-29

Chained after 0003 (job target) to keep a single head; it does not depend on it and may be
reordered directly after 0002.
"""

from __future__ import annotations

from alembic import op

revision = "0003_perf_indexes"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # per-run merges select the jobs of one run of one train (10 of ~1000 rows)
    op.create_index("ix_jobs_train_run_run", "jobs", ["train_run_id", "run_number"])
    # 0001 first created this index on analysis_id alone; databases migrated then keep the
    # single-column one (train lists filtered by analysis then scan, issue 4 notes item 14)
    op.drop_index("ix_train_run_wagons_analysis", table_name="train_run_wagons")
    op.create_index(
        "ix_train_run_wagons_analysis", "train_run_wagons", ["analysis_id", "train_run_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_train_run_run", table_name="jobs")
    # the composite analysis index is what 0001 creates now: left as it is
