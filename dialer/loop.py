"""The dialing loop: one long-lived owner per campaign that reads events, paces and dials.

Design (why not a Celery task per tick)
---------------------------------------
The pacing policy *learns* (answer rates, handle times, the VICIdial-style adaptive level) and the
call flow holds the FIFO of answered calls waiting for an agent, each with a drop deadline two
seconds away. Re-loading that state from Redis on every tick of a short Celery task would put a
broker round-trip, a prefetch queue and un-pickling between an agent freeing up and the next
decision, and two ticks of the same campaign could run at once on two workers. So:

* :class:`CampaignLoop` is a plain synchronous loop that owns one campaign while it holds a
  Redis **lease** (``pyd:campaign:<id>:lease``, SET NX PX, renewed every second; lost lease =
  stop at once). It blocks at most ``tick_s`` (0.2 s) on the call-event stream, so a state change
  is followed by a decision well within the issue's 1 s, and nothing else shares its thread.
* **Celery drives it** (:mod:`dialer.tasks`): beat runs ``pacing_ensure_loops`` every few
  seconds, which enqueues ``pacing_run_campaign(id)`` on the ``dial`` queue for every active
  campaign without a live lease; that task runs the loop for a bounded term (5 min), hands over
  (persisting the policy) and re-enqueues itself. A worker crash loses only the lease; the next
  beat restarts the loop elsewhere within seconds. Dial workers need one slot per active campaign.
* ``python -m dialer.loop`` runs the same loops as threads in one process (development, the
  embedded default, tests), with the same leases, so the two modes can even coexist.

The policy's learned state is pickled to ``pyd:campaign:<id>:policy`` every 30 s and at hand-over
(Redis is trusted infrastructure here, like the Celery broker), and restored by the next owner.

Event handling: each campaign reads ``pyd:events:calls`` through its own consumer group
(``dialer:c<id>``); an entry is ACKed only after it was applied, so a kill -9 re-delivers it and
every step is idempotent (timestamps only fill NULLs, CDR finalisation locks and checks
``ended_at``). Entries for other campaigns are ACKed and ignored.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import pickle
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import sqlalchemy as sa

from core import events as ev
from core.models import CallAttempt, Campaign, Disposition
from dialer import abandon, cdr
from dialer.agents import AgentService, PgAgentStore, PgDispositions
from dialer.callflow import CallFlow, CallFlowConfig, ConnectToAgent, DropCall, WaitingCall
from dialer.live import LiveState, agent_key, call_key
from dialer.loop_commands import DecisionLog, StreamCommands
from dialer.loop_leads import AgentCallbacks, claim_leads, hopper_depth
from dialer.pacing import PacingObservation, make_policy
from dialer.pacing.guard import guarded_calls
from dialer.state import BUSY_STATES, AgentState, InvalidTransition

logger = logging.getLogger(__name__)

EVENTS_STREAM = "pyd:events:calls"
DEAD_LETTER_STREAM = "pyd:events:calls:dead"
MAX_DELIVERIES = 5
LEASE_KEY = "pyd:campaign:{id}:lease"
POLICY_KEY = "pyd:campaign:{id}:policy"
LEASE_MS = 5000
SETTINGS_RELOAD_S = 5.0
SWEEP_EVERY_S = 5.0
LOST_GRACE_S = 15.0  # after the sweeper's hangup: a live call answers with a Hangup event well before this
# how long a call may sit in a state before its hangup is presumed lost (a killed telephony service
# forgets its calls: whatever ended at the PBX while it was down is never reported); "connected" has
# no bound of its own, it is suspect once its agent has left the call (see _sweep)
STATE_BOUND_S = {"answered": 30.0, "waiting": 30.0, "ending": 45.0}  # AMD ≤ 5 s; messages ≤ ~30 s
FIGURES_EVERY_S = 1.0  # re-read the rolling abandon figures (145 Redis hashes for Ofcom) at most this often
PACED_METHODS = ("progressive", "ratio", "predictive", "vicidial-adapt")
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@dataclass(frozen=True)
class CampaignSettings:
    id: int
    active: bool
    dial_method: str
    dial_ratio: float
    drop_after_s: float
    drop_action: str
    safe_harbor_audio: str
    wrap_up_s: float
    target_abandon_rate: float
    abandon_window: str
    dial_timeout_s: float
    amd_enabled: bool
    amd_machine_action: str
    caller_id: str
    amd_false_positive_rate: float = abandon.DEFAULT_AMD_FALSE_POSITIVE_RATE
    # disposition codes that say the agent reached no live person (human_answered false: "A" answering
    # machine, a fax ...): on an AMD campaign such a call was a machine AMD passed as human
    not_live_codes: frozenset[str] = frozenset({"A"})

    @classmethod
    def load(cls, engine: sa.Engine, campaign_id: int) -> CampaignSettings:
        with engine.connect() as conn:
            c = conn.execute(sa.select(Campaign.__table__).where(Campaign.id == campaign_id)).one_or_none()
            if c is None:
                raise ValueError(f"no campaign {campaign_id}")
            codes = conn.execute(
                sa.select(Disposition.code, Disposition.human_answered, Disposition.campaign_id)
                .where(sa.or_(Disposition.campaign_id == campaign_id, Disposition.campaign_id.is_(None)))
            ).all()
        # a campaign's own code overrides the global one of the same name
        live: dict[str, bool] = {"A": False}  # VICIdial's answering-machine status, unless redefined
        for code, human_answered, _owner in sorted(codes, key=lambda row: row[2] is not None):
            live[code] = bool(human_answered)
        return cls(c.id, c.active, c.dial_method, c.dial_ratio, float(c.drop_after_s), c.drop_action,
                   c.safe_harbor_audio or "pydialer/safe-harbor", float(c.wrap_up_s), c.target_abandon_rate,
                   c.abandon_window, float(c.dial_timeout_s), c.amd_enabled, c.amd_machine_action, c.caller_id or "",
                   # no campaign column yet: the engine's vendor figure unless the schema grows one
                   float(c._mapping.get("amd_false_positive_rate") or abandon.DEFAULT_AMD_FALSE_POSITIVE_RATE),
                   frozenset(code for code, is_live in live.items() if not is_live))

    @property
    def ofcom(self) -> bool:
        return self.abandon_window == "ofcom_24h"

    def make_guard(self, learned: abandon.TickGuard | None = None) -> abandon.TickGuard | None:
        """The per-tick abandon guard for these settings (None when no abandon target is set).

        ``learned``: the guard being replaced; its answer-rate, ring-time, outcome-mix and handle-time
        estimates carry over.
        """
        target = self.target_abandon_rate or 0.0
        if not 0 < target < 1:
            return None
        guard = abandon.TickGuard(target, count_amd_false_positives=self.ofcom and self.amd_enabled,
                                  answer_rate=learned.answer_rate if learned else None,
                                  drop_after_s=float(self.drop_after_s))
        if learned is not None:
            guard.ring, guard.mix, guard.handle = learned.ring, learned.mix, learned.handle
        return guard

    def policy_settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dial_method == "ratio":
            out["ratio"] = self.dial_ratio
        if self.dial_method in ("predictive", "vicidial-adapt"):
            out["target_abandon_rate"] = self.target_abandon_rate
        if self.dial_method == "predictive":
            out.update(dial_timeout_s=self.dial_timeout_s, drop_after_s=self.drop_after_s)
        return out


def _ts(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class Lease:
    def __init__(self, r: redis.Redis, campaign_id: int, ttl_ms: int = LEASE_MS) -> None:
        self.r, self.key, self.ttl_ms = r, LEASE_KEY.format(id=campaign_id), ttl_ms
        self.token = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        return bool(self.r.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        return bool(self.r.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        self.r.eval(_RELEASE, 1, self.key, self.token)


class CampaignLoop:
    def __init__(
        self,
        campaign_id: int,
        engine: sa.Engine,
        r: redis.Redis,
        *,
        pbx: str = "sim1",
        clock: Callable[[], float] = time.time,
        tick_s: float = 0.2,
        consumer: str | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.engine = engine
        self.r: Any = r  # decode_responses=True: replies are str (redis-py types them bytes | str)
        self.pbx = pbx
        self.clock = clock
        self.tick_s = tick_s
        self.live = LiveState(r)
        self.settings = CampaignSettings.load(engine, campaign_id)
        self.agents = AgentService(self.live, PgAgentStore(engine), PgDispositions(engine),
                                   wrap_up_s=lambda _c: self.settings.wrap_up_s, clock=clock)
        self.flow = CallFlow(CallFlowConfig(
            drop_after_s=self.settings.drop_after_s, drop_action=self.settings.drop_action,
            safe_harbor_audio=self.settings.safe_harbor_audio, amd_enabled=self.settings.amd_enabled))
        self.policy = self._load_policy()
        self.commands = StreamCommands(r)
        self.decisions = DecisionLog(r)
        self.counts = abandon.RedisAbandonCounts(r)
        self.agent_callbacks = AgentCallbacks(campaign_id, engine, self.live, self.agents, self.commands, pbx=pbx)
        self.guard = self.settings.make_guard()
        self._figures_at = -1e18
        self.group = f"dialer:c{campaign_id}"
        self.claim_idle_ms = 5000  # a crashed owner's un-ACKed events are taken over after this
        self.consumer = consumer or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self._last_saved = 0.0
        self._last_depth = 0.0
        self._leads_exhausted_until = 0.0
        self._last_reload = clock()
        self._last_sweep = clock()
        self._busy: dict[int, float] = {}  # agent id -> connected_at of the call they are on (see _note_releases)

    def _reload_settings(self, now: float) -> None:
        """Pick up an admin's change (pause the campaign, new drop time ...) within a few seconds."""
        self._last_reload = now
        try:
            fresh = CampaignSettings.load(self.engine, self.campaign_id)
        except (ValueError, sa.exc.SQLAlchemyError) as exc:
            logger.warning("campaign %s: could not reload settings (%s); keeping the old ones", self.campaign_id, exc)
            return
        if fresh == self.settings:
            return
        if fresh.dial_method != self.settings.dial_method:
            self.settings = fresh
            self.policy = self._load_policy()
        self.settings = fresh
        self.guard = fresh.make_guard(self.guard)
        self._figures_at = -1e18
        self.flow.config = CallFlowConfig(
            drop_after_s=fresh.drop_after_s, drop_action=fresh.drop_action,
            safe_harbor_audio=fresh.safe_harbor_audio, amd_enabled=fresh.amd_enabled)

    # --- state carried across owners -----------------------------------------------------------

    def _load_policy(self) -> Any:
        blob = self.r.get(POLICY_KEY.format(id=self.campaign_id))
        if blob:
            try:
                policy = pickle.loads(base64.b64decode(blob))
                if getattr(policy, "name", None) == self.settings.dial_method:
                    return policy
            except Exception:  # noqa: BLE001 - an unreadable blob means a fresh policy, not a dead loop
                logger.warning("campaign %s: stored pacing state unreadable; starting fresh", self.campaign_id)
        method = self.settings.dial_method if self.settings.dial_method in PACED_METHODS else "progressive"
        return make_policy(method, **self.settings.policy_settings())

    def save_policy(self) -> None:
        blob = base64.b64encode(pickle.dumps(self.policy)).decode("ascii")
        self.r.set(POLICY_KEY.format(id=self.campaign_id), blob, ex=7 * 86400)

    def restore(self) -> None:
        """Rebuild the waiting queue from Redis after a hand-over (calls answered under the old owner)."""
        by = self.live.calls_by_state(self.campaign_id)
        self.flow.restore([WaitingCall(cid, score) for cid, score in by["waiting"]])
        for cid, score in by["answered"]:
            self.flow.answered(cid, score)
        try:
            self.r.xgroup_create(EVENTS_STREAM, self.group, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # --- the loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, lease: Lease, max_s: float | None = None) -> None:
        self.restore()
        started = last_renew = self.clock()
        try:
            while not stop.is_set():
                now = self.clock()
                if max_s is not None and now - started >= max_s:
                    break
                if now - last_renew >= LEASE_MS / 5000:
                    if not lease.renew():
                        logger.warning("campaign %s: lease lost; stopping", self.campaign_id)
                        return
                    last_renew = now
                self.step()
        finally:
            self.decisions.flush()
            self.save_policy()
            lease.release()

    def step(self, block_ms: int | None = None) -> None:
        """One iteration: wait (briefly) for events, apply them, then decide."""
        deadline = self.flow.next_deadline()
        wait = self.tick_s if deadline is None else max(0.0, min(self.tick_s, deadline - self.clock()))
        self.consume(int(wait * 1000) if block_ms is None else block_ms)
        self.tick(self.clock())

    def consume(self, block_ms: int) -> int:
        handled = 0
        claimed = self.r.xautoclaim(EVENTS_STREAM, self.group, self.consumer, self.claim_idle_ms, start_id="0-0",
                                    count=100)
        entries = [e for e in (claimed[1] if len(claimed) > 1 else []) if e[1] is not None]
        entries = [e for e in entries if not self._poison(*e)]
        reply = self.r.xreadgroup(self.group, self.consumer, {EVENTS_STREAM: ">"}, count=200,
                                  block=max(block_ms, 1) if not entries else None)
        for _stream, new in reply or []:
            entries.extend(new)
        for entry_id, fields in entries:
            try:
                event = ev.from_dict(json.loads(fields["data"]))
                if isinstance(event, ev.CallEvent) and self._mine(event):
                    self.handle(event)
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("call event %s unusable (%s); skipped", entry_id, exc)
            except InvalidTransition as exc:
                logger.info("call event %s: %s", entry_id, exc)
            self.r.xack(EVENTS_STREAM, self.group, entry_id)
            handled += 1
        return handled

    def _poison(self, entry_id: str, fields: dict[str, str]) -> bool:
        """An entry that has already failed ``MAX_DELIVERIES`` times is dead-lettered, not retried forever."""
        info = self.r.xpending_range(EVENTS_STREAM, self.group, min=entry_id, max=entry_id, count=1)
        if not info or int(info[0]["times_delivered"]) <= MAX_DELIVERIES:
            return False
        logger.error("call event %s failed %d times; dead-lettered", entry_id, MAX_DELIVERIES)
        self.r.xadd(DEAD_LETTER_STREAM, {**fields, "entry_id": entry_id, "group": self.group}, maxlen=100_000,
                    approximate=True)
        self.r.xack(EVENTS_STREAM, self.group, entry_id)
        return True

    def _mine(self, event: ev.CallEvent) -> bool:
        if event.campaign_id is not None and str(event.campaign_id) != "":
            return str(event.campaign_id) == str(self.campaign_id)
        return self.live.call(event.call_id).get("campaign_id") == str(self.campaign_id)

    # --- events ----------------------------------------------------------------------------------

    def handle(self, event: ev.CallEvent) -> None:
        now = event.at.timestamp()
        call = self.live.call(event.call_id)
        if isinstance(event, ev.Hangup | ev.OriginateFailed):
            self._ended(event, call)
            return
        with self.engine.begin() as conn:
            cdr.stamp(conn, event)
        if not call:
            return  # already finished (a late or re-delivered event)
        if isinstance(event, ev.Ringing):
            if call.get("state") == "dialing":
                self.live.set_call_state(event.call_id, "ringing", now)
        elif isinstance(event, ev.Answered):
            if call.get("answered_at"):
                return
            self.flow.answered(event.call_id, now)
            state = "answered" if self.settings.amd_enabled else "waiting"
            self.live.set_call_state(event.call_id, state, now, answered_at=repr(now))
            if not self.settings.amd_enabled:
                self._human(call, now)
                self._bridge_reserved(event.call_id, call, now)
        elif isinstance(event, ev.AmdHuman | ev.AmdNotSure):
            if call.get("state") != "answered":
                return
            answered = _ts(call.get("answered_at")) or now
            self.flow.human(event.call_id, answered)
            self.live.set_call_state(event.call_id, "waiting", now, score=answered)
            self._human(call, now, screened=True)
            self._bridge_reserved(event.call_id, call, now)
        elif isinstance(event, ev.AmdMachine):
            if call.get("state") != "answered":
                return
            # The dialplan leaves the message (PYDIALER_VM_AUDIO) or hangs up by itself.
            self.flow.machine(event.call_id)
            self.live.set_call_state(event.call_id, "ending", now)
            self._result(now, "machine", self._ring_s(call, now))
            self.live.bump(self.campaign_id, now, machines=1)
        elif isinstance(event, ev.BridgedToAgent):
            agent_id = call.get("agent_id")
            if not agent_id:
                return
            snap = self.live.agent(int(agent_id))
            if snap.state is AgentState.RESERVED and snap.call_id == event.call_id:
                self.agents.connect(int(agent_id), event.call_id)
                self.live.set_call_state(event.call_id, "connected", now, bridged_at=repr(now))
                self.live.bump(self.campaign_id, now, connected=1)

    def _bridge_reserved(self, call_id: str, call: dict[str, str], now: float) -> None:
        """An agent-only callback (dialer.loop_leads.AgentCallbacks): its agent was reserved at dial
        time, so the answer goes straight to them, not to the longest-idle agent."""
        agent_id = int(call["agent_id"]) if call.get("agent_id") else None
        if agent_id is None:
            return
        snap = self.live.agent(agent_id)
        if snap.state is not AgentState.RESERVED or snap.call_id != call_id:
            return  # the reservation is gone: the call waits in the FIFO like any other answer
        self.flow.gone(call_id)
        self.live.set_call_state(call_id, "connected", now)
        self.commands.bridge(call_id, self.r.hget(agent_key(agent_id), "extension") or f"PJSIP/agent{agent_id:02d}")

    def _human(self, call: dict[str, str], now: float, screened: bool = False) -> None:
        """A live answer. ``screened``: AMD heard it and said human, so AMD also hung up on an estimated
        ``r / (1 − r)`` people for it (Ofcom counts those as abandoned; see :mod:`dialer.abandon`)."""
        self._result(now, "human", self._ring_s(call, now))
        fp = abandon.amd_false_positive_estimate(1.0, self.settings.amd_false_positive_rate) if screened else 0.0
        self.counts.record(self.campaign_id, now, answers=1, amd_fp=fp)
        self.live.bump(self.campaign_id, now, humans=1)

    def _result(self, now: float, outcome: str, ring_s: float) -> None:
        self.policy.on_call_result(now, outcome, ring_s)
        if self.guard is not None:
            self.guard.on_call_result(outcome, ring_s)

    @staticmethod
    def _ring_s(call: dict[str, str], now: float) -> float:
        dialed = _ts(call.get("dialed_at"))
        return max(0.0, now - dialed) if dialed is not None else 0.0

    def _ended(self, event: ev.Hangup | ev.OriginateFailed, call: dict[str, str]) -> None:
        now = event.at.timestamp()
        with self.engine.begin() as conn:
            if isinstance(event, ev.OriginateFailed):
                row = cdr.finalise_failed(conn, event)
            else:
                row = cdr.finalise(conn, event.call_id, event.at, cause=event.cause, cause_txt=event.cause_txt)
        if not call:
            return
        waiting = self.flow.gone(event.call_id)
        state = call.get("state")
        unbridged = state == "connected" and not call.get("bridged_at")
        if state == "answered":
            # Hung up while AMD was still listening: a person, counted as answered and abandoned
            # (the conservative reading; classify() stores it as 'abandoned' too).
            self._human(call, now)
            self._abandoned(now)
        elif waiting is not None or unbridged:  # gave up waiting, or left while being put through
            self._abandoned(now)
        elif state in ("dialing", "ringing") and row is not None:
            outcome = "no_answer" if row["outcome"] == "no_answer" else "failed"
            self._result(now, outcome, self._ring_s(call, now))
            self.live.bump(self.campaign_id, now, **{outcome: 1})
        agent_id = call.get("agent_id")
        if agent_id:
            snap = self.live.agent(int(agent_id))
            try:
                if snap.state is AgentState.RESERVED and snap.call_id == event.call_id:
                    self.agents.release(int(agent_id), event.call_id)
                elif snap.call_id == event.call_id:
                    self.agents.customer_hung_up(int(agent_id), event.call_id)
            except InvalidTransition as exc:
                logger.info("agent %s at hangup of %s: %s", agent_id, event.call_id, exc)
        self.live.forget_call(event.call_id)

    def _sweep(self, now: float) -> None:
        """Finalise calls whose hangup will never come, so no attempt stays open and no agent stays stuck.

        A call past its state's bound (ringing longer than the dial timeout allows, an AMD verdict or a
        safe-harbor message that never ended, or "connected" while its agent has left it) first gets a
        hangup command: a PBX that still has it hangs up and the real Hangup follows. If nothing comes
        within ``LOST_GRACE_S`` the loop finalises it itself (cause 0, source "resync"). Finalisation is
        idempotent (``ended_at`` is checked under a row lock), so a late real Hangup changes nothing.
        Attempts in PostgreSQL the live state never heard of (the owner died between the claim and
        the originate) are finalised the same way once they are older than the dial timeout.
        """
        bounds = {"dialing": self.settings.dial_timeout_s + 15.0, "ringing": self.settings.dial_timeout_s + 15.0,
                  **STATE_BOUND_S}
        tracked: set[str] = set()
        for state, calls in self.live.calls_by_state(self.campaign_id).items():
            for call_id, score in calls:
                tracked.add(call_id)
                call = self.live.call(call_id)
                if not call:
                    continue
                lost_since = _ts(call.get("lost_since"))
                if lost_since is not None:
                    if now - lost_since >= LOST_GRACE_S:
                        logger.warning("campaign %s: call %s (%s) never reported its hangup; finalised",
                                       self.campaign_id, call_id, state)
                        self._ended(ev.Hangup(call_id=call_id, at=datetime.fromtimestamp(now, UTC),
                                              campaign_id=self.campaign_id, cause=0,
                                              cause_txt="lost: no hangup reported", source="resync"), call)
                    continue
                if state == "connected":
                    agent_id = call.get("agent_id") or ""
                    suspect = agent_id != "" and self.live.agent(int(agent_id)).call_id != call_id
                else:
                    suspect = now - score > bounds.get(state, float("inf"))
                if suspect:
                    self.r.hset(call_key(call_id), "lost_since", repr(now))
                    self.commands.hangup(call_id)
        self._sweep_orphans(now, tracked)

    def _sweep_orphans(self, now: float, tracked: set[str]) -> None:
        cutoff = datetime.fromtimestamp(now - self.settings.dial_timeout_s - 30.0, UTC)
        t = CallAttempt.__table__
        with self.engine.connect() as conn:
            ids = [str(c) for c in conn.execute(
                sa.select(t.c.call_id).where(t.c.campaign_id == self.campaign_id, t.c.ended_at.is_(None),
                                             t.c.dialed_at < cutoff).limit(200)).scalars()]
        for call_id in ids:
            if call_id in tracked:
                continue
            logger.warning("campaign %s: orphan attempt %s (in no live call state) finalised", self.campaign_id,
                           call_id)
            hangup = ev.Hangup(call_id=call_id, at=datetime.fromtimestamp(now, UTC), campaign_id=self.campaign_id,
                               cause=0, cause_txt="lost: not tracked live", source="resync")
            self._ended(hangup, self.live.call(call_id))

    def _abandoned(self, now: float) -> None:
        self.policy.on_abandon(now)
        self.counts.record(self.campaign_id, now, abandons=1)
        self.live.bump(self.campaign_id, now, abandons=1)

    # --- the decision ----------------------------------------------------------------------------

    def tick(self, now: float) -> int:
        if now - self._last_reload >= SETTINGS_RELOAD_S:
            self._reload_settings(now)
        self.agents.finish_wraps(self.campaign_id)  # releases are seen in observation(), whatever path freed them
        self._serve(now)
        if now - self._last_sweep >= SWEEP_EVERY_S:
            self._last_sweep = now
            self._sweep(now)
        placed = self._pace(now)
        if now - self._last_saved > 30:
            self.save_policy()
            self._last_saved = now
        return placed

    def _serve(self, now: float) -> None:
        for action in self.flow.step(now, self.live.ready_agents(self.campaign_id)):
            if isinstance(action, DropCall):
                with self.engine.begin() as conn:
                    cdr.mark_dropped(conn, action.call_id)
                self.live.set_call_state(action.call_id, "ending", now)
                self._abandoned(now)
                if action.audio:
                    self.commands.play(action.call_id, action.audio, safe_harbor=True)
                else:
                    self.commands.hangup(action.call_id)
            elif isinstance(action, ConnectToAgent):
                change = self.live.reserve_longest_idle(self.campaign_id, action.call_id, now)
                if change is None:  # the agent went away between the read and the reservation
                    answered = _ts(self.live.call(action.call_id).get("answered_at")) or now
                    self.flow.requeue_front(WaitingCall(action.call_id, answered))
                    continue
                self.agents.record_reservation(change)
                agent_id = change.after.agent_id
                self.live.set_call_state(action.call_id, "connected", now)
                with self.engine.begin() as conn:
                    cdr.set_agent(conn, action.call_id, agent_id)
                endpoint = self.r.hget(agent_key(agent_id), "extension") or f"PJSIP/agent{agent_id:02d}"
                self.commands.bridge(action.call_id, endpoint)

    def _note_releases(self, agents: list[Any], now: float) -> None:
        """Tell the policy every agent who left a call (``on_agent_released`` with the handle time).

        Read from the agents' states, not from the wrap-up timer: an agent who dispositions after the
        wrap deadline goes straight to ready (``st.disposition``), an agent may pause or log out from
        wrap-up, and the timer never sees those. (It used to be the only source, so with a short
        campaign wrap time the predictive policy never learned handle times and stayed near
        progressive live while the simulator, which reports every release, over-dialed.)
        """
        busy = {a.agent_id: a.connected_at for a in agents
                if a.state in BUSY_STATES and a.state is not AgentState.RESERVED and a.connected_at}
        by_id = {a.agent_id: a for a in agents}
        for agent_id, connected_at in self._busy.items():
            if busy.get(agent_id) == connected_at:
                continue
            snap = by_id.get(agent_id)
            ended = snap.since if snap is not None and snap.state not in BUSY_STATES and snap.since else now
            handle_s = max(0.0, ended - connected_at)
            amd_miss = self._amd_miss(snap, connected_at)
            self.policy.on_agent_released(now, handle_s, amd_miss)
            if amd_miss:
                # not a live answer AMD passed: it leaves the base of the false-positive estimate
                # (dialer.abandon), as _human added it
                fp = abandon.amd_false_positive_estimate(1.0, self.settings.amd_false_positive_rate)
                self.counts.record(self.campaign_id, now, amd_fp=-fp)
            if self.guard is not None:
                self.guard.on_agent_released(handle_s)
        self._busy = busy

    def _amd_miss(self, snap: Any, connected_at: float) -> bool:
        """Did the agent find a machine on the call that AMD passed as human (a not-live disposition)?

        Only on an AMD campaign: without AMD every machine answer reaches an agent and none is a miss.
        The code must belong to the call that ended (the agent may already be on the next one)."""
        return bool(self.settings.amd_enabled and snap is not None and snap.connected_at == connected_at
                    and snap.disposition_code in self.settings.not_live_codes)

    def observation(self, now: float) -> PacingObservation:
        agents = self.live.campaign_agents(self.campaign_id)
        self._note_releases(agents, now)
        by = self.live.calls_by_state(self.campaign_id)
        busy = [now - (a.connected_at if a.state is not AgentState.RESERVED and a.connected_at else a.since)
                for a in agents if a.state in BUSY_STATES]
        # A call still under AMD may be a person who will need an agent: count it as in flight.
        # Not an agent-only callback: its agent is already reserved for it (counted busy above).
        held = {a.call_id for a in agents if a.state is AgentState.RESERVED}
        ringing = [now - t for c, t in by["dialing"] + by["ringing"] + by["answered"] if c not in held]
        return PacingObservation(
            now=now, agents_logged_in=len(agents), agents_idle=sum(a.state is AgentState.READY for a in agents),
            busy_elapsed_s=busy, ringing_elapsed_s=ringing, calls_waiting=len(by["waiting"]),
        )

    def _pace(self, now: float) -> int:
        if self.settings.dial_method not in PACED_METHODS or not self.settings.active:
            return 0
        self.agent_callbacks.dial(now, self.settings)  # before pacing: it sees the reserved agents
        if self.guard is not None and now - self._figures_at >= FIGURES_EVERY_S:
            # the campaign's rolling window (30 days FTC, or 24 h Ofcom), shared by every process
            self.guard.update(self.counts.figures(self.campaign_id, now, 1 if self.settings.ofcom else 30), now)
            self._figures_at = now
        obs = self.observation(now)
        # the same decision path as dialer.simulate: policy, then the rolling-abandon guard
        count, clamped = guarded_calls(self.policy, obs, self.guard)
        decision = self.policy.last_decision
        placed = 0
        if count > 0 and now >= self._leads_exhausted_until:
            claims, summary = claim_leads(self.engine, self.r, self.campaign_id, count,
                                          datetime.fromtimestamp(now, UTC), pbx=self.pbx,
                                          dial_method=self.settings.dial_method)
            if len(claims) < count:
                self._leads_exhausted_until = now + 2.0  # do not hammer PostgreSQL while the list is dry
                self.live.set_pacing(self.campaign_id, hopper_explain=json.dumps(summary))
            for claim in claims:
                self.live.track_call(claim.call_id, self.campaign_id, claim.lead_id, now)
                self.commands.originate(claim, self.settings, self.campaign_id)
            placed = len(claims)
            if placed:
                self.live.bump(self.campaign_id, now, dials=placed)
        if now - self._last_depth > 30:
            self.live.set_pacing(self.campaign_id, hopper_depth=hopper_depth(self.r, self.campaign_id))
            self._last_depth = now
        level = (len(obs.ringing_elapsed_s) + placed) / max(1, obs.agents_logged_in)
        self.live.set_pacing(self.campaign_id, dial_level=round(level, 3), decided_at=now,
                             explanation=decision.capped_by if decision else "")
        self.decisions.record(self.campaign_id, obs, decision, count, placed, clamped)
        return placed


# --- python -m dialer.loop -------------------------------------------------------------------------


def active_campaigns(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Campaign.id).where(Campaign.active, Campaign.dial_method.in_(PACED_METHODS))
                                 .order_by(Campaign.id)).scalars())


