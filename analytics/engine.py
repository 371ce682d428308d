"""The chdb engine behind :mod:`analytics.server`: one process, serialized statements.

chdb locks its data folder to one process and runs one statement per connection handle at a
time, so :class:`ChdbEngine` holds a lock around every call. It keeps two handles on the same
engine: ``rw`` for the configured full-access user and ``ro`` with ``readonly = 2`` (ClickHouse
refuses writes and DDL there, but still lets the client change query settings such as
``max_execution_time``) for the read-only user and for requests that ask for ``readonly``.

ClickHouse's HTTP interface scopes settings to one request unless a ``session_id`` keeps them
(https://clickhouse.com/docs/interfaces/http#using-clickhouse-sessions-in-the-http-protocol).
chdb handles keep ``SET`` state forever, so the engine tracks what it has applied on each
handle and brings it to exactly what the next request wants (profile + session + request),
issuing ``SET`` only for the differences: a steady stream from one client costs no extra
statements.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics import sqltext

logger = logging.getLogger(__name__)

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RAW_LITERAL = re.compile(r"^(-?\d+(\.\d+)?|true|false)$", re.IGNORECASE)
_CODE = re.compile(r"\bCode:\s*(\d+)")

# Limits of the read-only profile that its user may not override in a statement.
_READONLY_LOCKED = frozenset({"max_execution_time", "max_memory_usage", "max_result_rows", "max_rows_to_read",
                              "max_bytes_to_read", "timeout_overflow_mode", "result_overflow_mode", "read_overflow_mode"})

# ClickHouse error codes the engine raises itself (src/Common/ErrorCodes.cpp).
SYNTAX_ERROR = 62
UNKNOWN_DATABASE = 81
UNKNOWN_SETTING = 115
READONLY = 164
SESSION_NOT_FOUND = 372
ACCESS_DENIED = 497
STD_EXCEPTION = 1001


class QueryError(Exception):
    """A statement failed; ``message`` is ClickHouse-style ("Code: N. DB::Exception: ...")."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def from_chdb(cls, exc: Exception) -> QueryError:
        text = str(exc).strip() or type(exc).__name__
        match = _CODE.search(text)
        if match:
            return cls(int(match.group(1)), text)
        return cls(STD_EXCEPTION, f"Code: {STD_EXCEPTION}. DB::Exception: {text}. (STD_EXCEPTION)")

    @classmethod
    def make(cls, code: int, name: str, text: str) -> QueryError:
        return cls(code, f"Code: {code}. DB::Exception: {text}. ({name})")


@dataclass
class Statement:
    """One HTTP request, already decoded by the server."""

    sql: bytes
    readonly: bool = False  # the user is read-only, or the request asked for readonly (or is a GET)
    readonly_user: bool = False  # the read-only user: its own, tighter limits
    database: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    default_format: str = "TabSeparated"
    session_id: str | None = None
    session_timeout_s: float = 60.0
    session_check: bool = False


@dataclass
class Outcome:
    body: bytes
    fmt: str | None  # the output format when the statement produced a result set
    summary: dict[str, str]


@dataclass
class _Handle:
    conn: Any
    profile: dict[str, str]
    applied: dict[str, str] = field(default_factory=dict)
    database: str = "default"


@dataclass
class _Session:
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    expires_at: float = 0.0


