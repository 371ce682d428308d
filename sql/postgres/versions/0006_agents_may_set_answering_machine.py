"""Agents may set the global "A" (answering machine) disposition.

AMD passes some machines as human; the agent who hears one says so with "A", and the dialer then
takes that answer out of the base of the AMD false-positive estimate (dialer.abandon, dialer.loop).
A seeded install had "A" as a system-only status, so agents could not pick it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE dispositions SET selectable = true WHERE campaign_id IS NULL AND code = 'A'")


def downgrade() -> None:
    op.execute("UPDATE dispositions SET selectable = false WHERE campaign_id IS NULL AND code = 'A'")
