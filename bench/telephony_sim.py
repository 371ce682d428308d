"""Load the simulator like a busy dialer and print JSON figures.

The simulator runs as its own process (one core, as in production); this script is the AMI
client: it originates at --rate per second for --duration seconds over one AMI connection, reads
every event, and reports sustained originates/s (OriginateResponse events received), peak
concurrent channels, event rates and the simulator's event-loop lag.

    .venv/bin/python bench/telephony_sim.py --rate 250 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = {
    "outcomes": {"answer_prob": 0.7, "machine_prob": 0.15, "fail_prob": 0.1},
    "timing": {"ring_live_s": {"dist": "uniform", "lo": 1, "hi": 3}, "ring_machine_s": {"dist": "uniform", "lo": 2, "hi": 4},
               "fail_detect_s": 1.0, "no_answer_timeout_s": 6.0},
    "sim": {"patience_s": 12.0, "machine_hangup_s": 12.0},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), so the figure holds on a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats(ari_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ari_port}/_stats", timeout=10) as r:
        return json.loads(r.read())


async def load(ami_port: int, ari_port: int, rate: float, duration: float, pid: int) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", ami_port)
    await reader.readline()
    writer.write(b"Action: Login\r\nUsername: pydialer\r\nSecret: pydialer\r\n\r\n")
    counts = {"events": 0, "originate_responses": 0, "success": 0, "bytes": 0}
    stop = asyncio.Event()

    async def read() -> None:
        buf = b""
        while not stop.is_set():
            chunk = await reader.read(1 << 16)
            if not chunk:
                return
            counts["bytes"] += len(chunk)
            buf += chunk
            *msgs, buf = buf.split(b"\r\n\r\n")
            for m in msgs:
                if m.startswith(b"Event: "):
                    counts["events"] += 1
                    if m.startswith(b"Event: OriginateResponse"):
                        counts["originate_responses"] += 1
                        counts["success"] += b"Response: Success" in m

    reader_task = asyncio.create_task(read())
    cpu0 = cpu_seconds(pid)
    sent0 = (await asyncio.to_thread(stats, ari_port))["ami"]["events_sent"]
    peak = 0
    t0 = time.monotonic()
    sent = 0
    last_poll = t0
    while (now := time.monotonic()) - t0 < duration:
        due = int((now - t0) * rate)
        batch = []
        while sent < due:
            batch.append(f"Action: Originate\r\nActionID: o{sent}\r\nChannel: PJSIP/555{sent:07d}@trunk\r\n"
                         f"Context: hold\r\nExten: s\r\nPriority: 1\r\nAsync: true\r\nTimeout: 6000\r\n\r\n")
            sent += 1
        if batch:
            writer.write("".join(batch).encode())
            await writer.drain()
        if now - last_poll > 1.0:
            last_poll = now
            peak = max(peak, (await asyncio.to_thread(stats, ari_port))["channels"])
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    resp_at_end = counts["originate_responses"]
    events_at_end, bytes_at_end = counts["events"], counts["bytes"]
    s = await asyncio.to_thread(stats, ari_port)
    # Every call resolves within the 6 s no-answer timeout: if the simulator kept up, all
    # OriginateResponses arrive within ~6 s of the last send.
    t_end = time.monotonic()
    while counts["originate_responses"] < sent and time.monotonic() - t_end < 15:
        await asyncio.sleep(0.05)
    drain_s = time.monotonic() - t_end
    stop.set()
    writer.close()
    reader_task.cancel()
    return {
        "target_rate": rate, "duration_s": round(elapsed, 1), "originates_sent": sent,
        "originates_per_s_sent": round(sent / elapsed, 1),
        "originate_responses_per_s": round(resp_at_end / elapsed, 1),
        "originate_responses_total": counts["originate_responses"],
        "last_response_after_last_send_s": round(drain_s, 2),
        "answered_share": round(counts["success"] / max(counts["originate_responses"], 1), 3),
        "max_concurrent_channels": max(peak, s["peak_channels"]),
        "events_received_per_s": round(events_at_end / elapsed, 1),
        "ami_events_sent_per_s": round((s["ami"]["events_sent"] - sent0) / elapsed, 1),
        "ami_mbytes_per_s": round(bytes_at_end / elapsed / 1e6, 2),
        "simulator_loop_lag_ms": s["loop_lag_ms"],
        "simulator_cpu_share_of_one_core": round(cpu / elapsed, 3),
        "machine_load_avg_1m": os.getloadavg()[0],
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, default=250.0)
    p.add_argument("--duration", type=float, default=30.0)
    args = p.parse_args()
    ami_port, ari_port = free_port(), free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(SCENARIO, fh)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "telephony.simulator", "--ami-port", str(ami_port), "--ari-port",
                             str(ari_port), "--scenario", fh.name, "--seed", "1", "--log-level", "WARNING",
                             "--data-dir", tempfile.gettempdir()], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # {"ami_port": ..., "ari_port": ...} once listening
        result = asyncio.run(load(ami_port, ari_port, args.rate, args.duration, proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
        os.unlink(fh.name)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
