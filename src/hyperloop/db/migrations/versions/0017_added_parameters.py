"""wagons: parameters added by hand that the tag's introspection does not declare, and the
pull request a wagon is configured on; pull requests with their introspection

Revision ID: 0017_added_parameters
Revises: 0024_scheduler_tick
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hyperloop.db.base

revision = "0017_added_parameters"
down_revision = "0024_scheduler_tick"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column added in place: SQLite does not rebuild the table
    op.add_column(
        "wagons",
        sa.Column(
            "added_parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )
    op.add_column("wagons", sa.Column("pull_request_id", sa.Integer(), nullable=True))
    op.create_table(
        "pull_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "introspection",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("registered_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("package", "number"),
    )


def downgrade() -> None:
    op.drop_table("pull_requests")
    with op.batch_alter_table("wagons") as batch:
        batch.drop_column("pull_request_id")
        batch.drop_column("added_parameters")
