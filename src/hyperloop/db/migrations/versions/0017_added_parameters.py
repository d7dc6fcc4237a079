"""wagons: parameters added by hand that the tag's introspection does not declare

Revision ID: 0017_added_parameters
Revises: 0016_tag_digest
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017_added_parameters"
down_revision = "0016_tag_digest"
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


def downgrade() -> None:
    with op.batch_alter_table("wagons") as batch:
        batch.drop_column("added_parameters")