def run_campaign(campaign_id: int, engine: sa.Engine, r: redis.Redis, stop: threading.Event,
                 max_s: float | None = None, pbx: str = "sim1") -> bool:
    """Own ``campaign_id`` for up to ``max_s`` seconds; False if another owner holds the lease."""
    lease = Lease(r, campaign_id)
    if not lease.acquire():
        return False
    try:
        loop = CampaignLoop(campaign_id, engine, r, pbx=pbx)
    except Exception:
        lease.release()
        raise
    logger.info("campaign %s: dialing loop started (%s)", campaign_id, lease.token)
    loop.run(stop, lease, max_s)
    return True


def main(argv: list[str] | None = None) -> int:
    from core.config import Settings
    from core.db import make_engine
    from core.engines import postgres_url, redis_url

    parser = argparse.ArgumentParser(prog="python -m dialer.loop", description="run the dialing loops")
    parser.add_argument("--campaign", type=int, action="append", help="campaign id (default: all active)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(postgres_url(settings))
    r = redis.Redis.from_url(redis_url(settings), decode_responses=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pbx = settings.pbx_servers[0].name
    deadline = None if args.seconds is None else time.time() + args.seconds
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set() and (deadline is None or time.time() < deadline):
        for cid in args.campaign or active_campaigns(engine):
            if cid not in threads or not threads[cid].is_alive():
                left = None if deadline is None else max(0.0, deadline - time.time())
                t = threading.Thread(target=_guarded, args=(cid, engine, r, stop, left, pbx), daemon=True)
                threads[cid] = t
                t.start()
        stop.wait(2.0)
    stop.set()
    for t in threads.values():
        t.join(timeout=5)
    return 0


def _guarded(cid: int, engine: sa.Engine, r: redis.Redis, stop: threading.Event, max_s: float | None,
             pbx: str) -> None:
    try:
        if not run_campaign(cid, engine, r, stop, max_s, pbx):
            stop.wait(1.0)
    except Exception:  # a broken campaign must not take the other campaigns' loops down
        logger.exception("campaign %s: dialing loop crashed; restarting soon", cid)
        stop.wait(2.0)


if __name__ == "__main__":
    sys.exit(main())
