"""scheduler lease: the duration of the holder's last step (metrics)

Revision ID: 0024_scheduler_tick
Revises: 0023_incremental_trains
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hyperloop.db.base

revision = "0024_scheduler_tick"
down_revision = "0023_incremental_trains"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scheduler_leases", sa.Column("last_tick_s", sa.Float(), nullable=True))
    op.add_column(
        "scheduler_leases",
        sa.Column("last_tick_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("scheduler_leases") as batch:
        batch.drop_column("last_tick_at")
        batch.drop_column("last_tick_s")
