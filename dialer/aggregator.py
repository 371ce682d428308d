"""``python -m dialer.aggregator``: the ONE process that computes the live wallboard snapshot.

VICIdial's realtime report re-runs its SQL for every open browser every 4 s (VICIDIAL.md §5,
§8 #2 and #6: "each viewer multiplies DB load"). Here the cost is per *snapshot*, not per viewer:

* it tails the event streams (``pyd:events:calls``, ``pyd:events:agents``,
  ``pyd:events:dial_decisions``) with a blocking ``XREAD`` (no consumer group: it only needs to
  know *that* something changed; a missed entry costs at most one heartbeat of freshness);
* when something changed it rebuilds the snapshot from the Redis live state (:mod:`dialer.live`)
  at most every :data:`MIN_INTERVAL_S`, and in any case every ``heartbeat_s`` (default
  :data:`MAX_INTERVAL_S`: the time in state ticks, and the boards use the heartbeat to detect a
  stalled feed);
* every snapshot says why it went out (``cause``: ``start``, ``event``, ``follow_up`` or
  ``heartbeat``), how many stream entries the aggregator has read (``events_seen``) and the id
  of the last one (``last_event_id``): a test (or an operator) can tell an event-driven publish
  from the heartbeat instead of trusting the timing;
* one more rebuild follows :data:`FOLLOW_UP_S` after an event, because the dialing loop writes
  the live state *after* telephony published the event that woke us; event-driven rebuilds are
  published only when their content changed (each message costs every board a render), the
  heartbeat always;
* PostgreSQL is read every 30 s (campaigns, names, pause-code limits, hopper refusal breakdown),
  every :data:`HANDLE_EVERY_S` for today's handle times (AHT = talk + wrap per connected call
  from ``call_attempts``, the analytics definition; the system of record, so a restarted
  aggregator shows the same figure) and once per new lead for the current customer's name:
  never per viewer;
* it publishes the JSON on the pub/sub channel :data:`CHANNEL` and stores it under
  :data:`SNAPSHOT_KEY` (for a board that connects between two publishes). Pub/sub is fine here:
  a lost message is replaced by the next one within a second (ARCHITECTURE.md keeps streams for
  what must not be lost).

Run one per deployment (a second one would only duplicate publishes; the web side always shows
the latest). Redis or PostgreSQL outages are logged and retried; the process never exits on them.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

import redis
import sqlalchemy as sa

from dialer.abandon import RedisAbandonCounts
from dialer.live import AGENT_EVENTS
from dialer.wallboard import sources
from dialer.wallboard.alerts import AlertRules
from dialer.wallboard.snapshot import CampaignFigures, Ratio, build
from dialer.wallboard.trackers import HourWindow

logger = logging.getLogger(__name__)

CHANNEL = "pyd:wallboard:updates"
SNAPSHOT_KEY = "pyd:wallboard:snapshot"
SNAPSHOT_TTL_S = 30  # a dead aggregator's last snapshot must not look current for long
CALL_EVENTS = "pyd:events:calls"
DECISION_EVENTS = "pyd:events:dial_decisions"
STREAMS = (CALL_EVENTS, AGENT_EVENTS, DECISION_EVENTS)
MIN_INTERVAL_S = 0.1
MAX_INTERVAL_S = 1.0
FOLLOW_UP_S = 0.15
MAX_BLOCK_S = 1.0  # one XREAD blocks at most this long: under any client socket timeout, whatever heartbeat_s
REFERENCE_EVERY_S = 30.0
REFUSALS_EVERY_S = 30.0
ABANDON_EVERY_S = 5.0
HANDLE_EVERY_S = 5.0
CAUSES = ("start", "event", "follow_up", "heartbeat")
META_FIELDS = frozenset({"seq", "generated_at", "cause", "events_seen", "last_event_id"})


class Aggregator:
    def __init__(self, engine: sa.Engine, client: redis.Redis, *, rules: AlertRules | None = None,
                 heartbeat_s: float = MAX_INTERVAL_S) -> None:
        if heartbeat_s < MIN_INTERVAL_S:
            raise ValueError(f"heartbeat_s must be >= {MIN_INTERVAL_S}")
        self.engine = engine
        self.heartbeat_s = heartbeat_s
        self.r: Any = client
        self.rules = rules or AlertRules()
        self.reference = sources.Reference()
        self.leads = sources.LeadNames(engine)
        self.hour = HourWindow()
        self._handled: dict[int, Ratio] = {}
        self.abandon_counts = RedisAbandonCounts(client)
        self._window: dict[int, Ratio] = {}
        self._refusals: dict[int, dict[str, int]] = {}
        self._at: dict[str, float] = {}
        self._last_ids = {s: "$" for s in STREAMS}
        self.seq = 0
        self.events_seen = 0
        self.last_event_id = ""
        self.last_payload = ""
        self._last_content = ""

    # --- slow reads ---------------------------------------------------------------------------

    def _due(self, name: str, every: float, now: float) -> bool:
        if now - self._at.get(name, -1e18) >= every:
            self._at[name] = now
            return True
        return False

    def refresh_slow(self, now: float, *, force: bool = False) -> None:
        if self._due("reference", REFERENCE_EVERY_S, now) or force:
            try:
                self.reference = sources.load_reference(self.engine)
            except sa.exc.SQLAlchemyError as exc:
                logger.warning("wallboard: PostgreSQL unreadable, keeping the last reference data: %s", exc)
        if self._due("abandon", ABANDON_EVERY_S, now) or force:
            for cid, info in self.reference.campaigns.items():
                days = 1 if info.abandon_window == "ofcom_24h" else 30
                fig = self.abandon_counts.figures(cid, now, days)
                self._window[cid] = Ratio(min(fig.abandons, fig.answers), fig.answers)
        if self._due("handle", HANDLE_EVERY_S, now) or force:
            try:
                self._handled = {cid: Ratio(round(seconds), n)
                                 for cid, (seconds, n) in sources.load_handle_times(self.engine, now).items()}
            except sa.exc.SQLAlchemyError as exc:
                logger.warning("wallboard: handle times unreadable, keeping the last ones: %s", exc)
        if self._due("refusals", REFUSALS_EVERY_S, now) or force:
            for cid, info in self.reference.campaigns.items():
                if not info.active:
                    self._refusals.pop(cid, None)
                    continue
                try:
                    self._refusals[cid] = sources.load_refusals(self.engine, cid, now)
                except (sa.exc.SQLAlchemyError, LookupError, ValueError) as exc:
                    logger.warning("wallboard: refusal breakdown of campaign %s failed: %s", cid, exc)

    # --- events -------------------------------------------------------------------------------

    def read_events(self, block_ms: int) -> int:
        """Block up to ``block_ms`` for new stream entries; returns how many arrived."""
        if "$" in self._last_ids.values():
            # Start after each stream's current last entry. (Passing "$" on every call would miss
            # entries added between two calls to a stream that had none in the previous reply.)
            for stream, last in self._last_ids.items():
                if last == "$":
                    newest = self.r.xrevrange(stream, count=1)
                    self._last_ids[stream] = newest[0][0] if newest else "0-0"
        replies = self.r.xread(dict(self._last_ids), block=block_ms, count=1000)
        n = 0
        for stream, entries in replies or ():
            for entry_id, _fields in entries:
                self._last_ids[stream] = entry_id
                self.last_event_id = f"{stream}/{entry_id}"
                n += 1
        self.events_seen += n
        return n

    # --- the snapshot -------------------------------------------------------------------------

    def snapshot(self, now: float, cause: str = "start") -> dict[str, Any]:
        ref = self.reference
        live = sources.read_live(self.r, ref.campaigns, ref.agent_names)
        try:
            customers = self.leads.get_many(live.agent_leads.values())
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("wallboard: lead names unavailable: %s", exc)
            customers = {}
        agents = [a if a.agent_id not in live.agent_leads else
                  _with_customer(a, customers.get(live.agent_leads[a.agent_id])) for a in live.agents]
        figures = []
        for cid in sorted(set(ref.campaigns) | set(live.calls)):
            info = ref.campaigns.get(cid) or sources.CampaignInfo(cid, f"campaign {cid}")
            stats, pacing = live.stats.get(cid, {}), live.pacing.get(cid, {})
            answers, abandons = self.hour.observe(cid, now, stats.get("humans", 0), stats.get("abandons", 0))
            refusals = self._refusals.get(cid)
            figures.append(CampaignFigures(
                info=info, calls=live.calls.get(cid, {}), stats=stats,
                dial_level=_float(pacing.get("dial_level")), hopper_depth=_int(pacing.get("hopper_depth")),
                dialable=refusals.get("dialable") if refusals else None, refusals=refusals,
                abandon_hour=Ratio(abandons, answers), abandon_window=self._window.get(cid, Ratio()),
                handled=self._handled.get(cid, Ratio()),
            ))
        self.hour.forget_except(set(ref.campaigns) | set(live.calls))
        self.seq += 1
        snap = build(figures, agents, now, pause_limits=ref.pause_limits, rules=self.rules, seq=self.seq)
        snap.update(cause=cause, events_seen=self.events_seen, last_event_id=self.last_event_id)
        return snap

    def publish(self, now: float, *, only_if_changed: bool = False, cause: str = "start") -> str | None:
        """Store + broadcast a fresh snapshot; with ``only_if_changed``, skip one whose content
        (all but the bookkeeping fields of :data:`META_FIELDS`) equals the last one published:
        every message costs each connected board a render, and the follow-up usually finds
        nothing new."""
        snap = self.snapshot(now, cause)
        content = json.dumps({k: v for k, v in snap.items() if k not in META_FIELDS}, separators=(",", ":"))
        if only_if_changed and content == self._last_content:
            self.seq -= 1
            return None
        self._last_content = content
        payload = json.dumps(snap, separators=(",", ":"))
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(SNAPSHOT_KEY, payload, ex=SNAPSHOT_TTL_S)
            pipe.publish(CHANNEL, payload)
            pipe.execute()
        self.last_payload = payload
        return payload

    def run(self, stop: threading.Event, *, max_s: float | None = None) -> None:
        """The loop: wake on events (or every ``MAX_INTERVAL_S``), publish, survive outages."""
        deadline = None if max_s is None else time.monotonic() + max_s
        try:
            self.reference = sources.load_reference(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("wallboard: PostgreSQL unreadable at start: %s", exc)
        # The slow reads (refusal GROUP BY over a campaign's leads can take seconds on big lists)
        # run beside the publish loop, so they never delay a snapshot or trip the stale banner.
        slow = threading.Thread(target=self._slow_loop, args=(stop, deadline), name="wallboard-slow", daemon=True)
        slow.start()
        last_publish, follow_up, backoff = 0.0, 0.0, 0.5
        first = True
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                now_m = time.monotonic()
                wait = max(0.0, min(self.heartbeat_s - (now_m - last_publish), (follow_up or 1e9) - now_m,
                                    MAX_BLOCK_S))
                changed = self.read_events(max(1, int(wait * 1000)))
                now_m = time.monotonic()
                if changed:
                    follow_up = now_m + FOLLOW_UP_S
                    if now_m - last_publish < MIN_INTERVAL_S:
                        stop.wait(MIN_INTERVAL_S - (now_m - last_publish))
                due_follow_up = bool(follow_up) and now_m >= follow_up
                heartbeat = time.monotonic() - last_publish >= self.heartbeat_s
                if changed or due_follow_up or heartbeat:
                    if due_follow_up:
                        follow_up = 0.0
                    cause = ("start" if first else "event" if changed else "follow_up" if due_follow_up
                             else "heartbeat")
                    # Event-driven publishes go out only when the content changed (the dialing loop
                    # may not have written its live state yet); the heartbeat always goes out.
                    if self.publish(time.time(), only_if_changed=not heartbeat, cause=cause) is not None:
                        last_publish = time.monotonic()
                        first = False
                backoff = 0.5
            except redis.RedisError as exc:
                logger.warning("wallboard: Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self._last_ids = {s: "$" for s in STREAMS}
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # one bad snapshot must not end the wallboards' only feed
                logger.exception("wallboard: snapshot failed; retrying")
                stop.wait(1.0)


    def _slow_loop(self, stop: threading.Event, deadline: float | None) -> None:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                self.refresh_slow(time.time())
            except redis.RedisError as exc:
                logger.warning("wallboard: slow refresh failed (Redis): %s", exc)
            except Exception:  # keep the figures we have; try again next round
                logger.exception("wallboard: slow refresh failed")
            stop.wait(1.0)


def _with_customer(agent: sources.AgentRow, customer: str | None) -> sources.AgentRow:
    from dataclasses import replace

    return replace(agent, customer=customer)


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    from core.config import Settings
    from core.db import make_engine
    from core.engines import postgres_url, redis_url

    parser = argparse.ArgumentParser(prog="python -m dialer.aggregator", description="publish the wallboard snapshot")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--heartbeat-s", type=float, default=MAX_INTERVAL_S,
                        help="publish at least this often without events (default %(default)s)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(postgres_url(settings), pool_size=2)
    client = redis.Redis.from_url(redis_url(settings), decode_responses=True, socket_timeout=5.0)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logger.info("wallboard aggregator publishing on %s", CHANNEL)
    Aggregator(engine, client, heartbeat_s=args.heartbeat_s).run(stop, max_s=args.seconds)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
