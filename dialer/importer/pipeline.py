"""The import as one plain function: bytes in, leads stored, an :class:`ImportReport` out.

Rows flow in chunks (default 50,000): parse -> normalise -> in-file duplicates -> against the list
-> DNC scrub -> store. A bad row is reported (row, column, reason) and the import goes on; only a
file that cannot be read at all raises :class:`~dialer.importer.parse.ImportFileError`.
``progress(done_rows, total_rows)`` is called after every chunk so a Celery task can publish it
(``total_rows`` is an estimate until the last call).

Speed (``python -m bench.import``: a million rows into PostgreSQL in 29-55 s on 2 shared cores,
depending on what else runs there):

* ``background_store=True`` (what :func:`dialer.importer.writer.import_into_list` passes) runs the
  store -- DNC and list look-ups, COPY, commit -- in one helper thread, up to two chunks behind:
  the next chunk is normalised while PostgreSQL works on the last ones (psycopg2 releases the GIL while it
  waits on the server), so the import costs about max(Python, PostgreSQL) instead of the sum.
  A store may return from ``write`` before the rows land (the PostgreSQL one COPYs on two
  connections at once); the last chunk is counted once its ``flush`` returns.
* ``workers`` > 1 normalises chunks in that many processes ("spawn"), for machines with cores to
  spare beyond the one PostgreSQL uses during COPY.
* The cyclic garbage collector is paused for the import: it creates no reference cycles, but a
  million rows allocate millions of containers and the collector's full passes over them cost
  more than the import itself (27 s of CPU against 13 s for a million rows into memory).

The report is identical whichever is used: issues come out in row order (a row's own issues in
the order they were found), leads are stored in file order.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from operator import attrgetter
from typing import Protocol

from dialer.importer.normalize import NormalizedLead, PhoneNormalizer, RowNormalizer, normalize_row, validate_mapping
from dialer.importer.parse import MAX_CELL_CHARS, ImportFileError, read_table
from dialer.importer.report import ImportIssue, ImportReport

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class LeadStore(Protocol):
    """Where leads go; the PostgreSQL one is :class:`dialer.importer.writer.PgLeadStore`."""

    def existing_phones(self, phones: list[str]) -> Mapping[str, int]:
        """phone -> id of a lead already in the target list with that number."""
        ...

    def dnc_phones(self, phones: list[str]) -> Mapping[str, str]:
        """phone -> 'global' | 'campaign' for numbers on an active DNC entry."""
        ...

    def write(self, leads: list[NormalizedLead]) -> int:
        ...

    def flush(self) -> None:
        """Wait for writes still in flight (a store may return from :meth:`write` early)."""
        ...


class MemoryStore:
    """A LeadStore in a dict: for previews (dry runs) and the pure unit tests."""

    def __init__(self, existing: Mapping[str, int] | None = None, dnc: Mapping[str, str] | None = None) -> None:
        self.existing = dict(existing or {})
        self.dnc = dict(dnc or {})
        self.leads: list[NormalizedLead] = []

    def existing_phones(self, phones: list[str]) -> Mapping[str, int]:
        return {p: self.existing[p] for p in phones if p in self.existing}

    def dnc_phones(self, phones: list[str]) -> Mapping[str, str]:
        return {p: self.dnc[p] for p in phones if p in self.dnc}

    def write(self, leads: list[NormalizedLead]) -> int:
        self.leads.extend(leads)
        return len(leads)

    def flush(self) -> None:
        return None


def _chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterable[list[tuple[int, list[str]]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def import_file(
    data: bytes,
    store: LeadStore,
    *,
    filename: str = "",
    default_region: str = "US",
    mapping: Mapping[str, str] | None = None,
    allowed_country_codes: frozenset[int] | None = None,
    progress: Progress | None = None,
    chunk_rows: int = 50_000,
    max_cell_chars: int = MAX_CELL_CHARS,
    workers: int = 1,
    background_store: bool = False,
) -> ImportReport:
    """``workers`` > 1 normalises chunks in that many processes; ``background_store`` runs the
    store in a helper thread (see the module docstring). The parse, the in-file duplicate check and
    the store stay in file order, so results do not depend on either."""
    with _collector_paused():
        table = read_table(data, filename, max_cell_chars)
        try:
            full_mapping = validate_mapping(table.header, mapping or {})
        except ValueError as exc:
            raise ImportFileError(str(exc), {"header": table.header}) from exc
        spec = (table.header, full_mapping, default_region, allowed_country_codes)
        report = ImportReport(filename=filename, encoding=table.encoding, notes=list(table.notes))
        first_row: dict[str, int] = {}
        total = table.total_rows_estimate
        done = 0
        phone_column = _phone_column(full_mapping)
        # Chunks whose store may still be running: two, so that this thread normalises on while the
        # store waits for an earlier COPY (a store may keep a chunk queued per connection).
        lag = 2 if background_store else 0
        with ThreadPoolExecutor(1, thread_name_prefix="import-store") if background_store else _Inline() as runner:
            pending: deque[tuple[Future[Stored], int]] = deque()

            def collect(stored: Future[Stored], done_rows: int) -> None:
                imported, issues = stored.result()
                report.imported += imported
                report.issues.extend(issues)
                if progress is not None:
                    progress(done_rows, max(total, done_rows))

            for chunk, results in _normalized_chunks(_chunks(table.rows, chunk_rows), spec, workers):
                candidates = _first_in_file(results, first_row, report.issues, phone_column)
                done = chunk[-1][0] - 1
                pending.append((runner.submit(_store_chunk, candidates, store, phone_column), done))
                while len(pending) > lag:
                    collect(*pending.popleft())
            while len(pending) > 1:
                collect(*pending.popleft())
            runner.submit(_flush, store).result()  # the last chunk is done once every write has landed
            while pending:
                collect(*pending.popleft())
        report.issues.extend(table.issues)  # ragged / oversized / blank rows found while reading
        report.issues.sort(key=_ROW)  # stable: a row's own issues keep the order they were found in
        report.total_rows = done + _trailing_issue_rows(table.issues, done)
        if progress is not None:
            progress(report.total_rows, report.total_rows)
        logger.info("import %s: %s", filename, report.summary())
        return report


_ROW = attrgetter("row")
Stored = tuple[int, list[ImportIssue]]


def _first_in_file(results: Result, first_row: dict[str, int], issues: list[ImportIssue],
                   column: str) -> list[NormalizedLead]:
    """The chunk's leads whose number the file has not had yet; the row issues and the in-file
    duplicates go to ``issues``. ``first_row`` (number -> row) spans the whole file."""
    candidates: list[NormalizedLead] = []
    for lead, row_issues in results:
        if row_issues:
            issues.extend(row_issues)
        if lead is None:
            continue
        seen = first_row.get(lead.phone_e164)
        if seen is not None:
            issues.append(ImportIssue(lead.row, column, f"duplicate of row {seen} in this file", lead.phone_e164))
            continue
        first_row[lead.phone_e164] = lead.row
        candidates.append(lead)
    return candidates


class _Inline:
    """The ThreadPoolExecutor surface that :func:`import_file` uses, running the call at once."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Stored], *args: object) -> Future[Stored]:
        future: Future[Stored] = Future()
        future.set_result(fn(*args))  # an exception propagates here and now
        return future


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic GC for an import (why: the module docstring); reference counting still frees."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


