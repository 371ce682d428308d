"""Copy live event streams into ClickHouse: pacing decisions and agent state intervals.

``python -m analytics.ingest`` reads two Redis Streams through a consumer group and writes
batches to ClickHouse:

* ``pyd:events:dial_decisions`` (written by the dialing loop, one entry per pacing decision)
  → ``dial_decisions``. The row's ``decision_id`` is derived from the stream entry id, so an entry
  delivered twice (a crash between the insert and the XACK) collapses to one row in the
  ReplacingMergeTree.
* ``pyd:events:agents`` (``agent_state_changed``, written by the agent service) → ``agent_states``
  intervals. Each change closes the agent's previous interval and opens the next one; the open
  interval is written with ``ended_at`` NULL and rewritten, with a higher version, when it closes.
  The last open interval per agent is kept in a Redis hash so a restarted ingest closes it right.

CDRs do not come this way: they go through the PostgreSQL outbox (``dialer.cdr``) because a CDR
must never be lost, even when Redis is.

Entries that cannot be decoded are moved to ``pyd:events:ingest:dead`` with the reason, then
acknowledged: one bad entry never blocks the stream.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

DECISIONS_STREAM = "pyd:events:dial_decisions"
AGENTS_STREAM = "pyd:events:agents"
DEAD_STREAM = "pyd:events:ingest:dead"
OPEN_INTERVALS = "pyd:ingest:agent_open"  # hash agent_id -> JSON of the open interval
GROUP = "analytics-ingest"

# uuid5 namespaces: stable ids from stream entry ids / (agent, start) pairs.
_DECISION_NS = uuid.UUID("6f1c2a57-0b0e-4c59-9d0e-5a4d1f6f0c11")
_INTERVAL_NS = uuid.UUID("0f5b7e2e-8d7c-4b8f-a7f4-2a8e3c1d9b22")

DECISION_COLUMNS = (
    "decision_id", "at", "campaign_id", "algorithm", "agents_logged_in", "agents_idle", "agents_busy",
    "calls_ringing", "calls_waiting", "dial_level", "calls_placed", "capped_by", "est_answer_rate",
    "est_abandon_rate", "target_abandon_rate", "guard_active", "hopper_depth", "extra",
)
AGENT_STATE_COLUMNS = (
    "interval_id", "agent_id", "team_id", "campaign_id", "session_id", "state", "pause_code", "started_at",
    "ended_at", "duration_s", "call_id", "version",
)


class BadEntry(ValueError):
    """A stream entry that cannot become a row (the reason goes to the dead-letter stream)."""


def _utc(epoch_s: Any, field: str) -> datetime:
    try:
        value = float(epoch_s)
    except (TypeError, ValueError) as exc:
        raise BadEntry(f"{field}: expected epoch seconds, got {epoch_s!r}") from exc
    if not 946684800 <= value <= 4102444800:  # 2000-01-01 .. 2100-01-01: anything else is garbage
        raise BadEntry(f"{field}: {value} is not a plausible timestamp")
    return datetime.fromtimestamp(value, UTC)


def _uint(value: Any, field: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    try:
        number = int(float(value))
    except (TypeError, ValueError) as exc:
        raise BadEntry(f"{field}: expected a number, got {value!r}") from exc
    if number < 0:
        raise BadEntry(f"{field}: must not be negative, got {number}")
    return number


def _decode(fields: Mapping[str, str]) -> dict[str, Any]:
    raw = fields.get("data")
    if raw is None:
        raise BadEntry("entry has no 'data' field")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadEntry(f"data is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise BadEntry("data is not a JSON object")
    return data


def decision_row(entry_id: str, data: Mapping[str, Any]) -> list[Any]:
    """One ``dial_decisions`` row from a decision entry of the dialing loop (``DecisionLog``)."""
    estimates = data.get("estimates") or {}
    if not isinstance(estimates, dict):
        raise BadEntry("estimates must be an object")
    logged_in = _uint(data.get("agents_logged_in"), "agents_logged_in")
    busy = _uint(data.get("busy"), "busy", 0)
    ringing = _uint(data.get("ringing"), "ringing", 0)
    placed = _uint(data.get("placed"), "placed", 0)
    waiting = _uint(data.get("calls_waiting"), "calls_waiting", 0)
    # Dial level as VICIdial shows it: lines in use (after this decision) per logged-in agent.
    dial_level = (ringing + placed + waiting + busy) / logged_in if logged_in else 0.0
    extra = {k: v for k, v in data.items() if k not in {"estimates", "at", "campaign_id"}}
    extra["estimates"] = estimates
    return [
        uuid.uuid5(_DECISION_NS, entry_id),
        _utc(data.get("at"), "at"),
        _uint(data.get("campaign_id"), "campaign_id"),
        str(data.get("policy") or ""),
        logged_in,
        _uint(data.get("agents_idle"), "agents_idle", 0),
        busy,
        ringing,
        waiting,
        float(dial_level),
        placed,
        str(data.get("capped_by") or ""),
        float(estimates.get("answer_rate") or 0.0),
        float(estimates.get("est_abandon") or 0.0),
        float(estimates.get("target_abandon_rate") or data.get("target_abandon_rate") or 0.0),
        1 if data.get("guard_clamped") else 0,
        _uint(data.get("hopper_depth"), "hopper_depth", 0),
        json.dumps(extra, default=str, sort_keys=True),
    ]


@dataclass(frozen=True)
class OpenInterval:
    agent_id: int
    state: str
    started_at: float
    campaign_id: int
    session_id: str
    pause_code: str
    call_id: str | None

    def interval_id(self) -> uuid.UUID:
        return uuid.uuid5(_INTERVAL_NS, f"{self.agent_id}:{self.started_at:.6f}")

    def row(self, ended_at: float | None, team_id: int = 0) -> list[Any]:
        duration = max(0.0, ended_at - self.started_at) if ended_at is not None else 0.0
        call_id = None
        if self.call_id:
            try:
                call_id = uuid.UUID(self.call_id)
            except ValueError:
                call_id = None  # a manual dial without our UUID: keep the interval, drop the link
        # version: the closing write must win over the open one.
        version = int((ended_at if ended_at is not None else self.started_at) * 1_000_000) * 2 + (
            1 if ended_at is not None else 0
        )
        return [
            self.interval_id(), self.agent_id, team_id, self.campaign_id, self.session_id, self.state,
            self.pause_code, _utc(self.started_at, "started_at"),
            _utc(ended_at, "ended_at") if ended_at is not None else None, float(duration), call_id, version,
        ]


def agent_change(data: Mapping[str, Any]) -> tuple[int, float, OpenInterval | None]:
    """(agent_id, at, the interval that starts at ``at`` or None when the agent logged out)."""
    if data.get("type") != "agent_state_changed":
        raise BadEntry(f"unexpected event type {data.get('type')!r}")
    agent_id = _uint(data.get("agent_id"), "agent_id")
    at = float(_utc(data.get("at"), "at").timestamp())
    to_state = data.get("to")
    if not isinstance(to_state, str) or not to_state:
        raise BadEntry("'to' state missing")
    if to_state == "logged_out":
        return agent_id, at, None
    return agent_id, at, OpenInterval(
        agent_id=agent_id,
        state=to_state,
        started_at=at,
        campaign_id=_uint(data.get("campaign_id"), "campaign_id", 0),
        session_id=str(data.get("session_id") or ""),
        pause_code=str(data.get("pause_code") or "") if to_state == "paused" else "",
        call_id=data.get("call_id") or None,
    )


Insert = Callable[[str, Sequence[Sequence[Any]], Sequence[str]], None]


class StreamIngest:
    """Consumer-group reader for both streams; insert first, then XACK (at-least-once + dedup)."""

    def __init__(self, r: Any, insert: Insert, *, consumer: str | None = None, batch: int = 2000) -> None:
        self.r = r
        self.insert = insert
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.dead = 0
        for stream in (DECISIONS_STREAM, AGENTS_STREAM):
            try:
                self.r.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except Exception as exc:  # BUSYGROUP: the group exists already
                if "BUSYGROUP" not in str(exc):
                    raise

    def _dead_letter(self, stream: str, entry_id: str, fields: Mapping[str, Any], reason: str) -> None:
        self.dead += 1
        logger.warning("ingest: dropping %s %s: %s", stream, entry_id, reason)
        self.r.xadd(DEAD_STREAM, {"stream": stream, "id": entry_id, "reason": reason,
                                  "data": str(fields.get("data", ""))[:10000]}, maxlen=100_000, approximate=True)

    def _read(self, block_ms: int | None) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
        # Our own unacknowledged entries first (a crash between insert and XACK), then new ones.
        pending = self.r.xreadgroup(GROUP, self.consumer, {DECISIONS_STREAM: "0", AGENTS_STREAM: "0"},
                                    count=self.batch)
        if any(entries for _, entries in pending or []):
            return pending
        return self.r.xreadgroup(GROUP, self.consumer, {DECISIONS_STREAM: ">", AGENTS_STREAM: ">"},
                                 count=self.batch, block=block_ms) or []

    def run_once(self, block_ms: int | None = 1000) -> int:
        """Process one batch; returns the number of stream entries consumed."""
        consumed = 0
        for stream, entries in self._read(block_ms):
            if not entries:
                continue
            ids = [entry_id for entry_id, _ in entries]
            if stream == DECISIONS_STREAM:
                rows = []
                for entry_id, fields in entries:
                    try:
                        rows.append(decision_row(entry_id, _decode(fields)))
                    except BadEntry as exc:
                        self._dead_letter(stream, entry_id, fields, str(exc))
                if rows:
                    self.insert("dial_decisions", rows, DECISION_COLUMNS)
            else:
                rows = self._agent_rows(entries)
                if rows:
                    self.insert("agent_states", rows, AGENT_STATE_COLUMNS)
            self.r.xack(stream, GROUP, *ids)
            consumed += len(ids)
        return consumed

    def _agent_rows(self, entries: list[tuple[str, dict[str, str]]]) -> list[list[Any]]:
        rows: list[list[Any]] = []
        opened: dict[int, OpenInterval | None] = {}
        for entry_id, fields in entries:
            try:
                agent_id, at, interval = agent_change(_decode(fields))
            except BadEntry as exc:
                self._dead_letter(AGENTS_STREAM, entry_id, fields, str(exc))
                continue
            previous = opened[agent_id] if agent_id in opened else self._load_open(agent_id)
            if previous is not None and at >= previous.started_at:
                rows.append(previous.row(ended_at=at))
            if interval is not None:
                rows.append(interval.row(ended_at=None))
            opened[agent_id] = interval
        with self.r.pipeline(transaction=False) as pipe:
            for agent_id, interval in opened.items():
                if interval is None:
                    pipe.hdel(OPEN_INTERVALS, str(agent_id))
                else:
                    pipe.hset(OPEN_INTERVALS, str(agent_id), json.dumps(interval.__dict__))
            pipe.execute()
        return rows

    def _load_open(self, agent_id: int) -> OpenInterval | None:
        raw = self.r.hget(OPEN_INTERVALS, str(agent_id))
        if not raw:
            return None
        try:
            return OpenInterval(**json.loads(raw))
        except (TypeError, ValueError):
            return None

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once(block_ms=1000)
            except Exception:  # ClickHouse or Redis away: retry, never die
                logger.exception("ingest: batch failed; retrying in 2 s")
                stop.wait(2)


def main(argv: list[str] | None = None) -> int:
    import signal

    import redis

    from analytics.client import get_client
    from core.config import Settings
    from core.engines import redis_url

    parser = argparse.ArgumentParser(prog="python -m analytics.ingest", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    r = redis.Redis.from_url(redis_url(settings), decode_responses=True)
    client = get_client(settings)
    database = settings.clickhouse_database

    def insert(table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        client.insert(f"{database}.{table}", rows, column_names=list(columns))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logger.info("ingest: copying %s and %s into ClickHouse", DECISIONS_STREAM, AGENTS_STREAM)
    StreamIngest(r, insert).run_forever(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
