"""Telephony end to end: Redis command stream -> service -> AMI -> simulator -> normaliser -> Redis.

Three processes, so each one's CPU is its own:

* the Asterisk simulator (``python -m telephony.simulator``);
* the real telephony service (``python -m telephony``, configured through ``PBX_SERVERS`` /
  ``REDIS_URL`` exactly as in production): AMI client, normaliser, event publisher, command consumer;
* this script: the dialer's side. It places ``cmd.originate`` commands on ``pyd:commands:telephony``
  at ``--rate`` per second with ``telephony.streams.send_commands`` (the entries that
  ``dialer.loop_commands``' ``send_command`` writes, pipelined when several are due), samples
  the simulator's live channel count, and reads ``pyd:events:calls`` at the end.

A fourth, tiny process ("tap") holds a second AMI session on the simulator and stamps every read
with the wall clock. The simulator writes each event to all sessions in the same loop step, so the
tap's receive time is when the event left the simulator. Event latency = the Redis entry id's
millisecond time (Redis' own clock: when the normalised event landed) minus that stamp, for the
AMI event that caused it (Newchannel -> dialing, Newstate 5 -> ringing, Newstate 6 or
OriginateResponse -> answered, Hangup -> hangup/abandoned, OriginateResponse -> originate_failed).
Entry ids have millisecond resolution, so each sample reads up to 1 ms short. With a remote
``REDIS_URL`` the two clocks differ: the figure is only meaningful with Redis on this host.

A sample the tap stamped more than 1 ms *after* its entry landed (the tap was descheduled on a busy
host) is dropped and counted as ``dropped_tap_late``.

    .venv/bin/python -m bench.telephony [--rate 200] [--seconds 20] [--drain 40]
                                        [--profile-service svc.prof]   # cProfile the service
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, percentile  # noqa: E402
from bench.telephony_sim import SCENARIO, cpu_seconds, free_port  # noqa: E402
from core import events as ev  # noqa: E402
from core.engines import EmbeddedRedis  # noqa: E402
from telephony.streams import COMMANDS_STREAM, EVENTS_STREAM, send_commands  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

#: normalised event type -> groups of AMI events that cause it, in preference order; within a group
#: the earliest one seen wins (the normaliser acts on the first of them it reads).
TRIGGERS: dict[str, list[list[str]]] = {
    "call.dialing": [["Newchannel", "Newstate:4", "Newstate:5", "Newstate:6"]],
    "call.ringing": [["Newstate:5"]],
    "call.answered": [["Newstate:6", "OriginateResponse"]],
    "call.hangup": [["Hangup"], ["OriginateResponse"]],
    "call.abandoned": [["Hangup"]],
    "call.originate_failed": [["OriginateResponse"]],
}


# -- the tap (own process) -----------------------------------------------------------------------
def _tap(port: int, out_path: str, ready: Any, stop: Any) -> None:
    """Log in, stamp every read, and write the first sighting of each (Uniqueid, event) as JSON."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"Action: Login\r\nUsername: pydialer\r\nSecret: pydialer\r\nEvents: on\r\n\r\n")
    head = b""
    while b"Response:" not in head or not head.endswith(b"\r\n\r\n"):
        head += sock.recv(4096)
    ready.set()
    sock.settimeout(0.2)
    chunks: list[tuple[float, bytes]] = []
    while not stop.is_set():
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            continue
        if not data:
            break
        chunks.append((time.time(), data))  # parse later: keep the hot path to a recv + append
    sock.close()
    first: dict[str, float] = {}
    buf = b""
    for t, data in chunks:
        buf += data
        *msgs, buf = buf.split(b"\r\n\r\n")
        for raw in msgs:
            if not raw.startswith(b"Event: "):
                continue
            fields = dict(line.split(": ", 1) for line in raw.decode(errors="replace").split("\r\n") if ": " in line)
            name = fields.get("Event", "")
            if name == "Newstate":
                name = f"Newstate:{fields.get('ChannelState', '')}"
            elif name not in ("Newchannel", "Hangup", "OriginateResponse"):
                continue
            first.setdefault(f"{fields.get('Uniqueid', '')}|{name}", t)
            if name == "OriginateResponse":  # a failed one says Uniqueid: <null>; its Channel is the dial string
                first.setdefault(f"{fields.get('Channel', '')}|{name}", t)
    Path(out_path).write_text(json.dumps(first))


