"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hyperloop.db.base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("pwg", sa.String(length=64), nullable=False),
        sa.Column("is_service", sa.Boolean(), nullable=False),
        sa.Column(
            "email_policy",
            sa.Enum("none", "all", "enabler", name="emailpolicy", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
        sa.UniqueConstraint("name", name=op.f("uq_analyses_name")),
    )
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analyses_pwg"), ["pwg"], unique=False)

    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "data_type",
            sa.Enum("data", "mc", "derived", "run2", name="datatype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("collision_system", sa.String(length=32), nullable=False),
        sa.Column("anchor", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("final_merge_all_runs", sa.Boolean(), nullable=False),
        sa.Column("size_class", sa.String(length=32), nullable=False),
        sa.Column("cpu_limit_hours", sa.Float(), nullable=True),
        sa.Column("slots_per_week", sa.Integer(), nullable=False),
        sa.Column("auto_submission_slots", sa.Integer(), nullable=False),
        sa.Column("auto_compose", sa.Boolean(), nullable=False),
        sa.Column(
            "auto_compose_type",
            sa.Enum(
                "scheduled",
                "train_full",
                "both",
                name="autocomposetype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "auto_compose_days",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "auto_compose_times",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("auto_compose_max_cpu_hours", sa.Float(), nullable=True),
        sa.Column("auto_compose_max_trains_per_week", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["datasets.id"],
            name=op.f("fk_datasets_parent_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datasets_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_outbox_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "package_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=False),
        sa.Column(
            "introspection",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "pull_requests",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("released_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_tags")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_package_tags_name_version")),
    )
    with op.batch_alter_table("package_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_package_tags_released_at"), ["released_at"], unique=False
        )

    op.create_table(
        "runlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "data_type",
            sa.Enum("data", "mc", "derived", "run2", name="datatype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("anchor", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("production", sa.String(length=128), nullable=False),
        sa.Column(
            "runs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runlists")),
        sa.UniqueConstraint("name", name=op.f("uq_runlists_name")),
    )
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_limit_mb", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("name", name=op.f("uq_targets_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "convener_pwgs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "analysis_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("added_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_analysis_datasets_analysis_id_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_analysis_datasets_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_datasets")),
        sa.UniqueConstraint(
            "analysis_id", "dataset_id", name=op.f("uq_analysis_datasets_analysis_id_dataset_id")
        ),
    )
    with op.batch_alter_table("analysis_datasets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analysis_datasets_analysis_id"), ["analysis_id"], unique=False
        )

    op.create_table(
        "analysis_members",
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("collapsed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_analysis_members_analysis_id_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_analysis_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("analysis_id", "user_id", name=op.f("pk_analysis_members")),
    )
    with op.batch_alter_table("analysis_members", schema=None) as batch_op:
        batch_op.create_index("ix_analysis_members_user", ["user_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "final_mergelists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "mergelists",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_final_mergelists_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_final_mergelists")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_final_mergelists_dataset_id_name")),
    )
    op.create_table(
        "history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("impersonator_id", sa.Integer(), nullable=True),
        sa.Column("at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["impersonator_id"], ["users.id"], name=op.f("fk_history_impersonator_id_users")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_history_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history")),
    )
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.create_index("ix_history_object", ["object_type", "object_id", "id"], unique=False)

    op.create_table(
        "mergelists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "runs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_mergelists_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mergelists")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_mergelists_dataset_id_name")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "dataset_changed",
                "dataset_activated",
                "dataset_deactivated",
                "production_added",
                "production_removed",
                "runlist_updated",
                "mergelist_updated",
                "wagon_disabled",
                "inconsistent_parameters",
                "test_failed",
                name="notificationkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=True),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_read", ["user_id", "read"], unique=False)

    op.create_table(
        "staging_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column(
            "action",
            sa.Enum("stage", "unstage", name="stagingaction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_staging_transfers_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_staging_transfers_requested_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staging_transfers")),
    )
    with op.batch_alter_table("staging_transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staging_transfers_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "train_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column(
            "train_type",
            sa.Enum(
                "analysis",
                "standard_derived",
                "linked_derived",
                "slim_derived",
                name="traintype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("auto_submit", sa.Boolean(), nullable=False),
        sa.Column("slow", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "composed",
                "testing",
                "test_done",
                "test_warning",
                "test_failed",
                "long_train_requested",
                "long_train_approved",
                "submitted",
                "running",
                "merging",
                "done",
                "killed",
                "closed",
                "decomposed",
                name="trainstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "wagons_snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "dataset_snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("composed_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("composed_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "test_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "test_warnings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("output_dir", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_train_runs_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["composed_by_id"], ["users.id"], name=op.f("fk_train_runs_composed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_train_runs_dataset_id_datasets")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["train_runs.id"], name=op.f("fk_train_runs_parent_id_train_runs")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_train_runs_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["package_tags.id"], name=op.f("fk_train_runs_tag_id_package_tags")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["targets.id"], name=op.f("fk_train_runs_target_id_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_train_runs")),
    )
    with op.batch_alter_table("train_runs", schema=None) as batch_op:
        batch_op.create_index("ix_train_runs_composed_at", ["composed_at"], unique=False)
        batch_op.create_index(
            "ix_train_runs_dataset_composed", ["dataset_id", "composed_at"], unique=False
        )
        batch_op.create_index("ix_train_runs_dataset_state", ["dataset_id", "state"], unique=False)
        batch_op.create_index("ix_train_runs_state", ["state"], unique=False)

    op.create_table(
        "wagons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("workflow", sa.String(length=128), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column(
            "base_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "subwagons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "derived_tables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("slim_ready", sa.Boolean(), nullable=False),
        sa.Column("max_df_size", sa.BigInteger(), nullable=True),
        sa.Column("max_derived_file_size", sa.BigInteger(), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_wagons_analysis_id_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_wagons_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["package_tags.id"], name=op.f("fk_wagons_tag_id_package_tags")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wagons")),
        sa.UniqueConstraint("analysis_id", "name", name=op.f("uq_wagons_analysis_id_name")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column(
            "files",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("n_files", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "waiting",
                "running",
                "done",
                "execution_error",
                "validation_error",
                "expired",
                "lost",
                name="jobstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=128), nullable=True),
        sa.Column("cpu_s", sa.Float(), nullable=False),
        sa.Column("wall_s", sa.Float(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("error_signature", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["train_run_id"],
            ["train_runs.id"],
            name=op.f("fk_jobs_train_run_id_train_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_state", ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_train_run_id"), ["train_run_id"], unique=False)
        batch_op.create_index("ix_jobs_train_run_state", ["train_run_id", "state"], unique=False)

    op.create_table(
        "productions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "runlist",
                "derived_train",
                "run2_conversion",
                name="productionkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("runlist_id", sa.Integer(), nullable=True),
        sa.Column("train_run_id", sa.Integer(), nullable=True),
        sa.Column(
            "excluded_runs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_productions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runlist_id"], ["runlists.id"], name=op.f("fk_productions_runlist_id_runlists")
        ),
        sa.ForeignKeyConstraint(
            ["train_run_id"], ["train_runs.id"], name=op.f("fk_productions_train_run_id_train_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_productions")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_productions_dataset_id_name")),
    )
    op.create_table(
        "train_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["train_run_id"],
            ["train_runs.id"],
            name=op.f("fk_train_comments_train_run_id_train_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_train_comments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_train_comments")),
    )
    with op.batch_alter_table("train_comments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_train_comments_train_run_id"), ["train_run_id"], unique=False
        )

    op.create_table(
        "train_run_wagons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("train_run_id", sa.Integer(), nullable=False),
        sa.Column("wagon_id", sa.Integer(), nullable=True),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("heavy", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_train_run_wagons_analysis_id_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["train_run_id"],
            ["train_runs.id"],
            name=op.f("fk_train_run_wagons_train_run_id_train_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["wagon_id"],
            ["wagons.id"],
            name=op.f("fk_train_run_wagons_wagon_id_wagons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_train_run_wagons")),
    )
    with op.batch_alter_table("train_run_wagons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_train_run_wagons_analysis", ["analysis_id", "train_run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_train_run_wagons_train_run_id"), ["train_run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_train_run_wagons_wagon_id"), ["wagon_id"], unique=False
        )

    op.create_table(
        "wagon_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wagon_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column(
            "tag_policy",
            sa.Enum(
                "fixed", "latest", "pull_request", name="tagpolicy", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("pull_request", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("enabled_by_id", sa.Integer(), nullable=True),
        sa.Column("enabled_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("scheduled_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_wagon_datasets_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enabled_by_id"], ["users.id"], name=op.f("fk_wagon_datasets_enabled_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["scheduled_by_id"], ["users.id"], name=op.f("fk_wagon_datasets_scheduled_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["package_tags.id"], name=op.f("fk_wagon_datasets_tag_id_package_tags")
        ),
        sa.ForeignKeyConstraint(
            ["wagon_id"],
            ["wagons.id"],
            name=op.f("fk_wagon_datasets_wagon_id_wagons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wagon_datasets")),
        sa.UniqueConstraint(
            "wagon_id", "dataset_id", name=op.f("uq_wagon_datasets_wagon_id_dataset_id")
        ),
    )
    with op.batch_alter_table("wagon_datasets", schema=None) as batch_op:
        batch_op.create_index("ix_wagon_datasets_dataset", ["dataset_id", "enabled"], unique=False)

    op.create_table(
        "wagon_dependencies",
        sa.Column("wagon_id", sa.Integer(), nullable=False),
        sa.Column("depends_on_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["wagons.id"],
            name=op.f("fk_wagon_dependencies_depends_on_id_wagons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["wagon_id"],
            ["wagons.id"],
            name=op.f("fk_wagon_dependencies_wagon_id_wagons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wagon_id", "depends_on_id", name=op.f("pk_wagon_dependencies")),
    )
    with op.batch_alter_table("wagon_dependencies", schema=None) as batch_op:
        batch_op.create_index("ix_wagon_dependencies_depends_on", ["depends_on_id"], unique=False)

    op.create_table(
        "wagon_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wagon_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "warning",
                "failed",
                name="teststatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "config_snapshot",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "warnings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("output_dir", sa.Text(), nullable=True),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("created_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", hyperloop.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_wagon_tests_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["package_tags.id"], name=op.f("fk_wagon_tests_tag_id_package_tags")
        ),
        sa.ForeignKeyConstraint(
            ["wagon_id"],
            ["wagons.id"],
            name=op.f("fk_wagon_tests_wagon_id_wagons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wagon_tests")),
    )
    with op.batch_alter_table("wagon_tests", schema=None) as batch_op:
        batch_op.create_index("ix_wagon_tests_status", ["status"], unique=False)
        batch_op.create_index(
            "ix_wagon_tests_wagon_dataset", ["wagon_id", "dataset_id"], unique=False
        )

    op.create_table(
        "dataset_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("production_id", sa.Integer(), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("n_dataframes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["production_id"],
            ["productions.id"],
            name=op.f("fk_dataset_files_production_id_productions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_files")),
        sa.UniqueConstraint(
            "production_id", "path", name=op.f("uq_dataset_files_production_id_path")
        ),
    )
    with op.batch_alter_table("dataset_files", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dataset_files_production_run", ["production_id", "run_number"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("dataset_files", schema=None) as batch_op:
        batch_op.drop_index("ix_dataset_files_production_run")

    op.drop_table("dataset_files")
    with op.batch_alter_table("wagon_tests", schema=None) as batch_op:
        batch_op.drop_index("ix_wagon_tests_wagon_dataset")
        batch_op.drop_index("ix_wagon_tests_status")

    op.drop_table("wagon_tests")
    with op.batch_alter_table("wagon_dependencies", schema=None) as batch_op:
        batch_op.drop_index("ix_wagon_dependencies_depends_on")

    op.drop_table("wagon_dependencies")
    with op.batch_alter_table("wagon_datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_wagon_datasets_dataset")

    op.drop_table("wagon_datasets")
    with op.batch_alter_table("train_run_wagons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_train_run_wagons_wagon_id"))
        batch_op.drop_index(batch_op.f("ix_train_run_wagons_train_run_id"))
        batch_op.drop_index("ix_train_run_wagons_analysis")

    op.drop_table("train_run_wagons")
    with op.batch_alter_table("train_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_train_comments_train_run_id"))

    op.drop_table("train_comments")
    op.drop_table("productions")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_train_run_state")
        batch_op.drop_index(batch_op.f("ix_jobs_train_run_id"))
        batch_op.drop_index("ix_jobs_state")

    op.drop_table("jobs")
    op.drop_table("wagons")
    with op.batch_alter_table("train_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_train_runs_state")
        batch_op.drop_index("ix_train_runs_dataset_state")
        batch_op.drop_index("ix_train_runs_dataset_composed")
        batch_op.drop_index("ix_train_runs_composed_at")

    op.drop_table("train_runs")
    with op.batch_alter_table("staging_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staging_transfers_dataset_id"))

    op.drop_table("staging_transfers")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_read")

    op.drop_table("notifications")
    op.drop_table("mergelists")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_object")

    op.drop_table("history")
    op.drop_table("final_mergelists")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("analysis_members", schema=None) as batch_op:
        batch_op.drop_index("ix_analysis_members_user")

    op.drop_table("analysis_members")
    with op.batch_alter_table("analysis_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analysis_datasets_analysis_id"))

    op.drop_table("analysis_datasets")
    op.drop_table("users")
    op.drop_table("targets")
    op.drop_table("runlists")
    with op.batch_alter_table("package_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_package_tags_released_at"))

    op.drop_table("package_tags")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_sent_at"))

    op.drop_table("email_outbox")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datasets_parent_id"))

    op.drop_table("datasets")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analyses_pwg"))

    op.drop_table("analyses")
