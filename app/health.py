"""Which engines answer: PostgreSQL, Redis and (when configured) ClickHouse.

Each probe is short and bounded (PostgreSQL ``SELECT 1`` through the pool with pre-ping, Redis
``PING``, ClickHouse's HTTP ``/ping``, 1 s timeout) and reports an error string rather than
raising, so ``/healthz`` answers even when everything is down.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool | None  # None: not configured in this deployment
    latency_ms: float | None
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "latency_ms": self.latency_ms, "detail": self.detail}


def _timed(name: str, fn: object) -> Probe:
    start = time.perf_counter()
    try:
        fn()  # type: ignore[operator]
    except (SQLAlchemyError, redis.RedisError, OSError, urllib.error.URLError, ValueError) as exc:
        logger.warning("health probe %s failed: %s", name, exc)
        return Probe(name, False, None, type(exc).__name__)
    return Probe(name, True, round((time.perf_counter() - start) * 1000, 1))


def probe_postgres(engine: Engine) -> Probe:
    def run() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return _timed("postgres", run)


def probe_redis(client: redis.Redis) -> Probe:
    return _timed("redis", client.ping)


def probe_clickhouse(url: str | None) -> Probe:
    if not url:
        return Probe("clickhouse", None, None, "not configured")

    def run() -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported ClickHouse URL: scheme {parts.scheme!r}")
        # /ping needs no credentials; drop any user:password@ so they never reach a log line.
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        ping = urlunsplit((parts.scheme, netloc, "/ping", "", ""))
        with urllib.request.urlopen(ping, timeout=PROBE_TIMEOUT_S) as response:  # noqa: S310
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")

    return _timed("clickhouse", run)


def probe_all(engine: Engine, client: redis.Redis, clickhouse_url: str | None) -> list[Probe]:
    return [probe_postgres(engine), probe_redis(client), probe_clickhouse(clickhouse_url)]