# -- helpers -------------------------------------------------------------------------------------
def _stats(ari_port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{ari_port}/_stats", timeout=10) as r:
        return json.loads(r.read())


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "p99": round(percentile(values, 99), 2), "max": round(max(values), 2)}


def _entry_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def _read_stream(r: redis.Redis, stream: str, start: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    out: list[tuple[bytes, dict[bytes, bytes]]] = []
    cursor = start
    while True:
        batch: Any = r.xrange(stream, min=cursor, max="+", count=5000)
        if not batch:
            return out
        out.extend(batch)
        cursor = "(" + batch[-1][0].decode()


class _Sampler(threading.Thread):
    """Polls the simulator's live channel count (the peak is what the PBX had to hold)."""

    def __init__(self, ari_port: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="channel-sampler")
        self.ari_port = ari_port
        self.every_s = every_s
        self.peak = 0
        self.last = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            try:
                self.last = int(_stats(self.ari_port)["channels"])
            except OSError:
                continue
            self.peak = max(self.peak, self.last)


def _undelivered(r: redis.Redis, group: dict[Any, Any]) -> int:
    """Entries the group has not read yet: XINFO's ``lag`` (Redis >= 7), else counted past
    ``last-delivered-id`` (the embedded Redis is 6.2, which has no ``lag``: without this the
    backlog read 0 while thousands of commands were still unread)."""
    if group.get("lag") is not None:
        return int(group["lag"])
    last = group.get("last-delivered-id") or b"0-0"
    last = last.decode() if isinstance(last, bytes) else str(last)
    return len(r.xrange(COMMANDS_STREAM, min=f"({last}", max="+"))


def _wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}")


