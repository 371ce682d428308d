"""Just enough ClickHouse SQL lexing for the embedded HTTP server and the migration runner.

The embedded server (:mod:`analytics.server`) must do what a ClickHouse server does before it
parses a statement: find where an ``INSERT ... FORMAT <fmt>`` header ends and the (possibly
binary) data begins, tell read statements from writes, and split a migration file into
statements. It never rewrites SQL beyond splicing ``FROM INFILE`` into an INSERT header.

The scanner skips string literals ('...'), quoted identifiers (`...`, "..."), comments
(``--``, ``#!``, ``/* */``) and parenthesised groups, so a column called `format` or a string
containing ``SETTINGS`` is never mistaken for a clause keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_QUOTES = {ord("'"), ord("`"), ord('"')}

# Statements that only read (ClickHouse's HTTP GET and ``readonly`` users may run these).
READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK"})

# Table functions that reach outside the database (files, network, the host process).
# The embedded server refuses them to its read-only user: chdb has no access control.
EXTERNAL_TABLE_FUNCTIONS = frozenset(
    {
        "file", "url", "urlcluster", "s3", "s3cluster", "gcs", "azureblobstorage", "hdfs", "hdfscluster",
        "remote", "remotesecure", "cluster", "clusterallreplicas", "mysql", "postgresql", "sqlite", "mongodb",
        "redis", "odbc", "jdbc", "executable", "python", "iceberg", "deltalake", "hudi", "input", "infile",
        "outfile", "filesystem", "dictionary", "loop",
    }
)


@dataclass(frozen=True)
class Token:
    """A bare word at parenthesis depth ``depth``; ``start``/``end`` are byte offsets."""

    word: str
    start: int
    end: int
    depth: int


def _skip_quoted(sql: bytes, i: int) -> int:
    quote = sql[i]
    i += 1
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == ord("\\"):
            i += 2
            continue
        if c == quote:
            if i + 1 < n and sql[i + 1] == quote:  # doubled quote escapes itself
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_comment(sql: bytes, i: int) -> int | None:
    """If a comment starts at ``i`` return the offset after it, else None."""
    if sql.startswith(b"--", i) or sql.startswith(b"#!", i) or sql.startswith(b"# ", i):
        end = sql.find(b"\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith(b"/*", i):
        end = sql.find(b"*/", i + 2)
        return len(sql) if end < 0 else end + 2
    return None


def tokens(sql: bytes, stop_at_format: bool = False) -> list[Token]:
    """Bare words outside quotes and comments, with their parenthesis depth.

    With ``stop_at_format`` the scan ends after ``FORMAT <name>`` at depth 0: what follows is
    insert data (possibly binary) and must not be lexed.
    """
    out: list[Token] = []
    i, n, depth = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in _QUOTES:
            i = _skip_quoted(sql, i)
            continue
        after_comment = _skip_comment(sql, i)
        if after_comment is not None:
            i = after_comment
            continue
        if c == ord("("):
            depth += 1
        elif c == ord(")"):
            depth = max(0, depth - 1)
        elif c == ord(";") and depth == 0 and stop_at_format:
            break
        else:
            m = _WORD.match(sql, i)
            if m and (i == 0 or not (sql[i - 1 : i].isalnum() or sql[i - 1 : i] == b"_")):
                out.append(Token(m.group().decode().upper(), m.start(), m.end(), depth))
                i = m.end()
                if stop_at_format and depth == 0 and len(out) >= 2 and out[-2].word == "FORMAT" and out[-2].depth == 0:
                    break
                continue
        i += 1
    return out


def first_keyword(sql: str | bytes) -> str:
    """The statement's leading keyword, upper-cased ('' for an empty statement)."""
    raw = sql.encode() if isinstance(sql, str) else sql
    toks = tokens(raw[:4096], stop_at_format=True)
    return toks[0].word if toks else ""


def is_read_only(sql: str | bytes) -> bool:
    return first_keyword(sql) in READ_KEYWORDS


