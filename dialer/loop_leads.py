"""The hopper and the claim: which leads the dialing loop dials, checked twice, never twice dialled.

Two stages, as in VICIdial (AST_VDhopper.pl fills ``vicidial_hopper``; the dialer pops it):

1. **Refill** (:func:`refill_hopper`; the Celery task ``dialer.tasks.refill_hoppers`` every few
   seconds on the ``dial`` queue, and the loop itself when it finds the hopper short): the first
   check. :func:`dialer.leads_repo.claim_for_hopper` runs the SQL prefilter with ``FOR UPDATE OF
   leads SKIP LOCKED`` plus the pure rules of :mod:`dialer.compliance` and *reserves* the chosen
   leads (``next_call_at = now + HOPPER_HOLD``) in one transaction; their ids go into the Redis
   sorted set ``pyd:campaign:<id>:hopper`` up to the campaign's ``hopper_level``. Due callbacks
   score ahead of everything (VICIdial's priority 50), then ``leads.priority``, then refill order.
   Its size is the wallboard's hopper depth.
2. **Claim at originate** (:func:`claim_leads`): ``ZPOPMIN`` hands each id to exactly one loop
   (atomic in Redis); then, in the transaction that creates the call attempt, the lead row is
   locked (``FOR UPDATE SKIP LOCKED``) and the pure rules re-run on it with DNC and callback rows
   read in that transaction: the second check. A DNC entry committed a second ago, a list
   deactivated, a window that closed, a call already in flight all refuse the lead there (counted
   in the summary). The lead is marked called (attempts + 1, ``last_called_at``,
   ``called_since_reset``) and the ``call_attempts`` row inserted in that transaction, so a crash
   leaves both or neither; a popped id whose transaction failed is not lost for good, its
   reservation expires and a later refill takes it again.

Callbacks are dialled once. Claiming a callback lead closes its callback (``status = 'done'``,
``completed_at`` = the dial time) in that same transaction: the callback is honoured by this
dial, whatever its outcome (VICIdial likewise hoppers an ANYONE callback once, ACTIVE -> LIVE, and
the lead's own status and recycle rules take over afterwards). Behind it, two pure rules
(:mod:`dialer.compliance`) refuse a lead whose call is still in flight (CALL_IN_FLIGHT) and a
callback already served by a dial at/after its due time (CALLBACK_ALREADY_DIALED), so even a
concurrent claimer that read the callback row before our commit cannot dial it again.

Agent-only callbacks (:func:`claim_agent_callbacks`): VICIdial's USERONLY callbacks wait for their
agent. When the owning agent is READY and the callback is due, the loop claims it *for that agent*:
the agent is reserved in Redis (atomic WATCH/MULTI) before the PostgreSQL transaction commits, the
attempt and the call hash carry the agent, and the loop bridges the answer to that agent instead
of the longest-idle one. An agent who is not READY leaves the callback pending for them;
:func:`callback_report` counts the ones overdue beyond a grace period whose agent is not logged
in, so the wallboard says why they wait.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.models import CallAttempt, Callback, Campaign, Lead
from dialer import compliance as cp
from dialer import leads_repo
from dialer import state as st
from dialer.state import AgentSnapshot, InvalidTransition

logger = logging.getLogger(__name__)

HOPPER_KEY = "pyd:campaign:{id}:hopper"  # sorted set: lead id -> order score (lowest dialled first)
HOPPER_SEQ_KEY = "pyd:campaign:{id}:hopper:seq"
HOPPER_SUMMARY_KEY = "pyd:campaign:{id}:hopper:summary"  # the last refill's explain() counts (JSON)
REFILL_LOCK_KEY = "pyd:campaign:{id}:hopper:refill"
REFILLED_AT_KEY = "pyd:campaign:{id}:hopper:refilled_at"  # the last refill's clock (epoch s)
# The loop refills by itself when the hopper is short or the last refill is this old (no Celery
# beat in development, or a beat that fell behind): a callback that came due is hoppered, ahead
# of everything, within this long.
STALE_REFILL_S = 5.0
# A reservation outlives any realistic wait in the hopper; a crashed refill's leads come back after it.
HOPPER_HOLD = timedelta(minutes=10)
# Hopper scores (lowest first), VICIdial's ORDER BY priority DESC, hopper_id: callbacks in a band
# of their own, then leads.priority (clamped to +-99) across refills, then refill order.
_CALLBACK_BAND = 0.0
_LEAD_BAND = 1e12  # every non-callback entry scores above every callback entry
_PRIORITY_STEP = 1e9
_RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
AGENT_CALLBACK_GRACE = timedelta(minutes=15)  # overdue beyond this with the agent away: reported


@dataclass(frozen=True)
class Claimed:
    call_id: str
    lead_id: int
    list_id: int
    phone_e164: str
    attempt_no: int
    agent_id: int | None = None  # an agent-only callback: the agent reserved for this call
    callback: bool = False


def _mark_dialled(conn: sa.Connection, campaign_id: int, lead: cp.LeadView, now: datetime, *, pbx: str,
                  dial_method: str, callback: bool, agent_id: int | None = None) -> Claimed:
    """The claim's writes: the lead marked called, its callback closed, the call attempt created."""
    call_id = str(uuid.uuid4())
    # next_call_at: the hopper's reservation is consumed by this dial (a callback booked during the
    # call must not wait for it to expire); the call in flight now blocks the lead instead.
    conn.execute(sa.update(Lead).where(Lead.id == lead.id).values(
        attempts=Lead.attempts + 1, last_called_at=now, called_since_reset=True, next_call_at=None))
    if callback:
        conn.execute(sa.update(Callback).where(Callback.lead_id == lead.id, Callback.status == "pending")
                     .values(status="done", completed_at=now))
    conn.execute(sa.insert(CallAttempt).values(
        call_id=uuid.UUID(call_id), campaign_id=campaign_id, list_id=lead.list_id, lead_id=lead.id, pbx=pbx,
        phone_e164=lead.phone_e164, attempt_no=lead.attempts + 1, dial_method=dial_method, dialed_at=now,
        agent_id=agent_id))
    return Claimed(call_id, lead.id, lead.list_id, lead.phone_e164, lead.attempts + 1, agent_id, callback)


