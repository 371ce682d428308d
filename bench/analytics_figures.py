"""The /analytics panels' callback bodies without HTTP: KPI query (chdb) + app.figures + JSON.

    python -m bench.analytics_figures [--calls 200000] [--days 30] [--runs 5]

Generates ``--calls`` CDRs over ``--days`` days into a fresh chdb folder, then times, per panel,
the work one callback does: the ``analytics.kpis`` call, the figure function and the Plotly JSON
encoding the response needs (the KPI query alone at 10M rows is bench/analytics.py). Prints one
JSON object: median / max milliseconds per panel for a 7-day, all-campaign filter.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

import clickhouse_connect
import plotly.io as pio

from analytics import kpis
from analytics.filters import KpiFilter
from analytics.generate import GenSpec, generate_chunks, insert_dataset
from analytics.schema import Migrator
from app import figures

PANELS = {
    "summary": (kpis.summary, figures.summary_cards),
    "funnel": (kpis.funnel, figures.funnel_figure),
    "heatmap": (kpis.contact_heatmap, figures.heatmap_figure),
    "dispositions": (kpis.dispositions_over_time, figures.dispositions_figure),
    "abandon": (kpis.abandon_trend, figures.abandon_figure),
    "penetration": (kpis.list_penetration, figures.penetration_figure),
    "pacing": (kpis.pacing_explainer, figures.pacing_figure),
    "sentiment": (kpis.sentiment_over_time, figures.sentiment_figure),
    "leaderboard": (kpis.agent_leaderboard, lambda frame: frame.to_dict("records")),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    client = clickhouse_connect.get_client(interface="chdb", path=tempfile.mkdtemp(prefix="pyd-bench-fig-"))
    Migrator(client, "bench").up()
    client.database = "bench"
    today = datetime.now(UTC).date()
    started = time.perf_counter()
    for chunk in generate_chunks(GenSpec(start=today - timedelta(days=args.days), days=args.days, calls=args.calls),
                                 days_per_chunk=5):
        insert_dataset(client, chunk)
    load_s = time.perf_counter() - started
    end = datetime.combine(today, datetime.min.time(), UTC)
    flt = KpiFilter(end - timedelta(days=7), end)
    result: dict[str, dict[str, float]] = {}
    for name, (kpi, render) in PANELS.items():
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            out = render(kpi(client, flt))
            if hasattr(out, "to_plotly_json"):
                pio.to_json(out, validate=False)
            else:
                json.dumps(out, default=str)
            times.append((time.perf_counter() - t0) * 1000)
        result[name] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
    print(json.dumps({"bench": "analytics_figures", "calls": args.calls, "days": args.days, "load_s": round(load_s, 1),
                      "filter_days": 7, "panels": result}))


if __name__ == "__main__":
    main()
