"""May this lead be dialled now? Pure eligibility rules with a reason for every refusal.

Checked twice (VICIDIAL.md §2.F): when a lead enters the hopper (:func:`check_lead`) and again at
the moment of originate (:func:`recheck_at_originate`, fed with freshly read DNC/callback rows) so
a DNC entry added a second ago still blocks the call.

Order of checks (the first failure is the reason reported): campaign and list state, DNC (global
then campaign), consent, callbacks, status/attempts/recycling, then the calling window. Permanent
reasons come first so an "empty hopper" summary (:func:`explain`) says what an operator can fix.

Callbacks: a pending callback owns its lead. ``anyone`` callbacks are dialable from their due time
(ahead of everything else); ``agent`` callbacks only for that agent (never from the predictive
hopper, which passes ``agent_id=None``). Callbacks skip status, attempt and recycle checks -- also
the campaign's ``max_attempts``: the called party asked for this call, and VICIdial does the same
(AST_VDhopper inserts ANYONE callbacks straight into the hopper at priority 50, past
``call_count_limit``) -- but never DNC, calling hours or ``next_call_at`` (which is also the
hopper's reservation mark; whoever schedules a callback sets it no later than the due time).

One dial per callback: a callback is *served* by the first dial placed at or after its due time
(``last_called_at >= due_at`` -> CALLBACK_ALREADY_DIALED). The claim path also closes the callback
in the transaction that creates the call attempt (:mod:`dialer.loop_leads`); this rule is the pure
guard behind it, so even a callback row left pending is never dialled twice.

A call in flight (``in_flight_since``: the dial time of an attempt without ``ended_at``) blocks
its lead for every path, callbacks included (CALL_IN_FLIGHT), up to :data:`MAX_CALL_S` after that
dial: a hangup lost by a crashed telephony service must not block a lead for ever.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from dialer.calling_hours import CallingPolicy, add_calling_seconds, calling_time_between, next_open, zone_verdict

logger = logging.getLogger(__name__)

# An attempt still open this long after its dial is a lost hangup, not a call (the live call hash
# in Redis expires after the same time, :mod:`dialer.live`).
MAX_CALL_S = 6 * 3600


class ReasonCode(StrEnum):
    CAMPAIGN_INACTIVE = "CAMPAIGN_INACTIVE"
    LIST_INACTIVE = "LIST_INACTIVE"
    DNC_GLOBAL = "DNC_GLOBAL"
    DNC_CAMPAIGN = "DNC_CAMPAIGN"
    NO_CONSENT = "NO_CONSENT"
    CALL_IN_FLIGHT = "CALL_IN_FLIGHT"  # an attempt to this lead has not ended yet
    CALLBACK_ALREADY_DIALED = "CALLBACK_ALREADY_DIALED"  # a dial at/after the due time served it
    CALLBACK_NOT_DUE = "CALLBACK_NOT_DUE"
    CALLBACK_OTHER_AGENT = "CALLBACK_OTHER_AGENT"
    STATUS_NOT_DIALABLE = "STATUS_NOT_DIALABLE"
    MAX_ATTEMPTS = "MAX_ATTEMPTS"
    ALREADY_CALLED = "ALREADY_CALLED"  # called since the last list reset, and no recycle rule for its status
    RECYCLE_MAX = "RECYCLE_MAX"
    RECYCLE_DELAY = "RECYCLE_DELAY"
    RETRY_NOT_DUE = "RETRY_NOT_DUE"  # leads.next_call_at in the future
    TIMEZONE_UNKNOWN = "TIMEZONE_UNKNOWN"
    TIMEZONE_AMBIGUOUS_CLOSED = "TIMEZONE_AMBIGUOUS_CLOSED"
    HOLIDAY = "HOLIDAY"
    STATE_RESTRICTION = "STATE_RESTRICTION"
    OUTSIDE_CALLING_HOURS = "OUTSIDE_CALLING_HOURS"


LABELS: dict[ReasonCode, str] = {
    ReasonCode.CAMPAIGN_INACTIVE: "campaign inactive",
    ReasonCode.LIST_INACTIVE: "list inactive",
    ReasonCode.DNC_GLOBAL: "DNC (global)",
    ReasonCode.DNC_CAMPAIGN: "DNC (campaign)",
    ReasonCode.NO_CONSENT: "no consent",
    ReasonCode.CALL_IN_FLIGHT: "call in progress",
    ReasonCode.CALLBACK_ALREADY_DIALED: "callback already dialled",
    ReasonCode.CALLBACK_NOT_DUE: "callback not due yet",
    ReasonCode.CALLBACK_OTHER_AGENT: "agent-only callback",
    ReasonCode.STATUS_NOT_DIALABLE: "status not dialable",
    ReasonCode.MAX_ATTEMPTS: "max attempts reached",
    ReasonCode.ALREADY_CALLED: "already called since reset",
    ReasonCode.RECYCLE_MAX: "recycle maximum reached",
    ReasonCode.RECYCLE_DELAY: "waiting for recycle delay",
    ReasonCode.RETRY_NOT_DUE: "retry not due yet",
    ReasonCode.TIMEZONE_UNKNOWN: "time zone unknown",
    ReasonCode.TIMEZONE_AMBIGUOUS_CLOSED: "one of several possible time zones closed",
    ReasonCode.HOLIDAY: "holiday",
    ReasonCode.STATE_RESTRICTION: "state calling-hour rule",
    ReasonCode.OUTSIDE_CALLING_HOURS: "outside calling hours",
}


@dataclass(frozen=True, slots=True)
class LeadView:
    id: int
    list_id: int
    phone_e164: str
    status: str = "NEW"
    attempts: int = 0  # dial attempts since the last list reset
    timezones: tuple[str, ...] = ()  # candidate IANA zones; () = unknown
    state: str | None = None
    last_called_at: datetime | None = None
    next_call_at: datetime | None = None
    called_since_reset: bool = False
    consent_call: bool | None = None
    priority: int = 0
    created_at: datetime | None = None
    in_flight_since: datetime | None = None  # dial time of an attempt that has not ended

    def in_flight(self, now: datetime) -> bool:
        return self.in_flight_since is not None and now - self.in_flight_since < timedelta(seconds=MAX_CALL_S)


@dataclass(frozen=True, slots=True)
class RecycleRule:
    status: str
    delay_s: int = 1800  # VICIdial's default attempt_delay
    max_attempts: int = 2  # VICIdial's default attempt_maximum
    active: bool = True


@dataclass(frozen=True)
class CampaignRules:
    id: int
    active: bool = True
    dial_statuses: frozenset[str] = frozenset({"NEW"})
    max_attempts: int | None = None
    active_list_ids: frozenset[int] = frozenset()
    recycle_rules: Mapping[str, RecycleRule] = field(default_factory=dict)
    calling: CallingPolicy = field(default_factory=CallingPolicy)
    require_consent: bool = False  # TCPA: autodialled calls to mobiles need prior express consent
    lead_order: str = "priority"


@dataclass(frozen=True, slots=True)
class DncEntryView:
    phone_e164: str
    campaign_id: int | None = None  # None = global (internal) DNC
    expires_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


class DncView:
    """The DNC entries relevant to a batch of leads (fetched by the caller for those numbers)."""

    def __init__(self, entries: Iterable[DncEntryView] = ()) -> None:
        self._by_phone: dict[str, list[DncEntryView]] = defaultdict(list)
        for entry in entries:
            self._by_phone[entry.phone_e164].append(entry)

    def hit(self, phone_e164: str, campaign_id: int, now: datetime) -> ReasonCode | None:
        entries = self._by_phone.get(phone_e164)
        if not entries:
            return None  # nearly every lead: no entry at all
        if any(e.campaign_id is None and e.active(now) for e in entries):
            return ReasonCode.DNC_GLOBAL
        if any(e.campaign_id == campaign_id and e.active(now) for e in entries):
            return ReasonCode.DNC_CAMPAIGN
        return None


@dataclass(frozen=True, slots=True)
class CallbackView:
    lead_id: int
    due_at: datetime
    scope: str = "anyone"  # 'anyone' | 'agent'
    agent_id: int | None = None
    status: str = "pending"  # callbacks.status: pending | done | cancelled

    @property
    def active(self) -> bool:
        return self.status in ("pending", "ACTIVE")  # ACTIVE: VICIdial's spelling


@dataclass(frozen=True, slots=True)
class Decision:
    ok: bool
    reason: ReasonCode | None = None
    next_eligible_at: datetime | None = None
    is_callback: bool = False


def check_lead(
    lead: LeadView,
    campaign: CampaignRules,
    dnc: DncView,
    now: datetime,
    *,
    callback: CallbackView | None = None,
    agent_id: int | None = None,
) -> Decision:
    """Whether ``lead`` may be dialled at ``now`` for ``campaign`` (by ``agent_id`` when given)."""
    if not campaign.active:
        return Decision(False, ReasonCode.CAMPAIGN_INACTIVE)
    if lead.list_id not in campaign.active_list_ids:
        return Decision(False, ReasonCode.LIST_INACTIVE)
    dnc_reason = dnc.hit(lead.phone_e164, campaign.id, now)
    if dnc_reason is not None:
        return Decision(False, dnc_reason)
    if campaign.require_consent and lead.consent_call is not True:
        return Decision(False, ReasonCode.NO_CONSENT)
    if lead.in_flight(now):
        return Decision(False, ReasonCode.CALL_IN_FLIGHT)

    is_callback = False
    if callback is not None and callback.active:
        if callback.scope == "agent" and (agent_id is None or agent_id != callback.agent_id):
            return Decision(False, ReasonCode.CALLBACK_OTHER_AGENT)
        if callback.due_at > now:
            return Decision(False, ReasonCode.CALLBACK_NOT_DUE, callback.due_at)
        if lead.last_called_at is not None and lead.last_called_at >= callback.due_at:
            return Decision(False, ReasonCode.CALLBACK_ALREADY_DIALED)
        if lead.next_call_at is not None and lead.next_call_at > now:
            # Also the hopper's reservation (dialer.leads_repo): never hand a reserved lead out twice.
            return Decision(False, ReasonCode.RETRY_NOT_DUE, lead.next_call_at)
        is_callback = True
    else:
        refusal = _attempt_rules(lead, campaign, now)
        if refusal is not None:
            return refusal

    window = _window_check(lead, campaign.calling, now)
    if window is not None:
        return window
    return Decision(True, is_callback=is_callback)


def recheck_at_originate(
    lead: LeadView,
    campaign: CampaignRules,
    dnc: DncView,
    now: datetime,
    *,
    callback: CallbackView | None = None,
    agent_id: int | None = None,
) -> Decision:
    """The second check, right before originate, with DNC/callback rows read a moment ago.

    Same rules as :func:`check_lead`; a separate name so call sites and logs say which stage refused.
    """
    decision = check_lead(lead, campaign, dnc, now, callback=callback, agent_id=agent_id)
    if not decision.ok:
        logger.info("lead %s refused at originate: %s", lead.id, decision.reason)
    return decision


def _attempt_rules(lead: LeadView, campaign: CampaignRules, now: datetime) -> Decision | None:
    rule = campaign.recycle_rules.get(lead.status)
    if rule is not None and not rule.active:
        rule = None
    # A recycle rule makes its status dialable only for leads already called since the reset
    # (VICIdial's called_since_last_reset = Y..Y(max-1)); fresh leads need a dial status.
    dialable_status = lead.status in campaign.dial_statuses or (rule is not None and lead.called_since_reset)
    if not dialable_status:
        return Decision(False, ReasonCode.STATUS_NOT_DIALABLE)
    if campaign.max_attempts is not None and lead.attempts >= campaign.max_attempts:
        return Decision(False, ReasonCode.MAX_ATTEMPTS)
    if lead.next_call_at is not None and lead.next_call_at > now:
        return Decision(False, ReasonCode.RETRY_NOT_DUE, lead.next_call_at)
    if not lead.called_since_reset:
        return None
    if rule is None:
        return Decision(False, ReasonCode.ALREADY_CALLED)
    if lead.attempts >= rule.max_attempts:
        return Decision(False, ReasonCode.RECYCLE_MAX)
    if lead.last_called_at is not None and rule.delay_s > 0:
        if calling_time_between(campaign.calling, lead.timezones, lead.state, lead.last_called_at, now) >= timedelta(
                seconds=rule.delay_s):
            return None  # the delay has run (the same answer as add_calling_seconds(...) <= now, cheaper)
        eligible = add_calling_seconds(campaign.calling, lead.timezones, lead.state, lead.last_called_at, rule.delay_s)
        if eligible is None and not lead.timezones:
            return Decision(False, ReasonCode.TIMEZONE_UNKNOWN)
        if eligible is None or eligible > now:
            return Decision(False, ReasonCode.RECYCLE_DELAY, eligible)
    return None


def _window_check(lead: LeadView, policy: CallingPolicy, now: datetime) -> Decision | None:
    if not lead.timezones:
        return Decision(False, ReasonCode.TIMEZONE_UNKNOWN)
    return _zones_check(policy, tuple(lead.timezones), lead.state, now)


@lru_cache(maxsize=4096)  # a hopper batch of 1,000 leads has a few dozen (zones, state) pairs
def _zones_check(policy: CallingPolicy, timezones: tuple[str, ...], state: str | None, now: datetime) -> Decision | None:
    verdicts = [zone_verdict(policy, z, state, now) for z in timezones]
    closed = [v for v in verdicts if v is not None]
    if not closed:
        return None
    reopen = next_open(policy, timezones, state, now)
    if len(closed) < len(verdicts):
        return Decision(False, ReasonCode.TIMEZONE_AMBIGUOUS_CLOSED, reopen)
    # All closed: report the most specific cause (a holiday beats "outside hours" on the same day).
    for cause in ("HOLIDAY", "STATE_RESTRICTION", "OUTSIDE_CALLING_HOURS"):
        if any(v == cause for v in closed):
            return Decision(False, ReasonCode(cause), reopen)
    return Decision(False, ReasonCode.OUTSIDE_CALLING_HOURS, reopen)


def explain(decisions: Iterable[Decision | ReasonCode | None]) -> dict[str, int]:
    """``{"dialable": n, "outside_calling_hours": m, "dnc_global": k, ...}`` (refusals with a count > 0).

    Accepts decisions or bare reasons (None = dialable), so SQL ``GROUP BY reason`` rows fit too.
    """
    counts: Counter[str] = Counter()
    counts["dialable"] = 0
    for item in decisions:
        reason = item.reason if isinstance(item, Decision) else item
        counts["dialable" if reason is None else reason.value.lower()] += 1
    return dict(counts)


def explain_text(summary: Mapping[str, int]) -> str:
    """"0 dialable: 31,204 outside calling hours, 812 DNC (global)" -- the empty-hopper message."""
    refusals = sorted(((n, key) for key, n in summary.items() if key != "dialable" and n), reverse=True)
    parts = [f"{n:,} {LABELS.get(ReasonCode(key.upper()), key) if key.upper() in ReasonCode.__members__ else key}"
             for n, key in refusals]
    head = f"{summary.get('dialable', 0):,} dialable"
    return f"{head}: {', '.join(parts)}" if parts else head
