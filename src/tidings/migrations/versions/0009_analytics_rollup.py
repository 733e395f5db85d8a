"""analytics rollup

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tidings.db
from tidings.analytics import rollup

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per (campaign, user), kept by triggers (analytics/rollup.py). No foreign
    # keys: it is derived from deliveries alone, and their own cascades clean it up.
    op.create_table(
        "campaign_users",
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("exposed_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("displayed", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.Column("dismissed", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name=op.f("pk_campaign_users")),
        sqlite_with_rowid=False,
    )  # fmt: skip
    # Small partial indexes: the report's suppression/failure reasons and button clicks
    # read only those rows instead of the campaign's whole slice.
    op.create_index(
        "ix_deliveries_outcomes",
        "deliveries",
        ["campaign_id", "variant", "status", "reason"],
        sqlite_where=sa.text("status IN ('suppressed', 'failed')"),
        postgresql_where=sa.text("status IN ('suppressed', 'failed')"),
    )
    op.create_index(
        "ix_deliveries_clicked",
        "deliveries",
        ["campaign_id", "variant"],
        sqlite_where=sa.text("clicked_at IS NOT NULL"),
        postgresql_where=sa.text("clicked_at IS NOT NULL"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":  # per-arm totals: SQLite only (see analytics.models.CampaignArm)
        op.create_table(
            "campaign_arms",
            sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("variant", sa.String(length=64), nullable=False),
            sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
            *(
                sa.Column(name, sa.Integer(), nullable=False)
                for name in (
                    "targeted", "exposed", "displayed", "clicked_any", "clicked", "dismissed",
                    "completed", "sent", "delivered", "opens",
                )
            ),
            sa.PrimaryKeyConstraint(
                "campaign_id", "variant", "shard", name=op.f("pk_campaign_arms")
            ),
            sqlite_with_rowid=False,
        )  # fmt: skip
    # Rows written before this migration, then the triggers for every later write.
    op.execute(rollup.backfill_statement())
    if dialect == "sqlite":
        op.execute(rollup.arms_backfill_statement())
    for statement in rollup.create_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in rollup.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_index("ix_deliveries_clicked", table_name="deliveries")
    op.drop_index("ix_deliveries_outcomes", table_name="deliveries")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_table("campaign_arms")
    op.drop_table("campaign_users")
