"""story_job_moves: the grouped moves of a train's jobs, kept when the scheduler prunes the
jobs' transitions (``hyperloop.core.story.prune``)

Revision ID: 0025_story_prune
Revises: 0021_user_preferences
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hyperloop.db.base

revision = "0025_story_prune"
down_revision = "0021_user_preferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "story_job_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("example", sa.Text(), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_job_moves")),
    )
    op.create_index(
        "ix_story_job_moves_train_run", "story_job_moves", ["train_run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_story_job_moves_train_run", table_name="story_job_moves")
    op.drop_table("story_job_moves")
