"""Wallboard push latency and cost: a call event -> the number changes in N headless Chromium boards.

Runs the real processes: ``python -m app`` (web, werkzeug threaded) and ``python -m
dialer.aggregator`` as subprocesses on a seeded database, one Chromium (``/usr/bin/chromium``)
with N browser contexts on ``/wallboard/<campaign>``. For each event it writes what the dialing
loop writes for a new call (``LiveState.track_call``) and XADDs a ``call.dialing`` event; every
board records (MutationObserver, ``Date.now()``) when its "Ringing" tile shows the new count.
Latency = that moment minus the XADD time (same machine, same clock).

Also reported: CPU of the web and aggregator processes (psutil) over a quiet window with all
boards connected (heartbeat snapshots every second), per connected board, and PostgreSQL
transactions per second during that window (the point: boards cost the database nothing).

``web_requests_quiet_window`` counts the HTTP requests the web server answered during that
window, from its own request log (the web process runs with ``LOG_LEVEL=INFO`` so werkzeug logs
one line per request). It should be 0: boards hold one SSE stream each and never poll. The
counter is checked on every run: after the window the bench sends :data:`PROBE_REQUESTS`
requests and the log must show exactly that many, or the bench fails (a counter that cannot see
requests would report 0 whatever the boards do).

Which snapshot made each change visible is read from the raw SSE client (``cause``: ``event``,
``follow_up`` or ``heartbeat``), so the latency is known to be the event path's.

The boards run on the same cores as the server, so their cost is reported too:
``browser_cpu_percent`` is every Chromium process (browser, GPU/compositor, network, renderers)
over the quiet window and over the events, in total and per board; and
``board_main_thread_ms_per_s`` is one board's renderer main thread (CDP
``Performance.getMetrics``: task, script, layout and style time per second, wall clock, so it
includes waiting for a core). Chromium's per-window omnibox popups are switched off (see
:func:`launch_chromium`; ``--window-ui`` keeps them).

``python -m bench.wallboard --boards 50`` (default 50; ``--boards 5`` for a quick run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import redis
import sqlalchemy as sa

from bench.common import emit, percentile
from core import events as ev
from core import migrate
from core.config import Settings
from core.db import create_database, drop_database, make_engine
from core.engines import EmbeddedRedis, normalize_postgres_url, start_embedded_postgres, stop_embedded_postgres
from core.seed import seed
from dialer.aggregator import CALL_EVENTS
from dialer.live import ACTIVE_AGENTS, LiveState, agent_key
from telephony.streams import encode

PASSWORD = "bench-pass-1"
PROBE_REQUESTS = 3
# werkzeug's access line: 127.0.0.1 - - [date] "GET /path HTTP/1.1" 200 -
REQUEST_LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) HTTP/[\d.]+"')
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WINDOW_UI_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")  # see launch_chromium()
OBSERVER_JS = """
() => {
  window.__wbLog = [];
  const tile = document.querySelector("[data-key='calls.ringing']");
  new MutationObserver(() => {
    window.__wbLog.push([tile.textContent, Date.now()]);
    if (window.__wbLog.length > 500) window.__wbLog.shift();
  }).observe(tile, {childList: true, characterData: true, subtree: true});
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open")


def requests_in(path: Path, offset: int) -> tuple[list[str], int]:
    """The request paths logged in ``path`` after byte ``offset``; returns (paths, new offset)."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
        end = handle.tell()
    return [m.group(2) for m in REQUEST_LINE.finditer(text)], end


def sse_reader(base: str, cookies: list[dict], user_agent: str, cid: int, log: list[tuple[int, float, str]],
               stop: threading.Event) -> None:
    """A raw SSE client (no browser): when did the server push each new "ringing" count?"""
    jar = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    req = urllib.request.Request(f"{base}/api/push/wallboard", headers={"Cookie": jar, "User-Agent": user_agent})
    try:
        stream = urllib.request.urlopen(req, timeout=30)
    except OSError as exc:
        print(f"sse reader failed: {exc}", file=sys.stderr)
        return
    with stream:
        for raw in stream:
            if stop.is_set():
                return
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                snap = json.loads(line[6:])
                c = next((x for x in snap["campaigns"] if x["id"] == cid), None)
                if c is not None:
                    log.append((c["calls"]["ringing"], time.time() * 1000, str(snap.get("cause", "?"))))


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def launch_chromium(pw: Any, *, no_window_ui: bool) -> Any:
    """``/usr/bin/chromium`` headless; with ``no_window_ui``, without the omnibox popups.

    Chromium preloads two omnibox-popup WebUI pages (``chrome://omnibox-popup.top-chrome``) per
    window, and every board's browser context is a window: 50 boards came with 100 of them,
    working beside the boards on the same two cores (2 ms of CPU a second per board at 20
    boards). A TV has one window. Chromium keeps only the last ``--disable-features``, so the
    two features are added to Playwright's own list, read from the command line it launched.
    """
    base_args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    if not no_window_ui:
        return pw.chromium.launch(executable_path=CHROMIUM, args=base_args)
    probe = pw.chromium.launch(executable_path=CHROMIUM, args=base_args)
    defaults = [arg for proc in browser_processes() if "--type=" not in " ".join(proc.cmdline())
                for arg in proc.cmdline() if arg.startswith("--disable-features=")]
    probe.close()
    listed = defaults[-1].partition("=")[2].split(",") if defaults else []
    merged = "--disable-features=" + ",".join([f for f in listed if f] + list(WINDOW_UI_FEATURES))
    return pw.chromium.launch(executable_path=CHROMIUM, args=[*base_args, merged],
                              ignore_default_args=defaults[-1:])


def browser_processes() -> list[psutil.Process]:
    """Chromium's processes (browser, renderers, GPU/utility): children of this bench, not python."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                found.append(child)
        except psutil.Error:
            continue
    return found


def tree_cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            total += cpu_s(proc)
        except psutil.Error:  # a renderer that went away: its time is lost, the rest still counts
            continue
    return total


MAIN_THREAD_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def main_thread_s(cdp: Any) -> dict[str, float]:
    """One board's renderer main-thread seconds so far (CDP ``Performance.getMetrics``)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {name: float(metrics.get(name, 0.0)) for name in MAIN_THREAD_METRICS}


def per_second_ms(before: dict[str, float], after: dict[str, float], elapsed: float) -> dict[str, float]:
    return {name: round((after[name] - before[name]) / elapsed * 1000, 2) for name in before}


def xacts(engine: sa.Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :n"),
                                {"n": name}).scalar_one())


def run(admin_url: str, redis_url: str, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    name = f"pyd_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    engine = make_engine(url)
    procs: list[subprocess.Popen] = []
    try:
        migrate.upgrade(url)
        settings = Settings(data_dir=tmp, demo_password=PASSWORD, database_url=url, redis_url=redis_url,
                            secret_key="bench-secret", login_max_failures=1000)
        seed(engine, settings, lead_count=args.leads)
        r: Any = redis.Redis.from_url(redis_url, decode_responses=True)
        with engine.connect() as conn:
            cid = conn.execute(sa.text("SELECT min(id) FROM campaigns WHERE active")).scalar_one()
            agent_ids = conn.execute(sa.text("SELECT id FROM users WHERE role='agent' ORDER BY id")).scalars().all()
        now = time.time()
        for i, agent in enumerate(agent_ids):
            r.sadd(ACTIVE_AGENTS, agent)
            r.hset(agent_key(agent), mapping={"state": ("ready", "incall", "wrap", "paused")[i % 4],
                                              "campaign_id": cid, "since": now - 7 * i})
        port = free_port()
        env = {**os.environ, "PYDIALER_DATA_DIR": str(tmp), "DATABASE_URL": url, "REDIS_URL": redis_url,
               "SECRET_KEY": "bench-secret", "DEMO_PASSWORD": PASSWORD, "WEB_PORT": str(port), "LOG_LEVEL": "WARNING"}
        web_env = {**env, "LOG_LEVEL": "INFO"}  # werkzeug's request lines: the request counter
        with open(tmp / "web.log", "wb") as web_log, open(tmp / "aggregator.log", "wb") as agg_log:
            procs.append(subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=web_env, stdout=web_log,
                                          stderr=subprocess.STDOUT))
            procs.append(subprocess.Popen([sys.executable, "-m", "dialer.aggregator"], cwd=ROOT, env=env,
                                          stdout=agg_log, stderr=subprocess.STDOUT))
        wait_port(port)
        web, agg = psutil.Process(procs[0].pid), psutil.Process(procs[1].pid)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            browser = launch_chromium(pw, no_window_ui=not args.window_ui)
            login = browser.new_context(base_url=base)
            page = login.new_page()
            page.goto("/login")
            page.fill("#username", "supervisor")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url(lambda u: "/login" not in u)  # "/" or the role's landing page
            state = login.storage_state()
            user_agent = page.evaluate("navigator.userAgent")  # the session is bound to it (flask-login)
            login.close()
            pages = []
            for _ in range(args.boards):
                ctx = browser.new_context(base_url=base, storage_state=state, viewport={"width": 1280, "height": 720})
                p = ctx.new_page()
                p.goto(f"/wallboard/{cid}", timeout=180_000)  # set-up, not measured: slow on a loaded box
                pages.append(p)
            for p in pages:
                p.wait_for_function("document.querySelector('#wallboard-status')?.innerText === 'live' &&"
                                    " document.querySelector(\"[data-key='calls.ringing']\").innerText !== '–'",
                                    timeout=180_000)
                p.evaluate(OBSERVER_JS)
            sse_log: list[tuple[int, float, str]] = []
            stop_sse = threading.Event()
            threading.Thread(target=sse_reader, args=(base, state["cookies"], user_agent, cid, sse_log, stop_sse),
                             daemon=True).start()
            time.sleep(2.0)
            _, offset = requests_in(tmp / "web.log", 0)
            chrome = browser_processes()
            cdp = pages[0].context.new_cdp_session(pages[0])  # one board's main thread, as a sample
            cdp.send("Performance.enable")
            # quiet window: every board connected, heartbeat snapshots only
            x0, w0, a0, t0 = xacts(engine, name), cpu_s(web), cpu_s(agg), time.monotonic()
            b0, m0 = tree_cpu_s(chrome), main_thread_s(cdp)
            time.sleep(args.quiet_s)
            elapsed = time.monotonic() - t0
            web_pct = (cpu_s(web) - w0) / elapsed * 100
            agg_pct = (cpu_s(agg) - a0) / elapsed * 100
            browser_pct = (tree_cpu_s(chrome) - b0) / elapsed * 100
            board_quiet = per_second_ms(m0, main_thread_s(cdp), elapsed)
            tps = (xacts(engine, name) - x0) / elapsed
            quiet_paths, offset = requests_in(tmp / "web.log", offset)
            for _ in range(PROBE_REQUESTS):  # the counter must see requests, or its 0 means nothing
                with urllib.request.urlopen(f"{base}/login?probe=1", timeout=10) as resp:
                    resp.read()
            deadline = time.monotonic() + 5
            probed: list[str] = []
            while time.monotonic() < deadline and len(probed) < PROBE_REQUESTS:
                time.sleep(0.1)
                seen, offset = requests_in(tmp / "web.log", offset)
                probed += seen
            if [p_ for p_ in probed if "probe=1" in p_] != ["/login?probe=1"] * PROBE_REQUESTS:
                raise RuntimeError(f"request counter broken: sent {PROBE_REQUESTS} probes, logged {probed}")
            live = LiveState(r)
            baseline = len(r.zrange(f"pyd:campaign:{cid}:calls:dialing", 0, -1))
            baseline += len(r.zrange(f"pyd:campaign:{cid}:calls:ringing", 0, -1))
            sent: list[tuple[int, float]] = []
            w1, a1, t1 = cpu_s(web), cpu_s(agg), time.monotonic()
            b1, m1 = tree_cpu_s(chrome), main_thread_s(cdp)
            for k in range(1, args.events + 1):
                call_id = f"bench-{uuid.uuid4().hex[:10]}"
                live.track_call(call_id, cid, None, time.time())
                at_ms = time.time() * 1000
                r.xadd(CALL_EVENTS, encode(ev.Dialing(call_id=call_id, at=datetime.now(UTC), campaign_id=cid)))
                sent.append((baseline + k, at_ms))
                time.sleep(args.gap_s)
            busy_elapsed = time.monotonic() - t1
            web_busy = (cpu_s(web) - w1) / busy_elapsed * 100
            agg_busy = (cpu_s(agg) - a1) / busy_elapsed * 100
            browser_busy = (tree_cpu_s(chrome) - b1) / busy_elapsed * 100
            board_busy = per_second_ms(m1, main_thread_s(cdp), busy_elapsed)
            time.sleep(1.0)
            latencies: list[float] = []
            missed = 0
            for p in pages:
                log = p.evaluate("window.__wbLog")
                for expected, at_ms in sent:
                    shown = [ts for text, ts in log if text == str(expected)]
                    if shown:
                        latencies.append(shown[0] - at_ms)
                    else:
                        missed += 1
            browser.close()
            stop_sse.set()
        server_push: list[float] = []
        causes: dict[str, int] = {}
        for expected, at_ms in sent:
            pushed = [(ts, cause) for count, ts, cause in sse_log if count == expected]
            if pushed:
                server_push.append(pushed[0][0] - at_ms)
                causes[pushed[0][1]] = causes.get(pushed[0][1], 0) + 1
        return {
            "bench": "wallboard",
            "boards": args.boards,
            "events": args.events,
            "gap_s": args.gap_s,
            "agents": len(agent_ids),
            "latency_ms": {
                "samples": len(latencies), "missed": missed,
                "p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1),
                "p99": round(percentile(latencies, 99), 1), "max": round(max(latencies), 1) if latencies else None,
            },
            "target_p95_ms": 250,
            "server_push_ms": {  # XADD -> bytes at a raw SSE client: the server's share of the latency
                "samples": len(server_push), "p50": round(percentile(server_push, 50), 1),
                "p95": round(percentile(server_push, 95), 1), "max": round(max(server_push), 1) if server_push else None,
            },
            "pushed_by": causes,  # which snapshot first showed each new count (raw SSE client)
            "web_requests_quiet_window": len(quiet_paths),
            "web_requests_quiet_paths": sorted(set(quiet_paths))[:10],
            "request_counter_probe": {"sent": PROBE_REQUESTS, "counted": len(probed)},
            "quiet_window_s": round(elapsed, 1),
            "cpu_percent_quiet": {"web": round(web_pct, 2), "aggregator": round(agg_pct, 2),
                                  "web_per_board": round(web_pct / max(1, args.boards), 3)},
            "cpu_percent_events": {"web": round(web_busy, 2), "aggregator": round(agg_busy, 2),
                                   "web_per_board": round(web_busy / max(1, args.boards), 3)},
            "postgres_xacts_per_s_quiet": round(tps, 2),
            # the client side, on the same machine: every Chromium process, and one board's
            # renderer main thread (ms per second: task, script, layout, style recalculation)
            "browser_cpu_percent": {"quiet": round(browser_pct, 1), "events": round(browser_busy, 1),
                                    "per_board_quiet": round(browser_pct / max(1, args.boards), 2),
                                    "per_board_events": round(browser_busy / max(1, args.boards), 2)},
            "board_main_thread_ms_per_s": {"quiet": board_quiet, "events": board_busy},
            "server": "werkzeug threaded (python -m app); production: gunicorn gthread",
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        engine.dispose()
        drop_database(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", help="PostgreSQL server to create the bench database on (default: embedded)")
    parser.add_argument("--redis-url", help="Redis server (default: embedded); the bench writes live-state keys")
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--gap-s", type=float, default=0.7, help="seconds between events")
    parser.add_argument("--quiet-s", type=float, default=10.0)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--window-ui", action="store_true",
                        help="keep Chromium's per-window omnibox popups (2 WebUI pages per board)")
    args = parser.parse_args()
    if args.boards < 1 or args.events < 1:
        parser.error("--boards and --events must be >= 1")
    with tempfile.TemporaryDirectory(prefix="pyd-bench-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        pgdata = tmp / "pg"
        embedded_redis = None if args.redis_url else EmbeddedRedis(tmp / "redis")
        try:
            redis_url = args.redis_url or embedded_redis.start()  # type: ignore[union-attr]
            admin = normalize_postgres_url(args.admin_url) if args.admin_url else normalize_postgres_url(
                start_embedded_postgres(pgdata))
            emit(run(admin, redis_url, args, tmp))
        finally:
            if embedded_redis is not None:
                embedded_redis.stop()
            if not args.admin_url and (pgdata / "postmaster.pid").exists():
                stop_embedded_postgres(pgdata)


if __name__ == "__main__":
    main()
