"""train merges: one row per finished merge of a train run (per run, per mergelist, per
final mergelist, final merge), read by the merging view and the trains-with-issues rules;
staging transfers carried out by the scheduler: location, bytes and files done, error,
confirmation, end

Revision ID: 0013_merge_stages
Revises: 0011_transitions
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hyperloop.db.base

revision = "0013_merge_stages"
down_revision = "0011_transitions"
branch_labels = None
depends_on = None
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "train_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outputs", _JSON, nullable=False),
        sa.Column("runs_merged", _JSON, nullable=False),
        sa.Column("runs_missing", _JSON, nullable=False),
        sa.Column("finished_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["train_run_id"],
            ["train_runs.id"],
            name=op.f("fk_train_merges_train_run_id_train_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_train_merges")),
        sa.UniqueConstraint(
            "train_run_id", "stage", "name", name=op.f("uq_train_merges_train_run_id_stage_name")
        ),
    )
    for column in (
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("files_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("finished_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
    ):
        op.add_column("staging_transfers", column)
    op.create_index(
        "ix_train_merges_train_stage", "train_merges", ["train_run_id", "stage"], unique=False
    )


def downgrade() -> None:
    with op.batch_alter_table("staging_transfers") as batch:
        for name in (
            "finished_at",
            "confirmed_by",
            "error",
            "files_done",
            "files_total",
            "bytes_done",
            "bytes_total",
            "location",
        ):
            batch.drop_column(name)
    op.drop_index("ix_train_merges_train_stage", table_name="train_merges")
    op.drop_table("train_merges")
