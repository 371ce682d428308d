"""Decision-time micro-benchmark: ``predictive.calls_to_place`` at 500 agents (brief: < 2 ms p99).

    .venv/bin/python bench/pacing_decision.py [--agents 500] [--decisions 20000] [--target 0.03]

A policy is first trained on synthetic results (15 % live, lognormal-ish rings, 165 s handle), then fed
observations shaped like SC6 at steady state (≈ 1 line in flight per agent, most agents busy) with time
advancing 50 ms per decision, so the periodic model rebuilds and jump checks are included at their real
rate (40 decisions/s, as in SC6). Prints JSON with wall-clock and thread-CPU percentiles. ``--target``
below 0.003 puts θ under ``SADDLEPOINT_BELOW``, so large-team counts take the saddlepoint check too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.pacing import PacingObservation, make_policy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--decisions", type=int, default=20_000)
    ap.add_argument("--target", type=float, default=0.03, help="target_abandon_rate (0.0003: the saddlepoint path)")
    args = ap.parse_args(argv)
    rng = random.Random(1)
    policy = make_policy(
        "predictive", target_abandon_rate=args.target, dial_timeout_s=25.0, drop_after_s=2.0, max_lines_per_agent=3.0
    )
    t = 0.0
    for _ in range(30_000):  # 25 minutes of SC6-like traffic
        t += 0.05
        u = rng.random()
        if u < 0.15:
            policy.on_call_result(t, "human", min(24.5, max(0.5, rng.lognormvariate(1.97, 0.47))))
        elif u < 0.45:
            policy.on_call_result(t, "machine", rng.uniform(12, 22))
        elif u < 0.55:
            policy.on_call_result(t, "failed", rng.uniform(1, 4))
        else:
            policy.on_call_result(t, "no_answer", 25.0)
        if rng.random() < 0.15:
            policy.on_agent_released(t, rng.lognormvariate(4.8, 0.7) + 15, False)
    n = args.agents
    wall, cpu, counts = [], [], []
    for _ in range(args.decisions):
        t += 0.05
        idle = rng.choice((0, 0, 0, 1, 2, 5))
        busy = [rng.uniform(0, 600) for _ in range(n - idle)]
        ringing = [rng.uniform(0, 25) for _ in range(int(n * rng.uniform(0.4, 1.2)))]
        obs = PacingObservation(t, n, idle, np.array(busy), np.array(ringing), 0 if idle else rng.choice((0, 0, 1)))
        w0, c0 = time.perf_counter(), time.thread_time()
        counts.append(policy.calls_to_place(obs))
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
    w, c = np.array(wall) * 1e3, np.array(cpu) * 1e3
    doc = {
        "benchmark": "pacing_decision",
        "agents": n,
        "target_abandon_rate": args.target,
        "decisions": args.decisions,
        "wall_ms": {"p50": float(np.percentile(w, 50)), "p99": float(np.percentile(w, 99)), "max": float(w.max())},
        "cpu_ms": {"p50": float(np.percentile(c, 50)), "p99": float(np.percentile(c, 99)), "max": float(c.max())},
        "mean_calls_placed": float(np.mean(counts)),
        "target_p99_ms": 2.0,
    }
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
