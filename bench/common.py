"""Shared helpers for benchmark scripts: every bench prints one JSON object on its last line."""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def time_calls(fn: Callable[[], Any], runs: int, warmup: int = 3) -> dict[str, float]:
    """Wall-clock milliseconds of ``runs`` calls of ``fn`` after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "runs": runs,
        "p50_ms": round(percentile(samples, 50), 3),
        "p95_ms": round(percentile(samples, 95), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "max_ms": round(max(samples), 3),
    }


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def emit(result: dict[str, Any]) -> None:
    """Print the result as the last line of stdout (what `make bench` collects)."""
    result.setdefault("machine", machine())
    sys.stdout.write(json.dumps(result, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


# --- real processes, for the benches and tests that kill -9 them ---------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One PyDialer process with its own log file; ``kill9`` is a real SIGKILL, no clean-up runs."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.p: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Proc:
        self.starts += 1
        log = open(self.logs / f"{self.name}.{self.starts}.log", "wb")  # noqa: SIM115 - closed with the process
        self.p = subprocess.Popen([sys.executable, "-m", *self.args], cwd=REPO_ROOT, env=self.env, stdout=log,
                                  stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.p is not None and self.p.poll() is None, f"{self.name} died early: see {self.logs}"
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None


def renice(value: int, dbapi_connection: Any | None = None) -> None:
    """Set the scheduling priority of every thread of this process and, when given, of the
    PostgreSQL backend serving ``dbapi_connection`` (a server on this machine).

    For benchmarks on a machine other jobs share: both sides of the measured work get the same
    priority. Linux nice values are per thread (a library's thread pool may already exist)."""
    for task in Path("/proc/self/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), value)
    if dbapi_connection is not None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT pg_backend_pid()")
            os.setpriority(os.PRIO_PROCESS, cursor.fetchone()[0], value)
        finally:
            cursor.close()
