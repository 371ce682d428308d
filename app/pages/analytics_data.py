"""ClickHouse access for the analytics and SQL pages: one client per web app, plus the role check.

The client comes from :func:`analytics.client.get_client` (HTTP when ``CLICKHOUSE_URL`` is set,
in-process chdb otherwise) and is built lazily on first use, so the web app starts even when
ClickHouse is down; a failed connect is retried on the next callback. clickhouse-connect's HTTP
client (no session id) serves concurrent threads; the embedded chdb engine is one connection per
process, so calls to it are serialised with a lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date
from typing import TypeVar

import flask
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client
from flask_login import current_user

from analytics.client import database_name, get_client
from app.services import get_services
from core.exceptions import EngineError, NotAuthenticated, PermissionDenied

logger = logging.getLogger(__name__)

EXTENSION_KEY = "pydialer_clickhouse"
T = TypeVar("T")


class _ClickHouse:
    def __init__(self) -> None:
        self.client: Client | None = None
        self.build_lock = threading.Lock()
        self.query_lock: threading.Lock | None = None
        self.readonly_client: Client | None = None  # /sql's, when CLICKHOUSE_READONLY_URL is set


def _holder(app: flask.Flask) -> _ClickHouse:
    holder = app.extensions.get(EXTENSION_KEY)
    if holder is None:
        holder = app.extensions.setdefault(EXTENSION_KEY, _ClickHouse())
    return holder  # type: ignore[no-any-return]


def set_client(app: flask.Flask, client: Client, *, serialise: bool = False) -> None:
    """Use ``client`` for this app (tests hand in a client bound to their fresh database)."""
    holder = _holder(app)
    holder.client = client
    holder.query_lock = threading.Lock() if serialise else None


@contextlib.contextmanager
def clickhouse() -> Iterator[Client]:
    """The app's ClickHouse client for one query (raises :class:`EngineError` when unreachable)."""
    app = flask.current_app
    holder = _holder(app)
    if holder.client is None:
        with holder.build_lock:
            if holder.client is None:
                settings = get_services(app).settings
                holder.client = get_client(settings)
                holder.query_lock = threading.Lock() if settings.clickhouse_url is None else None
    lock = holder.query_lock
    if lock is None:
        yield holder.client
        return
    with lock:
        yield holder.client


def _readonly_client() -> Client | None:
    """The read-only user's client (``CLICKHOUSE_READONLY_URL``, bound to the analytics database),
    or None when not configured: /sql then runs on the app's client under readonly settings."""
    app = flask.current_app
    settings = get_services(app).settings
    if not settings.clickhouse_readonly_url:
        return None
    holder = _holder(app)
    if holder.readonly_client is None:
        import dataclasses

        with holder.build_lock:
            if holder.readonly_client is None:
                ro = dataclasses.replace(settings, clickhouse_url=settings.clickhouse_readonly_url)
                # Bind the analytics database explicitly: the read-only user may not list system.databases.
                holder.readonly_client = get_client(ro, embedded=False, database="")
                holder.readonly_client.database = database_name(ro)  # its URL path, else CLICKHOUSE_DATABASE
    return holder.readonly_client


def query(fn: Callable[[Client], T], *, readonly_user: bool = False) -> T:
    """Run ``fn(client)``; ClickHouse errors become :class:`EngineError` with a short message.

    ``readonly_user=True`` (the /sql page) uses the read-only user's client when one is configured."""
    try:
        ro = _readonly_client() if readonly_user else None
        if ro is not None:
            return fn(ro)
        with clickhouse() as client:
            return fn(client)
    except (EngineError, PermissionDenied):
        raise
    except Exception as exc:  # clickhouse-connect raises its own tree plus OSError/HTTP errors
        logger.warning("ClickHouse query failed: %s", exc)
        raise EngineError(_short(str(exc))) from exc


def _short(message: str, limit: int = 400) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "ClickHouse error"
    return first if len(first) <= limit else first[:limit] + "…"


def require_role(roles: Iterable[str]) -> str:
    """Defence in depth inside callbacks (the guard already checked the outputs' page)."""
    if not current_user or not current_user.is_authenticated:
        raise NotAuthenticated("login required")
    if current_user.role not in frozenset(roles):
        raise PermissionDenied("your role may not use this page")
    return str(current_user.role)


def today() -> date:
    """Today's UTC date from the app's clock."""
    now = get_services().clock.now()
    return (now.astimezone(UTC) if now.tzinfo else now).date()


def campaign_settings() -> dict[int, tuple[str, float]]:
    """campaign id -> (name, target_abandon_rate), from PostgreSQL's campaign settings (one small
    query per render: settings, never call history -- that is ClickHouse's)."""
    with get_services().engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, name, target_abandon_rate FROM campaigns")).all()
    return {int(i): (str(n), float(t)) for i, n, t in rows}
