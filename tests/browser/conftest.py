"""A real PyDialer web server (werkzeug, threaded, free port) on a migrated and seeded database,
and headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from core.config import Settings

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_AGENTS = 6  # agents given a live state in Redis, as the dialer would write it


@dataclass(frozen=True)
class LiveServer:
    url: str
    password: str
    settings: Settings
    engine: sa.Engine
    redis_url: str

    def write_agent_states(self) -> None:
        """(Re)write the demo agents' live state. Tests call it right before they look, because
        the shared server Redis (TEST_REDIS_URL) may be flushed by another test session."""
        _agent_states(self.engine, self.redis_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _agent_states(engine: sa.Engine, redis_url: str) -> None:
    """Write live agent state with the documented key conventions (see app/live.py)."""
    import redis

    from app.live import ACTIVE_AGENTS_KEY, AGENT_KEY

    with engine.connect() as conn:
        agents = conn.execute(sa.text("SELECT id FROM users WHERE role='agent' ORDER BY id LIMIT :n"), {"n": DEMO_AGENTS}).scalars().all()
        campaign = conn.execute(sa.text("SELECT min(id) FROM campaigns WHERE active")).scalar_one()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    states = ["incall", "incall", "ready", "wrap", "paused", "ready"]
    now = time.time()
    for i, agent_id in enumerate(agents):
        client.sadd(ACTIVE_AGENTS_KEY, agent_id)
        client.hset(AGENT_KEY.format(id=agent_id), mapping={
            "state": states[i % len(states)], "campaign_id": campaign or "", "since": now - 17 * (i + 1)})
    client.close()


@pytest.fixture(scope="module")
def live_server(base_settings: Settings, db_engine: sa.Engine, db_url: str, web_redis_url: str) -> Iterator[LiveServer]:
    redis_url = web_redis_url
    import redis
    from werkzeug.serving import make_server

    from app import create_app
    from core.seed import seed
    from tests.conftest import _truncate_all

    redis.Redis.from_url(redis_url).flushdb()
    _truncate_all(db_engine)
    settings = dataclasses.replace(base_settings, database_url=db_url, redis_url=redis_url,
                                   secret_key="browser-test-secret")
    seed(db_engine, settings, lead_count=3000, dnc_count=40)
    _agent_states(db_engine, redis_url)
    app = create_app(settings)
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pydialer-web-test", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings.demo_password, settings, db_engine, redis_url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["pydialer"].engine.dispose()
        redis.Redis.from_url(redis_url).flushdb()
        _truncate_all(db_engine)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def chromium(browser: object) -> object:
    """The module's headless Chromium (the admin-page tests' name for ``browser``)."""
    return browser


@pytest.fixture()
def page(browser: object, live_server: LiveServer) -> Iterator[object]:
    """A fresh browser context (own cookies) whose console errors and page errors are collected
    in ``page.errors``; a test that ends with any fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=live_server.url)  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    tab.errors = errors
    requested: list[str] = []
    tab.on("request", lambda req: requested.append(req.url))
    tab.requested = requested
    yield tab
    context.close()


@contextmanager
def job_server(
    base_settings: Settings, db_engine: sa.Engine, db_url: str, redis_url: str, *, secret_key: str,
    lead_count: int, dnc_count: int, launchers: Mapping[str, Callable[..., Any]],
) -> Iterator[LiveServer]:
    """A seeded web server whose background jobs (imports, exports) run in real threads of this
    process, as a Celery worker would run them: ``launchers`` maps an extension key to a
    ``thread_launcher(engine, redis, data_dir)`` factory."""
    import redis
    from werkzeug.serving import make_server

    from app import create_app
    from core.seed import seed
    from tests.conftest import _truncate_all

    redis.Redis.from_url(redis_url).flushdb()
    _truncate_all(db_engine)
    settings = dataclasses.replace(base_settings, database_url=db_url, redis_url=redis_url, secret_key=secret_key)
    seed(db_engine, settings, lead_count=lead_count, dnc_count=dnc_count)
    app = create_app(settings)
    services = app.extensions["pydialer"]
    for key, make_launcher in launchers.items():
        app.extensions[key] = make_launcher(services.engine, services.redis, settings.data_dir)
    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", settings.demo_password, settings, db_engine,
                         redis_url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        services.engine.dispose()
        _truncate_all(db_engine)


def open_as(chromium: Any, server: LiveServer, username: str) -> tuple[Any, Any]:
    """A new browser context signed in as ``username``; console errors collect in ``page.errors``."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=server.url, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", server.password)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/(wallboard)?$"))  # supervisors and managers land on the wallboard
    return context, page