Spec = tuple[list[str], Mapping[str, str], str, "frozenset[int] | None"]
Chunk = list[tuple[int, list[str]]]
Result = list[tuple["NormalizedLead | None", "Sequence[ImportIssue]"]]
_worker_normalizer: RowNormalizer | None = None


def _make_normalizer(spec: Spec) -> RowNormalizer:
    header, mapping, region, allowed = spec
    return RowNormalizer(header, mapping, PhoneNormalizer(region, allowed))


def _init_worker(spec: Spec) -> None:
    global _worker_normalizer  # one per worker process, built once
    gc.disable()  # a worker only normalises chunks: no reference cycles (see the module docstring)
    _worker_normalizer = _make_normalizer(spec)


def _normalize_chunk(chunk: Chunk) -> Result:
    assert _worker_normalizer is not None
    normalizer = _worker_normalizer
    # Most rows have no issues: () pickles as one shared object, an empty list as one per row.
    return [(lead, issues or ()) for lead, issues in (normalize_row(row, cells, normalizer) for row, cells in chunk)]


def _normalized_chunks(chunks: Iterable[Chunk], spec: Spec, workers: int) -> Iterator[tuple[Chunk, Result]]:
    if workers <= 1:
        normalize = _make_normalizer(spec)
        for chunk in chunks:
            yield chunk, [normalize_row(row, cells, normalize) for row, cells in chunk]
        return
    # "spawn": never fork a process that may hold database connections or threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(spec,)) as pool:
        pending: deque[tuple[Chunk, Future[Result]]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(_normalize_chunk, chunk)))
            if len(pending) > workers:  # bounded read-ahead: memory stays a few chunks deep
                done_chunk, future = pending.popleft()
                yield done_chunk, future.result()
        while pending:
            done_chunk, future = pending.popleft()
            yield done_chunk, future.result()


def _store_chunk(candidates: list[NormalizedLead], store: LeadStore, column: str) -> Stored:
    """Scrub one chunk against the list and the DNC, store the rest: (stored, issues)."""
    issues: list[ImportIssue] = []
    if not candidates:
        return 0, issues
    numbers = [lead.phone_e164 for lead in candidates]
    existing = store.existing_phones(numbers)
    dnc = store.dnc_phones(numbers)
    if not existing and not dnc:
        return store.write(candidates), issues
    keep: list[NormalizedLead] = []
    for lead in candidates:
        if lead.phone_e164 in existing:
            issues.append(ImportIssue(lead.row, column, f"already in this list (lead {existing[lead.phone_e164]})",
                                      lead.phone_e164))
        elif lead.phone_e164 in dnc:
            issues.append(ImportIssue(lead.row, column, f"on the {dnc[lead.phone_e164]} DNC list", lead.phone_e164))
        else:
            keep.append(lead)
    return (store.write(keep) if keep else 0), issues


def _flush(store: LeadStore) -> Stored:
    store.flush()
    return 0, []


def _phone_column(mapping: Mapping[str, str]) -> str:
    return next((s for s, t in mapping.items() if t == "phone"), "phone")


def _trailing_issue_rows(issues: list[ImportIssue], done: int) -> int:
    """Rows after the last good row exist only as issues; count them into the total."""
    last = max((i.row for i in issues), default=0) - 1
    return max(last - done, 0)
