"""PostgreSQL side of the import: duplicate and DNC look-ups per chunk, and COPY into ``leads``.

:func:`import_into_list` is what a Celery task wraps: it reads the list (its campaign and default
region), streams the file through :func:`dialer.importer.pipeline.import_file` and commits after
every chunk, so progress is real and a crash keeps the chunks already written (re-running the same
file then reports those rows as "already in this list"; a crash of PostgreSQL itself may also
lose the last chunk or two, committed without waiting for the WAL flush).

Per chunk (50,000 rows): one DNC query and -- unless the list was empty when the import began --
one duplicate query, each with the chunk's numbers as a single array literal, ids taken from the
sequence in file order, then one COPY of the chunk in COPY's text format. The store runs up to two
chunks behind the normaliser, in a helper thread (``background_store``, see
:mod:`dialer.importer.pipeline`); the COPYs run on ``copy_connections`` (2) connections at once,
each reading lines as they are formatted. PostgreSQL's side of a COPY into ``leads`` (seven
indexes, checks, triggers) is the larger half of the import's CPU, so on 2 cores one backend
alone would leave a core idle while Python waits for it.
Nothing about the table changes for the import: every constraint and index stays in place.
"""

from __future__ import annotations

import json
import json.encoder
import logging
import re
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg2.errors
import sqlalchemy as sa

from dialer.importer.normalize import NormalizedLead
from dialer.importer.pipeline import Progress, import_file
from dialer.importer.report import ImportReport

logger = logging.getLogger(__name__)

COPY_COLUMNS = (
    "id", "list_id", "phone_e164", "first_name", "last_name", "state", "postal_code", "country", "timezone",
    "tz_candidates", "priority", "consent_call", "custom_fields",
)


def _pg_array(values: tuple[str, ...]) -> str:
    # Zone names contain only letters, digits, '/', '_', '-', '+': quoting keeps it safe regardless.
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _phone_array(phones: list[str]) -> str:
    """One ``text[]`` literal: PostgreSQL reads it in one go, where a bound list becomes an
    ``ARRAY[...]`` expression of 50,000 parameters. E.164 numbers are '+' and digits only."""
    return "{" + ",".join(phones) + "}"


_NULL = "\\N"
_TEXT_SPECIAL = re.compile(r"[\\\t\n\r]")  # what COPY's text format reads as escapes or separators
_quote = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def _escape(value: str) -> str:
    if not _TEXT_SPECIAL.search(value):
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _escape_or_null(value: str | None) -> str:
    return _NULL if value is None else _escape(value)


def _custom_json(fields: dict[str, str]) -> str:
    """``json.dumps(fields, ensure_ascii=False)`` for the str -> str dicts the normaliser builds,
    without building an encoder per call (a third of the cost of a COPY line)."""
    return "{" + ", ".join([_quote(key) + ": " + _quote(value) for key, value in fields.items()]) + "}"


COPY_READ_CHARS = 1 << 20
DEADLOCK_RETRIES = 3


class _CopySource:
    """The file psycopg2's COPY reads: lines made as it asks, so PostgreSQL starts on the first
    megabyte while the rest is still being formatted. Big reads on purpose: between two reads
    psycopg2 needs the GIL back from the normalising thread (up to a 5 ms switch interval each)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def read(self, size: int = -1) -> str:
        if size < 0:
            return "".join(self._lines)
        parts: list[str] = []
        length = 0
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if length >= size:
                break
        return "".join(parts)  # may pass ``size`` by a line: psycopg2 sends whatever it gets


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
        self._arrays: dict[tuple[str, ...], str] = {}  # tz_candidates -> array literal (a few hundred kinds)
        self._list_id = str(list_id)
        self._sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence('leads', 'id')")).scalar_one()

    def existing_phones(self, phones: list[str]) -> Mapping[str, int]:
        if self.list_was_empty:
            return {}
        rows = self.conn.execute(
            sa.text("SELECT phone_e164, id FROM leads WHERE list_id = :list_id"
                    " AND phone_e164 = ANY(CAST(:phones AS text[]))"),
            {"list_id": self.list_id, "phones": _phone_array(phones)},
        )
        return {r.phone_e164: r.id for r in rows}

    def dnc_phones(self, phones: list[str]) -> Mapping[str, str]:
        rows = self.conn.execute(
            sa.text(
                "SELECT phone_e164, campaign_id FROM dnc_entries WHERE phone_e164 = ANY(CAST(:phones AS text[]))"
                " AND (campaign_id IS NULL OR campaign_id = :campaign_id) AND (expires_at IS NULL OR expires_at > :now)"
            ),
            {"phones": _phone_array(phones), "campaign_id": self.campaign_id, "now": self.now},
        )
        hits: dict[str, str] = {}
        for r in rows:
            if r.campaign_id is None or r.phone_e164 not in hits:
                hits[r.phone_e164] = "global" if r.campaign_id is None else "campaign"
        return hits

    def write(self, leads: list[NormalizedLead]) -> int:
        self.copy(self.conn.connection.driver_connection, self.reserve_ids(len(leads)), leads)
        return len(leads)

    def flush(self) -> None:
        """Nothing in flight: :meth:`write` has copied when it returns."""

    def reserve_ids(self, count: int) -> list[int]:
        """``count`` fresh lead ids, ascending. Taken before the COPY, in file order, so lead ids
        follow the file (the hopper dials equal priorities by id) even when chunks are copied on
        several connections at once."""
        rows = self.conn.execute(
            sa.text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
            {"seq": self._sequence, "n": count},
        )
        return sorted(r[0] for r in rows)

    def copy(self, dbapi_connection: Any, ids: list[int], leads: list[NormalizedLead]) -> None:
        with dbapi_connection.cursor() as cursor:
            # The chunk's commit need not wait for its ~40 MB of WAL to reach the disk (100-300 ms
            # a chunk, on the import's critical path): if PostgreSQL itself crashed, the last
            # chunks could be lost -- never half of one -- and re-running the file imports them,
            # reporting the rest as "already in this list". LOCAL: this transaction only. The job's
            # "done" row (dialer.import_jobs) is a synchronous commit after every chunk's: once it
            # is durable, so is every chunk before it (one WAL, flushed in order).
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.copy_expert(f"COPY leads ({', '.join(COPY_COLUMNS)}) FROM STDIN",
                               _CopySource(map(self.copy_line, ids, leads)), size=COPY_READ_CHARS)

    def copy_line(self, lead_id: int, lead: NormalizedLead) -> str:
        """One lead as a line of COPY's text format (tab-separated, ``\\N`` = NULL)."""
        first, last, state, postal = lead.first_name or "", lead.last_name or "", lead.state, lead.postal_code
        if _TEXT_SPECIAL.search(f"{first}{last}{state}{postal}{lead.country}"):
            first, last = _escape(first), _escape(last)
            state, postal = _escape_or_null(state), _escape_or_null(postal)
            country = _escape_or_null(lead.country)
        else:
            state = _NULL if state is None else state
            postal = _NULL if postal is None else postal
            country = _NULL if lead.country is None else lead.country
        zones = lead.tz_candidates
        array = (self._arrays.get(zones) or self._array(zones)) if zones else _NULL
        custom = _custom_json(lead.custom_fields) if lead.custom_fields else "{}"
        if "\\" in custom:  # JSON escapes (\" \n \\) are backslashes to COPY
            custom = custom.replace("\\", "\\\\")
        return (f"{lead_id}\t{self._list_id}\t{lead.phone_e164}\t{first}\t{last}\t{state}\t{postal}\t{country}\t"
                f"{lead.timezone or _NULL}\t{array}\t{lead.priority}\t{'t' if lead.consent_call else 'f'}\t{custom}\n")

    def _array(self, zones: tuple[str, ...]) -> str:
        literal = self._arrays[zones] = _escape(_pg_array(zones))
        return literal


