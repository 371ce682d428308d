"""Data behind the live overview page: agent states from Redis, counts from PostgreSQL.

Redis live-state conventions (written by the dialer / telephony services, read here):

* ``pyd:agents:active`` — a SET of agent ids (``users.id`` as a decimal string) signed in to
  the agent screen;
* ``pyd:agent:<id>`` — a HASH with ``state`` (a :class:`dialer.state.AgentState` value: ``ready``,
  ``reserved``, ``incall``, ``dead``, ``wrap``, ``paused``), ``campaign_id`` (decimal string, may be empty) and ``since`` (when the agent
  entered that state: Unix seconds as a decimal string, or ISO 8601 with an offset).

They are read defensively: a member without a hash is skipped, an unknown state is shown as
written, an unparsable ``since`` or ``campaign_id`` becomes ``None``. Nothing here writes.

PostgreSQL counts are cached in-process for :data:`COUNTS_TTL_S` seconds (:class:`TtlCache`), so
fifty wallboards refreshing every two seconds cost one query round per process every 5 s.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.health import Probe, probe_all
from app.services import Services
from dialer.state import AgentState

logger = logging.getLogger(__name__)

ACTIVE_AGENTS_KEY = "pyd:agents:active"
AGENT_KEY = "pyd:agent:{id}"
MAX_AGENTS = 5000  # bound one refresh's work whatever is in Redis
COUNTS_TTL_S = 5.0

#: Display order and colour class of the states we know; others follow alphabetically.
KNOWN_STATES: dict[str, str] = {
    AgentState.READY.value: "success",
    AgentState.RESERVED.value: "secondary",
    AgentState.INCALL.value: "primary",
    AgentState.DEAD.value: "danger",
    AgentState.WRAP.value: "info",
    AgentState.PAUSED.value: "warning",
}


@dataclass(frozen=True)
class AgentLive:
    agent_id: str
    state: str
    campaign_id: int | None
    since: dt.datetime | None


def parse_since(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromtimestamp(float(raw), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def parse_agent(agent_id: str, fields: Mapping[str, str]) -> AgentLive | None:
    if not fields:
        return None
    state = (fields.get("state") or "unknown").strip().lower()[:32] or "unknown"
    raw_campaign = (fields.get("campaign_id") or "").strip()
    campaign_id = int(raw_campaign) if raw_campaign.isdigit() else None
    return AgentLive(agent_id, state, campaign_id, parse_since(fields.get("since")))


def read_agents(client: redis.Redis) -> list[AgentLive]:
    """Every active agent's live state (raises ``redis.RedisError`` if Redis is down)."""
    members = sorted(_text(m) for m in client.smembers(ACTIVE_AGENTS_KEY))[:MAX_AGENTS]
    if not members:
        return []
    pipe = client.pipeline(transaction=False)
    for member in members:
        pipe.hgetall(AGENT_KEY.format(id=member))
    agents = []
    for member, raw in zip(members, pipe.execute(), strict=True):
        agent = parse_agent(member, {_text(k): _text(v) for k, v in (raw or {}).items()})
        if agent is not None:
            agents.append(agent)
    return agents


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def state_counts(agents: Iterable[AgentLive]) -> list[tuple[str, int]]:
    """``[(state, count)]``: known states first in :data:`KNOWN_STATES` order, then the rest."""
    counts = Counter(a.state for a in agents)
    ordered = [(s, counts[s]) for s in KNOWN_STATES if counts.get(s)]
    ordered += sorted((s, n) for s, n in counts.items() if s not in KNOWN_STATES)
    return ordered


def seconds_in_state(agent: AgentLive, now: dt.datetime) -> int | None:
    if agent.since is None:
        return None
    return max(0, int((now - agent.since).total_seconds()))


# --- PostgreSQL counts ------------------------------------------------------------------------


@dataclass(frozen=True)
class DialingCounts:
    campaigns: int
    active_campaigns: int
    leads: int
    dialable_leads: int
    dnc_numbers: int


