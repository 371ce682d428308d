"""PostgreSQL side of the import: duplicate and DNC look-ups per chunk, and COPY into ``leads``.

:func:`import_into_list` is what a Celery task wraps: it reads the list (its campaign and default
region), streams the file through :func:`dialer.importer.pipeline.import_file` and commits after
every chunk, so progress is real and a crash keeps the chunks already written (re-running the same
file then reports those rows as "already in this list").
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa

from dialer.importer.normalize import NormalizedLead
from dialer.importer.pipeline import Progress, import_file
from dialer.importer.report import ImportReport

logger = logging.getLogger(__name__)

COPY_COLUMNS = (
    "list_id", "phone_e164", "first_name", "last_name", "state", "postal_code", "country", "timezone",
    "tz_candidates", "priority", "consent_call", "custom_fields",
)


def _pg_array(values: tuple[str, ...]) -> str:
    # Zone names contain only letters, digits, '/', '_', '-', '+': quoting keeps it safe regardless.
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


class PgLeadStore:
    """A :class:`~dialer.importer.pipeline.LeadStore` on one connection (the caller owns the transaction)."""

    def __init__(self, conn: sa.Connection, list_id: int, campaign_id: int, now: datetime | None = None) -> None:
        self.conn = conn
        self.list_id = list_id
        self.campaign_id = campaign_id
        self.now = now or datetime.now(UTC)
        # A list that was empty when the import began (the common case) has no earlier duplicates
        # to look up; duplicates inside the file are caught before the store.
        self.list_was_empty = not conn.execute(
            sa.text("SELECT EXISTS (SELECT 1 FROM leads WHERE list_id = :l)"), {"l": list_id}).scalar()

    def existing_phones(self, phones: list[str]) -> Mapping[str, int]:
        if self.list_was_empty:
            return {}
        rows = self.conn.execute(
            sa.text("SELECT phone_e164, id FROM leads WHERE list_id = :list_id AND phone_e164 = ANY(:phones)"),
            {"list_id": self.list_id, "phones": phones},
        )
        return {r.phone_e164: r.id for r in rows}

    def dnc_phones(self, phones: list[str]) -> Mapping[str, str]:
        rows = self.conn.execute(
            sa.text(
                "SELECT phone_e164, campaign_id FROM dnc_entries WHERE phone_e164 = ANY(:phones)"
                " AND (campaign_id IS NULL OR campaign_id = :campaign_id) AND (expires_at IS NULL OR expires_at > :now)"
            ),
            {"phones": phones, "campaign_id": self.campaign_id, "now": self.now},
        )
        hits: dict[str, str] = {}
        for r in rows:
            if r.campaign_id is None or r.phone_e164 not in hits:
                hits[r.phone_e164] = "global" if r.campaign_id is None else "campaign"
        return hits

    def write(self, leads: list[NormalizedLead]) -> int:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for lead in leads:
            writer.writerow((
                self.list_id, lead.phone_e164, lead.first_name or "", lead.last_name or "", lead.state,
                lead.postal_code, lead.country, lead.timezone, _pg_array(lead.tz_candidates) if lead.tz_candidates else None,
                lead.priority, "t" if lead.consent_call else "f", json.dumps(lead.custom_fields, ensure_ascii=False),
            ))
        buffer.seek(0)
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            # CSV COPY reads an unquoted empty field as NULL; the NOT NULL name columns want ''.
            cursor.copy_expert(
                f"COPY leads ({', '.join(COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (first_name, last_name))",
                buffer,
            )
        return len(leads)


class _CommittingStore(PgLeadStore):
    def write(self, leads: list[NormalizedLead]) -> int:
        written = super().write(leads)
        self.conn.commit()
        return written


def import_into_list(
    engine: sa.Engine,
    list_id: int,
    data: bytes,
    *,
    filename: str = "",
    mapping: Mapping[str, str] | None = None,
    allowed_country_codes: frozenset[int] | None = None,
    progress: Progress | None = None,
    chunk_rows: int = 50_000,
    workers: int = 1,
) -> ImportReport:
    """Import ``data`` (CSV/XLSX bytes) into list ``list_id``; one commit per chunk.

    Two imports into the same list at once are not supported: the second one's COPY would hit
    the (list_id, phone_e164) unique constraint; run them one after the other.
    """
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT campaign_id, default_region FROM lists WHERE id = :id"), {"id": list_id}).one_or_none()
        if row is None:
            raise LookupError(f"no list {list_id}")
        store = _CommittingStore(conn, list_id, row.campaign_id)
        report = import_file(
            data, store, filename=filename, default_region=row.default_region, mapping=mapping,
            allowed_country_codes=allowed_country_codes, progress=progress, chunk_rows=chunk_rows, workers=workers,
        )
        conn.commit()
    return report