class _CommittingStore(PgLeadStore):
    """Commits every chunk; with ``copies`` > 1 the COPYs run on that many connections of their own,
    each in a thread, while this one's connection does the look-ups and hands out the ids.

    Why several: one backend's COPY into ``leads`` (seven indexes, checks, triggers) costs more
    CPU than the Python side of the import, so a single connection leaves a core idle.
    :meth:`write` returns once its chunk is handed over and at most ``copies`` are in flight
    (so each connection has its next chunk waiting); :meth:`flush` waits for the rest. A deadlock between two chunks' statement triggers (both
    adding the same new time zones to ``list_zones``) is retried: the chunk is copied again.
    """

    def __init__(self, conn: sa.Connection, list_id: int, campaign_id: int, engine: sa.Engine, copies: int) -> None:
        super().__init__(conn, list_id, campaign_id)
        conn.commit()  # no snapshot held across the import
        self._engine = engine
        self._copies = max(copies, 1)
        self._pool = ThreadPoolExecutor(self._copies, thread_name_prefix="import-copy") if self._copies > 1 else None
        self._in_flight: deque[Future[None]] = deque()
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def write(self, leads: list[NormalizedLead]) -> int:
        ids = self.reserve_ids(len(leads))
        self.conn.commit()
        if self._pool is None:
            self._copy_committed(self.conn.connection.driver_connection, ids, leads)
            return len(leads)
        self._in_flight.append(self._pool.submit(self._copy_in_thread, ids, leads))
        while len(self._in_flight) > self._copies:  # one chunk queued behind those running, never more
            self._in_flight.popleft().result()
        return len(leads)

    def flush(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for connection in self._connections:
            connection.close()

    def _copy_in_thread(self, ids: list[int], leads: list[NormalizedLead]) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._engine.raw_connection()
            with self._lock:
                self._connections.append(connection)
        self._copy_committed(connection.driver_connection, ids, leads)

    def _copy_committed(self, dbapi_connection: Any, ids: list[int], leads: list[NormalizedLead]) -> None:
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                self.copy(dbapi_connection, ids, leads)
                dbapi_connection.commit()
                return
            except psycopg2.errors.DeadlockDetected:
                dbapi_connection.rollback()
                if attempt == DEADLOCK_RETRIES:
                    raise
                logger.info("import into list %s: chunk at row %s deadlocked, copying it again", self.list_id, leads[0].row)


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
    copy_connections: int = 2,
) -> ImportReport:
    """Import ``data`` (CSV/XLSX bytes) into list ``list_id``; one commit per chunk, COPYs on
    ``copy_connections`` connections at once (ids still follow the file).

    Two imports into the same list at once are not supported: the second one's COPY would hit
    the (list_id, phone_e164) unique constraint; run them one after the other.
    """
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT campaign_id, default_region FROM lists WHERE id = :id"), {"id": list_id}).one_or_none()
        if row is None:
            raise LookupError(f"no list {list_id}")
        store = _CommittingStore(conn, list_id, row.campaign_id, engine, copy_connections)
        try:
            report = import_file(
                data, store, filename=filename, default_region=row.default_region, mapping=mapping,
                allowed_country_codes=allowed_country_codes, progress=progress, chunk_rows=chunk_rows,
                workers=workers, background_store=True,
            )
        finally:
            store.close()
        conn.commit()
    return report
