"""The ``/sql`` page's gatekeeper: one read-only statement, run under hard limits. Pure: no I/O.

Two layers, on purpose (neither is trusted alone):

1. :func:`validate_sql` lexes the text (quotes, comments) and refuses anything but ONE statement
   starting with SELECT / WITH / DESCRIBE / SHOW / EXPLAIN; no ``INTO OUTFILE``, no ``SETTINGS``
   or ``FORMAT`` clause (the limits and the wire format are ours), no table functions that reach
   outside the server (``file``, ``url``, ``s3``, ``remote``, ``mysql``, ``postgresql``, ...).
   What runs is the *normalised* text (comments removed), i.e. exactly what was validated.
2. :data:`QUERY_SETTINGS` go with every query: ``readonly=2`` (ClickHouse refuses writes and
   changing ``readonly`` itself; see https://clickhouse.com/docs/operations/settings/permissions-for-queries),
   ``max_result_rows`` + ``result_overflow_mode='break'`` and ``max_execution_time``.
   ``break`` stops at a block boundary, so the caller also cuts the result at :data:`MAX_ROWS`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MAX_ROWS = 10_000
MAX_EXECUTION_S = 10
MAX_SQL_CHARS = 20_000
QUERY_SETTINGS: dict[str, object] = {
    "readonly": 2,
    "max_result_rows": MAX_ROWS,
    "result_overflow_mode": "break",
    "max_execution_time": MAX_EXECUTION_S,
    "max_memory_usage": 2 * 1024**3,
}
ALLOWED_FIRST = frozenset({"SELECT", "WITH", "DESCRIBE", "DESC", "SHOW", "EXPLAIN"})
# Words that never belong in a read-only statement (outside quotes). A column literally named
# like one of them has to be written `quoted`.
FORBIDDEN_WORDS = frozenset({
    "INSERT", "DROP", "ALTER", "CREATE", "ATTACH", "DETACH", "RENAME", "TRUNCATE", "OPTIMIZE", "GRANT",
    "REVOKE", "KILL", "EXCHANGE", "UNDROP", "OUTFILE", "SETTINGS", "FORMAT", "SET", "USE", "BACKUP", "RESTORE",
})
# Table (and scalar) functions that read or write outside this server, by name prefix, lower case:
# https://clickhouse.com/docs/sql-reference/table-functions
OUTSIDE_FUNCTIONS = (
    "file", "url", "s3", "gcs", "oss", "cos", "azureblobstorage", "hdfs", "remote", "cluster", "mysql",
    "postgresql", "mongodb", "redis", "sqlite", "odbc", "jdbc", "executable", "hive", "iceberg", "deltalake",
    "hudi", "input", "format", "paimon", "arrowflight", "ytsaurus", "fuzzjson", "fuzzquery", "prometheusquery",
)


@dataclass(frozen=True)
class SqlResult:
    """What /sql shows: column names, rows of JSON-safe values, whether rows were cut."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


class SqlRefused(ValueError):
    """The statement is not allowed on /sql; ``str(exc)`` is the message shown to the user."""


@dataclass(frozen=True)
class CheckedSql:
    sql: str  # normalised: comments removed, trailing ';' dropped
    kind: str  # the first keyword, upper case


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _strip(sql: str) -> tuple[str, list[str]]:
    """``(text without comments, bare words)``; quoted strings and identifiers are kept verbatim
    in the text but never reported as words. Raises :class:`SqlRefused` on unterminated quotes
    or comments and on characters ClickHouse would read as something we do not lex (``#``, ``$``)."""
    out: list[str] = []
    words: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote inside the literal
                        j += 2
                        continue
                    break
                j += 1
            if j >= n:
                raise SqlRefused("unterminated quoted string or identifier")
            out.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise SqlRefused("unterminated /* comment */")
            if "/*" in sql[i + 2:j]:
                raise SqlRefused("nested comments are not allowed")
            out.append(" ")
            i = j + 2
        elif ch in "#$":
            # '#' starts a comment in some ClickHouse versions, '$' a heredoc string: refuse
            # rather than guess how the server will read them.
            raise SqlRefused(f"the character {ch!r} is only allowed inside quotes (use -- for comments)")
        else:
            match = _WORD.match(sql, i)
            if match and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                words.append(match.group(0))
                out.append(match.group(0))
                i = match.end()
            else:
                out.append(ch)
                i += 1
    return "".join(out), words


def _outside_function(text: str) -> str | None:
    """The first bare identifier called like a function whose name reaches outside the server."""
    for match in re.finditer(r"(?<![\w`\".])([A-Za-z_][A-Za-z0-9_]*)\s*\(", _blank_quotes(text)):
        name = match.group(1).lower()
        if name.startswith(OUTSIDE_FUNCTIONS):
            return match.group(1)
    return None


def _blank_quotes(text: str) -> str:
    """Replace quoted literals/identifiers by same-length blanks (``text`` is already lexed)."""
    return re.sub(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`(?:[^`\\]|\\.|``)*`",
                  lambda m: " " * len(m.group(0)), text)


def validate_sql(sql: object) -> CheckedSql:
    """Accept one read-only statement or raise :class:`SqlRefused` saying why."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlRefused("enter a SELECT statement")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused(f"the statement is longer than {MAX_SQL_CHARS:,} characters")
    if "\x00" in sql:
        raise SqlRefused("the statement contains a NUL character")
    text, words = _strip(sql)
    text = text.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if ";" in _blank_quotes(text):
        raise SqlRefused("only one statement at a time: remove the ';' and what follows")
    if not words:
        raise SqlRefused("enter a SELECT statement")
    first = words[0].upper()
    if first not in ALLOWED_FIRST or not re.match(r"^\(*\s*" + re.escape(words[0]), text):
        raise SqlRefused(f"only SELECT, WITH, DESCRIBE, SHOW and EXPLAIN are allowed, not {words[0].upper()}")
    bad = next((w.upper() for w in words if w.upper() in FORBIDDEN_WORDS), None)
    if bad == "OUTFILE":
        raise SqlRefused("INTO OUTFILE is not allowed: use the CSV export")
    if bad in ("SETTINGS", "SET"):
        raise SqlRefused("SETTINGS are not allowed: the row and time limits are fixed")
    if bad == "FORMAT":
        raise SqlRefused("FORMAT is not allowed: results are shown as a grid (export CSV from there)")
    if bad is not None:
        raise SqlRefused(f"{bad} is not allowed: this page runs read-only queries")
    function = _outside_function(text)
    if function is not None:
        raise SqlRefused(f"the function {function}() reaches outside the analytics database and is not allowed")
    return CheckedSql(sql=text, kind=first)


def truncate_rows(rows: Sequence[Sequence[Any]], limit: int = MAX_ROWS) -> tuple[list[Sequence[Any]], bool]:
    """At most ``limit`` rows, and whether some were cut (``result_overflow_mode='break'`` stops
    at a block boundary, so the server may send more than ``max_result_rows``)."""
    return (list(rows[:limit]), True) if len(rows) > limit else (list(rows), False)
