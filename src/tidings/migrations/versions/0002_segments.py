"""segments; the daily-count index and (PostgreSQL) semver key function targeting uses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tidings.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# tidings.targeting.semver.semver_key in SQL; keep the two identical (the agreement
# property test compares them).
SEMVER_KEY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION tidings_semver_key(v text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  m text[];
  k text;
  ident text;
  parts text[] := '{}';
BEGIN
  m := regexp_match(v, '^[vV]?([0-9]{1,9})(?:\.([0-9]{1,9}))?(?:\.([0-9]{1,9}))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]*)?$');
  IF m IS NULL THEN
    RETURN NULL;
  END IF;
  k := lpad(m[1]::bigint::text, 9, '0') || '.'
    || lpad(coalesce(m[2], '0')::bigint::text, 9, '0') || '.'
    || lpad(coalesce(m[3], '0')::bigint::text, 9, '0');
  IF m[4] IS NULL THEN
    RETURN k || '~';
  END IF;
  FOREACH ident IN ARRAY string_to_array(m[4], '.') LOOP
    IF ident ~ '^[0-9]+$' THEN
      IF length(ident) > 10 THEN
        RETURN NULL;
      END IF;
      parts := parts || ('0' || lpad(ident::bigint::text, 10, '0'));
    ELSE
      parts := parts || ('1' || ident);
    END IF;
  END LOOP;
  RETURN k || '-' || array_to_string(parts, '!');
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "rule",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", tidings.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tidings.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_segments_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("app_id", "name", name=op.f("uq_segments_app_id_name")),
    )
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segments_app_id"), ["app_id"], unique=False)
    with op.batch_alter_table("event_daily_counts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_daily_counts_name_day", ["name", "day", "user_id", "count"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SEMVER_KEY_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tidings_semver_key(text)")
    with op.batch_alter_table("event_daily_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_event_daily_counts_name_day")
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segments_app_id"))
    op.drop_table("segments")
