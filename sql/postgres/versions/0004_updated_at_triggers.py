"""Keep updated_at truthful for raw-SQL updates too.

The ORM sets ``updated_at`` on flush (``onupdate=func.now()``), but the dialer updates leads with
plain SQL (hopper claims, dispositions). A BEFORE UPDATE trigger stamps every update, whoever
issues it. ``now()`` is the transaction start time, the same value the ORM would write.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 21:56:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("campaigns", "leads", "saved_views", "state_calling_rules")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END;
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_touch_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION touch_updated_at()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_touch_updated_at ON {table}")
    op.execute("DROP FUNCTION IF EXISTS touch_updated_at()")
