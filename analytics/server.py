"""A ClickHouse-compatible HTTP endpoint over chdb: ``python -m analytics.server --port 8123``.

chdb locks its data folder (``<data_dir>/clickhouse``) to one process. This process owns it and
speaks enough of ClickHouse's HTTP interface (https://clickhouse.com/docs/interfaces/http) that
every other process -- web, Celery workers, benchmarks, a data team's clickhouse-client over
HTTP, Grafana, curl -- uses the ordinary clickhouse-connect client against ``CLICKHOUSE_URL``
exactly as against a real server:

* ``GET|POST /?query=...`` and/or the query in the body; the ``query`` parameter is the start of
  the statement and the body its rest, so ``INSERT ... FORMAT Native`` may carry binary data;
* ``/ping`` (and ``GET /`` without a query) answer ``Ok.``;
* ``database``, ``default_format``, ``session_id``/``session_timeout``/``session_check``,
  ``query_id``, ``param_<name>`` (query parameters) and every other URL parameter as a setting;
  ``multipart/form-data`` bodies with ``query`` and ``param_*`` fields;
* request bodies compressed with ``Content-Encoding`` lz4 (frame), zstd, gzip, deflate or br.
  Responses are never compressed (clients honour the absent ``Content-Encoding``);
* errors as ClickHouse sends them: non-2xx status, ``X-ClickHouse-Exception-Code`` and the
  ``Code: N. DB::Exception: ... (NAME)`` text, so clickhouse-connect raises ``DatabaseError``;
* users: HTTP basic auth, ``X-ClickHouse-User``/``X-ClickHouse-Key`` or ``user``/``password``
  parameters; ``default`` (no password unless configured) has full access, the optional
  read-only user runs on a ``readonly = 2`` handle and may not call outside-reaching table
  functions (``file``, ``url``, ``s3`` ...). GET requests are read-only, as in ClickHouse.

Statements run one at a time (chdb executes one per handle); HTTP parsing and I/O stay on the
event loop, so a slow query delays others but never the ``/ping`` health check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hmac
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from analytics.engine import STD_EXCEPTION, ChdbEngine, Outcome, QueryError, Statement

logger = logging.getLogger(__name__)

AUTHENTICATION_FAILED = 516
UNKNOWN_COMPRESSION_METHOD = 89
CANNOT_DECOMPRESS = 271
NOT_IMPLEMENTED = 48
READONLY = 164

# URL parameters the HTTP layer consumes; every other parameter is a ClickHouse setting.
TRANSPORT_PARAMS = frozenset(
    {
        "query", "database", "default_format", "user", "password", "quota_key", "query_id", "session_id",
        "session_timeout", "session_check", "compress", "decompress", "buffer_size", "wait_end_of_query",
        "client_protocol_version", "role", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
        "enable_http_compression", "cancel_http_readonly_queries_on_client_close", "http_response_buffer_size",
        "http_wait_end_of_query", "add_http_cors_header", "readonly",
    }
)

# ClickHouse answers most errors with 500, these with a more specific status
# (src/Server/HTTPHandler.cpp, exceptionCodeToHTTPStatus).
_STATUS_BY_CODE = {
    AUTHENTICATION_FAILED: 401,
    READONLY: 403,
    497: 403,  # ACCESS_DENIED
    60: 404,  # UNKNOWN_TABLE
    81: 404,  # UNKNOWN_DATABASE
    62: 400,  # SYNTAX_ERROR
    27: 400,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    47: 400,  # UNKNOWN_IDENTIFIER
    46: 400,  # UNKNOWN_FUNCTION
    115: 400,  # UNKNOWN_SETTING
    UNKNOWN_COMPRESSION_METHOD: 400,
    CANNOT_DECOMPRESS: 400,
    NOT_IMPLEMENTED: 501,
}


@dataclass(frozen=True)
class Users:
    """Who may connect: the full-access user and an optional read-only one."""

    default_user: str = "default"
    default_password: str = ""
    readonly_user: str | None = None
    readonly_password: str = ""

    def authenticate(self, user: str, password: str) -> bool | None:
        """Return whether ``user`` is read-only, or None when the credentials are wrong."""
        given = password.encode()
        if user == self.default_user and hmac.compare_digest(given, self.default_password.encode()):
            return False
        if self.readonly_user and user == self.readonly_user and hmac.compare_digest(given, self.readonly_password.encode()):
            return True
        return None


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "lz4":
            import lz4.frame

            return lz4.frame.decompress(body)
        if encoding == "zstd":
            try:
                from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
            except ImportError:
                from backports import zstd  # type: ignore[no-redef]
            return zstd.decompress(body)
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "br":
            import brotli  # type: ignore[import-not-found]

            return brotli.decompress(body)
    except ImportError as exc:
        raise QueryError.make(UNKNOWN_COMPRESSION_METHOD, "UNKNOWN_COMPRESSION_METHOD", f"{encoding}: {exc}") from exc
    except Exception as exc:
        raise QueryError.make(CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS", f"cannot decompress {encoding} body: {exc}") from exc
    raise QueryError.make(UNKNOWN_COMPRESSION_METHOD, "UNKNOWN_COMPRESSION_METHOD", f"Unknown Content-Encoding {encoding!r}")


def _credentials(request: web.Request, params: Mapping[str, str]) -> tuple[str, str]:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except Exception as exc:
            raise QueryError.make(AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED", "malformed Basic credentials") from exc
        return user, password
    if "X-ClickHouse-User" in request.headers:
        return request.headers["X-ClickHouse-User"], request.headers.get("X-ClickHouse-Key", "")
    return params.get("user", "default"), params.get("password", "")


class ClickHouseHttp:
    """The aiohttp handlers; one instance per server."""

    def __init__(self, engine: ChdbEngine, users: Users, *, display_name: str = "pydialer-chdb") -> None:
        self.engine = engine
        self.users = users
        self.display_name = display_name
        # One thread: chdb runs one statement at a time anyway; the event loop stays free.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")

    def app(self, client_max_size: int = 1 << 30) -> web.Application:
        # auto_decompress off: the body's Content-Encoding is ours to undo (aiohttp knows no lz4).
        # Long URLs are normal (bind parameters ride in them): ClickHouse accepts 1 MiB.
        app = web.Application(
            client_max_size=client_max_size,
            handler_args={"auto_decompress": False, "max_line_size": 1 << 20, "max_field_size": 1 << 16},
        )
        app.router.add_route("GET", "/ping", self.ping)
        app.router.add_route("HEAD", "/ping", self.ping)
        app.router.add_route("*", "/", self.handle)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, _app: web.Application) -> None:
        self._pool.shutdown(wait=True)
        self.engine.close()

    async def ping(self, _request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query_id = request.query.get("query_id") or str(uuid.uuid4())
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Server-Display-Name": self.display_name,
            "X-ClickHouse-Timezone": self.engine.timezone,
        }
        try:
            if request.method not in ("GET", "POST"):
                raise QueryError.make(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", f"HTTP method {request.method} not supported")
            stmt = await self._statement(request)
            if stmt is None:
                return web.Response(text="Ok.\n", headers=headers)
            loop = asyncio.get_running_loop()
            outcome: Outcome = await loop.run_in_executor(self._pool, self.engine.execute, stmt)
        except QueryError as exc:
            return self._error(exc, headers)
        except web.HTTPException:
            raise
        except Exception as exc:  # never let a request take the server down
            logger.exception("unexpected error serving %s", request.path_qs[:200])
            return self._error(QueryError.make(STD_EXCEPTION, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}"), headers)
        headers["X-ClickHouse-Summary"] = json.dumps(outcome.summary)
        if outcome.fmt:
            headers["X-ClickHouse-Format"] = outcome.fmt
        content_type = "text/plain; charset=UTF-8" if outcome.fmt in (None, "TabSeparated", "TSV") else "application/octet-stream"
        if outcome.fmt and outcome.fmt.startswith("JSON"):
            content_type = "application/json; charset=UTF-8"
        return web.Response(body=outcome.body, headers=headers, content_type=content_type.split(";")[0], charset=None)

    def _error(self, exc: QueryError, headers: dict[str, str]) -> web.Response:
        status = _STATUS_BY_CODE.get(exc.code, 500)
        body = f"{exc.message} (version {self.engine.version})\n"
        return web.Response(
            status=status,
            text=body,
            headers={**headers, "X-ClickHouse-Exception-Code": str(exc.code)},
        )

    async def _statement(self, request: web.Request) -> Statement | None:
        params: dict[str, str] = dict(request.query)
        # Authenticate before reading (let alone decompressing) a body of up to client_max_size.
        user, password = _credentials(request, params)
        readonly_user = self.users.authenticate(user, password)
        if readonly_user is None:
            raise QueryError.make(
                AUTHENTICATION_FAILED,
                "AUTHENTICATION_FAILED",
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
            )
        body = b""
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                name = getattr(part, "name", None)
                if name is None or getattr(part, "filename", None):
                    raise QueryError.make(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "external data tables are not supported")
                params[name] = (await part.read()).decode()  # type: ignore[union-attr]
        elif request.can_read_body:
            body = _decompress(await request.read(), request.headers.get("Content-Encoding", ""))
        if params.get("decompress") in ("1", "true"):
            raise QueryError.make(NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "decompress=1 (native compression) is not supported")
        query = params.get("query", "").encode()
        # ClickHouse: the ``query`` parameter starts the statement, the body continues it. One
        # line break between them (and none of the query's trailing blanks) keeps binary insert
        # data intact: it starts right after the first line break following the format name.
        sql = query.rstrip() + b"\n" + body if query and body else query or body
        if not sql.strip():
            if request.method == "GET":
                return None  # GET / without a query is a health check in ClickHouse too
            raise QueryError.make(62, "SYNTAX_ERROR", "Empty query")
        settings = {k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")}
        readonly = readonly_user or request.method == "GET" or params.get("readonly", "0") not in ("0", "")
        database = params.get("database") or request.headers.get("X-ClickHouse-Database") or None
        try:
            session_timeout = float(params.get("session_timeout", "60"))
        except ValueError as exc:
            raise QueryError.make(374, "INVALID_SESSION_TIMEOUT", "session_timeout must be a number") from exc
        return Statement(
            sql=sql,
            readonly=readonly,
            readonly_user=readonly_user,
            database=database,
            settings=settings,
            params={k[6:]: v for k, v in params.items() if k.startswith("param_")},
            default_format=params.get("default_format") or request.headers.get("X-ClickHouse-Format") or "TabSeparated",
            session_id=params.get("session_id") or None,
            session_timeout_s=min(max(session_timeout, 1.0), 3600.0),
            session_check=params.get("session_check") in ("1", "true"),
        )


def start_subprocess(
    data_dir: Path, *args: str, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 30.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m analytics.server`` owning ``data_dir/clickhouse``; return (process, URL).

    For supervisors and tests. ``port=0`` picks a free port. Output goes to
    ``data_dir/clickhouse-server.log``. Raises EngineError if ``/ping`` does not answer in time.
    """
    from core.exceptions import EngineError

    if not port:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "clickhouse-server.log"
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYDIALER_DATA_DIR": str(data_dir)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH", "")) if p)
    env.pop("CLICKHOUSE_URL", None)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "analytics.server", "--host", host, "--port", str(port), *args],
            cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"analytics.server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as resp:
                if resp.read() == b"Ok.\n":
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise EngineError(f"analytics.server did not answer /ping within {timeout_s}s: {log_path.read_text()[-2000:]}")