# -- the run -------------------------------------------------------------------------------------
def run(rate: float, seconds: float, drain_s: float, redis_url: str, workdir: Path,
        profile_to: Path | None = None) -> dict[str, Any]:
    r = redis.Redis.from_url(redis_url)
    # Only entries after these ids, and only our call ids, count: REDIS_URL may hold older traffic.
    start_id = f"{int(time.time() * 1000)}-0"
    ami_port, ari_port = free_port(), free_port()
    scenario = workdir / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim = subprocess.Popen([sys.executable, "-m", "telephony.simulator", "--ami-port", str(ami_port), "--ari-port",
                            str(ari_port), "--scenario", str(scenario), "--seed", "1", "--log-level", "WARNING",
                            "--data-dir", str(workdir / "sim")], env=env, stdout=subprocess.PIPE)
    procs: list[subprocess.Popen[Any]] = [sim]
    ctx = mp.get_context("spawn")
    tap_ready, tap_stop = ctx.Event(), ctx.Event()
    tap_out = workdir / "tap.json"
    tap: Any = None
    service_log = (workdir / "service.log").open("w")
    try:
        assert sim.stdout is not None
        sim.stdout.readline()  # {"ami_port": ..., "ari_port": ...} once listening
        tap = ctx.Process(target=_tap, args=(ami_port, str(tap_out), tap_ready, tap_stop), daemon=True)
        tap.start()
        if not tap_ready.wait(15):
            raise RuntimeError("AMI tap did not log in")
        pbx = [{"name": "sim", "ami": f"tcp://pydialer:pydialer@127.0.0.1:{ami_port}",
                "ari": f"http://pydialer:pydialer@127.0.0.1:{ari_port}"}]
        profile = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
        service = subprocess.Popen(
            [sys.executable, *profile, "-m", "telephony"], stdout=service_log, stderr=subprocess.STDOUT,
            env={**env, "PBX_SERVERS": json.dumps(pbx), "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING",
                 "PYDIALER_DATA_DIR": str(workdir / "data")})
        procs.append(service)

        def service_ready() -> bool:
            if service.poll() is not None:
                raise RuntimeError(f"telephony service exited with {service.returncode}; see {service_log.name}")
            groups: Any = r.xinfo_groups(COMMANDS_STREAM) if r.exists(COMMANDS_STREAM) else []
            # Group present = the consumer loop started (Redis 6.2 lists a consumer only once it read).
            return _stats(ari_port)["ami"]["sessions"] >= 2 and bool(groups)

        try:
            _wait_for(service_ready, 30, "the telephony service to log in and join the command group")
        except RuntimeError as exc:
            service_log.flush()
            tail = Path(service_log.name).read_text()[-2000:]
            raise RuntimeError(f"{exc}; AMI: {_stats(ari_port)['ami']}; service log:\n{tail}") from exc
        time.sleep(0.5)  # let the post-login resync finish
        sampler = _Sampler(ari_port)
        sampler.start()

        sent_at: dict[str, int] = {}  # call_id -> command entry ms
        dial: dict[str, str] = {}  # call_id -> dial string (DialplanConfig.dial_template)
        ami0 = _stats(ari_port)["ami"]["events_sent"]
        cpu0 = {"simulator": cpu_seconds(sim.pid), "service": cpu_seconds(service.pid)}
        t0 = time.time()
        total = int(rate * seconds)
        i = 0
        while i < total:
            delay = t0 + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            # Everything due by now goes in one pipelined round trip (send_commands): one XADD per
            # command, as send_command writes it, without a Redis round trip each. On a busy host a
            # round trip per command capped this producer itself below the target rate.
            due = min(total, max(i + 1, int((time.time() - t0) * rate) + 1))
            batch = []
            for n in range(i, due):
                call_id = str(uuid.uuid4())
                batch.append(ev.OriginateCommand(
                    call_id=call_id, number=f"1555{n:07d}", caller_id="8005550100", timeout_s=6.0, campaign_id=1,
                    lead_id=n, variables={"PYDIALER_DROP_AFTER": "5"}))
                dial[call_id] = f"PJSIP/1555{n:07d}@trunk"
            for cmd, entry in zip(batch, send_commands(r, batch), strict=True):
                sent_at[cmd.call_id] = _entry_ms(entry)
            i = due
        t_end = time.time()
        window = t_end - t0
        cpu1 = {"simulator": cpu_seconds(sim.pid), "service": cpu_seconds(service.pid)}
        # events_sent counts one per session written to; two sessions (service + tap) get each event.
        ami_events = (_stats(ari_port)["ami"]["events_sent"] - ami0) // 2
        groups: Any = r.xinfo_groups(COMMANDS_STREAM)
        backlog = sum(int(g.get("pending") or 0) + _undelivered(r, g) for g in groups)

        # Drain: every call ends within patience + ring time; wait for the PBX to empty and the
        # event stream to go quiet.
        deadline = time.monotonic() + drain_s
        last_len, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            length = int(r.xlen(EVENTS_STREAM))
            if length != last_len:
                last_len, quiet_since = length, time.monotonic()
            if sampler.last == 0 and time.monotonic() - quiet_since > 1.5:
                break
            time.sleep(0.25)
        sampler.halt.set()
        cpu_total = {"simulator": cpu_seconds(sim.pid), "service": cpu_seconds(service.pid)}
        final_stats = _stats(ari_port)
    finally:
        tap_stop.set()
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tap is not None:
            tap.join(30)
        service_log.close()

    tap_first: dict[str, float] = json.loads(tap_out.read_text()) if tap_out.exists() else {}
    entries = _read_stream(r, EVENTS_STREAM, start_id)
    r.close()
    return _report(rate, seconds, window, t0, t_end, sent_at, dial, entries, tap_first, sampler.peak,
                   final_stats, cpu0, cpu1, cpu_total, backlog, ami_events)


