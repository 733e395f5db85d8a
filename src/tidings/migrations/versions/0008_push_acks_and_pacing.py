"""push acks and pacing

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tidings.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Device acks of in-device messages (MQTT `…/acks`): the device has it, it showed it.
    op.add_column(
        "deliveries", sa.Column("ack_received_at", tidings.db.UTCDateTime(), nullable=True)
    )
    op.add_column(
        "deliveries", sa.Column("ack_displayed_at", tidings.db.UTCDateTime(), nullable=True)
    )
    # A campaign's rate limit across workers: the end of the last reserved send slot.
    op.add_column("campaigns", sa.Column("paced_until", tidings.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("paced_until")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("ack_displayed_at")
        batch.drop_column("ack_received_at")