def external_table_functions(sql: str | bytes) -> set[str]:
    """Names of outside-reaching table functions called in ``sql`` (``file(...)``, ``url(...)``...)."""
    raw = sql.encode() if isinstance(sql, str) else sql
    found: set[str] = set()
    for tok in tokens(raw):
        name = tok.word.lower()
        if name in EXTERNAL_TABLE_FUNCTIONS and raw[tok.end : tok.end + 64].lstrip()[:1] == b"(":
            found.add(name)
        if tok.word in ("INFILE", "OUTFILE"):
            found.add(tok.word.lower())
    return found


def output_format(sql: str | bytes) -> str | None:
    """The ``FORMAT`` named at the top level of a (non-INSERT) statement, if any."""
    raw = sql.encode() if isinstance(sql, str) else sql
    toks = [t for t in tokens(raw) if t.depth == 0]
    for a, b in zip(toks, toks[1:], strict=False):
        if a.word == "FORMAT":
            return raw[b.start : b.end].decode()
    return None


@dataclass(frozen=True)
class InsertWithData:
    """``INSERT ... FORMAT fmt`` followed by data, as a ClickHouse server splits it.

    ``head`` is the statement up to (not including) its SETTINGS/FORMAT clauses, ``settings``
    the ``SETTINGS ...`` text (or ''), ``fmt`` the format name and ``data`` the raw payload.
    """

    head: str
    settings: str
    fmt: str
    data: bytes

    def infile_sql(self, path: str) -> str:
        """The same insert reading its data from ``path`` (chdb takes no request body)."""
        quoted = "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"
        settings = f" {self.settings}" if self.settings else ""
        return f"{self.head} FROM INFILE {quoted}{settings} FORMAT {self.fmt}"


def split_insert(sql: bytes) -> InsertWithData | None:
    """Split ``INSERT INTO t [(cols)] [SETTINGS ...] FORMAT fmt<newline>data``; None otherwise.

    ClickHouse starts the data right after the format name and the spaces and the one line
    break that follow it. Binary formats (Native) may begin with a byte that looks like
    whitespace (a 9-column block starts with 0x09), so nothing beyond that first line break is
    skipped.
    """
    toks = tokens(sql, stop_at_format=True)
    if not toks or toks[0].word != "INSERT":
        return None
    top = [t for t in toks if t.depth == 0]
    fmt_idx = next((i for i, t in enumerate(top) if t.word == "FORMAT"), None)
    if fmt_idx is None or fmt_idx + 1 >= len(top):
        return None
    if any(t.word in ("SELECT", "WITH", "VALUES", "INFILE") for t in top[:fmt_idx]):
        return None  # INSERT ... SELECT / VALUES / FROM INFILE: plain SQL, no request data
    fmt_tok, name_tok = top[fmt_idx], top[fmt_idx + 1]
    settings_tok = next((t for t in top[:fmt_idx] if t.word == "SETTINGS"), None)
    head_end = settings_tok.start if settings_tok else fmt_tok.start
    settings = sql[settings_tok.start : fmt_tok.start].decode().strip() if settings_tok else ""
    i = name_tok.end
    while i < len(sql) and sql[i] in b" \t":
        i += 1
    if sql.startswith(b"\r\n", i):
        i += 2
    elif sql.startswith(b"\n", i):
        i += 1
    return InsertWithData(
        head=sql[:head_end].decode().strip(),
        settings=settings,
        fmt=sql[name_tok.start : name_tok.end].decode(),
        data=sql[i:],
    )


def split_statements(sql: str) -> list[str]:
    """Split a migration file on top-level ``;`` (not inside quotes or comments); drop empties."""
    raw = sql.encode()
    parts: list[str] = []
    start, i, n = 0, 0, len(raw)
    while i < n:
        c = raw[i]
        if c in _QUOTES:
            i = _skip_quoted(raw, i)
            continue
        after_comment = _skip_comment(raw, i)
        if after_comment is not None:
            i = after_comment
            continue
        if c == ord(";"):
            parts.append(raw[start:i].decode())
            start = i + 1
        i += 1
    parts.append(raw[start:].decode())
    return [p.strip() for p in parts if tokens(p.encode())]
