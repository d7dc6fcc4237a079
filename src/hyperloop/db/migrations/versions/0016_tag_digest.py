"""package tags: the content hash of the artifact folder recorded at registration

Revision ID: 0016_tag_digest
Revises: 0013_merge_stages
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_tag_digest"
down_revision = "0013_merge_stages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("package_tags", sa.Column("digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("package_tags") as batch:
        batch.drop_column("digest")
