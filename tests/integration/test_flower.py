"""Flower against the dialer's Celery app: ``celery -A dialer.celery_app flower``, as an operator runs it.

Two real subprocesses on the test's Redis (both flavours of ``redis_url``): a worker started the way
``make run`` starts one, except that a single worker consumes all three queues, and Flower on a free
port. The worker command has no ``-E`` and the app does not set ``worker_send_task_events``, so the
worker starts with heartbeats but no task events: Flower turns those on in every running worker
itself (its ``--enable-events``, on by default, broadcasts ``enable_events`` every 5 s), and this
test checks that this is enough. Once the worker logs that a remote enabled its task events, the
test sends a real, cheap, idempotent task (``relay_cdr_outbox``, a no-op without
``CLICKHOUSE_URL``) through the dialer's own app factory and polls Flower's HTTP API until it lists
the task as SUCCESS and the worker with the dialer's queues.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from core.config import Settings
from dialer import celery_app, tasks

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0
AUTH = ("ops", "flower-test-pw")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a prefork worker has children), then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture()
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``python -m celery -A dialer.celery_app <args>`` in its own process group, output to
    ``<tmp_path>/<name>.log``; every process started is stopped at teardown, pass or fail."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "dialer.celery_app", *args], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop(proc)


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(tmp_path.glob("*.log")))


def poll(what: str, probe: Callable[[], Any], procs: dict[str, subprocess.Popen[bytes]], tmp_path: Path) -> Any:
    """``probe()`` every 0.5 s until it returns something truthy; fail after TIMEOUT_S or if a
    subprocess exits."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited ({proc.returncode}) waiting for {what}\n{logs(tmp_path)}"
        with contextlib.suppress(requests.RequestException):
            found = probe()
            if found:
                return found
        time.sleep(0.5)
    pytest.fail(f"never saw {what} within {TIMEOUT_S:.0f} s\n{logs(tmp_path)}")


def test_flower_lists_the_worker_with_its_queues_and_the_task_it_ran(redis_url: str, spawn, tmp_path: Path) -> None:
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("CLICKHOUSE_URL", "DATABASE_URL")}
    env.update(REDIS_URL=redis_url, PYDIALER_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    hostname = f"flower-test-{uuid.uuid4().hex[:8]}@127.0.0.1"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = spawn("worker", env, "worker", "-Q", ",".join(celery_app.QUEUES), "-n", hostname, "--concurrency", "1",
                   "--without-mingle", "--without-gossip", "--loglevel", "INFO")
    flower = spawn("flower", env, "flower", f"--port={port}", "--address=127.0.0.1", f"--basic-auth={AUTH[0]}:{AUTH[1]}")
    procs = {"worker": worker, "flower": flower}
    session = requests.Session()
    session.auth = AUTH

    def get(path: str) -> requests.Response:
        response = session.get(base + path, timeout=5)
        response.raise_for_status()
        return response

    assert poll("/healthcheck", lambda: get("/healthcheck").text == "OK", procs, tmp_path)
    poll("the worker online (its heartbeats)", lambda: get("/api/workers?status=1").json().get(hostname), procs,
         tmp_path)
    # celery.worker.control.enable_events logs this when Flower's broadcast switches task events on;
    # a task sent before it would run unseen.
    poll("task events enabled in the worker", lambda: "Events of group {task} enabled by remote"
         in (tmp_path / "worker.log").read_text(errors="replace"), procs, tmp_path)

    app = celery_app.make_celery(Settings(data_dir=tmp_path / "data", redis_url=redis_url))
    try:
        sent = app.send_task(tasks.relay_cdr_outbox.name)
    finally:
        app.close()

    def task_done() -> dict[str, Any] | None:
        task = get("/api/tasks").json().get(sent.id)
        return task if task and task["state"] == "SUCCESS" else None

    task = poll(f"task {sent.id} as SUCCESS", task_done, procs, tmp_path)
    assert task["name"] == "dialer.tasks.relay_cdr_outbox"
    assert task["worker"] == hostname
    assert task["result"] == "0", "no CLICKHOUSE_URL: the relay is a no-op"
    info = get(f"/api/task/info/{sent.id}").json()
    assert info["state"] == "SUCCESS" and info["received"] and info["succeeded"]

    workers = poll("the worker's queues", lambda: get("/api/workers?refresh=1").json().get(hostname), procs, tmp_path)
    assert sorted(q["name"] for q in workers["active_queues"]) == sorted(celery_app.QUEUES)
    registered = set(workers["registered"])
    for names in celery_app.ROUTED_TASKS.values():
        assert set(names) <= registered, set(names) - registered
    assert time.monotonic() - started < TIMEOUT_S * 2
