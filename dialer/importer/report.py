"""The import report: every row that did not land (and every warning), downloadable as CSV.

Spreadsheet-safe export: a cell starting with ``= + - @`` (or tab / carriage return) is a formula
to Excel and LibreOffice -- "CSV injection" (OWASP). Stored lead data keeps the text as given
(flagged at import); every CSV *we* produce neutralises such cells by prefixing ``'``.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_NUMBER = re.compile(r"\d[\d,]*")


def looks_like_formula(value: str) -> bool:
    """True for cells a spreadsheet would evaluate; a plain signed number (``-5``, ``+12``) is harmless."""
    return value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value.strip())


def neutralize(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_safe_csv(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralize(v) for v in row])
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class ImportIssue:
    row: int  # spreadsheet row number: header = 1, first data row = 2
    column: str | None
    reason: str
    value: str = ""  # the offending value, truncated
    severity: str = "error"  # error: row not imported | warning: imported, flagged | skipped: blank row

    @staticmethod
    def excerpt(value: str, limit: int = 80) -> str:
        return value if len(value) <= limit else value[:limit] + f"... ({len(value):,} chars)"


@dataclass
class ImportReport:
    filename: str = ""
    encoding: str = ""
    total_rows: int = 0
    imported: int = 0
    notes: list[str] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({i.row for i in self.issues if i.severity == "error"})

    @property
    def skipped(self) -> int:
        return len({i.row for i in self.issues if i.severity == "skipped"})

    def reasons(self) -> dict[str, int]:
        """Issue counts per kind of reason (row numbers and values folded: "duplicate of row N in this file")."""
        return dict(Counter(_NUMBER.sub("N", i.reason.split(":")[0].split(" (")[0]) for i in self.issues))

    def summary(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "encoding": self.encoding,
            "total_rows": self.total_rows,
            "imported": self.imported,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "warnings": sum(1 for i in self.issues if i.severity == "warning"),
            "reasons": self.reasons(),
            "notes": list(self.notes),
        }

    def to_csv(self) -> str:
        """The downloadable report (row numbers are spreadsheet rows: the header is row 1)."""
        rows: list[Sequence[object]] = [("row", "column", "severity", "reason", "value")]
        rows += [(i.row, i.column or "", i.severity, i.reason, i.value) for i in sorted(self.issues, key=lambda i: i.row)]
        return write_safe_csv(rows)
