"""KPI queries for the analytics pages: ClickHouse in, pandas DataFrames out, no Dash.

Every function takes a clickhouse-connect ``Client`` and a :class:`analytics.filters.KpiFilter`
and runs one query (call_detail: two). Usage: ``from analytics import kpis; kpis.funnel(client, flt)``.
"""

from analytics.kpis.agents import CallDetail, CallPage, agent_calls, agent_leaderboard, call_detail
from analytics.kpis.calls import (
    DEFAULT_ABANDON_TARGET,
    FTC_WINDOW_DAYS,
    abandon_trend,
    contact_heatmap,
    dispositions_over_time,
    funnel,
    list_penetration,
    summary,
)
from analytics.kpis.drill import CallDrill, drill_calls
from analytics.kpis.pacing import pacing_explainer, sentiment_over_time

__all__ = [
    "DEFAULT_ABANDON_TARGET", "FTC_WINDOW_DAYS", "CallDetail", "CallDrill", "CallPage", "abandon_trend", "agent_calls", "agent_leaderboard", "call_detail",
    "contact_heatmap", "dispositions_over_time", "drill_calls", "funnel", "list_penetration", "pacing_explainer", "summary",
    "sentiment_over_time",
]
