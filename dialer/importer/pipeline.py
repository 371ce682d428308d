"""The import as one plain function: bytes in, leads stored, an :class:`ImportReport` out.

Rows flow in chunks (default 50,000): parse -> normalise -> in-file duplicates -> against the list
-> DNC scrub -> store. A bad row is reported (row, column, reason) and the import goes on; only a
file that cannot be read at all raises :class:`~dialer.importer.parse.ImportFileError`.
``progress(done_rows, total_rows)`` is called after every chunk so a Celery task can publish it
(``total_rows`` is an estimate until the last call).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Protocol

from dialer.importer.normalize import NormalizedLead, PhoneNormalizer, RowNormalizer, validate_mapping
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
) -> ImportReport:
    """``workers`` > 1 normalises chunks in that many processes (the parse, the in-file duplicate
    check and the store stay in this process, in file order, so results do not depend on it)."""
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
    for chunk, results in _normalized_chunks(_chunks(table.rows, chunk_rows), spec, workers):
        candidates: list[NormalizedLead] = []
        for lead, issues in results:
            report.issues.extend(issues)
            if lead is None:
                continue
            seen = first_row.get(lead.phone_e164)
            if seen is not None:
                report.issues.append(ImportIssue(lead.row, phone_column, f"duplicate of row {seen} in this file",
                                                 lead.phone_e164))
                continue
            first_row[lead.phone_e164] = lead.row
            candidates.append(lead)
        report.imported += _store_chunk(candidates, store, report, phone_column)
        done = chunk[-1][0] - 1
        if progress is not None:
            progress(done, max(total, done))
    report.issues.extend(table.issues)  # ragged / oversized / blank rows found while reading
    report.total_rows = done + _trailing_issue_rows(table.issues, done)
    if progress is not None:
        progress(report.total_rows, report.total_rows)
    logger.info("import %s: %s", filename, report.summary())
    return report


Spec = tuple[list[str], Mapping[str, str], str, "frozenset[int] | None"]
Chunk = list[tuple[int, list[str]]]
Result = list[tuple["NormalizedLead | None", list[ImportIssue]]]
_worker_normalizer: RowNormalizer | None = None


def _make_normalizer(spec: Spec) -> RowNormalizer:
    header, mapping, region, allowed = spec
    return RowNormalizer(header, mapping, PhoneNormalizer(region, allowed))


def _init_worker(spec: Spec) -> None:
    global _worker_normalizer  # one per worker process, built once
    _worker_normalizer = _make_normalizer(spec)


def _normalize_chunk(chunk: Chunk) -> Result:
    assert _worker_normalizer is not None
    return [_worker_normalizer(row, cells) for row, cells in chunk]


def _normalized_chunks(chunks: Iterable[Chunk], spec: Spec, workers: int) -> Iterator[tuple[Chunk, Result]]:
    if workers <= 1:
        normalize = _make_normalizer(spec)
        for chunk in chunks:
            yield chunk, [normalize(row, cells) for row, cells in chunk]
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


def _store_chunk(candidates: list[NormalizedLead], store: LeadStore, report: ImportReport, column: str) -> int:
    if not candidates:
        return 0
    numbers = [lead.phone_e164 for lead in candidates]
    existing = store.existing_phones(numbers)
    dnc = store.dnc_phones(numbers)
    keep: list[NormalizedLead] = []
    for lead in candidates:
        if lead.phone_e164 in existing:
            report.issues.append(ImportIssue(lead.row, column, f"already in this list (lead {existing[lead.phone_e164]})",
                                             lead.phone_e164))
        elif lead.phone_e164 in dnc:
            report.issues.append(ImportIssue(lead.row, column, f"on the {dnc[lead.phone_e164]} DNC list", lead.phone_e164))
        else:
            keep.append(lead)
    return store.write(keep) if keep else 0


def _phone_column(mapping: Mapping[str, str]) -> str:
    return next((s for s, t in mapping.items() if t == "phone"), "phone")


def _trailing_issue_rows(issues: list[ImportIssue], done: int) -> int:
    """Rows after the last good row exist only as issues; count them into the total."""
    last = max((i.row for i in issues), default=0) - 1
    return max(last - done, 0)