@dataclass(frozen=True)
class Refill:
    added: int
    depth: int  # hopper size after the refill
    level: int
    summary: dict[str, int]  # the refill's explain() (empty when it did not need to run)
    skipped: bool = False  # another refill held the lock


def hopper_depth(r: Any, campaign_id: int) -> int:
    return int(r.zcard(HOPPER_KEY.format(id=campaign_id)))


def refill_hopper(engine: sa.Engine, r: Any, campaign_id: int, now: datetime, *, level: int | None = None,
                  hold: timedelta = HOPPER_HOLD) -> Refill:
    """Top the campaign's hopper up to ``level`` (default: ``campaigns.hopper_level``).

    Due ``anyone`` callbacks go in whatever the level, ahead of every other entry (VICIdial's
    housekeeping inserts them at priority 50 before the fill-quantity check). Idempotent: reserved
    leads are not selected again, and a refill already running elsewhere (Redis lock) makes this
    one a no-op.
    """
    key = HOPPER_KEY.format(id=campaign_id)
    if level is None:
        with engine.connect() as conn:
            level = conn.execute(sa.select(Campaign.hopper_level).where(Campaign.id == campaign_id)).scalar()
        if level is None:
            raise LookupError(f"no campaign {campaign_id}")
    lock, token = REFILL_LOCK_KEY.format(id=campaign_id), uuid.uuid4().hex
    if not r.set(lock, token, nx=True, px=30_000):
        return Refill(0, int(r.zcard(key)), level, {}, skipped=True)
    try:
        summary: dict[str, int] = {}
        added = 0
        for callbacks_only in (True, False):
            want = level if callbacks_only else level - int(r.zcard(key))
            if want <= 0:
                continue
            claim = leads_repo.claim_for_hopper(engine, campaign_id, want, now, hold=hold,
                                                callbacks_only=callbacks_only)
            for reason, n in claim.summary.items():
                summary[reason] = summary.get(reason, 0) + n
            added += _hopper_add(r, campaign_id, claim)
        if summary:
            r.set(HOPPER_SUMMARY_KEY.format(id=campaign_id), json.dumps(summary), ex=3600)
        r.set(REFILLED_AT_KEY.format(id=campaign_id), repr(now.timestamp()), ex=3600)
        return Refill(added, int(r.zcard(key)), level, summary)
    finally:
        r.eval(_RELEASE_LOCK, 1, lock, token)