def _report(rate: float, seconds: float, window: float, t0: float, t_end: float, sent_at: dict[str, int],
            dial: dict[str, str], entries: list[tuple[bytes, dict[bytes, bytes]]], tap_first: dict[str, float], peak: int,
            final_stats: dict[str, Any], cpu0: dict[str, float], cpu1: dict[str, float],
            cpu_total: dict[str, float], backlog: int, ami_events: int) -> dict[str, Any]:
    t0_ms, t_end_ms = t0 * 1000, t_end * 1000
    by_type: Counter[str] = Counter()
    in_window = 0
    started_in_window: set[str] = set()
    started: set[str] = set()
    ended: set[str] = set()
    latency: list[float] = []
    latency_by_type: dict[str, list[float]] = defaultdict(list)
    unmatched = 0
    tap_late = 0
    to_dialing: list[float] = []
    publish_lag: list[float] = []
    for entry_id, fields in entries:
        call_id = fields.get(b"call_id", b"").decode()
        if call_id not in sent_at:
            continue
        kind = fields.get(b"type", b"").decode()
        landed = _entry_ms(entry_id)
        by_type[kind] += 1
        if t0_ms <= landed <= t_end_ms:
            in_window += 1
        if kind in ("call.dialing", "call.originate_failed") and call_id not in started:
            started.add(call_id)
            if landed <= t_end_ms:
                started_in_window.add(call_id)
            if kind == "call.dialing":
                to_dialing.append(landed - sent_at[call_id])
        if kind == "call.hangup":
            ended.add(call_id)
        at = json.loads(fields[b"data"]).get("at")
        if at:
            publish_lag.append(landed - datetime.fromisoformat(at).timestamp() * 1000)
        for group in TRIGGERS.get(kind, []):
            keys = [f"{call_id}|{name}" for name in group] + [f"{dial[call_id]}|{name}" for name in group]
            seen = [tap_first[k] for k in keys if k in tap_first]
            if seen:
                ms = landed - min(seen) * 1000
                if ms < -1:  # landed before the tap stamped its cause: the tap was descheduled (busy host)
                    tap_late += 1
                else:
                    latency.append(max(ms, 0.0))
                    latency_by_type[kind].append(max(ms, 0.0))
                break
        else:
            if kind in TRIGGERS:
                unmatched += 1
    sim_cpu = cpu1["simulator"] - cpu0["simulator"]
    svc_cpu = cpu1["service"] - cpu0["service"]
    return {
        "bench": "telephony",
        "path": "send_commands -> pyd:commands:telephony -> python -m telephony (AMI) -> simulator -> "
                "normaliser -> pyd:events:calls",
        "target_rate_per_s": rate, "seconds": seconds, "window_s": round(window, 2),
        "originates_sent": len(sent_at),
        "originates_sent_per_s": round(len(sent_at) / window, 1),
        "originates_per_s": round(len(started_in_window) / window, 1),
        "originates_started_total": len(started),
        "calls_ended_total": len(ended),
        "command_backlog_at_window_end": backlog,
        "events_published_in_window": in_window,
        "events_per_s": round(in_window / window, 1),
        "events_published_total": sum(by_type.values()),
        "events_by_type": dict(sorted(by_type.items())),
        "ami_events_in_window_per_s": round(ami_events / window, 1),
        "service_cpu_ms_per_ami_event": round(svc_cpu * 1000 / max(ami_events, 1), 3),
        "max_concurrent_channels": max(peak, int(final_stats.get("peak_channels", 0))),
        "event_latency_ms": {**_summary(latency), "unmatched": unmatched, "dropped_tap_late": tap_late,
                             "by_type": {k: _summary(v) for k, v in sorted(latency_by_type.items())}},
        "command_to_dialing_ms": _summary(to_dialing),
        "normalised_to_redis_ms": _summary(publish_lag),
        "cpu_s_in_window": {"simulator": round(sim_cpu, 2), "service": round(svc_cpu, 2)},
        "cpu_share_of_one_core": {"simulator": round(sim_cpu / window, 3), "service": round(svc_cpu / window, 3)},
        "cpu_s_total_incl_drain": {k: round(cpu_total[k] - cpu0[k], 2) for k in cpu0},
        "simulator_loop_lag_ms": final_stats.get("loop_lag_ms"),
        "machine_load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.telephony", description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200.0, help="originate commands per second")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to send originates")
    p.add_argument("--drain", type=float, default=40.0, help="max seconds to wait for calls to end")
    p.add_argument("--profile-service", type=Path, help="run the service under cProfile, stats to this file")
    args = p.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        p.error("--rate and --seconds must be positive")
    # SIGTERM (make bench timeouts, CI) unwinds through the finally blocks: children and the embedded
    # Redis are stopped instead of leaking.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="pyd-bench-tel-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        url = os.environ.get("REDIS_URL")
        embedded = None
        if not url:
            embedded = EmbeddedRedis(workdir / "redis")
            url = embedded.start()
        try:
            result = run(args.rate, args.seconds, args.drain, url, workdir, args.profile_service)
        finally:
            if embedded is not None:
                embedded.stop()
        result["redis"] = "embedded" if embedded is not None else "REDIS_URL"
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
