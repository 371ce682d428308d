"""The ``/sql`` page's gatekeeper: one SELECT on the analytics database, run under hard limits.

Pure: no I/O. Three walls, on purpose (none is trusted alone):

1. :func:`validate_sql` lexes the text (quotes, comments) and refuses anything but ONE ``SELECT``
   (``WITH … SELECT`` and parenthesised ``UNION`` of SELECTs are SELECTs; ``DESCRIBE``, ``SHOW``
   and ``EXPLAIN`` are not: issue 7 says "a single SELECT"). No ``INTO OUTFILE``, no
   ``SETTINGS`` / ``FORMAT`` clause (the limits and the wire format are ours), no ``system`` /
   ``information_schema`` tables, no table in another database, and no table function except
   the ones that only generate numbers (:data:`ALLOWED_TABLE_FUNCTIONS`). ClickHouse's
   ``readonly`` does **not** stop ``file()``/``url()`` (checked on chdb 26.9: ``SELECT … FROM
   file('/etc/hostname')`` runs under ``readonly = 2``), so this list is a real wall, not a nicety.
   What runs is the *normalised* text (comments removed), i.e. exactly what was validated.
2. :func:`check_query_tree` reads ClickHouse's own resolution of the statement
   (``EXPLAIN QUERY TREE``: every ``TABLE … table_name: db.t`` and ``TABLE_FUNCTION …
   table_function_name: f``), so aliases, CTEs and quoting tricks the lexer might misread are
   judged on what the server would actually read.
3. :data:`QUERY_SETTINGS` go with every query: ``readonly=2`` (ClickHouse refuses writes and
   changing ``readonly`` itself; see https://clickhouse.com/docs/operations/settings/permissions-for-queries),
   ``max_result_rows`` + ``result_overflow_mode='break'``, ``max_execution_time`` and
   ``max_memory_usage``. ``break`` stops at a block boundary, so the caller also cuts the result at
   :data:`MAX_ROWS`. On a real server the page may also run as the read-only user of
   ``sql/clickhouse/roles/readonly.sql`` (``CLICKHOUSE_READONLY_URL``).
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
    # Enough for any page of the analytics tables (10 M CDRs, several scans), not for a runaway join.
    "max_rows_to_read": 2_000_000_000,
}
# For the EXPLAIN QUERY TREE check: read-only and bounded in time, but no result limit.
EXPLAIN_SETTINGS: dict[str, object] = {"readonly": 2, "max_execution_time": MAX_EXECUTION_S}
ALLOWED_FIRST = frozenset({"SELECT", "WITH"})
# Words that never belong in one SELECT (outside quotes). A column literally named like one of
# them has to be written `quoted`. DESC stays allowed: it is ORDER BY's keyword too.
FORBIDDEN_WORDS = frozenset({
    "INSERT", "DROP", "ALTER", "CREATE", "ATTACH", "DETACH", "RENAME", "TRUNCATE", "OPTIMIZE", "GRANT",
    "REVOKE", "KILL", "EXCHANGE", "UNDROP", "OUTFILE", "SETTINGS", "FORMAT", "SET", "USE", "BACKUP", "RESTORE",
    "DESCRIBE", "SHOW", "EXPLAIN",
})
# Databases no /sql query may name: server internals and the SQL-standard views over them.
SYSTEM_DATABASES = frozenset({"system", "information_schema"})
# Table functions that only generate rows (no data of any database, no I/O): what a data team
# uses for calendars and series. Everything else in FROM position is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series",
                                     "generateseries", "values"})
# Table (and scalar) functions that read or write outside this server, by name prefix, lower case:
# https://clickhouse.com/docs/sql-reference/table-functions
OUTSIDE_FUNCTIONS = (
    "file", "url", "s3", "gcs", "oss", "cos", "azureblobstorage", "hdfs", "remote", "cluster", "mysql",
    "postgresql", "mongodb", "redis", "sqlite", "odbc", "jdbc", "executable", "hive", "iceberg", "deltalake",
    "hudi", "input", "format", "paimon", "arrowflight", "ytsaurus", "fuzzjson", "fuzzquery", "prometheusquery",
)
# Functions that read another table (possibly of another database) by a *string* argument, which
# no identifier check sees: refused anywhere in the statement (exact lower-case names / prefixes).
TABLE_READING_FUNCTIONS = frozenset({"merge", "dictionary", "mergetreeindex", "mergetreeprojection", "loop",
                                     "viewifpermitted", "viewexplain", "hascolumnintable", "getsubcolumn"})
TABLE_READING_PREFIXES = ("dictget", "dicthas", "dictisin", "joinget")

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


def _blank_quotes(text: str) -> str:
    """Replace quoted literals/identifiers by same-length blanks (``text`` is already lexed)."""
    return re.sub(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`(?:[^`\\]|\\.|``)*`",
                  lambda m: " " * len(m.group(0)), text)


_TOKEN = re.compile(r"""\s+|'(?:[^'\\]|\\.|'')*'|`((?:[^`\\]|\\.|``)*)`|"((?:[^"\\]|\\.|"")*)"|([A-Za-z_][A-Za-z0-9_]*)|(.)""",
                    re.DOTALL)


