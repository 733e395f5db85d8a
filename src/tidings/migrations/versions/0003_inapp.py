"""in-app campaigns, messages, deliveries (issue 5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:35:00.000000

Campaigns (variants, audience, trigger, controls as JSON) and deliveries (one row per
(campaign, user, channel, device, occurrence); the unique key makes effects idempotent).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tidings.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column(
            "audience",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column(
            "trigger",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "controls",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "variants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("control_weight", sa.Integer(), nullable=False),
        sa.Column("starts_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("ends_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column(
            "goal",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", tidings.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tidings.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_campaigns_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_campaigns_segment_id_segments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_app_status", "campaigns", ["app_id", "status"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column(
            "device_key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", tidings.db.UTCDateTime(), nullable=False),
        sa.Column("displayed_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("clicked_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("dismissed_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("completed_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("read_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_deliveries_app_id_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_deliveries_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_deliveries_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_deliveries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "campaign_id",
            "user_id",
            "channel",
            "device_key",
            "occurrence",
            name="uq_deliveries_key",
        ),
    )
    op.create_index(op.f("ix_deliveries_app_id"), "deliveries", ["app_id"], unique=False)
    op.create_index(
        "ix_deliveries_user_displayed", "deliveries", ["user_id", "displayed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_user_displayed", table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_app_id"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_campaigns_app_status", table_name="campaigns")
    op.drop_table("campaigns")
