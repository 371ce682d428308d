"""The one factory for ClickHouse clients: everything above it is a clickhouse-connect ``Client``.

* ``CLICKHOUSE_URL`` set (``http[s]://user:password@host:port/database``): an HTTP client to
  that server -- a real ClickHouse, or the embedded ``python -m analytics.server`` that owns chdb.
* unset: an in-process chdb client on ``<data_dir>/clickhouse``. chdb locks the folder to one
  process, so only the process that owns it (``analytics.server``, single-process tests and
  tools) takes this branch; every other process of the suite points ``CLICKHOUSE_URL`` at the
  server.

The database named by ``settings.clickhouse_database`` (or the URL path) is created by
:mod:`analytics.schema`; the client is bound to it when it exists and to ``default`` otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from core.config import Settings
from core.exceptions import ConfigError, EngineError

logger = logging.getLogger(__name__)


def parse_clickhouse_url(url: str) -> dict[str, Any]:
    """``http://user:pass@host:8123/db?compress=false`` -> clickhouse-connect keyword arguments."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "clickhouse"):
        raise ConfigError(f"CLICKHOUSE_URL: expected http(s)://user:password@host:port/database, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ConfigError("CLICKHOUSE_URL: a host is required")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"CLICKHOUSE_URL: bad port in {url!r}") from exc
    secure = parts.scheme == "https"
    kwargs: dict[str, Any] = {
        "interface": "https" if secure else "http",
        "host": parts.hostname,
        "port": port or (8443 if secure else 8123),
        "username": unquote(parts.username) if parts.username else "default",
        "password": unquote(parts.password) if parts.password else "",
    }
    database = parts.path.strip("/")
    if database:
        kwargs["database"] = unquote(database)
    for key, value in parse_qsl(parts.query):
        kwargs[key] = value
    return kwargs


def database_name(settings: Settings) -> str:
    """The analytics database: the URL's path when it names one, else ``settings.clickhouse_database``."""
    if settings.clickhouse_url:
        return parse_clickhouse_url(settings.clickhouse_url).get("database") or settings.clickhouse_database
    return settings.clickhouse_database


def get_client(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    embedded: bool | None = None,
    database: str | None = None,
    **overrides: Any,
) -> Client:
    """A clickhouse-connect client for ``settings`` (see module docstring).

    ``embedded=True`` forces the in-process chdb client even when ``CLICKHOUSE_URL`` is set
    (the server process uses it for ``--apply-schema``). ``database=""`` binds no database.
    """
    use_chdb = settings.clickhouse_url is None if embedded is None else embedded
    db = database_name(settings) if database is None else database
    if use_chdb:
        path = (data_dir or settings.data_dir) / "clickhouse"
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = clickhouse_connect.get_client(interface="chdb", path=str(path), **overrides)
        except Exception as exc:
            raise EngineError(f"chdb could not open {path} (is analytics.server running on it?): {exc}") from exc
    else:
        assert settings.clickhouse_url is not None
        kwargs = parse_clickhouse_url(settings.clickhouse_url)
        kwargs.pop("database", None)
        # No HTTP session: one client may then serve many threads (gunicorn, Celery); with a
        # session clickhouse-connect refuses concurrent queries. SET does not persist across
        # calls: pass settings= per call or to get_client(settings={...}) instead.
        kwargs.setdefault("autogenerate_session_id", False)
        kwargs.update(overrides)
        try:
            client = clickhouse_connect.get_client(**kwargs)
        except Exception as exc:
            raise EngineError(f"cannot reach ClickHouse at {kwargs['host']}:{kwargs['port']}: {exc}") from exc
    if db and client.command("SELECT count() FROM system.databases WHERE name = {db:String}", parameters={"db": db}) == 1:
        client.database = db
    return client
