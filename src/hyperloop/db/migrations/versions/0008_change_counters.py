"""change counters for read caches: the table ``change_counters`` with its ``grid`` row and
triggers that bump it on every write changing the My Analyses grid (analyses, membership,
wagons, enablings, wagon tests, datasets, train runs and their wagons, targets)

Revision ID: 0008_change_counters
Revises: 0007_dashboard_day_totals
Create Date: 2026-11-29

The watched tables and columns are copied from hyperloop.db.models.changes (frozen here). On
SQLite a later batch rebuild of a watched table drops its triggers: such a migration must
create them again (until then the server does not cache the grid: it checks the triggers).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0008_change_counters"
down_revision = "0007_dashboard_day_totals"
branch_labels = None
depends_on = None

WATCH: dict[str, tuple[str, ...] | None] = {
    "analyses": None,
    "analysis_members": None,
    "analysis_datasets": None,
    "datasets": ("name", "active", "slots_per_week"),
    "wagons": ("analysis_id", "name", "workflow", "disabled_reason"),
    "wagon_datasets": ("wagon_id", "dataset_id", "enabled", "tag_policy", "disabled_reason"),
    "wagon_tests": ("wagon_id", "dataset_id", "status", "superseded"),
    "train_runs": ("dataset_id", "target_id", "state", "composed_at"),
    "train_run_wagons": None,
    "targets": ("cores",),
}
BUMP = "UPDATE change_counters SET n = n + 1 WHERE name = 'grid';"
POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION hl_grid_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF current_setting('hyperloop.grid_changed', true) IS DISTINCT FROM 'y' THEN "
    "PERFORM set_config('hyperloop.grid_changed', 'y', true); "
    f"{BUMP} "
    "END IF; RETURN NULL; END $$"
)


def _update_of(columns: tuple[str, ...] | None) -> str:
    return f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"


def upgrade() -> None:
    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )
    op.get_bind().execute(
        sa.text("INSERT INTO change_counters (name, epoch, n) VALUES ('grid', :epoch, 0)"),
        {"epoch": uuid.uuid4().hex},
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for table, columns in WATCH.items():
            op.execute(
                f"CREATE CONSTRAINT TRIGGER trg_grid_{table} "
                f"AFTER INSERT OR DELETE OR {_update_of(columns)} ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hl_grid_changed()"
            )
        return
    for table, columns in WATCH.items():
        for suffix, when in (("ins", "INSERT"), ("upd", _update_of(columns)), ("del", "DELETE")):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS trg_grid_{table}_{suffix} AFTER {when} "
                f"ON {table} BEGIN {BUMP} END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCH:
            op.execute(f"DROP TRIGGER IF EXISTS trg_grid_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS hl_grid_changed()")
    else:
        for table in WATCH:
            for suffix in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_grid_{table}_{suffix}")
    op.drop_table("change_counters")