def _hopper_add(r: Any, campaign_id: int, claim: leads_repo.Claim) -> int:
    """Append the claim's leads to the hopper in their order; callbacks in the band ahead of the rest."""
    if not claim.leads:
        return 0
    last = int(r.incrby(HOPPER_SEQ_KEY.format(id=campaign_id), len(claim.leads)))
    first = last - len(claim.leads) + 1
    r.zadd(HOPPER_KEY.format(id=campaign_id),
           {str(lead.id): (_CALLBACK_BAND if lead.id in claim.callbacks else _LEAD_BAND)
            - max(-99, min(99, lead.priority)) * _PRIORITY_STEP + first + i
            for i, lead in enumerate(claim.leads)})
    return len(claim.leads)


CALLBACKS_KEY = "pyd:campaign:{id}:callbacks"  # hash: CallbackReport.as_dict(), for the wallboard


def promote_callbacks(engine: sa.Engine, r: Any, campaign_id: int, now: datetime, logged_in: Collection[int], *,
                      grace: timedelta = AGENT_CALLBACK_GRACE, hold: timedelta = HOPPER_HOLD) -> CallbackReport:
    """Callback promotion (the Celery task ``dialer.tasks.promote_callbacks``): put every due
    ``anyone`` callback into the hopper now, ahead of all (whatever the hopper level), and publish
    the campaign's callback report (agent-only callbacks waiting for an absent agent)."""
    claim = leads_repo.claim_for_hopper(engine, campaign_id, 10_000, now, hold=hold, callbacks_only=True)
    _hopper_add(r, campaign_id, claim)
    report = callback_report(engine, campaign_id, now, logged_in, grace=grace)
    r.hset(CALLBACKS_KEY.format(id=campaign_id), mapping={**report.as_dict(), "at": repr(now.timestamp())})
    return report


def claim_leads(
    engine: sa.Engine, r: Any, campaign_id: int, count: int, now: datetime, *, pbx: str, dial_method: str,
) -> tuple[list[Claimed], dict[str, int]]:
    """Pop up to ``count`` leads from the hopper, re-check and claim them (refilling first if short).

    Returns the claims and a summary: the refill's ``explain`` counts when one ran here, plus the
    refusals at originate (``"originate_<reason>"``), so an empty result explains itself.
    """
    if count <= 0:
        return [], {}
    key = HOPPER_KEY.format(id=campaign_id)
    summary: dict[str, int] = {}
    refilled_at = r.get(REFILLED_AT_KEY.format(id=campaign_id))
    stale = refilled_at is None or now.timestamp() - float(refilled_at) >= STALE_REFILL_S
    if stale or int(r.zcard(key)) < count:  # cold start, or the Celery refill is behind: top up here
        summary.update(refill_hopper(engine, r, campaign_id, now).summary)
    popped = [int(member) for member, _score in r.zpopmin(key, count)]
    if not popped:
        return [], summary or _last_summary(r, campaign_id)
    claims: list[Claimed] = []
    skipped: list[int] = []
    try:
        with engine.begin() as conn:
            rules = leads_repo.load_rules(conn, campaign_id)
            rows = conn.execute(sa.text(f"SELECT {leads_repo.LEAD_COLUMNS} FROM leads l WHERE l.id = ANY(:ids)"
                                        " FOR UPDATE OF l SKIP LOCKED"), {"ids": popped}).all()
            # The hopper's reservation (next_call_at) is held for this very dial: not a refusal.
            views = {v.id: replace(v, next_call_at=None) for v in map(leads_repo.lead_view, rows)}
            skipped = [lead_id for lead_id in popped if lead_id not in views]  # locked elsewhere right now
            dnc = leads_repo.fetch_dnc(conn, [v.phone_e164 for v in views.values()], campaign_id)
            callbacks = leads_repo.fetch_callbacks(conn, list(views))
            for lead_id in popped:
                lead = views.get(lead_id)
                if lead is None:
                    continue
                decision = cp.recheck_at_originate(lead, rules, dnc, now, callback=callbacks.get(lead_id))
                if not decision.ok:
                    reason = f"originate_{decision.reason.value.lower() if decision.reason else 'refused'}"
                    summary[reason] = summary.get(reason, 0) + 1
                    continue
                claims.append(_mark_dialled(conn, campaign_id, lead, now, pbx=pbx, dial_method=dial_method,
                                            callback=decision.is_callback))
    except Exception:
        # Nothing was claimed: the popped ids go back (they are still reserved for the hopper).
        r.zadd(key, {str(lead_id): _LEAD_BAND for lead_id in popped})
        raise
    if skipped:
        r.zadd(key, {str(lead_id): _LEAD_BAND for lead_id in skipped})
    summary["dialable"] = summary.get("dialable", 0)
    return claims, summary


