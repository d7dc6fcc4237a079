"""transitions: every state change of a job, wagon test or train run with its cause
(stimulus id, sentence, actor), the stories of ``hyperloop.core.story``

Revision ID: 0011_transitions
Revises: 0010_job_change_seq
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hyperloop.db.base

revision = "0011_transitions"
down_revision = "0010_job_change_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=True),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stimulus", sa.String(length=64), nullable=False),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transitions")),
    )
    op.create_index(
        "ix_transitions_object", "transitions", ["object_kind", "object_id", "id"], unique=False
    )
    op.create_index("ix_transitions_train_run", "transitions", ["train_run_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_transitions_train_run", table_name="transitions")
    op.drop_index("ix_transitions_object", table_name="transitions")
    op.drop_table("transitions")