class ChdbEngine:
    """Serialized access to one chdb data folder, with per-request ClickHouse settings."""

    def __init__(self, path: Path, *, max_execution_time_s: int = 600, readonly_max_execution_time_s: int = 60) -> None:
        import chdb  # imported here: only the owning process loads the engine

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        try:
            rw = chdb.connect(str(path.resolve()))
            ro = chdb.connect(str(path.resolve()))
            # readonly = 2: no writes, no DDL, settings may still be changed per query.
            ro.query("SET readonly = 2", "TabSeparated")
        except Exception as exc:
            from core.exceptions import EngineError

            raise EngineError(f"chdb could not open {path}: {exc}") from exc
        self._rw = _Handle(rw, {"max_execution_time": str(max_execution_time_s)})
        self._ro = _Handle(ro, {"max_execution_time": str(readonly_max_execution_time_s)})
        version, tz = self._rw.conn.query("SELECT version(), timezone()", "TabSeparated").bytes().decode().split("\t")
        self.version = version.strip()
        self.timezone = tz.strip()

    # ---- public --------------------------------------------------------------------------

    def execute(self, stmt: Statement) -> Outcome:
        sql = stmt.sql
        keyword = sqltext.first_keyword(sql)
        if not keyword:
            raise QueryError.make(SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query")
        handle = self._ro if stmt.readonly else self._rw
        if stmt.readonly:
            self._check_readonly(sql, keyword, stmt.readonly_user)
        with self._lock:
            session = self._session(stmt)
            database = stmt.database or (session.database if session else None) or "default"
            profile = self._ro.profile if stmt.readonly_user else self._rw.profile
            wanted = dict(profile)
            if session:
                wanted.update(session.settings)
            wanted.update(stmt.settings)
            if stmt.readonly_user:
                wanted.update(profile)  # the read-only user's limits are not negotiable per request
            self._use(handle, database)
            self._sync_settings(handle, wanted)
            if keyword == "SET":
                return self._run_set(handle, stmt, session)
            if keyword == "USE":
                return self._run_use(handle, stmt, session)
            insert = sqltext.split_insert(sql) if keyword == "INSERT" else None
            if insert is not None:
                return self._run_insert(handle, insert)
            fmt = sqltext.output_format(sql) or stmt.default_format
            result = self._query(handle, sql, stmt.default_format, stmt.params)
            body = result.bytes() or b""
            produces = keyword in sqltext.READ_KEYWORDS or bool(body)
            return Outcome(body, fmt if produces else None, _summary(result))

    def close(self) -> None:
        with self._lock:
            for handle in (self._ro, self._rw):
                try:
                    handle.conn.close()
                except Exception:  # closing is best effort at shutdown
                    logger.debug("closing chdb handle failed", exc_info=True)

    # ---- helpers -------------------------------------------------------------------------

    @staticmethod
    def _check_readonly(sql: bytes, keyword: str, readonly_user: bool) -> None:
        if keyword not in sqltext.READ_KEYWORDS and keyword not in ("SET", "USE"):
            raise QueryError.make(READONLY, "READONLY", f"Cannot execute query in readonly mode ({keyword})")
        if not readonly_user:
            return  # a full-access user's GET or readonly=1 request: only writes are refused
        locked = {t.word.lower() for t in sqltext.tokens(sql)} & _READONLY_LOCKED
        if locked:
            # Settings a SETTINGS clause or SET could raise: the limits of the read-only profile.
            raise QueryError.make(ACCESS_DENIED, "ACCESS_DENIED", f"read-only user may not change {', '.join(sorted(locked))}")
        reaching = sqltext.external_table_functions(sql)
        if reaching:
            names = ", ".join(sorted(reaching))
            raise QueryError.make(ACCESS_DENIED, "ACCESS_DENIED", f"read-only user may not use {names}")

    def _session(self, stmt: Statement) -> _Session | None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if s.expires_at < now]:
            del self._sessions[key]
        if not stmt.session_id:
            return None
        session = self._sessions.get(stmt.session_id)
        if session is None:
            if stmt.session_check:
                raise QueryError.make(SESSION_NOT_FOUND, "SESSION_NOT_FOUND", f"Session {stmt.session_id} not found")
            session = self._sessions[stmt.session_id] = _Session()
        session.expires_at = now + stmt.session_timeout_s
        return session

    def _query(self, handle: _Handle, sql: bytes | str, fmt: str, params: Mapping[str, str] | None = None) -> Any:
        if isinstance(sql, bytes):
            try:
                text = sql.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise QueryError.make(SYNTAX_ERROR, "SYNTAX_ERROR", f"query is not valid UTF-8 (byte {exc.start})") from exc
        else:
            text = sql
        if "\x00" in text:
            # chdb takes a C string: a NUL would silently cut the statement short.
            raise QueryError.make(SYNTAX_ERROR, "SYNTAX_ERROR", "query contains a NUL byte")
        try:
            return handle.conn.query(text, fmt, params=dict(params or {}))
        except Exception as exc:
            raise QueryError.from_chdb(exc) from exc

    def _use(self, handle: _Handle, database: str) -> None:
        if database == handle.database:
            return
        self._query(handle, f"USE `{database.replace('`', '')}`", "TabSeparated")
        handle.database = database

    def _sync_settings(self, handle: _Handle, wanted: Mapping[str, str]) -> None:
        for name in [n for n in handle.applied if n not in wanted]:
            self._query(handle, f"SET {name} = DEFAULT", "TabSeparated")
            del handle.applied[name]
        for name, value in wanted.items():
            if handle.applied.get(name) == value:
                continue
            if not _SETTING_NAME.match(name) or name == "readonly":
                raise QueryError.make(UNKNOWN_SETTING, "UNKNOWN_SETTING", f"Setting {name!r} cannot be applied here")
            try:
                self._query(handle, f"SET {name} = {_literal(value)}", "TabSeparated")
            except QueryError:
                handle.applied.pop(name, None)
                raise
            handle.applied[name] = value

    def _changed_settings(self, handle: _Handle) -> dict[str, str]:
        result = self._query(handle, "SELECT name, value FROM system.settings WHERE changed", "JSONEachRow")
        rows = [json.loads(line) for line in result.bytes().splitlines() if line.strip()]
        return {r["name"]: r["value"] for r in rows}

    def _run_set(self, handle: _Handle, stmt: Statement, session: _Session | None) -> Outcome:
        if re.search(rb"\breadonly\b", stmt.sql, re.IGNORECASE):
            raise QueryError.make(READONLY, "READONLY", "readonly cannot be SET here; pass readonly=1 as a URL setting")
        before = self._changed_settings(handle)
        result = self._query(handle, stmt.sql, "TabSeparated")
        after = self._changed_settings(handle)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        # What the statement changed is now on the handle; record it so the next request resets
        # it, and keep it in the session (if any) so later requests of the session get it back.
        handle.applied.update(changed)
        if session is not None:
            session.settings.update(changed)
        return Outcome(b"", None, _summary(result))

    def _run_use(self, handle: _Handle, stmt: Statement, session: _Session | None) -> Outcome:
        toks = sqltext.tokens(stmt.sql)
        raw = stmt.sql[toks[1].start :].decode().strip().rstrip(";").strip().strip("`\"") if len(toks) > 1 else ""
        if not raw:
            raise QueryError.make(SYNTAX_ERROR, "SYNTAX_ERROR", "USE needs a database name")
        self._use(handle, raw)
        if session is not None:
            session.database = raw
        return Outcome(b"", None, {})

    def _run_insert(self, handle: _Handle, insert: sqltext.InsertWithData) -> Outcome:
        # chdb reads no request body: the payload goes through a temp file and FROM INFILE,
        # the way clickhouse-connect's own chdb backend inserts.
        fd, tmp = tempfile.mkstemp(prefix="pyd-insert-", suffix=f".{insert.fmt.lower()}")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(insert.data)
            result = self._query(handle, insert.infile_sql(tmp), "TabSeparated")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        summary = _summary(result)
        try:
            summary["written_rows"] = str(result.rows_read())
            summary["written_bytes"] = str(len(insert.data))
        except Exception:  # statistics are informative only
            pass
        return Outcome(b"", None, summary)


def _literal(value: str) -> str:
    if _RAW_LITERAL.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _summary(result: Any) -> dict[str, str]:
    try:
        return {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "elapsed_ns": str(int(result.elapsed() * 1e9)),
        }
    except Exception:  # statistics are informative only
        return {}
