"""derived output deletion: when (and by whom) a derived-data train's output was deleted,
by an operator when unused or by the slim-output expiry

Revision ID: 0005_derived_output_deletion
Revises: 0004_final_merge_request
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hyperloop.db.base

revision = "0005_derived_output_deletion"
down_revision = "0004_final_merge_request"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("train_runs", schema=None) as batch:
        batch.add_column(
            sa.Column(
                "output_deleted_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("output_deleted_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_train_runs_output_deleted_by_id_users"),
            "users",
            ["output_deleted_by_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("train_runs", schema=None) as batch:
        batch.drop_constraint(op.f("fk_train_runs_output_deleted_by_id_users"), type_="foreignkey")
        batch.drop_column("output_deleted_by_id")
        batch.drop_column("output_deleted_at")