@dataclass(frozen=True)
class _Tok:
    kind: str  # "ident" (bare or quoted), "str", "punct"
    text: str  # identifiers unquoted; punctuation as is
    bare: bool = False  # an unquoted word (may be a keyword or a function name)


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        whole = m.group(0)
        if whole.isspace():
            continue
        if whole.startswith("'"):
            out.append(_Tok("str", whole))
        elif m.group(1) is not None:
            out.append(_Tok("ident", m.group(1)))
        elif m.group(2) is not None:
            out.append(_Tok("ident", m.group(2)))
        elif m.group(3) is not None:
            out.append(_Tok("ident", m.group(3), bare=True))
        else:
            out.append(_Tok("punct", whole))
    return out


def _check_tables(text: str, database: str | None) -> None:
    """Refuse ``system.x`` / ``information_schema.x``, ``other_db.t`` after FROM / JOIN / IN, table
    functions other than the row generators, and functions that read a table named by a string."""
    toks = _tokens(text)
    for i, tok in enumerate(toks):
        if tok.kind != "ident":
            continue
        prev = toks[i - 1] if i else None
        prev_kw = prev.text.upper() if prev is not None and prev.bare else ""
        dotted = i + 2 < len(toks) and toks[i + 1].text == "." and toks[i + 2].kind == "ident"
        if dotted and (prev is None or prev.text != "."):
            if tok.text.lower() in SYSTEM_DATABASES:
                raise SqlRefused(f"{tok.text}.{toks[i + 2].text} is a server table: only the analytics tables "
                                 "may be queried here (see the schema on the left)")
            if database is not None and prev_kw in ("FROM", "JOIN", "IN") and tok.text != database:
                raise SqlRefused(f"{tok.text}.{toks[i + 2].text} is in another database: only the analytics "
                                 f"database ({database}) may be queried here")
        called = tok.bare and i + 1 < len(toks) and toks[i + 1].text == "("
        if not called:
            continue
        name = tok.text.lower()
        if name.startswith(OUTSIDE_FUNCTIONS):
            raise SqlRefused(f"the function {tok.text}() reaches outside the analytics database and is not allowed")
        if name in TABLE_READING_FUNCTIONS or name.startswith(TABLE_READING_PREFIXES):
            raise SqlRefused(f"the function {tok.text}() reads tables by name and is not allowed: "
                             "query the analytics tables directly")
        if prev_kw in ("FROM", "JOIN") and name not in ALLOWED_TABLE_FUNCTIONS:
            raise SqlRefused(f"the table function {tok.text}() is not allowed: query the analytics tables "
                             f"(row generators such as numbers() are fine)")


def validate_sql(sql: object, database: str | None = None) -> CheckedSql:
    """Accept one SELECT (on ``database``'s tables when given) or raise :class:`SqlRefused` saying why."""
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
        hint = " (the schema on the left lists tables and columns)" if first in ("DESCRIBE", "DESC", "SHOW") else ""
        raise SqlRefused(f"only a single SELECT statement is allowed, not {first}{hint}")
    if first == "WITH" and "SELECT" not in (w.upper() for w in words):
        raise SqlRefused("WITH must be followed by a SELECT")
    bad = next((w.upper() for w in words if w.upper() in FORBIDDEN_WORDS), None)
    if bad == "OUTFILE":
        raise SqlRefused("INTO OUTFILE is not allowed: use the CSV export")
    if bad in ("SETTINGS", "SET"):
        raise SqlRefused("SETTINGS are not allowed: the row and time limits are fixed")
    if bad == "FORMAT":
        raise SqlRefused("FORMAT is not allowed: results are shown as a grid (export CSV from there)")
    if bad in ("DESCRIBE", "SHOW", "EXPLAIN"):
        raise SqlRefused(f"only a single SELECT statement is allowed: {bad} is not")
    if bad is not None:
        raise SqlRefused(f"{bad} is not allowed: this page runs read-only queries")
    _check_tables(text, database)
    return CheckedSql(sql=text, kind="SELECT")


IMPLICIT_TABLE = "system.one"
_TREE_TABLE = re.compile(r"^\s*TABLE id: \d+,.*?\btable_name: (\S+)", re.MULTILINE)
_TREE_FUNCTION = re.compile(r"^\s*TABLE_FUNCTION id: \d+,.*?\btable_function_name: (\S+)", re.MULTILINE)


def check_query_tree(tree: str, database: str) -> None:
    """Refuse what ClickHouse's ``EXPLAIN QUERY TREE`` says the statement reads outside ``database``."""
    for raw in _TREE_TABLE.findall(tree):
        name = raw.rstrip(",").replace("`", "")
        db, dot, table = name.partition(".")
        if name == IMPLICIT_TABLE:
            continue  # what a SELECT without FROM reads: one row, one constant column
        if not dot or db != database:
            raise SqlRefused(f"{name} is outside the analytics database ({database}): only its tables may be queried")
    for raw in _TREE_FUNCTION.findall(tree):
        name = raw.rstrip(",")
        if name.lower() not in ALLOWED_TABLE_FUNCTIONS:
            raise SqlRefused(f"the table function {name}() is not allowed: query the analytics tables")


def truncate_rows(rows: Sequence[Sequence[Any]], limit: int = MAX_ROWS) -> tuple[list[Sequence[Any]], bool]:
    """At most ``limit`` rows, and whether some were cut (``result_overflow_mode='break'`` stops
    at a block boundary, so the server may send more than ``max_result_rows``)."""
    return (list(rows[:limit]), True) if len(rows) > limit else (list(rows), False)
