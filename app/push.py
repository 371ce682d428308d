"""``GET /api/push/wallboard``: the wallboard snapshot pushed to browsers as Server-Sent Events.

Why SSE (``text/event-stream``, WHATWG HTML §9.2) rather than the alternatives:

* **polling a Dash callback** (what ``/live`` and VICIdial's realtime report do) costs one HTTP
  request, one session check and one JSON encoding per viewer per refresh; 50 TVs at 1 Hz is 50
  requests/s doing the same work. SSE sends the *same pre-encoded bytes* to every viewer;
* **WebSockets** would need a second protocol stack in the WSGI server (flask-sock / gevent
  handlers) for traffic that is one-way anyway; SSE is plain HTTP: it passes the same guard,
  session cookie and role check as every ``/api`` view, proxies and gzip-free buffers handle it,
  and ``EventSource`` reconnects by itself (``retry:`` below) after a network or server restart;
* the browser side needs no library: ``assets/wallboard.js`` is ~200 lines.

Fan-out: ONE subscriber thread per web process listens on the aggregator's Redis channel
(:data:`dialer.aggregator.CHANNEL`) and keeps only the latest snapshot; each connected client
waits on a condition variable for a newer sequence number. No per-client queue, so a slow TV
skips intermediate snapshots instead of growing memory, and 50 boards cost PostgreSQL nothing
(the aggregator is the only reader) and Redis one subscription per process.

Threads: each open stream holds a server thread while it waits. In production run gunicorn with
``--worker-class gthread --threads N`` where N covers the wallboards plus normal traffic per
worker (docker-compose uses ``--threads 64``), or ``--worker-class gevent``. A stream is closed
after :data:`MAX_STREAM_S` so threads and proxies recycle; the browser reconnects at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import flask
import redis

from app.api import require_roles
from app.services import get_services

logger = logging.getLogger(__name__)

WALLBOARD_ROLES = ("admin", "manager", "supervisor")
CHANNEL = "pyd:wallboard:updates"  # == dialer.aggregator.CHANNEL (app may import dialer; kept literal for clarity)
SNAPSHOT_KEY = "pyd:wallboard:snapshot"
KEEPALIVE_S = 10.0  # comment lines keep proxies from closing an idle stream and detect gone clients
MAX_STREAM_S = 1800.0
RETRY_MS = 2000
IDLE_STOP_S = 60.0  # the subscriber thread ends after this long without clients (restarted on demand)
EXTENSION = "pydialer_push"


def sse_message(payload: str, event_id: int | None = None) -> bytes:
    """One SSE ``message`` event. ``data`` must not contain a newline (our payload is compact JSON)."""
    if "\n" in payload or "\r" in payload:
        payload = payload.replace("\r", "").replace("\n", " ")
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {payload}\n\n".encode()


class PushHub:
    """The latest snapshot of one web process, kept fresh by one Redis subscriber thread."""

    def __init__(self, redis_factory: Any, channel: str = CHANNEL, snapshot_key: str = SNAPSHOT_KEY) -> None:
        self._redis_factory = redis_factory
        self.channel = channel
        self.snapshot_key = snapshot_key
        self._cond = threading.Condition()
        self._seq = 0
        self._message: bytes | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.clients = 0
        self.received = 0

    def start(self) -> None:
        self._stop.clear()
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="pydialer-push", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def offer(self, payload: str) -> None:
        with self._cond:
            self._seq += 1
            self._message = sse_message(payload, self._seq)
            self.received += 1
            self._cond.notify_all()

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            client = self._redis_factory()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                # After (re)subscribing, the stored snapshot covers what we may have missed.
                stored = client.get(self.snapshot_key)
                if stored:
                    self.offer(stored if isinstance(stored, str) else stored.decode())
                backoff = 0.5
                idle_since = time.monotonic()
                while not self._stop.is_set():
                    if self.clients:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > IDLE_STOP_S:
                        return
                    msg = pubsub.get_message(timeout=1.0)
                    if msg and msg.get("type") == "message":
                        data = msg["data"]
                        self.offer(data if isinstance(data, str) else data.decode())
            except redis.RedisError as exc:
                if not self.clients:
                    return  # nobody is watching: the next client restarts the thread
                logger.warning("push: Redis subscription lost (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(redis.RedisError):
                    pubsub.close()  # the client itself is the app's shared one: left open

    def wait_newer(self, seq: int, timeout: float) -> tuple[int, bytes | None]:
        """Block until a snapshot newer than ``seq`` exists (or ``timeout``); returns (seq, message)."""
        with self._cond:
            if self._seq <= seq:
                self._cond.wait(timeout)
            if self._seq > seq:
                return self._seq, self._message
            return seq, None

    def stream(self, max_s: float = MAX_STREAM_S) -> Iterator[bytes]:
        self.start()
        with self._cond:
            self.clients += 1
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            seq, deadline = 0, time.monotonic() + max_s
            while time.monotonic() < deadline and not self._stop.is_set():
                newer, message = self.wait_newer(seq, KEEPALIVE_S)
                if message is None:
                    self.start()  # self-healing: the subscriber may have ended just as we came in
                    yield b": keepalive\n\n"  # a write to a gone client raises: the generator ends
                    continue
                seq = newer
                yield message
        finally:
            with self._cond:
                self.clients -= 1


def hub(app: flask.Flask | None = None) -> PushHub:
    target = app if app is not None else flask.current_app
    found: PushHub = target.extensions[EXTENSION]
    return found


@require_roles(WALLBOARD_ROLES)
def wallboard_stream() -> flask.Response:
    response = flask.Response(hub().stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def init_app(server: flask.Flask) -> None:
    """Register the endpoint (idempotent: Dash may re-run page registration)."""
    if EXTENSION in server.extensions:
        return
    services = get_services(server)
    # pubsub() takes a dedicated connection from the shared client's pool
    server.extensions[EXTENSION] = PushHub(lambda: services.redis)
    server.add_url_rule("/api/push/wallboard", "push_wallboard", wallboard_stream, methods=["GET"])
