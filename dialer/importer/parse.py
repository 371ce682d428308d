"""Bytes -> header + rows, for CSV (any common encoding/delimiter) and XLSX, never dying on a bad row.

File-level problems (binary content, no header, an undecodable XLSX) raise :class:`ImportFileError`
with a message a person can act on. Row-level problems (ragged rows, a 10 MB cell) become
:class:`~dialer.importer.report.ImportIssue` entries and the reader moves on.

Row numbers are spreadsheet row numbers: the header is row 1, the first data row is row 2 (what a
person sees in Excel/LibreOffice). For CSV it counts records, so a quoted cell spanning two lines
still counts as one row.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from core.exceptions import ValidationError
from dialer.importer.report import ImportIssue

logger = logging.getLogger(__name__)

MAX_CELL_CHARS = 64 * 1024
# csv's own limit (128 KiB) raises mid-file and loses the reader's place; read big cells whole and
# reject them ourselves with a row-level issue instead.
csv.field_size_limit(256 * 1024 * 1024)


class ImportFileError(ValidationError):
    """The file as a whole cannot be read (binary, empty, unknown format)."""

    error_id = "import_file_invalid"


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (spreadsheet row number, cells)
    encoding: str
    notes: list[str] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)  # filled while ``rows`` is consumed
    total_rows_estimate: int = 0


def decode(data: bytes) -> tuple[str, str, list[str]]:
    """(text, encoding, notes). BOMs first, then strict UTF-8, then cp1252 (never fails: latin-1 last)."""
    notes: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig", notes
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", notes
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"file has a UTF-16 byte-order mark but is not valid UTF-16: {exc}") from exc
    head = data[:65536]
    if _looks_like_bomless_utf16(head):
        encoding = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        notes.append(f"no byte-order mark; detected {encoding} from its zero bytes")
        return data.decode(encoding, errors="replace"), encoding, notes
    if b"\x00" in head:
        raise ImportFileError("this looks like a binary file (it contains NUL bytes), not a CSV or XLSX")
    try:
        return data.decode("utf-8"), "utf-8", notes
    except UnicodeDecodeError as exc:
        notes.append(f"not valid UTF-8 (byte {exc.start}); read as Windows-1252 -- check accented names")
    try:
        return data.decode("cp1252"), "cp1252", notes
    except UnicodeDecodeError:
        notes.append("bytes undefined in Windows-1252 found; read as ISO-8859-1")
        return data.decode("latin-1"), "latin-1", notes


def _looks_like_bomless_utf16(head: bytes) -> bool:
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    # ASCII text in UTF-16 has a zero in (nearly) every other byte.
    return max(even.count(0), odd.count(0)) > 0.4 * len(odd) and min(even.count(0), odd.count(0)) < 0.05 * len(odd)


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _clean_header(raw: list[str], notes: list[str]) -> list[str]:
    header: list[str] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(raw, start=1):
        name = (name or "").strip().lstrip("\ufeff") or f"column_{index}"
        if name in seen:
            seen[name] += 1
            renamed = f"{name}_{seen[name]}"
            notes.append(f"duplicate column {name!r} renamed {renamed!r}")
            name = renamed
        else:
            seen[name] = 1
        header.append(name)
    return header


def read_csv(data: bytes, max_cell_chars: int = MAX_CELL_CHARS) -> Table:
    text, encoding, notes = decode(data)
    if not text.strip():
        raise ImportFileError("the file is empty")
    if "\x00" in text[:65536]:
        raise ImportFileError("this looks like a binary file (it contains NUL characters), not a CSV")
    delimiter = _sniff_delimiter(text[:16384])  # the Sniffer's regexes are slow on big samples
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        raw_header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(f"could not read a header row: {exc}") from exc
    if any(len(cell) > max_cell_chars for cell in raw_header):
        raise ImportFileError("the header row has a cell too large to be a column name; is this really a CSV?")
    header = _clean_header(raw_header, notes)
    table = Table(header, iter(()), encoding, notes, total_rows_estimate=max(text.count("\n"), 1))
    table.rows = _csv_rows(reader, header, table, max_cell_chars, nul_possible="\x00" in text)
    return table


def _csv_rows(reader: Iterator[list[str]], header: list[str], table: Table, max_cell_chars: int,
              nul_possible: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Good rows as (row number, cells); the others become issues. ``nul_possible``: the text has
    a NUL somewhere past the first 64 KiB (PostgreSQL stores no NUL in text: a row-level error)."""
    width = len(header)
    row_number = 1
    while True:
        try:
            for cells in reader:  # one loop, not next() per row: the try is set up once per error
                row_number += 1
                if not cells or not (cells[0].strip() or any(c.strip() for c in cells)):
                    table.issues.append(ImportIssue(row_number, None, "empty row", severity="skipped"))
                    continue
                if max(map(len, cells)) > max_cell_chars:
                    big = next(i for i, c in enumerate(cells) if len(c) > max_cell_chars)
                    column = header[big] if big < width else f"extra field {big + 1}"
                    table.issues.append(ImportIssue(
                        row_number, column, f"cell too large ({len(cells[big]):,} characters; limit {max_cell_chars:,})"))
                    continue
                if len(cells) != width:
                    # Trailing empty fields (``a,b,c,,``) are a spreadsheet habit, not a broken row.
                    while len(cells) > width and not cells[-1].strip():
                        cells.pop()
                    if len(cells) != width:
                        kind = "too many" if len(cells) > width else "too few"
                        table.issues.append(ImportIssue(row_number, None, f"{kind} fields: {len(cells)} instead of {width}"))
                        continue
                if nul_possible and any("\x00" in c for c in cells):
                    nul = next(i for i, c in enumerate(cells) if "\x00" in c)
                    table.issues.append(ImportIssue(row_number, header[nul], "NUL character in the cell (binary data?)",
                                                    ImportIssue.excerpt(cells[nul].replace("\x00", "\\0"))))
                    continue
                yield row_number, cells
            return
        except csv.Error as exc:  # a row the reader cannot take; it goes on with the next one
            row_number += 1
            table.issues.append(ImportIssue(row_number, None, f"unreadable row: {exc}"))


