"""durable jobs (issue 7)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:35:00.000000

A link in the chain; the tables arrive with the work that needs them.
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
