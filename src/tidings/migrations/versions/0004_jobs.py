"""durable jobs (issue 7)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tidings.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("app_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("unique_key", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_at", tidings.db.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("locked_by", sa.String(length=200), nullable=True),
        sa.Column("locked_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", tidings.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", tidings.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", tidings.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_jobs_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("kind", "unique_key", name=op.f("uq_jobs_kind_unique_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_app_id_status_id", "jobs", ["app_id", "status", "id"])
    op.create_index("ix_jobs_status_heartbeat_at", "jobs", ["status", "heartbeat_at"])
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_run_at", table_name="jobs")
    op.drop_index("ix_jobs_status_heartbeat_at", table_name="jobs")
    op.drop_index("ix_jobs_app_id_status_id", table_name="jobs")
    op.drop_table("jobs")