def read_xlsx(data: bytes, max_cell_chars: int = MAX_CELL_CHARS) -> Table:
    import zipfile

    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"not a readable XLSX workbook: {exc}") from exc
    sheet = workbook.worksheets[0]
    notes = [f"read the first sheet {sheet.title!r}"] if len(workbook.worksheets) > 1 else []
    rows = sheet.iter_rows(values_only=True)
    try:
        raw_header = ["" if v is None else str(v) for v in next(rows)]
    except StopIteration as exc:
        raise ImportFileError("the workbook's first sheet is empty") from exc
    header = _clean_header(raw_header, notes)
    table = Table(header, iter(()), "xlsx", notes, total_rows_estimate=max((sheet.max_row or 2) - 1, 1))

    def _cells() -> Iterator[list[str]]:
        for values in rows:
            yield [_xlsx_text(v) for v in values]

    table.rows = _csv_rows(_cells(), header, table, max_cell_chars)
    return table


def _xlsx_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 2125551234.0 -> "2125551234": Excel stores phone numbers as floats
    return str(value)


def read_table(data: bytes, filename: str = "", max_cell_chars: int = MAX_CELL_CHARS) -> Table:
    """Dispatch on content (a ZIP signature is XLSX) rather than trusting the file name."""
    if not data:
        raise ImportFileError("the file is empty")
    if data.startswith(b"PK\x03\x04") or filename.lower().endswith((".xlsx", ".xlsm")):
        return read_xlsx(data, max_cell_chars)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError("legacy .xls workbooks are not supported: save as .xlsx or CSV")
    return read_csv(data, max_cell_chars)
