"""fair-usage policy: approvals of train runs (tier, who, when) and the operator's request to
submit a train at its dataset's next automatic submission time

Revision ID: 0019_train_policy
Revises: 0018_derived_schedule
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hyperloop.db.base

revision = "0019_train_policy"
down_revision = "0018_derived_schedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "train_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_train_approvals_approved_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["train_run_id"],
            ["train_runs.id"],
            name=op.f("fk_train_approvals_train_run_id_train_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_train_approvals")),
    )
    op.create_index(
        op.f("ix_train_approvals_train_run_id"), "train_approvals", ["train_run_id"], unique=False
    )
    # a plain nullable column: no batch rebuild of train_runs (its change triggers stay)
    op.add_column(
        "train_runs",
        sa.Column(
            "submit_requested_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    op.drop_column("train_runs", "submit_requested_at")  # native DROP COLUMN: no rebuild
    op.drop_index(op.f("ix_train_approvals_train_run_id"), table_name="train_approvals")
    op.drop_table("train_approvals")