def _read_secret(path: str | None) -> str:
    return Path(path).read_text().strip() if path else ""


def build_app(
    data_dir: Path,
    users: Users | None = None,
    *,
    max_execution_time_s: int = 600,
    readonly_max_execution_time_s: int = 60,
) -> web.Application:
    engine = ChdbEngine(
        data_dir / "clickhouse",
        max_execution_time_s=max_execution_time_s,
        readonly_max_execution_time_s=readonly_max_execution_time_s,
    )
    return ClickHouseHttp(engine, users or Users()).app()


def main(argv: list[str] | None = None) -> None:
    from core.config import Settings

    parser = argparse.ArgumentParser(prog="python -m analytics.server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data-dir", type=Path, help="defaults to PYDIALER_DATA_DIR (settings.data_dir)")
    parser.add_argument("--user", default="default", help="the full-access user (default: %(default)s)")
    parser.add_argument("--password-file", help="file holding the full-access user's password (default: none)")
    parser.add_argument("--readonly-user", help="name of an optional read-only user for data teams")
    parser.add_argument("--readonly-password-file", help="file holding the read-only user's password")
    parser.add_argument("--max-execution-time", type=int, default=600, help="seconds, full-access user")
    parser.add_argument("--readonly-max-execution-time", type=int, default=60, help="seconds, read-only user")
    parser.add_argument("--apply-schema", action="store_true", help="apply sql/clickhouse migrations before serving")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = (args.data_dir or settings.data_dir).resolve()
    users = Users(
        default_user=args.user,
        default_password=_read_secret(args.password_file),
        readonly_user=args.readonly_user,
        readonly_password=_read_secret(args.readonly_password_file),
    )
    if args.apply_schema:
        from analytics.client import get_client
        from analytics.schema import Migrator

        local = get_client(settings, data_dir=data_dir, embedded=True)
        Migrator(local, settings.clickhouse_database).up()
        local.close()
    app = build_app(
        data_dir,
        users,
        max_execution_time_s=args.max_execution_time,
        readonly_max_execution_time_s=args.readonly_max_execution_time,
    )
    logger.info("ClickHouse HTTP interface over chdb (%s) on http://%s:%d", data_dir / "clickhouse", args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
