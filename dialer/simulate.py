"""``python -m dialer.simulate``: the pacing benchmark's discrete-event simulator (bench/scenarios/README.md).

    python -m dialer.simulate --scenario bench/scenarios/SC3.json [--algorithm NAME[,NAME]] [--seed N]
                              [--json] [--trace CSV] [--quick] [--jobs N]

Without ``--algorithm`` all four policies run on the same leads (common random numbers): progressive,
ratio (2.0 lines per idle agent), vicidial-adapt (ADAPT_HARD_LIMIT) and predictive. ``name:variant``
selects a vicidial variant, e.g. ``vicidial-adapt:tapered``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

from dialer.simulate_engine import RunResult, simulate
from dialer.simulate_metrics import aggregate, write_trace
from dialer.simulate_scenario import Scenario, ScenarioError, load_scenario

logger = logging.getLogger(__name__)

DEFAULT_ALGORITHMS = ("progressive", "ratio", "vicidial-adapt", "predictive")
QUICK_DURATION_S = 3600.0
QUICK_SEEDS = 2


def quick_variant(sc: Scenario) -> Scenario:
    """Fewer seeds and at most an hour (schedule and shift points beyond the hour simply never happen)."""
    return replace(sc, seeds=sc.seeds[:QUICK_SEEDS], duration_s=min(sc.duration_s, QUICK_DURATION_S))


def _run(args: tuple[Scenario, str, int, bool]) -> RunResult:
    sc, algorithm, seed, trace = args
    return simulate(sc, algorithm, seed, trace=trace)


def run_matrix(
    sc: Scenario, algorithms: Sequence[str], seeds: Sequence[int], *, trace: bool = False, jobs: int = 1
) -> dict[str, list[RunResult]]:
    tasks = [(sc, a, s, trace) for a in algorithms for s in seeds]
    if jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_run, tasks))
    else:
        results = [_run(t) for t in tasks]
    out: dict[str, list[RunResult]] = {a: [] for a in algorithms}
    for r in results:
        out[r.algorithm].append(r)
    return out


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'scenario':8} {'algorithm':24} {'util':>6} {'ceil':>6} {'aband':>6} {'wilsonU':>7} {'worst15':>7} " \
           f"{'postshift':>9} {'dials/ah':>8} {'wait_s':>6} {'p99ms':>6}"  # fmt: skip
    lines = [head, "-" * len(head)]
    for m in rows:
        post = [v["abandon_rate"] for v in m["post_shift_abandon"].values() if v["abandon_rate"] is not None]
        worst = m["worst_15min_abandon"]
        wait = m["mean_agent_wait_s"]
        lines.append(
            f"{m['scenario']:8} {m['algorithm']:24} {100 * m['talk_utilization']:6.2f} {100 * m['ceiling']:6.2f} "
            f"{100 * m['abandon_rate']:6.2f} {100 * m['abandon_wilson95'][1]:7.2f} "
            f"{'' if worst is None else f'{100 * worst:.2f}':>7} "
            f"{'/'.join(f'{100 * p:.2f}' for p in post):>9} {m['dials_per_agent_hour']:8.1f} "
            f"{'' if wait is None else f'{wait:.1f}':>6} {m['decision_ms']['p99'] or 0:6.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dialer.simulate", description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", required=True, help="scenario JSON file")
    ap.add_argument("--algorithm", help="policy name(s), comma-separated; default: all four")
    ap.add_argument("--seed", type=int, help="run only this seed (default: the scenario's seeds)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--trace", help="write every call and agent interval to this CSV")
    ap.add_argument("--quick", action="store_true", help=f"first {QUICK_SEEDS} seeds, at most 1 h")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.quick:
        sc = quick_variant(sc)
    algorithms = tuple(a.strip() for a in args.algorithm.split(",")) if args.algorithm else DEFAULT_ALGORITHMS
    seeds = (args.seed,) if args.seed is not None else sc.seeds
    try:
        runs = run_matrix(sc, algorithms, seeds, trace=bool(args.trace), jobs=max(1, args.jobs))
    except ValueError as exc:  # an unknown policy name or bad policy setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [aggregate(sc, runs[a]) for a in algorithms]
    for row in rows:
        if row["algorithm"] == "ratio":
            row["ratio"] = 2.0
    if args.trace:
        n = write_trace(args.trace, (r for a in algorithms for r in runs[a]))
        logger.info("wrote %d trace rows to %s", n, args.trace)
    if args.json:
        print(json.dumps({"scenario": sc.id, "results": rows}, indent=2))
    else:
        print(f"{sc.id}: {sc.description}  (seeds {list(seeds)}, ratio policy = 2.0 lines per idle agent)")
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
