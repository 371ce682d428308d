"""Agent KPIs: leaderboard (agent_states + cdr), one agent's calls (paged), one call's detail.

``agent_states`` and ``utterances`` are ReplacingMergeTree tables whose rows may be written more
than once (an interval while open and again when closed; a redelivery), so they are read with
FINAL. ``cdr`` uses sign arithmetic for sums and FINAL for row listings (see calls.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics.filters import KpiFilter
from core.exceptions import ValidationError

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
# FINAL may merge each partition on its own: every version of a row lands in the same partition,
# because the partition key (month of started_at / at / dialed_at) is computed from a column that
# never changes between versions. Measured on bench/analytics.py data: 2-3x faster FINAL.
FINAL_PER_PARTITION = "do_not_merge_across_partitions_select_final = 1"
CALL_COLUMNS = ("call_id", "dialed_at", "campaign_id", "list_id", "lead_id", "phone_e164", "lead_timezone",
                "attempt_no", "outcome", "disposition_code", "ring_s", "wait_s", "talk_s", "wrap_s", "is_sale",
                "recording_id")


def agent_leaderboard(client: Client, flt: KpiFilter) -> pd.DataFrame:
    """One row per agent, best converters first.

    The CDR side reads the ``cdr_agent_day`` rollup (0008) for whole-day filters without a list
    filter, else ``cdr``; the state side is always ``agent_states FINAL`` (intervals are rewritten
    when they close, which a summing rollup cannot fold).

    Columns: agent_id, team_id, talk_s, wait_s (ready), wrap_s, pause_s, logged_s (every state),
    calls (connected), conversions, aht_s ((talk + wrap) / calls, from the CDRs),
    conversions_per_hour (per logged-in hour), conversion_rate (per call).
    """
    s_where, s_params = flt.where("agent_states")
    if flt.agent_rollup():
        c_where, c_params = flt.where("cdr_agent_day")
        cdr_side = ("SELECT agent_id AS c_agent, sum(cdr_agent_day.calls) AS calls, "
                    "sum(cdr_agent_day.conversions) AS conversions, sum(cdr_agent_day.handle_s) AS handle_s "
                    f"FROM cdr_agent_day WHERE {c_where} GROUP BY agent_id")
    else:
        c_where, c_params = flt.where("cdr")
        cdr_side = ("SELECT agent_id AS c_agent, sum(sign * (connected_at IS NOT NULL)) AS calls, "
                    "sum(sign * is_sale) AS conversions, sum(sign * (talk_s + wrap_s)) AS handle_s "
                    f"FROM cdr WHERE {c_where} AND agent_id != 0 GROUP BY agent_id")
    params = {**s_params, **c_params}
    frame = client.query_df(
        f"""
        SELECT if(s.s_agent != 0, s.s_agent, c.c_agent) AS agent_id, s.s_team AS team_id,
               s.talk_s AS talk_s, s.wait_s AS wait_s, s.wrap_s AS wrap_s, s.pause_s AS pause_s,
               s.logged_s AS logged_s, c.calls AS calls, c.conversions AS conversions, c.handle_s AS handle_s
        FROM (
            SELECT agent_id AS s_agent, any(team_id) AS s_team,
                   sumIf(duration_s, state = 'incall') AS talk_s,
                   sumIf(duration_s, state = 'ready') AS wait_s,
                   sumIf(duration_s, state = 'wrap') AS wrap_s,
                   sumIf(duration_s, state = 'paused') AS pause_s,
                   sum(duration_s) AS logged_s
            FROM agent_states FINAL WHERE {s_where} GROUP BY agent_id
        ) AS s
        FULL OUTER JOIN ({cdr_side}) AS c ON s.s_agent = c.c_agent
        SETTINGS join_use_nulls = 0, {FINAL_PER_PARTITION}
        """,
        parameters=params,
    )
    if frame.empty:
        return pd.DataFrame(columns=["agent_id", "team_id", "talk_s", "wait_s", "wrap_s", "pause_s", "logged_s",
                                     "calls", "conversions", "aht_s", "conversions_per_hour", "conversion_rate"])
    calls = frame["calls"].replace(0, np.nan)
    frame["aht_s"] = frame["handle_s"] / calls
    frame["conversions_per_hour"] = frame["conversions"] / (frame["logged_s"].replace(0, np.nan) / 3600.0)
    frame["conversion_rate"] = frame["conversions"] / calls
    frame = frame.drop(columns=["handle_s"])
    return frame.sort_values(["conversions", "calls", "agent_id"], ascending=[False, False, True],
                             ignore_index=True)


@dataclass(frozen=True)
class CallPage:
    rows: pd.DataFrame
    total: int
    page: int
    page_size: int


def agent_calls(client: Client, flt: KpiFilter, agent_id: int, page: int = 0, page_size: int = 50) -> CallPage:
    """One agent's calls in the filter's range, newest first, ``page_size`` per page (page 0 first)."""
    if not isinstance(agent_id, int) or agent_id <= 0:
        raise ValidationError("invalid request", {"agent_id": "a positive agent id"})
    if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("invalid request", {"page": f"page >= 0 and 1 <= page_size <= {MAX_PAGE_SIZE}"})
    where, params = flt.where("cdr")
    frame = client.query_df(
        f"SELECT {', '.join(CALL_COLUMNS)}, count() OVER () AS total FROM cdr FINAL "
        f"WHERE {where} AND agent_id = {{agent:UInt32}} ORDER BY dialed_at DESC, call_id "
        f"LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}} SETTINGS {FINAL_PER_PARTITION}",
        parameters={**params, "agent": agent_id, "limit": page_size, "offset": page * page_size},
    )
    if frame.empty:  # past the last page: no rows, hence no window total
        return CallPage(rows=pd.DataFrame(columns=list(CALL_COLUMNS)), total=_count(client, where, params, agent_id),
                        page=page, page_size=page_size)
    total = int(frame["total"].iloc[0])
    return CallPage(rows=frame.drop(columns=["total"]), total=total, page=page, page_size=page_size)


def _count(client: Client, where: str, params: dict[str, Any], agent_id: int) -> int:
    rows = client.query(f"SELECT sum(sign) FROM cdr WHERE {where} AND agent_id = {{agent:UInt32}}",
                        parameters={**params, "agent": agent_id}).result_rows
    return int(rows[0][0] or 0) if rows else 0


@dataclass(frozen=True)
class CallDetail:
    cdr: dict[str, Any]
    utterances: pd.DataFrame


def call_detail(client: Client, call_id: str | uuid.UUID, *, campaign_id: int | None = None,
                dialed_at: datetime | None = None) -> CallDetail | None:
    """The latest CDR of one call and its transcript (ordered by ``seq``); None if unknown.

    Pass ``campaign_id`` and ``dialed_at`` when known (a row of :func:`agent_calls` has both): they
    are cdr's sorting key, so the lookup reads one granule instead of probing the call_id bloom
    filter of every part.
    """
    try:
        cid = str(uuid.UUID(str(call_id)))
    except ValueError as exc:
        raise ValidationError("invalid request", {"call_id": f"not a UUID: {call_id!r}"}) from exc
    key = ""
    params: dict[str, Any] = {"cid": cid}
    if campaign_id is not None and dialed_at is not None:
        key = "campaign_id = {camp:UInt32} AND dialed_at = {at:DateTime64(3, 'UTC')} AND "
        at = dialed_at.replace(tzinfo=UTC) if dialed_at.tzinfo is None else dialed_at
        params.update(camp=campaign_id, at=at)
    result = client.query(f"SELECT * FROM cdr FINAL WHERE {key}call_id = {{cid:UUID}} LIMIT 1 "
                          f"SETTINGS {FINAL_PER_PARTITION}", parameters=params)
    if not result.result_rows:
        return None
    row = dict(zip(result.column_names, result.result_rows[0], strict=True))
    # utterances are sorted by (campaign_id, toDate(at), call_id): give it the prefix.
    columns = ["seq", "speaker", "started_s", "ended_s", "text", "sentiment", "redacted", "at"]
    utterances = client.query_df(
        "SELECT seq, speaker, started_s, ended_s, text, sentiment, redacted, at FROM utterances FINAL "
        "WHERE campaign_id = {camp:UInt32} AND toDate(at) BETWEEN toDate({day:DateTime64(3, 'UTC')}) "
        "AND toDate({day:DateTime64(3, 'UTC')}) + 1 AND call_id = {cid:UUID} ORDER BY seq "
        f"SETTINGS {FINAL_PER_PARTITION}",
        parameters={"camp": row["campaign_id"], "day": row["dialed_at"], "cid": cid},
    )
    return CallDetail(cdr=row, utterances=utterances if not utterances.empty else pd.DataFrame(columns=columns))
