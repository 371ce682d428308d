"""The time zones that occur in each list: a tiny table kept exact by statement-level triggers.

The hopper's SQL prefilter asks "is every candidate zone of this lead open now?" as membership in
the list of open zones. Computed over every IANA zone phonenumbers knows, that list has ~100
entries, repeated per state group: a 40-60 KB statement whose parse, plan and filter cost grew
with it (10 ms of a 20 ms refill query at US evening, 10 M leads). Restricted to the zones the
campaign's lists actually hold (usually a handful) the statement shrinks tenfold.

``list_zones`` may hold more than the leads do (zones of deleted or moved leads stay): a superset
only makes the arrays longer, never excludes a lead wrongly. It must never hold less, hence
triggers: on INSERT (COPY included) a statement trigger with a transition table (one hashed
DISTINCT per statement, no per-row work); on UPDATE a row trigger that PostgreSQL only fires for
updates setting a lead's zones or list (the dialer's own updates of leads never do).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same fallback as dialer.leads_repo: tz_candidates, else the single timezone column.
ZONES_OF = "unnest(COALESCE(NULLIF(n.tz_candidates, '{}'), ARRAY[n.timezone]::varchar[]))"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE list_zones (
            list_id integer NOT NULL,
            zone varchar(64) NOT NULL,
            CONSTRAINT pk_list_zones PRIMARY KEY (list_id, zone),
            CONSTRAINT fk_list_zones_list_id_lists FOREIGN KEY (list_id) REFERENCES lists (id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION record_list_zones() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO list_zones (list_id, zone)
            SELECT DISTINCT n.list_id, z FROM new_leads n, {ZONES_OF} AS z
            WHERE z IS NOT NULL
            ORDER BY 1, 2  -- one key order for every writer: two concurrent COPYs cannot deadlock here
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER leads_list_zones_insert AFTER INSERT ON leads "
        "REFERENCING NEW TABLE AS new_leads FOR EACH STATEMENT EXECUTE FUNCTION record_list_zones()"
    )
    # Updates: only those that set a zone or move a lead, checked by PostgreSQL before any call
    # (a row trigger with a column list and WHEN; transition tables allow no column list). The
    # dialer's own updates (reservations, dispositions) never fire it.
    op.execute(
        f"""
        CREATE FUNCTION record_lead_zones() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO list_zones (list_id, zone)
            SELECT DISTINCT n.list_id, z FROM (SELECT NEW.list_id, NEW.tz_candidates, NEW.timezone) n, {ZONES_OF} AS z
            WHERE z IS NOT NULL
            ORDER BY 1, 2
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER leads_list_zones_update AFTER UPDATE OF list_id, timezone, tz_candidates ON leads "
        "FOR EACH ROW WHEN (NEW.list_id IS DISTINCT FROM OLD.list_id OR NEW.timezone IS DISTINCT FROM OLD.timezone"
        " OR NEW.tz_candidates IS DISTINCT FROM OLD.tz_candidates) EXECUTE FUNCTION record_lead_zones()"
    )
    op.execute(
        f"INSERT INTO list_zones (list_id, zone) SELECT DISTINCT n.list_id, z FROM leads n, {ZONES_OF} AS z"
        " WHERE z IS NOT NULL ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS leads_list_zones_{event} ON leads")
    op.execute("DROP FUNCTION IF EXISTS record_list_zones()")
    op.execute("DROP FUNCTION IF EXISTS record_lead_zones()")
    op.execute("DROP TABLE IF EXISTS list_zones")
