"""Shared helpers for benchmark scripts: every bench prints one JSON object on its last line."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any


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
