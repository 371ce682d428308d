"""Why the dialer dialed: pacing decisions beside abandons, per minute; sentiment over time.

``dial_decisions`` carries only campaign_id, so list/team/agent filters do not apply to the
pacing explainer; abandons come from the ``cdr_minute`` rollup (0005), which is keyed the same
way. ``utterances`` has no lead time zone: sentiment is bucketed in UTC.
"""

from __future__ import annotations

import logging

import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics.filters import KpiFilter
from analytics.kpis._time import Grain, check_grain
from analytics.kpis.agents import FINAL_PER_PARTITION

logger = logging.getLogger(__name__)

PACING_COLUMNS = ["minute", "decisions", "avg_dial_level", "max_dial_level", "avg_agents_idle", "avg_agents_logged_in",
                  "calls_placed", "max_est_abandon_rate", "guard_active", "dials", "abandoned"]


def pacing_explainer(client: Client, flt: KpiFilter) -> pd.DataFrame:
    """Per minute: decisions, avg/max dial_level, avg agents_idle/logged_in, calls_placed,
    max est_abandon_rate, guard_minutes (any decision with the abandon guard on), dials and
    abandoned (from the CDR rollup)."""
    d_where, params = flt.where("dial_decisions")
    m_where = d_where.replace("at >=", "minute >=").replace("at <", "minute <")
    frame = client.query_df(
        f"""
        SELECT d.minute AS minute, decisions, avg_dial_level, max_dial_level, avg_agents_idle, avg_agents_logged_in,
               calls_placed, max_est_abandon_rate, guard_active, r.dials AS dials, r.abandoned AS abandoned
        FROM (
            SELECT toStartOfMinute(toDateTime(at, 'UTC')) AS minute, count() AS decisions,
                   avg(dial_level) AS avg_dial_level, max(dial_level) AS max_dial_level,
                   avg(agents_idle) AS avg_agents_idle, avg(agents_logged_in) AS avg_agents_logged_in,
                   sum(calls_placed) AS calls_placed, max(est_abandon_rate) AS max_est_abandon_rate,
                   max(guard_active) AS guard_active
            FROM dial_decisions FINAL WHERE {d_where} GROUP BY minute
        ) AS d
        LEFT JOIN (
            SELECT minute, sum(dials) AS dials, sum(abandoned) AS abandoned
            FROM cdr_minute WHERE {m_where} GROUP BY minute
        ) AS r ON d.minute = r.minute
        ORDER BY minute
        SETTINGS join_use_nulls = 0, {FINAL_PER_PARTITION}
        """,
        parameters=params,
    )
    return frame if not frame.empty else pd.DataFrame(columns=PACING_COLUMNS)


def sentiment_over_time(client: Client, flt: KpiFilter, grain: Grain = "hour") -> pd.DataFrame:
    """Per UTC bucket and speaker: utterances, avg_sentiment, share_negative (< -0.2)."""
    check_grain(grain)
    fn = "toStartOfHour" if grain == "hour" else "toStartOfDay"
    where, params = flt.where("utterances")
    frame = client.query_df(
        f"SELECT {fn}(toDateTime(at, 'UTC')) AS bucket, speaker, count() AS utterances, "
        "avg(sentiment) AS avg_sentiment, avg(sentiment < -0.2) AS share_negative "
        f"FROM utterances FINAL WHERE {where} GROUP BY bucket, speaker ORDER BY bucket, speaker "
        f"SETTINGS {FINAL_PER_PARTITION}",
        parameters=params,
    )
    return frame if not frame.empty else pd.DataFrame(columns=["bucket", "speaker", "utterances", "avg_sentiment",
                                                                "share_negative"])
