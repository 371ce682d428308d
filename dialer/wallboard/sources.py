"""The aggregator's reads: PostgreSQL reference data (slow cadence) and Redis live state (per snapshot).

Nothing here runs per viewer: the aggregator is the only caller. PostgreSQL is read every
``REFERENCE_EVERY_S`` (campaign settings, names, pause-code limits) and ``REFUSALS_EVERY_S``
(the hopper refusal breakdown, one GROUP BY per active campaign); lead names for the agents'
current customers are fetched once per new lead and cached.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dialer.live import ACTIVE_AGENTS, CALL_STATES, agent_key, call_key, calls_key, pacing_key, stats_key
from dialer.wallboard.snapshot import AgentRow, CampaignInfo

logger = logging.getLogger(__name__)

MAX_AGENTS = 5000


@dataclass(frozen=True)
class Reference:
    campaigns: dict[int, CampaignInfo] = field(default_factory=dict)
    agent_names: dict[int, str] = field(default_factory=dict)
    pause_limits: dict[tuple[int | None, str], int] = field(default_factory=dict)


def load_reference(engine: sa.Engine) -> Reference:
    with engine.connect() as conn:
        campaigns = conn.execute(sa.text(
            "SELECT id, name, dial_method, target_abandon_rate, abandon_window, active FROM campaigns ORDER BY id"))
        infos = {int(r.id): CampaignInfo(int(r.id), r.name, r.dial_method, float(r.target_abandon_rate or 0.0),
                                         r.abandon_window, bool(r.active)) for r in campaigns}
        users = conn.execute(sa.text("SELECT id, username, full_name FROM users"))
        names = {int(r.id): (r.full_name or r.username) for r in users}
        codes = conn.execute(sa.text("SELECT campaign_id, code, max_s FROM pause_codes WHERE max_s IS NOT NULL"))
        limits = {(r.campaign_id, r.code): int(r.max_s) for r in codes}
    return Reference(infos, names, limits)


def utc_midnight(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)


HANDLE_SQL = sa.text("""
    SELECT campaign_id, count(*) AS calls,
           sum(greatest(0, extract(epoch FROM ended_at - connected_at))
               + coalesce(greatest(0, extract(epoch FROM wrap_ended_at - ended_at)), 0)) AS handle_s
      FROM call_attempts
     WHERE connected_at IS NOT NULL AND ended_at >= :day
       AND dialed_at >= :since  -- ix_call_attempts_campaign_dialed; no call rings for a day
     GROUP BY campaign_id""")


def load_handle_times(engine: sa.Engine, now: float) -> dict[int, tuple[float, int]]:
    """``{campaign id: (talk + wrap seconds, connected calls)}`` of the calls that ended today (UTC).

    The analytics AHT (:func:`analytics.kpis.calls.summary`: ``(talk + wrap) / connected``) over
    the same rows: talk = connected -> ended, wrap = ended -> wrap ended (0 while the agent is
    still in wrap; :meth:`dialer.agents.PgDispositions.wrap_ended` fills it in, and the figure
    follows on the next read). Read from PostgreSQL, not from the event stream, so an
    aggregator restart neither resets nor double counts it.
    """
    day = utc_midnight(now)
    with engine.connect() as conn:
        rows = conn.execute(HANDLE_SQL, {"day": day, "since": day - timedelta(days=1)})
        return {int(r.campaign_id): (float(r.handle_s or 0.0), int(r.calls)) for r in rows}


def load_refusals(engine: sa.Engine, campaign_id: int, now: float) -> dict[str, int]:
    """The hopper's "why nothing is dialable" breakdown (:func:`dialer.leads_repo.refusal_counts`)."""
    from dialer.leads_repo import load_rules, refusal_counts

    with engine.connect() as conn:
        rules = load_rules(conn, campaign_id)
        return refusal_counts(conn, rules, datetime.fromtimestamp(now, UTC))


class LeadNames:
    """lead id -> "First Last · +1555..." with a bounded LRU, filled in batches."""

    def __init__(self, engine: sa.Engine, size: int = 10_000) -> None:
        self.engine = engine
        self.size = size
        self._cache: OrderedDict[int, str] = OrderedDict()

    def get_many(self, lead_ids: Iterable[int]) -> dict[int, str]:
        wanted = set(lead_ids)
        missing = [i for i in wanted if i not in self._cache]
        if missing:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT id, first_name, last_name, phone_e164 FROM leads WHERE id = ANY(:ids)"), {"ids": missing})
                for r in rows:
                    name = f"{r.first_name} {r.last_name}".strip()
                    self._cache[int(r.id)] = f"{name} · {r.phone_e164}" if name else r.phone_e164
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        out = {}
        for i in wanted:
            if i in self._cache:
                self._cache.move_to_end(i)
                out[i] = self._cache[i]
        return out


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class LiveRead:
    agents: list[AgentRow]
    agent_leads: dict[int, int]  # agent id -> lead id of the call they are on
    calls: dict[int, dict[str, list[float]]]
    stats: dict[int, dict[str, int]]
    pacing: dict[int, dict[str, str]]


def read_live(r: Any, campaign_ids: Iterable[int], names: Mapping[int, str]) -> LiveRead:
    """One pipelined round for the agents, one for the campaigns, one for the agents' calls."""
    members = sorted(_int(m) or 0 for m in r.smembers(ACTIVE_AGENTS))[:MAX_AGENTS]
    with r.pipeline(transaction=False) as pipe:
        for agent_id in members:
            pipe.hgetall(agent_key(agent_id))
        raws = pipe.execute()
    agents: list[AgentRow] = []
    for agent_id, raw in zip(members, raws, strict=True):
        if not raw:
            continue
        state = (raw.get("state") or "unknown").strip().lower()[:32]
        agents.append(AgentRow(
            agent_id=agent_id, name=raw.get("name") or names.get(agent_id) or f"agent {agent_id}", state=state,
            campaign_id=_int(raw.get("campaign_id")), since=_float(raw.get("since")),
            calls_today=_int(raw.get("calls_today")) or 0, pause_code=raw.get("pause_code") or None,
            call_id=raw.get("call_id") or None,
        ))
    cids = sorted(set(campaign_ids) | {a.campaign_id for a in agents if a.campaign_id is not None})
    with r.pipeline(transaction=False) as pipe:
        for cid in cids:
            for s in CALL_STATES:
                pipe.zrange(calls_key(cid, s), 0, -1, withscores=True)
            pipe.hgetall(stats_key(cid))
            pipe.hgetall(pacing_key(cid))
        rows = pipe.execute()
    calls, stats, pacing = {}, {}, {}
    step = len(CALL_STATES) + 2
    for i, cid in enumerate(cids):
        chunk = rows[i * step:(i + 1) * step]
        calls[cid] = {s: [score for _m, score in chunk[j]] for j, s in enumerate(CALL_STATES)}
        stats[cid] = {k: _int(v) or 0 for k, v in chunk[-2].items() if k != "day"}
        pacing[cid] = chunk[-1]
    on_call = [a for a in agents if a.call_id]
    with r.pipeline(transaction=False) as pipe:
        for a in on_call:
            pipe.hget(call_key(a.call_id or ""), "lead_id")
        leads = pipe.execute()
    agent_leads = {a.agent_id: lead for a, raw in zip(on_call, leads, strict=True) if (lead := _int(raw))}
    return LiveRead(agents, agent_leads, calls, stats, pacing)
