"""in-app campaigns, messages, deliveries (issue 5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:35:00.000000

A link in the chain; the tables arrive with the work that needs them.
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
