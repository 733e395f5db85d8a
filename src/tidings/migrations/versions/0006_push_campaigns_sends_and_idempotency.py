"""push campaigns, sends and idempotency (issue 7)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 01:00:00.000000

A push campaign's schedule (`campaigns.schedule`) and the idempotency keys of
transactional sends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tidings.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("schedule", _JSON, nullable=True))
    op.create_table(
        "idempotency_keys",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", _JSON, nullable=True),
        sa.Column("created_at", tidings.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", tidings.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.id"],
            name=op.f("fk_idempotency_keys_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "app_id", "scope", "key", name=op.f("uq_idempotency_keys_app_id_scope_key")
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("schedule")
