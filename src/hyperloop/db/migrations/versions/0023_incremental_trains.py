"""incremental trains: a train run on the runs added to its dataset since an earlier train
run (its parent: ``increment_of_id``) and the runs it covers (``increment_runs``)

Revision ID: 0023_incremental_trains
Revises: 0019_train_policy
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023_incremental_trains"
down_revision = "0019_train_policy"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("train_runs", schema=None) as batch:
        batch.add_column(sa.Column("increment_of_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("increment_runs", _JSON, nullable=True))
        batch.create_foreign_key(
            op.f("fk_train_runs_increment_of_id_train_runs"),
            "train_runs",
            ["increment_of_id"],
            ["id"],
        )
        batch.create_index("ix_train_runs_increment_of", ["increment_of_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("train_runs", schema=None) as batch:
        batch.drop_index("ix_train_runs_increment_of")
        batch.drop_constraint(op.f("fk_train_runs_increment_of_id_train_runs"), type_="foreignkey")
        batch.drop_column("increment_runs")
        batch.drop_column("increment_of_id")
