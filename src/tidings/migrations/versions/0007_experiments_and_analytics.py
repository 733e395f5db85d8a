"""experiments and analytics (issue 8)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tidings.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("winner", sa.String(length=64), nullable=True))
    op.add_column("campaigns", sa.Column("winner_at", tidings.db.UTCDateTime(), nullable=True))
    op.add_column("campaigns", sa.Column("winner_by", sa.String(length=16), nullable=True))
    op.create_index(
        "ix_events_user_name_time", "events", ["user_id", "name", "timestamp"], unique=False
    )
    # Same name, campaign_id added: the report's attribution check becomes index-only.
    op.drop_index("ix_deliveries_user_displayed", table_name="deliveries")
    op.create_index(
        "ix_deliveries_user_displayed",
        "deliveries",
        ["user_id", "displayed_at", "campaign_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_user_displayed", table_name="deliveries")
    op.create_index(
        "ix_deliveries_user_displayed", "deliveries", ["user_id", "displayed_at"], unique=False
    )
    op.drop_index("ix_events_user_name_time", table_name="events")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("winner_by")
        batch.drop_column("winner_at")
        batch.drop_column("winner")
