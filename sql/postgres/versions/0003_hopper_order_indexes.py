"""Hopper ordering indexes: leads (priority DESC, id), split by called_since_reset.

The hopper's passes select ``... ORDER BY priority DESC, id LIMIT n`` over IN-lists of lists and
statuses, which (ix_leads_hopper) cannot return in that order: PostgreSQL sorted every dialable
lead of the campaign. With these it walks the order and stops after n matches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 21:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_leads_standard_order",
        "leads",
        [sa.text("priority DESC"), "id"],
        unique=False,
        postgresql_where=sa.text("NOT called_since_reset"),
    )
    op.create_index(
        "ix_leads_recycled_order",
        "leads",
        [sa.text("priority DESC"), "id"],
        unique=False,
        postgresql_where=sa.text("called_since_reset"),
    )


def downgrade() -> None:
    op.drop_index("ix_leads_recycled_order", table_name="leads")
    op.drop_index("ix_leads_standard_order", table_name="leads")
