"""bench/telephony.py end to end with tiny parameters: real simulator, real service, real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, redis_url: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run([sys.executable, "-m", "bench.telephony", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_bench_prints_end_to_end_figures(redis_client: object, redis_url: str) -> None:
    proc = _bench("--rate", "20", "--seconds", "2", "--drain", "4", redis_url=redis_url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("originates_per_s", "events_per_s", "max_concurrent_channels", "event_latency_ms",
                "command_to_dialing_ms", "cpu_s_in_window", "machine"):
        assert key in result, key
    assert result["originates_sent"] == 40
    assert result["originates_per_s"] > 0
    assert result["events_per_s"] > 0
    assert result["max_concurrent_channels"] > 0
    assert result["events_by_type"].get("call.dialing", 0) > 0
    latency = result["event_latency_ms"]
    assert latency["n"] > 0 and 0 <= latency["p50"] <= latency["p95"] <= latency["p99"]
    assert result["command_to_dialing_ms"]["n"] > 0
    assert result["cpu_s_in_window"]["service"] > 0
    assert result["redis"] == "REDIS_URL"


def test_bench_rejects_bad_arguments() -> None:
    proc = _bench("--rate", "0", timeout=30)
    assert proc.returncode == 2
    assert "--rate and --seconds must be positive" in proc.stderr