def _last_summary(r: Any, campaign_id: int) -> dict[str, int]:
    raw = r.get(HOPPER_SUMMARY_KEY.format(id=campaign_id))
    try:
        return dict(json.loads(raw)) if raw else {"dialable": 0}
    except ValueError:
        return {"dialable": 0}


class _NotReserved(Exception):
    """The agent stopped being READY between our read and the reservation: undo this claim."""


def claim_agent_callbacks(
    engine: sa.Engine, campaign_id: int, ready_agents: Collection[int], now: datetime, *, pbx: str,
    dial_method: str, reserve: Callable[[int, str], bool], release: Callable[[int, str], None],
) -> list[Claimed]:
    """Claim the due agent-only callbacks of READY agents (oldest first, one per agent), each agent
    reserved for its call.

    ``reserve(agent_id, call_id)`` reserves that agent atomically (False: no longer READY). It runs
    inside the claim's savepoint, so a refused reservation rolls that one claim back; if the commit
    fails, ``release(agent_id, call_id)`` undoes every reservation made. Callbacks that fail the
    originate re-check (DNC added since, window closed) stay pending and are not dialled.
    """
    if not ready_agents:
        return []
    claims: list[Claimed] = []
    try:
        _claim_agent_callbacks(engine, campaign_id, ready_agents, now, pbx, dial_method, reserve, claims)
    except Exception:
        for claim in claims:
            assert claim.agent_id is not None
            release(claim.agent_id, claim.call_id)
        raise
    return claims


def _claim_agent_callbacks(engine: sa.Engine, campaign_id: int, ready_agents: Collection[int], now: datetime,
                           pbx: str, dial_method: str, reserve: Callable[[int, str], bool],
                           claims: list[Claimed]) -> None:
    with engine.begin() as conn:
        # The cheap question first (ix_callbacks_agent_pending): this runs every second while agents
        # are ready, and nearly always finds nothing.
        rows = conn.execute(sa.text(
            f"SELECT c.agent_id, {leads_repo.LEAD_COLUMNS} FROM callbacks c JOIN leads l ON l.id = c.lead_id"
            " JOIN lists li ON li.id = l.list_id AND li.active AND li.campaign_id = :cid"
            " WHERE c.campaign_id = :cid AND c.status = 'pending' AND c.scope = 'agent' AND c.due_at <= :now"
            " AND c.agent_id = ANY(:agents)"
            " ORDER BY c.due_at, c.id LIMIT 200 FOR UPDATE OF l SKIP LOCKED"),
            {"cid": campaign_id, "now": now, "agents": sorted(ready_agents)},
        ).all()
        if not rows:
            return
        rules = leads_repo.load_rules(conn, campaign_id)
        views = [(int(row[0]), leads_repo.lead_view(tuple(row)[1:])) for row in rows]
        dnc = leads_repo.fetch_dnc(conn, [v.phone_e164 for _a, v in views], campaign_id)
        callbacks = leads_repo.fetch_callbacks(conn, [v.id for _a, v in views])
        served: set[int] = set()
        for agent_id, lead in views:
            if agent_id in served:
                continue  # one call per agent per tick
            decision = cp.recheck_at_originate(lead, rules, dnc, now, callback=callbacks.get(lead.id),
                                               agent_id=agent_id)
            if not decision.ok:
                continue
            try:
                with conn.begin_nested():
                    claim = _mark_dialled(conn, campaign_id, lead, now, pbx=pbx, dial_method=dial_method,
                                          callback=True, agent_id=agent_id)
                    if not reserve(agent_id, claim.call_id):
                        raise _NotReserved
            except _NotReserved:
                continue
            served.add(agent_id)
            claims.append(claim)


