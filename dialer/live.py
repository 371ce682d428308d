"""Live state in Redis: agents, calls in flight, per-campaign counters. The key conventions.

Everything a wallboard or the pacing tick needs *now* lives here; PostgreSQL keeps the history.
Key names are a contract with the web app's live page (``app/pages``) and the analytics ingest:

Agents
    ``pyd:agent:<agent_id>`` (hash)  ``state``, ``campaign_id``, ``since`` (epoch seconds),
        ``call_id``, ``pause_code``, ``name``, ``calls_today``, ``session_id``, plus the rest of
        :class:`dialer.state.AgentSnapshot` (``connected_at``, ``wrap_deadline``,
        ``dispositioned``, ``disposition_code``, ``pause_after_call``). Empty string = None.
    ``pyd:agents:active`` (set)  ids of logged-in agents.
    ``pyd:campaign:<cid>:agents`` (set)  logged-in agents of a campaign.
    ``pyd:campaign:<cid>:ready`` (sorted set)  READY agents scored by ready-since: the lowest score
        is the longest-idle agent, the one an answered call goes to.
    ``pyd:events:agents`` (stream)  ``agent_state_changed`` entries (field ``data`` = JSON).

Calls in flight
    ``pyd:call:<call_id>`` (hash)  ``campaign_id``, ``lead_id``, ``state`` (dialing, ringing,
        answered, waiting, connected, ending), ``dialed_at``, ``answered_at``, ``agent_id``, ``pbx``.
    ``pyd:campaign:<cid>:calls:<state>`` (sorted set)  call ids in that state, scored by the time
        they entered it (``waiting`` is scored by the *answer* time: the drop clock).

Campaign figures
    ``pyd:campaign:<cid>:stats`` (hash)  today's counters (UTC day, field ``day``): ``dials``,
        ``humans``, ``machines``, ``abandons``, ``connected``, ``sales`` ...; expires at midnight.
    ``pyd:campaign:<cid>:pacing`` (hash)  ``dial_level``, ``hopper_depth``, ``decided_at``,
        ``explanation`` of the last pacing decision.
    ``pyd:campaigns:active`` (set)  campaigns whose dialing loop should run.

Races. Two answered calls may look for an agent at the same instant (two loops during a lease
hand-over, or an agent's own "pause" click racing a reservation). Every agent write goes through
:meth:`LiveState.update_agent` / :meth:`LiveState.reserve_longest_idle`, which use WATCH/MULTI
(optimistic locking): the transaction fails and is retried if the agent hash or the campaign's
ready set changed in between, so one agent is never given two calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from dialer.state import AgentSnapshot, AgentState, InvalidTransition

logger = logging.getLogger(__name__)

ACTIVE_AGENTS = "pyd:agents:active"
ACTIVE_CAMPAIGNS = "pyd:campaigns:active"
AGENT_EVENTS = "pyd:events:agents"
AGENT_EVENTS_MAXLEN = 100_000
# "ending": dropped or machine, being torn down (counted neither as in flight nor as waiting).
CALL_STATES = ("dialing", "ringing", "answered", "waiting", "connected", "ending")
STAT_FIELDS = ("dials", "humans", "machines", "abandons", "connected", "sales", "no_answer", "failed")
_RETRIES = 50


def agent_key(agent_id: int) -> str:
    return f"pyd:agent:{agent_id}"


def call_key(call_id: str) -> str:
    return f"pyd:call:{call_id}"


def ready_key(campaign_id: int) -> str:
    return f"pyd:campaign:{campaign_id}:ready"


def campaign_agents_key(campaign_id: int) -> str:
    return f"pyd:campaign:{campaign_id}:agents"


def calls_key(campaign_id: int, state: str) -> str:
    if state not in CALL_STATES:
        raise ValueError(f"unknown call state {state!r}; expected one of {CALL_STATES}")
    return f"pyd:campaign:{campaign_id}:calls:{state}"


def stats_key(campaign_id: int) -> str:
    return f"pyd:campaign:{campaign_id}:stats"


def pacing_key(campaign_id: int) -> str:
    return f"pyd:campaign:{campaign_id}:pacing"


# --- (de)serialising an AgentSnapshot --------------------------------------------------------------

_INT_FIELDS = {"agent_id", "campaign_id", "calls_today"}
_FLOAT_FIELDS = {"since", "connected_at", "wrap_deadline"}
_BOOL_FIELDS = {"dispositioned", "pause_after_call"}


def encode_snapshot(s: AgentSnapshot) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in fields(s):
        value = getattr(s, f.name)
        if value is None:
            out[f.name] = ""
        elif isinstance(value, bool):
            out[f.name] = "1" if value else "0"
        elif isinstance(value, AgentState):
            out[f.name] = value.value
        else:
            out[f.name] = str(value)
    return out


def decode_snapshot(agent_id: int, raw: Mapping[str, str]) -> AgentSnapshot:
    """A snapshot from the hash; a missing hash is a logged-out agent. Garbage raises ValueError."""
    if not raw:
        return AgentSnapshot(agent_id=agent_id)
    values: dict[str, Any] = {"agent_id": agent_id}
    for f in fields(AgentSnapshot):
        if f.name == "agent_id" or f.name not in raw:
            continue
        text = raw[f.name]
        if f.name == "state":
            values["state"] = AgentState(text or "logged_out")
        elif f.name in _BOOL_FIELDS:
            values[f.name] = text == "1"
        elif text == "":
            values[f.name] = 0 if f.name == "calls_today" else (0.0 if f.name == "since" else None)
        elif f.name in _INT_FIELDS:
            values[f.name] = int(text)
        elif f.name in _FLOAT_FIELDS:
            values[f.name] = float(text)
        else:
            values[f.name] = text
    return AgentSnapshot(**values)


@dataclass(frozen=True)
class AgentChange:
    before: AgentSnapshot
    after: AgentSnapshot

    @property
    def state_changed(self) -> bool:
        return self.before.state is not self.after.state or self.before.call_id != self.after.call_id


def _end_of_utc_day(now: float) -> int:
    day = datetime.fromtimestamp(now, UTC).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + timedelta(days=1).total_seconds())


class LiveState:
    """Typed access to the keys above, over a ``redis.Redis(decode_responses=True)`` client."""

    def __init__(self, client: redis.Redis) -> None:
        # Any: redis-py types replies as bytes | str; our clients are built with decode_responses=True.
        self.r: Any = client

    # --- agents ---------------------------------------------------------------------------------

    def agent(self, agent_id: int) -> AgentSnapshot:
        return decode_snapshot(agent_id, self.r.hgetall(agent_key(agent_id)))

    def update_agent(
        self,
        agent_id: int,
        transition: Callable[[AgentSnapshot], AgentSnapshot],
        *,
        extra: Mapping[str, str] | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> AgentChange:
        """Apply ``transition`` to the agent's stored snapshot atomically (WATCH/MULTI, retried).

        ``transition`` must be pure (it may run more than once). Raises what it raises
        (:class:`~dialer.state.InvalidTransition`, ``ValueError``) without writing anything.
        """
        key = agent_key(agent_id)
        for _ in range(_RETRIES):
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    before = decode_snapshot(agent_id, pipe.hgetall(key))
                    after = transition(before)
                    pipe.multi()
                    self._write_agent(pipe, before, after, extra, event)
                    pipe.execute()
                    return AgentChange(before, after)
                except redis.WatchError:
                    continue
        raise RuntimeError(f"agent {agent_id}: too much contention updating live state")

    def _write_agent(
        self,
        pipe: Any,
        before: AgentSnapshot,
        after: AgentSnapshot,
        extra: Mapping[str, str] | None,
        event: Mapping[str, Any] | None,
    ) -> None:
        key = agent_key(after.agent_id)
        member = str(after.agent_id)
        if after.state is AgentState.LOGGED_OUT:
            pipe.delete(key)
            pipe.srem(ACTIVE_AGENTS, member)
        else:
            pipe.hset(key, mapping={**encode_snapshot(after), **(extra or {})})
            pipe.sadd(ACTIVE_AGENTS, member)
        for cid in {before.campaign_id, after.campaign_id} - {None}:
            assert cid is not None
            if after.campaign_id == cid and after.logged_in:
                pipe.sadd(campaign_agents_key(cid), member)
            else:
                pipe.srem(campaign_agents_key(cid), member)
            if after.campaign_id == cid and after.state is AgentState.READY:
                # Keep the original ready-since when the state did not change (idempotent "ready").
                pipe.zadd(ready_key(cid), {member: after.since}, nx=before.state is AgentState.READY)
            else:
                pipe.zrem(ready_key(cid), member)
        if event is not None and (before.state is not after.state or before.call_id != after.call_id):
            payload = {
                "type": "agent_state_changed", "agent_id": after.agent_id, "campaign_id": after.campaign_id
                or before.campaign_id, "from": before.state.value, "to": after.state.value, "at": after.since,
                "call_id": after.call_id, "pause_code": after.pause_code, **event,
            }
            pipe.xadd(AGENT_EVENTS, {"data": json.dumps(payload)}, maxlen=AGENT_EVENTS_MAXLEN, approximate=True)

    def reserve_longest_idle(self, campaign_id: int, call_id: str, now: float) -> AgentChange | None:
        """Reserve the campaign's longest-idle READY agent for ``call_id``; None if nobody is ready.

        WATCHes the ready set and the chosen agent's hash: if another reserver (or the agent) got
        there first, EXEC fails and we look again, so two calls never reserve the same agent.
        """
        from dialer import state as st

        rkey = ready_key(campaign_id)
        for _ in range(_RETRIES):
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(rkey)
                    head = pipe.zrange(rkey, 0, 0)
                    if not head:
                        return None
                    agent_id = int(head[0])
                    pipe.watch(agent_key(agent_id))
                    before = decode_snapshot(agent_id, pipe.hgetall(agent_key(agent_id)))
                    try:
                        after = st.reserve(before, now, call_id)
                    except InvalidTransition:
                        # A stale member (the hash says otherwise): drop it and look again.
                        pipe.multi()
                        pipe.zrem(rkey, str(agent_id))
                        pipe.execute()
                        continue
                    pipe.multi()
                    self._write_agent(pipe, before, after, None, {"reason": "reserved"})
                    pipe.hset(call_key(call_id), "agent_id", str(agent_id))
                    pipe.execute()
                    return AgentChange(before, after)
                except redis.WatchError:
                    continue
        raise RuntimeError(f"campaign {campaign_id}: too much contention reserving an agent")

    def ready_agents(self, campaign_id: int) -> list[tuple[int, float]]:
        """(agent_id, ready_since), longest idle first."""
        return [(int(m), s) for m, s in self.r.zrange(ready_key(campaign_id), 0, -1, withscores=True)]

    def campaign_agents(self, campaign_id: int) -> list[AgentSnapshot]:
        ids = sorted(int(m) for m in self.r.smembers(campaign_agents_key(campaign_id)))
        with self.r.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(agent_key(agent_id))
            raws = pipe.execute()
        out = []
        for agent_id, raw in zip(ids, raws, strict=True):
            try:
                out.append(decode_snapshot(agent_id, raw))
            except ValueError:
                logger.warning("agent %s: unreadable live state %r", agent_id, raw)
        return out

    # --- calls in flight ------------------------------------------------------------------------

    def call(self, call_id: str) -> dict[str, str]:
        return self.r.hgetall(call_key(call_id))

    def track_call(self, call_id: str, campaign_id: int, lead_id: int | None, now: float, **extra: str) -> None:
        with self.r.pipeline() as pipe:
            pipe.hset(call_key(call_id), mapping={
                "campaign_id": str(campaign_id), "lead_id": "" if lead_id is None else str(lead_id),
                "state": "dialing", "dialed_at": repr(now), "answered_at": "", "agent_id": "", **extra,
            })
            pipe.expire(call_key(call_id), 6 * 3600)  # a lost hangup must not leak a key forever
            pipe.zadd(calls_key(campaign_id, "dialing"), {call_id: now})
            pipe.execute()

    def set_call_state(self, call_id: str, state: str, now: float, *, score: float | None = None,
                       **fields_: str) -> str | None:
        """Move a call to ``state``; returns the previous state (None if the call is unknown)."""
        raw = self.r.hmget(call_key(call_id), "campaign_id", "state")
        if raw[0] is None:
            return None
        campaign_id, previous = int(raw[0]), raw[1] or None
        with self.r.pipeline() as pipe:
            for s in CALL_STATES:
                if s != state:
                    pipe.zrem(calls_key(campaign_id, s), call_id)
            pipe.zadd(calls_key(campaign_id, state), {call_id: now if score is None else score})
            pipe.hset(call_key(call_id), mapping={"state": state, **fields_})
            pipe.execute()
        return previous

    def forget_call(self, call_id: str) -> dict[str, str]:
        raw = self.r.hgetall(call_key(call_id))
        if raw.get("campaign_id"):
            with self.r.pipeline() as pipe:
                for s in CALL_STATES:
                    pipe.zrem(calls_key(int(raw["campaign_id"]), s), call_id)
                pipe.delete(call_key(call_id))
                pipe.execute()
        return raw

    def calls_by_state(self, campaign_id: int) -> dict[str, list[tuple[str, float]]]:
        with self.r.pipeline(transaction=False) as pipe:
            for s in CALL_STATES:
                pipe.zrange(calls_key(campaign_id, s), 0, -1, withscores=True)
            rows = pipe.execute()
        return {s: [(m, score) for m, score in row] for s, row in zip(CALL_STATES, rows, strict=True)}

    # --- campaign figures -----------------------------------------------------------------------

    def bump(self, campaign_id: int, now: float | None = None, **counts: int) -> None:
        """Add to today's counters (the hash expires at the next UTC midnight)."""
        now = time.time() if now is None else now
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        key = stats_key(campaign_id)
        with self.r.pipeline() as pipe:
            pipe.watch(key)
            stale = pipe.hget(key, "day") not in (None, day)
            pipe.multi()
            if stale:
                pipe.delete(key)
            pipe.hset(key, "day", day)
            for name, n in counts.items():
                pipe.hincrby(key, name, n)
            pipe.expireat(key, _end_of_utc_day(now))
            try:
                pipe.execute()
            except redis.WatchError:  # the day just rolled over in another process: count again
                self.bump(campaign_id, now, **counts)

    def stats(self, campaign_id: int) -> dict[str, int]:
        raw = self.r.hgetall(stats_key(campaign_id))
        return {k: int(v) for k, v in raw.items() if k != "day"}

    def set_pacing(self, campaign_id: int, **values: str | float | int) -> None:
        self.r.hset(pacing_key(campaign_id), mapping={k: str(v) for k, v in values.items()})

    def pacing(self, campaign_id: int) -> dict[str, str]:
        return self.r.hgetall(pacing_key(campaign_id))
