"""`make run` end to end: ``python -m core.supervisor`` as a subprocess, as a user starts it.

A fresh data folder and free ports for everything it binds (web, the simulator's AMI and ARI,
the embedded ClickHouse HTTP port; PostgreSQL and Redis use Unix sockets in the data folder), a
small demo seed (``--demo-leads``) and three virtual agents. The test waits for the banner, signs
in as ``supervisor`` over HTTP, lands on the wallboard, reads its push stream until it shows the
three agents signed in and calls being placed, then sends SIGINT (Ctrl-C) and checks that every
process of the run has exited and nothing listens on its ports any more.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 3
PASSWORD = "make-run-test-pw"
START_TIMEOUT_S = 240.0  # a ceiling for a loaded CI box; idle, the banner comes in ~50 s
LIVE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
#: Every long-running process the supervisor owns, as it appears on a command line.
EXPECTED = {
    "postgres": "bin/postgres",
    "redis": "redis-server",
    "clickhouse": "-m analytics.server",
    "pbx-sim": "-m telephony.simulator",
    "telephony": "-m telephony",
    "ingest": "-m analytics.ingest",
    "worker": "worker -Q dial,default",
    "worker-bulk": "worker -Q imports",
    "beat": "celery -A dialer.celery_app beat",
    "aggregator": "-m dialer.aggregator",
    "web": "-m app",
    "agents": "-m dialer.virtual_agents",
}

pytestmark = pytest.mark.slow


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports the kernel just handed out (all held at once, so no duplicates)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def processes_of_run(data_dir: Path) -> dict[int, str]:
    """pid -> command line of every live process started for this data folder: they inherit
    ``PYDIALER_DATA_DIR``, or (redis-server, whose process title overwrites its environment) name
    the folder on their command line. Includes the daemons that left the supervisor's tree."""
    found: dict[int, str] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(data_dir) in cmdline or proc.environ().get("PYDIALER_DATA_DIR") == str(data_dir):
                found[proc.pid] = cmdline
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


class Output:
    """The supervisor's merged stdout/stderr, read on a thread so its pipe never fills."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        for line in self.lines:
            if m := regex.search(line):
                return m
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if m := regex.search(line):
                return m
        raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s:\n" + self.tail())

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.lines[-n:])


def sse_snapshots(session: requests.Session, url: str, deadline: float) -> Iterator[dict]:
    """The wallboard snapshots pushed on ``url`` until ``deadline`` (reconnecting if the stream ends)."""
    while time.monotonic() < deadline:
        with session.get(url, stream=True, timeout=(5, 10)) as resp:
            assert resp.status_code == 200, resp.text[:200]
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            data: list[str] = []
            try:
                for line in resp.iter_lines(decode_unicode=True):
                    if line.startswith("data: "):
                        data.append(line[len("data: "):])
                    elif line == "" and data:
                        yield json.loads("".join(data))
                        data = []
                    if time.monotonic() > deadline:
                        return
            except requests.exceptions.ConnectionError:  # read timeout between pushes
                continue


@pytest.fixture()
def run_dir() -> Iterator[Path]:
    # Short and under /tmp: the Redis Unix socket path must stay under ~100 characters.
    path = Path(tempfile.mkdtemp(prefix="pyd-run-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_make_run_serves_live_data_and_stops_cleanly_on_ctrl_c(run_dir: Path) -> None:
    data_dir = run_dir / "data"
    web, ami, ari, clickhouse = free_ports(4)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "SECRET_KEY", "AI_WEBHOOK_SECRET")}
    env.update(
        PYDIALER_DATA_DIR=str(data_dir),
        WEB_HOST="127.0.0.1",
        WEB_PORT=str(web),
        DEMO_PASSWORD=PASSWORD,
        PBX_SERVERS=json.dumps([{"name": "sim1", "ami": f"tcp://pydialer:sim-secret@127.0.0.1:{ami}",
                                 "ari": f"http://pydialer:sim-secret@127.0.0.1:{ari}"}]),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    started = time.monotonic()
    sup = subprocess.Popen(
        [sys.executable, "-m", "core.supervisor", "--clickhouse-port", str(clickhouse),
         "--agents", str(AGENTS), "--demo-leads", "300"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # our SIGINT below plays the terminal's Ctrl-C
    )
    out = Output(sup)
    seen: dict[int, str] = {}
    try:
        # 1. The banner: the URL and the logins, printed once the web port accepts.
        out.wait_for(r"PyDialer is running\.", START_TIMEOUT_S)
        url = out.wait_for(r"Open (http://\S+)", 5).group(1)
        assert url == f"http://127.0.0.1:{web}"
        out.wait_for(rf"password for all: DEMO_PASSWORD, here '{PASSWORD}'", 5)
        out.wait_for(r"^\s+supervisor\s", 5)
        ready_s = time.monotonic() - started
        assert listening(web) and listening(ami) and listening(ari) and listening(clickhouse)

        # 2. Sign in as the supervisor over HTTP, like the browser does: the landing page is live.
        session = requests.Session()
        page = session.get(f"{url}/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token
        login = session.post(f"{url}/login", timeout=30, allow_redirects=False,
                             data={"csrf_token": token.group(1), "username": "supervisor", "password": PASSWORD})
        assert login.status_code == 302 and login.headers["Location"] == "/wallboard", login.text[:300]
        assert session.get(f"{url}/wallboard", timeout=30).status_code == 200

        # 3. Live data: the virtual agents sign in and the dialer places calls for them.
        last: dict = {}
        for snap in sse_snapshots(session, f"{url}/api/push/wallboard", time.monotonic() + LIVE_TIMEOUT_S):
            last = next((c for c in snap.get("campaigns", []) if c["name"] == "Solar Outreach"), {})
            calls = last.get("calls", {})
            placed = last.get("today", {}).get("calls", 0) + calls.get("ringing", 0) + calls.get("in_progress", 0)
            if last.get("agents", {}).get("logged_in") == AGENTS and placed > 0:
                break
        else:
            raise AssertionError(f"no live agents/calls within {LIVE_TIMEOUT_S:.0f} s; last: {last}\n{out.tail()}")
        live_s = time.monotonic() - started

        # 4. Every program of the suite is running under this data folder.
        seen = processes_of_run(data_dir)
        missing = [name for name, needle in EXPECTED.items() if not any(needle in cmd for cmd in seen.values())]
        assert not missing, f"not running: {missing}\n{seen}"

        # 5. Ctrl-C: the supervisor stops everything and exits 0.
        sup.send_signal(signal.SIGINT)
        assert sup.wait(timeout=STOP_TIMEOUT_S) == 0, out.tail()
        stop_s = time.monotonic() - started - live_s
        gone, alive = psutil.wait_procs([psutil.Process(p) for p in seen if psutil.pid_exists(p)], timeout=15)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"still running after Ctrl-C: {[(p.pid, seen[p.pid]) for p in alive]}"
        assert processes_of_run(data_dir) == {}
        assert not [p for p in (web, ami, ari, clickhouse) if listening(p)], "a port still accepts connections"
        assert not (data_dir / "redis" / "redis.sock").exists() or not _unix_accepts(data_dir / "redis" / "redis.sock")
        print(f"make run: banner after {ready_s:.1f} s, live data after {live_s:.1f} s, stopped in {stop_s:.1f} s")
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
        for pid in processes_of_run(data_dir):  # only what this test started (its data folder)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _unix_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False