class AgentCallbacks:
    """The loop's side of agent-only callbacks: every ``every_s``, for the campaign's READY agents,
    claim their due callbacks, reserve them, track and originate the calls.

    Kept here (not in :mod:`dialer.loop`) so the loop only calls :meth:`dial` from its tick.
    """

    def __init__(self, campaign_id: int, engine: sa.Engine, live: Any, agents: Any, commands: Any, *,
                 pbx: str, every_s: float = 1.0) -> None:
        self.campaign_id, self.engine, self.live, self.agents, self.commands = campaign_id, engine, live, agents, commands
        self.pbx, self.every_s = pbx, every_s
        self._next_at = 0.0

    def dial(self, now: float, settings: Any) -> list[Claimed]:
        if now < self._next_at:
            return []
        self._next_at = now + self.every_s
        ready = [agent_id for agent_id, _since in self.live.ready_agents(self.campaign_id)]
        if not ready:
            return []
        claims = claim_agent_callbacks(
            self.engine, self.campaign_id, ready, datetime.fromtimestamp(now, UTC), pbx=self.pbx,
            dial_method=settings.dial_method, reserve=lambda a, c: self._reserve(a, c, now),
            release=lambda a, c: self._release(a, c, now))
        for claim in claims:
            self.live.track_call(claim.call_id, self.campaign_id, claim.lead_id, now, agent_id=str(claim.agent_id))
            self.commands.originate(claim, settings, self.campaign_id)
            logger.info("campaign %s: agent-only callback for lead %s dialled for agent %s", self.campaign_id,
                        claim.lead_id, claim.agent_id)
        if claims:
            self.live.bump(self.campaign_id, now, dials=len(claims))
        return claims

    def _reserve(self, agent_id: int, call_id: str, now: float) -> bool:
        def transition(snap: AgentSnapshot) -> AgentSnapshot:
            if snap.campaign_id != self.campaign_id:
                raise InvalidTransition("reserve for another campaign's callback", snap)
            return st.reserve(snap, now, call_id)

        try:
            change = self.live.update_agent(agent_id, transition, event={"reason": "reserved_callback"})
        except InvalidTransition:
            return False
        self.agents.record_reservation(change)
        return True

    def _release(self, agent_id: int, call_id: str, now: float) -> None:
        try:
            self.live.update_agent(agent_id, lambda snap: st.release_reservation(snap, now, call_id),
                                   event={"reason": "callback_not_dialled"})
        except InvalidTransition:
            logger.info("agent %s: reservation for %s already gone", agent_id, call_id)


@dataclass(frozen=True)
class CallbackReport:
    due_anyone: int  # due 'anyone' callbacks still pending (normally dialled within a tick or two)
    due_agent: int  # due agent-only callbacks still pending (waiting for their agent)
    overdue_agent_absent: int  # ... overdue beyond the grace period, agent not logged in
    agents_absent: tuple[int, ...]  # those agents

    def as_dict(self) -> dict[str, int | str]:
        return {"due_anyone": self.due_anyone, "due_agent": self.due_agent,
                "overdue_agent_absent": self.overdue_agent_absent,
                "agents_absent": ",".join(map(str, self.agents_absent))}


def callback_report(engine: sa.Engine, campaign_id: int, now: datetime, logged_in: Collection[int], *,
                    grace: timedelta = AGENT_CALLBACK_GRACE) -> CallbackReport:
    """Due callbacks still pending; agent-only ones overdue by ``grace`` whose agent is away."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT scope, agent_id, due_at FROM callbacks WHERE campaign_id = :cid AND status = 'pending'"
            " AND due_at <= :now"), {"cid": campaign_id, "now": now}).all()
    anyone = sum(1 for r in rows if r.scope == "anyone")
    agent_rows = [r for r in rows if r.scope == "agent"]
    absent = [r for r in agent_rows if r.due_at <= now - grace and r.agent_id not in logged_in]
    report = CallbackReport(anyone, len(agent_rows), len(absent), tuple(sorted({r.agent_id for r in absent})))
    if absent:
        logger.warning("campaign %s: %d agent-only callbacks overdue by more than %s, agents not logged in: %s",
                       campaign_id, len(absent), grace, report.agents_absent)
    return report
