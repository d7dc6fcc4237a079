"""wagon_datasets: the settings of an operator's derived-data scheduling (train type, slow
train, automatic submission) for the automatic composition that takes the wagon

Revision ID: 0018_derived_schedule
Revises: 0016_tag_digest
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_derived_schedule"
down_revision = "0016_tag_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "wagon_datasets", sa.Column("scheduled_type", sa.String(length=32), nullable=True)
    )
    op.add_column(
        "wagon_datasets",
        sa.Column("scheduled_slow", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "wagon_datasets",
        sa.Column("scheduled_auto_submit", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("wagon_datasets") as batch:
        batch.drop_column("scheduled_auto_submit")
        batch.drop_column("scheduled_slow")
        batch.drop_column("scheduled_type")
