"""The analytics pages' queries written for PostgreSQL over the bench_* copies (see analytics_load).

Each function takes a psycopg2 cursor and the same :class:`KpiFilter` the ClickHouse KPI gets,
runs the equivalent SQL and fetches the result: what the page would need from PostgreSQL. The
lead-local heatmap uses the same strategy as ClickHouse (group by zone and UTC hour; the shift
to local time is done in Python on both sides and not timed here).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from analytics.filters import KpiFilter


def _where(flt: KpiFilter, time_col: str = "dialed_at", *, start_shift: timedelta | None = None,
           dims: tuple[str, ...] = ("campaign_ids",)) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"start": flt.start - (start_shift or timedelta()), "end": flt.end}
    clauses = [f"{time_col} >= %(start)s", f"{time_col} < %(end)s"]
    columns = {"campaign_ids": "campaign_id", "list_ids": "list_id", "team_ids": "team_id", "agent_ids": "agent_id"}
    for name in dims:
        ids = getattr(flt, name)
        if ids:
            params[name] = list(ids)
            clauses.append(f"{columns[name]} = ANY(%({name})s)")
    return " AND ".join(clauses), params


def _run(cur: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur.execute(sql, params)
    return cur.fetchall()


_MEASURES = """count(*), count(*) FILTER (WHERE outcome IN ('human', 'machine', 'abandoned')),
    count(*) FILTER (WHERE is_contact), count(*) FILTER (WHERE connected_at IS NOT NULL),
    count(*) FILTER (WHERE dropped), count(*) FILTER (WHERE is_sale), sum(talk_s), sum(wrap_s)"""


def summary(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    where, params = _where(flt, dims=("campaign_ids", "list_ids", "team_ids", "agent_ids"))
    return _run(cur, f"SELECT {_MEASURES} FROM bench_cdr WHERE {where}", params)


funnel = summary


def contact_heatmap(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    where, params = _where(flt)
    return _run(cur, "SELECT lead_timezone, date_trunc('hour', dialed_at), count(*), count(*) FILTER (WHERE is_contact) "
                f"FROM bench_cdr WHERE {where} GROUP BY 1, 2", params)


def dispositions_over_time(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    where, params = _where(flt)
    return _run(cur, "SELECT date_trunc('day', dialed_at), disposition_code, count(*) "
                f"FROM bench_cdr WHERE {where} GROUP BY 1, 2", params)


def abandon_trend(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    where, params = _where(flt, start_shift=timedelta(days=30))
    return _run(cur, "SELECT date_trunc('day', dialed_at), count(*) FILTER (WHERE is_contact), "
                f"count(*) FILTER (WHERE dropped) FROM bench_cdr WHERE {where} GROUP BY 1", params)


def list_penetration(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    where, params = _where(flt)
    return _run(cur, "SELECT list_id, attempt_no, count(*), count(*) FILTER (WHERE is_contact), "
                f"count(*) FILTER (WHERE is_sale) FROM bench_cdr WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2", params)


def agent_leaderboard(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    s_where, s_params = _where(flt, "started_at")
    c_where, c_params = _where(flt)
    return _run(cur, f"""
        SELECT coalesce(s.agent_id, c.agent_id), s.team_id, s.talk, s.wait, s.wrap, s.pause, s.logged,
               c.calls, c.sales, c.handle
        FROM (SELECT agent_id, min(team_id) AS team_id,
                     sum(duration_s) FILTER (WHERE state = 'incall') AS talk,
                     sum(duration_s) FILTER (WHERE state = 'ready') AS wait,
                     sum(duration_s) FILTER (WHERE state = 'wrap') AS wrap,
                     sum(duration_s) FILTER (WHERE state = 'paused') AS pause,
                     sum(duration_s) AS logged
              FROM bench_agent_states WHERE {s_where} GROUP BY agent_id) s
        FULL OUTER JOIN
             (SELECT agent_id, count(*) FILTER (WHERE connected_at IS NOT NULL) AS calls,
                     count(*) FILTER (WHERE is_sale) AS sales, sum(talk_s + wrap_s) AS handle
              FROM bench_cdr WHERE {c_where} AND agent_id IS NOT NULL AND agent_id <> 0 GROUP BY agent_id) c
        ON s.agent_id = c.agent_id""", {**s_params, **c_params})


def agent_calls(cur: Any, flt: KpiFilter, agent_id: int) -> list[tuple[Any, ...]]:
    where, params = _where(flt)
    return _run(cur, "SELECT call_id, dialed_at, campaign_id, list_id, lead_id, phone_e164, lead_timezone, "
                "attempt_no, outcome, disposition_code, ring_s, wait_s, talk_s, wrap_s, is_sale, recording_id, "
                f"count(*) OVER () FROM bench_cdr WHERE {where} AND agent_id = %(agent)s "
                "ORDER BY dialed_at DESC, call_id LIMIT 50", {**params, "agent": agent_id})


def call_detail(cur: Any, call_id: str) -> list[tuple[Any, ...]]:
    row = _run(cur, "SELECT * FROM bench_cdr WHERE call_id = %(c)s", {"c": call_id})
    return row + _run(cur, "SELECT seq, speaker, started_s, ended_s, text, sentiment, redacted, at "
                      "FROM bench_utterances WHERE call_id = %(c)s ORDER BY seq", {"c": call_id})


def pacing_explainer(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    d_where, params = _where(flt, "at")
    c_where, _ = _where(flt)
    return _run(cur, f"""
        SELECT d.minute, d.decisions, d.level, d.max_level, d.idle, d.logged, d.placed, d.est, d.guard,
               coalesce(r.dials, 0), coalesce(r.abandoned, 0)
        FROM (SELECT date_trunc('minute', at) AS minute, count(*) AS decisions, avg(dial_level) AS level,
                     max(dial_level) AS max_level, avg(agents_idle) AS idle, avg(agents_logged_in) AS logged,
                     sum(calls_placed) AS placed, max(est_abandon_rate) AS est, bool_or(guard_active) AS guard
              FROM bench_dial_decisions WHERE {d_where} GROUP BY 1) d
        LEFT JOIN (SELECT date_trunc('minute', dialed_at) AS minute, count(*) AS dials,
                          count(*) FILTER (WHERE dropped) AS abandoned
                   FROM bench_cdr WHERE {c_where} GROUP BY 1) r ON d.minute = r.minute
        ORDER BY 1""", params)


def sentiment_over_time(cur: Any, flt: KpiFilter) -> list[tuple[Any, ...]]:
    where, params = _where(flt, "at")
    return _run(cur, "SELECT date_trunc('hour', at), speaker, count(*), avg(sentiment), "
                f"avg((sentiment < -0.2)::int) FROM bench_utterances WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
                params)