# "Dialable": in an active list of an active campaign, in one of the campaign's dial statuses,
# not yet called since the list's last reset, due (next_call_at passed), under the attempt cap
# and not on a DNC list that applies. Calling-window (TCPA 47 CFR 64.1200(c)(1)) and hopper
# checks come later, in the hopper; this is the supply a supervisor can expect.
_COUNTS_SQL = text(
    """
    SELECT
      (SELECT count(*) FROM campaigns) AS campaigns,
      (SELECT count(*) FROM campaigns WHERE active) AS active_campaigns,
      (SELECT count(*) FROM leads) AS leads,
      (SELECT count(*)
         FROM leads l
         JOIN lists li ON li.id = l.list_id
         JOIN campaigns c ON c.id = li.campaign_id
        WHERE c.active AND li.active
          AND l.status = ANY (c.dial_statuses)
          AND NOT l.called_since_reset
          AND (l.next_call_at IS NULL OR l.next_call_at <= now())
          AND l.attempts < c.max_attempts
          AND NOT EXISTS (
                SELECT 1 FROM dnc_entries d
                 WHERE d.phone_e164 = l.phone_e164
                   AND (d.campaign_id IS NULL OR d.campaign_id = c.id)
                   AND (d.expires_at IS NULL OR d.expires_at > now()))) AS dialable_leads,
      (SELECT count(*) FROM dnc_entries WHERE expires_at IS NULL OR expires_at > now()) AS dnc_numbers
    """
)


def query_counts(engine: Engine) -> DialingCounts:
    with engine.connect() as conn:
        row = conn.execute(_COUNTS_SQL).one()
    return DialingCounts(*(int(v) for v in row))


T = TypeVar("T")


class TtlCache(Generic[T]):
    """One value recomputed at most every ``ttl_s`` seconds.

    Only one caller computes at a time. While it does, the others get the previous (stale)
    value at once instead of queueing behind it; only the very first computation makes callers
    wait. A failed refresh is not cached: the next call retries.
    """

    def __init__(self, compute: Callable[[], T], ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at: float | None = None

    def _fresh(self, now: float) -> bool:
        return self._at is not None and now - self._at < self._ttl_s

    def get(self) -> T:
        if self._fresh(self._clock()):
            return self._value  # type: ignore[return-value]
        if self._at is not None:
            if not self._lock.acquire(blocking=False):
                return self._value  # type: ignore[return-value]  # someone is refreshing: serve stale
        else:
            self._lock.acquire()
        try:
            now = self._clock()
            if not self._fresh(now):
                self._value = self._compute()
                self._at = now
            return self._value  # type: ignore[return-value]
        finally:
            self._lock.release()


# --- one refresh of the page ------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    agents: dict[str, str]  # users.id (as in Redis) -> display name
    campaigns: dict[int, str]


def query_names(engine: Engine) -> Names:
    with engine.connect() as conn:
        users = conn.execute(text("SELECT id, username, full_name FROM users WHERE role = 'agent'")).all()
        campaigns = conn.execute(text("SELECT id, name FROM campaigns")).all()
    return Names(
        agents={str(uid): (full or username) for uid, username, full in users},
        campaigns={int(cid): name for cid, name in campaigns},
    )


@dataclass(frozen=True)
class LiveSnapshot:
    now: dt.datetime
    agents: list[AgentLive] | None  # None: Redis could not be read
    counts: DialingCounts | None  # None: PostgreSQL could not be read
    names: Names
    health: list[Probe]

    @property
    def states(self) -> list[tuple[str, int]]:
        return state_counts(self.agents or [])


class LiveData:
    """The live page's data source for one web process (caches included)."""

    def __init__(self, services: Services, ttl_s: float = COUNTS_TTL_S) -> None:
        self.services = services
        self.counts = TtlCache(lambda: query_counts(services.engine), ttl_s)
        self.names = TtlCache(lambda: query_names(services.engine), ttl_s)
        self.health = TtlCache(
            lambda: probe_all(services.engine, services.redis, services.settings.clickhouse_url), ttl_s
        )

    def snapshot(self) -> LiveSnapshot:
        try:
            agents: list[AgentLive] | None = read_agents(self.services.redis)
        except redis.RedisError as exc:
            logger.warning("live page: Redis unreadable: %s", exc)
            agents = None
        try:
            counts: DialingCounts | None = self.counts.get()
            names = self.names.get()
        except SQLAlchemyError as exc:
            logger.warning("live page: PostgreSQL unreadable: %s", exc)
            counts, names = None, Names({}, {})
        return LiveSnapshot(self.services.clock.now(), agents, counts, names, self.health.get())
