"""Hopper selection on PostgreSQL: the eligibility prefilter in SQL, the pure rules on what it returns.

One refill (:func:`select_candidates`, inside the caller's transaction):

1. three prefilter passes, each ``FOR UPDATE OF leads SKIP LOCKED`` so concurrent workers never
   lock the same lead: due ``anyone`` callbacks; standard leads (dial status, not called since the
   reset); recycled leads (recycle status, under the rule's maximum, wall-clock delay passed --
   a necessary condition for the calling-hours delay). All three exclude active DNC entries
   (global or this campaign) with an index-backed ``NOT EXISTS`` and apply the calling window as
   zone-set membership: the set of IANA zones open *now* is computed once per minute by the pure
   code (:mod:`dialer.calling_hours`, same rules as the Python check, including states and
   holidays) and the SQL only asks "is every candidate zone in this list" (a hashed ``= ANY`` for
   single-zone leads, ``<@`` for the rest);
2. the pure :func:`dialer.hopper.select` re-checks every locked row (DNC excepted: the statement
   that locks the row has just applied it on the same snapshot; the independent DNC re-read is
   at originate, :func:`recheck_at_originate`) and orders them.

Reservation: :func:`claim_for_hopper` (the hopper refill, :func:`dialer.loop_leads.refill_hopper`)
marks the chosen leads by moving ``leads.next_call_at`` to ``now + hold`` (the schema has no hopper
table; the hopper itself is a Redis sorted set and ``next_call_at`` already means "not before"), so
the next refill skips them and a crashed worker's reservation simply expires. Leads refused only
for RECYCLE_DELAY get ``next_call_at`` = the exact calling-hours eligibility time, so refills stop
re-reading them.

Indexes: the standard and recycle passes walk ``ix_leads_standard_order`` /
``ix_leads_recycled_order`` (leads (priority DESC, id), partial on called_since_reset; migration
0003) and stop after ``limit`` matches; DNC look-ups use ``uq_dnc_entries_phone_e164_campaign_id``.
The zone and recycle predicates defeat the planner's row estimates, hence :func:`_ordered_scan`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from phonenumbers.tzdata import TIMEZONE_DATA

from dialer import compliance as cp
from dialer.calling_hours import CallingPolicy, Holiday, StateRule, Window, local_window, weekly_from_json, zone
from dialer.hopper import Fill, select
from dialer.state_rules import DEFAULT_STATE_RULES
from dialer.timezones import US_STATE_ZONES

logger = logging.getLogger(__name__)

ALL_ZONES: tuple[str, ...] = tuple(sorted(
    {z for zones in TIMEZONE_DATA.values() for z in zones} | {z for zs in US_STATE_ZONES.values() for z in zs}
    - {"Etc/Unknown"}
))

# The last column: the dial time of an attempt of this lead that has not ended (compliance's
# CALL_IN_FLIGHT); one probe of ix_call_attempts_lead_id per row, only on rows already chosen.
IN_FLIGHT_SQL = "(SELECT max(a.dialed_at) FROM call_attempts a WHERE a.lead_id = l.id AND a.ended_at IS NULL)"
LEAD_COLUMNS = (
    "l.id, l.list_id, l.phone_e164, l.status, l.attempts, l.tz_candidates, l.timezone, l.state, l.last_called_at, "
    f"l.next_call_at, l.called_since_reset, l.consent_call, l.priority, l.created_at, {IN_FLIGHT_SQL}"
)
# Prefilter form of the same rule (bound :in_flight_after = now - MAX_CALL_S), on the small passes.
_NOT_IN_FLIGHT = (
    "NOT EXISTS (SELECT 1 FROM call_attempts a WHERE a.lead_id = l.id AND a.ended_at IS NULL"
    " AND a.dialed_at > :in_flight_after)"
)
# What the pure re-check needs beside each lead, read in the statement that locks it: its pending
# callback (at most one: uq_callbacks_lead_pending). DNC is not re-read there: the same statement
# (one snapshot) has just excluded every active entry with _DNC_FREE, so a second read could only
# return the same rows; the independent DNC re-read is the one at originate (recheck_at_originate).
_CHECK_JOINS = " LEFT JOIN callbacks cb ON cb.lead_id = l.id AND cb.status = 'pending'"
CHECK_COLUMNS = f"{LEAD_COLUMNS}, cb.due_at, cb.scope, cb.agent_id, cb.status"
_DNC_FREE = (
    "NOT EXISTS (SELECT 1 FROM dnc_entries d WHERE d.phone_e164 = l.phone_e164"
    " AND (d.campaign_id IS NULL OR d.campaign_id = :campaign_id) AND (d.expires_at IS NULL OR d.expires_at > :now))"
)
# Candidate zones, falling back to the single ``timezone`` column; NULL when neither is known.
_ZONES = (
    "COALESCE(NULLIF(l.tz_candidates, '{}'),"
    " CASE WHEN l.timezone IS NULL THEN NULL ELSE ARRAY[l.timezone]::varchar[] END)"
)
_ORDER_SQL = {
    "priority": "l.priority DESC, l.id",
    "new_first": "l.priority DESC, (l.attempts > 0), l.attempts, l.id",
    "oldest_last_call": "l.priority DESC, l.last_called_at ASC NULLS FIRST, l.id",
    # random / tz_east_to_west: a priority-ordered pool, ordered by the pure code (see select_candidates).
    "random": "l.priority DESC, l.id",
    "tz_east_to_west": "l.priority DESC, l.id",
}


def lead_view(row: Any) -> cp.LeadView:
    """A row of ``LEAD_COLUMNS`` -> LeadView (positional: Row attribute look-ups cost 10x more)."""
    (lead_id, list_id, phone, status, attempts, tz_candidates, timezone, state, last_called_at, next_call_at,
     called_since_reset, consent_call, priority, created_at, in_flight_since) = tuple(row)[:15]
    zones = tuple(tz_candidates or ()) or ((timezone,) if timezone else ())
    return cp.LeadView(
        id=lead_id, list_id=list_id, phone_e164=phone, status=status, attempts=attempts, timezones=zones,
        state=(state or "").strip().upper() or None, last_called_at=last_called_at, next_call_at=next_call_at,
        called_since_reset=called_since_reset, consent_call=consent_call, priority=priority, created_at=created_at,
        in_flight_since=in_flight_since,
    )


# --- campaign rules ------------------------------------------------------------------------------


def _state_rules(conn: sa.Connection) -> dict[str, StateRule]:
    """DEFAULT_STATE_RULES overridden per state by ``state_calling_rules`` rows; ``holidays`` rows added."""
    rules = dict(DEFAULT_STATE_RULES)
    for row in conn.execute(sa.text("SELECT state, windows, note FROM state_calling_rules WHERE country = 'US'")):
        state = row.state.strip().upper()
        # The table documents "a weekday absent from the map means no calls that day", {} included.
        weekly = weekly_from_json(row.windows) if row.windows else (None,) * 7
        rules[state] = StateRule(state, weekly, rules.get(state, StateRule(state, weekly)).holidays, row.note)  # type: ignore[arg-type]
    return rules


def load_policy(conn: sa.Connection, calling_windows: Mapping[str, Any] | None) -> CallingPolicy:
    state_rules = _state_rules(conn)
    national: list[Holiday] = []
    for row in conn.execute(sa.text("SELECT state, day, name FROM holidays WHERE country = 'US'")):
        holiday = Holiday(row.day.month, row.day.day, row.day.year, None, row.name)
        if row.state is None:
            national.append(holiday)
        else:
            state = row.state.strip().upper()
            rule = state_rules.get(state) or StateRule(state, weekly_from_json(None))
            state_rules[state] = replace(rule, holidays=rule.holidays + (holiday,))
    return CallingPolicy(weekly=weekly_from_json(calling_windows), holidays=tuple(national), state_rules=state_rules)


def load_rules(conn: sa.Connection, campaign_id: int) -> cp.CampaignRules:
    campaign = conn.execute(
        sa.text("SELECT id, active, dial_statuses, max_attempts, calling_windows, lead_order FROM campaigns WHERE id = :id"),
        {"id": campaign_id},
    ).one_or_none()
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    lists = conn.execute(sa.text("SELECT id FROM lists WHERE campaign_id = :id AND active"), {"id": campaign_id})
    recycle = conn.execute(
        sa.text("SELECT status, delay_s, max_attempts, active FROM campaign_recycle_rules WHERE campaign_id = :id"),
        {"id": campaign_id},
    )
    return cp.CampaignRules(
        id=campaign.id,
        active=campaign.active,
        dial_statuses=frozenset(campaign.dial_statuses or ()),
        max_attempts=campaign.max_attempts,
        active_list_ids=frozenset(r.id for r in lists),
        recycle_rules={r.status: cp.RecycleRule(r.status, r.delay_s, r.max_attempts, r.active) for r in recycle},
        calling=load_policy(conn, campaign.calling_windows),
        lead_order=campaign.lead_order,
    )


# --- open zones ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenZones:
    """Zones open now: ``generic`` for leads without a state rule, ``by_state`` for the others."""

    generic: list[str]
    by_state: dict[str, list[str]] = field(default_factory=dict)


_open_cache: dict[tuple[int, int, int], OpenZones] = {}  # a cache of a pure function: safe per process


def open_zones(policy: CallingPolicy, now: datetime, domain: Iterable[str] | None = None) -> OpenZones:
    """The zones of ``domain`` (default: every zone a lead can get) open at ``now``, by state rule.

    Every window bound is a whole local minute and every UTC offset a whole minute, so the result
    is constant within a UTC minute: cache it per (policy, domain, minute)."""
    minute = int(now.timestamp() // 60)
    names = ALL_ZONES if domain is None else tuple(sorted(set(domain)))
    key = (hash(repr(policy)), hash(names), minute)  # policies are rebuilt per refill: key on their content
    cached = _open_cache.get(key)
    if cached is not None:
        return cached
    states: list[str | None] = [None, *policy.state_rules]
    windows: dict[tuple[str | None, date], Window | None] = {}
    open_by: dict[str | None, list[str]] = {state: [] for state in states}
    for name in names:
        tz = zone(name)
        if tz is None:
            continue
        local = now.astimezone(tz)
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        day = local.date()
        for state in states:
            if (state, day) not in windows:
                windows[(state, day)] = local_window(policy, state, day)
            window = windows[(state, day)]
            if window is not None and window.contains(seconds):
                open_by[state].append(name)
    generic = open_by.pop(None)
    by_state = {state: zones for state, zones in open_by.items() if state is not None}
    result = OpenZones(generic, by_state)
    if len(_open_cache) > 256:
        _open_cache.clear()
    _open_cache[key] = result
    return result


def list_zones(conn: sa.Connection, list_ids: Iterable[int]) -> list[str]:
    """The zones the leads of these lists have (a superset: ``list_zones``, kept by triggers).

    Only these need to appear in the prefilter's open-zone arrays: ~10 for a US campaign instead
    of ~100 open ones among all the zones phonenumbers knows."""
    return list(conn.execute(sa.text("SELECT DISTINCT zone FROM list_zones WHERE list_id = ANY(:lists)"),
                             {"lists": sorted(list_ids)}).scalars())


def _in_open(param: str) -> str:
    """SQL: every candidate zone of ``l`` is in the array bound to ``param``.

    Single-zone leads (nearly all) use ``= ANY(constant array)``, which PostgreSQL 14+ evaluates
    with a hash table; only multi-candidate leads pay for ``<@``. Zones come from
    ``tz_candidates``, else ``timezone`` (as :func:`lead_view`); unknown -> NULL -> not selected.
    """
    return (
        f"(CASE WHEN cardinality(l.tz_candidates) > 1 THEN l.tz_candidates <@ CAST(:{param} AS varchar[])"
        f" ELSE COALESCE(l.tz_candidates[1], l.timezone) = ANY(CAST(:{param} AS varchar[])) END)"
    )


def _zone_clause(zones: OpenZones, params: dict[str, Any], prefix: str = "") -> str:
    """SQL: every candidate zone of the lead is open (for its state's rule when it has one)."""
    params[f"{prefix}open_generic"] = zones.generic
    params[f"{prefix}special_states"] = sorted(zones.by_state)
    parts = [
        f"((l.state IS NULL OR upper(l.state) <> ALL(CAST(:{prefix}special_states AS varchar[])))"
        f" AND {_in_open(prefix + 'open_generic')})"
    ]
    # Group states with identical open sets: usually two or three groups, not twelve.
    groups: dict[tuple[str, ...], list[str]] = {}
    for state, open_list in zones.by_state.items():
        groups.setdefault(tuple(open_list), []).append(state)
    for index, (group_zones, states) in enumerate(sorted(groups.items())):
        if not group_zones:
            continue
        params[f"{prefix}states_{index}"] = states
        params[f"{prefix}open_{index}"] = list(group_zones)
        parts.append(
            f"(upper(l.state) = ANY(CAST(:{prefix}states_{index} AS varchar[])) AND {_in_open(f'{prefix}open_{index}')})"
        )
    return "(" + " OR ".join(parts) + ")"


# --- selection -----------------------------------------------------------------------------------


def fetch_dnc(conn: sa.Connection, phones: Iterable[str], campaign_id: int) -> cp.DncView:
    phones = list(set(phones))
    if not phones:
        return cp.DncView()
    rows = conn.execute(
        sa.text(
            "SELECT phone_e164, campaign_id, expires_at FROM dnc_entries WHERE phone_e164 = ANY(:phones)"
            " AND (campaign_id IS NULL OR campaign_id = :campaign_id)"
        ),
        {"phones": phones, "campaign_id": campaign_id},
    )
    return cp.DncView(cp.DncEntryView(r.phone_e164, r.campaign_id, r.expires_at) for r in rows)


def fetch_callbacks(conn: sa.Connection, lead_ids: Sequence[int]) -> dict[int, cp.CallbackView]:
    if not lead_ids:
        return {}
    rows = conn.execute(
        sa.text("SELECT lead_id, due_at, scope, agent_id, status FROM callbacks WHERE lead_id = ANY(:ids) AND status = 'pending'"),
        {"ids": list(lead_ids)},
    )
    return {r.lead_id: cp.CallbackView(r.lead_id, r.due_at, r.scope, r.agent_id, r.status) for r in rows}


def _prefilter(conn: sa.Connection, rules: cp.CampaignRules, limit: int, now: datetime, *,
               callbacks_only: bool = False) -> list[Any]:
    if not rules.active or not rules.active_list_ids or limit <= 0:
        return []
    params: dict[str, Any] = {
        "campaign_id": rules.id, "now": now, "lists": sorted(rules.active_list_ids), "limit": limit,
        "max_attempts": rules.max_attempts if rules.max_attempts is not None else 2**31 - 1,
        "in_flight_after": now - timedelta(seconds=cp.MAX_CALL_S),
    }
    open_now = open_zones(rules.calling, now, list_zones(conn, rules.active_list_ids))
    if not open_now.generic and not any(open_now.by_state.values()):
        return []  # nowhere open: no query at all (a full index walk would find nothing)
    zones = _zone_clause(open_now, params)
    common = f"l.list_id = ANY(:lists) AND {_DNC_FREE} AND {zones}"
    lock = "FOR UPDATE OF l SKIP LOCKED"
    rows: list[Any] = []
    # 1. due 'anyone' callbacks (they skip status/attempt rules; DNC and the window still apply),
    #    not yet served by a dial at/after their due time, no call in flight.
    rows += conn.execute(sa.text(
        f"SELECT {CHECK_COLUMNS} FROM callbacks c JOIN leads l ON l.id = c.lead_id{_CHECK_JOINS}"
        f" WHERE c.campaign_id = :campaign_id AND c.status = 'pending' AND c.scope = 'anyone' AND c.due_at <= :now"
        f" AND (l.next_call_at IS NULL OR l.next_call_at <= :now)"
        f" AND (l.last_called_at IS NULL OR l.last_called_at < c.due_at) AND {_NOT_IN_FLIGHT} AND {common}"
        f" ORDER BY c.due_at LIMIT :limit {lock}"), params).all()
    if callbacks_only:
        return rows
    no_callback = "NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.lead_id = l.id AND c.status = 'pending')"
    with _ordered_scan(conn):
        rows += _standard_and_recycled(conn, rules, params, common, no_callback, lock, now)
    return rows


@contextmanager
def _ordered_scan(conn: sa.Connection) -> Iterator[None]:
    """Make the planner walk (priority DESC, id) indexes for the two big passes.

    The zone and recycle predicates defeat PostgreSQL's row estimates (it guessed 3k rows where
    20k matched), so it chose bitmap scan + sort of every match: 10 M leads -> seconds. Walking
    ix_leads_standard_order / ix_leads_recycled_order stops after ``limit`` matches. Settings are
    transaction-local and restored afterwards.
    """
    names = ("enable_sort", "enable_bitmapscan", "max_parallel_workers_per_gather")
    # One round trip: read the current values, then set ours (SELECT items are evaluated in order).
    row = conn.execute(sa.text(
        "SELECT " + ", ".join(f"current_setting('{n}')" for n in names) + ", "
        + ", ".join(f"set_config('{n}', :v{i}, true)" for i, n in enumerate(names))),
        {"v0": "off", "v1": "off", "v2": "0"}).one()  # parallel workers: ~20 ms to start, for 1,000 rows
    saved = tuple(row)[: len(names)]
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT " + ", ".join(f"set_config('{n}', :v{i}, true)" for i, n in enumerate(names))),
                     {f"v{i}": value for i, value in enumerate(saved)})


def _standard_and_recycled(
    conn: sa.Connection, rules: cp.CampaignRules, params: dict[str, Any], common: str, no_callback: str, lock: str,
    now: datetime,
) -> list[Any]:
    """The head of (standard UNION recycled) in lead order, then locked.

    PostgreSQL refuses FOR UPDATE with UNION, so the union picks at most ``limit`` ids in a
    sub-select and the outer query locks those rows (SKIP LOCKED) and reads what the pure re-check
    needs, in one statement. A row another worker reserved in between is re-read with its new
    ``next_call_at`` (the lock re-checks the row) and the pure re-check refuses it.
    """
    order = _ORDER_SQL.get(rules.lead_order, _ORDER_SQL["priority"])
    due = "(l.next_call_at IS NULL OR l.next_call_at <= :now) AND l.attempts < :max_attempts"
    columns = "l.id, l.ctid, l.priority, l.attempts, l.last_called_at"
    passes: list[str] = []
    if rules.dial_statuses:
        params["statuses"] = sorted(rules.dial_statuses)
        passes.append(
            f"(SELECT {columns} FROM leads l WHERE NOT l.called_since_reset"
            f" AND l.status = ANY(CAST(:statuses AS varchar[])) AND {due} AND {common} AND {no_callback}"
            f" ORDER BY {order} LIMIT :limit)")
    # Recycled leads: the wall-clock delay is necessary, the pure check enforces calling hours.
    terms = []
    for index, rule in enumerate(r for r in rules.recycle_rules.values() if r.active):
        params[f"r_status_{index}"] = rule.status
        params[f"r_max_{index}"] = rule.max_attempts
        params[f"r_before_{index}"] = now - timedelta(seconds=rule.delay_s)
        terms.append(f"(l.status = :r_status_{index} AND l.attempts < :r_max_{index}"
                     f" AND (l.last_called_at IS NULL OR l.last_called_at <= :r_before_{index}))")
    if terms:
        passes.append(
            f"(SELECT {columns} FROM leads l WHERE l.called_since_reset AND ({' OR '.join(terms)})"
            f" AND {due} AND {common} AND {no_callback} AND {_NOT_IN_FLIGHT} ORDER BY {order} LIMIT :limit)")
    if not passes:
        return []
    head = f"SELECT p.ctid FROM ({' UNION ALL '.join(passes)}) p ORDER BY {order.replace('l.', 'p.')} LIMIT :limit"
    # By tuple id (a TID scan: no second index descent per row). A row updated by another worker
    # since this statement's snapshot has moved: its lock follows the update chain, the re-check
    # of ``ctid = ANY(...)`` on the new version fails and the row is skipped, never double-served.
    return list(conn.execute(sa.text(
        f"SELECT {CHECK_COLUMNS} FROM leads l{_CHECK_JOINS} WHERE l.ctid = ANY(ARRAY({head})) {lock}"), params).all())


def select_candidates(
    conn: sa.Connection, rules: cp.CampaignRules, limit: int, now: datetime, *, seed: int = 0,
    callbacks_only: bool = False,
) -> Fill:
    """Lock and check up to ``limit`` dialable leads (in the caller's transaction); ordered, with refusals.

    ``callbacks_only``: only the due ``anyone`` callbacks pass (VICIdial hoppers those whatever the
    hopper level)."""
    rows = _prefilter(conn, rules, limit, now, callbacks_only=callbacks_only)
    views, callbacks = checked_rows(rows)
    # DNC: applied by the prefilter in the locking statement (see _CHECK_JOINS); every other rule
    # is re-checked here by the pure code.
    return select(views, rules, cp.DncView(), now, limit, callbacks=callbacks, seed=seed)


def checked_rows(rows: Iterable[Any]) -> tuple[list[cp.LeadView], dict[int, cp.CallbackView]]:
    """Rows of ``CHECK_COLUMNS`` -> the leads and their pending callbacks."""
    views: dict[int, cp.LeadView] = {}
    callbacks: dict[int, cp.CallbackView] = {}
    for row in rows:
        values = tuple(row)
        lead = lead_view(values)
        if lead.id in views:
            continue  # the callback pass and the ordered passes never overlap; be safe anyway
        views[lead.id] = lead
        due_at, scope, agent_id, status = values[15:19]
        if due_at is not None:
            callbacks[lead.id] = cp.CallbackView(lead.id, due_at, scope, agent_id, status)
    return list(views.values()), callbacks


@dataclass(frozen=True)
class Claim:
    leads: list[cp.LeadView]
    summary: dict[str, int]
    elapsed_ms: float
    callbacks: frozenset[int] = frozenset()  # ids of the leads handed out for a due callback


def claim_for_hopper(
    engine: sa.Engine, campaign_id: int, limit: int, now: datetime, *, hold: timedelta = timedelta(minutes=10), seed: int = 0,
    callbacks_only: bool = False,
) -> Claim:
    """Select, re-check and reserve the next ``limit`` leads in one transaction."""
    started = time.perf_counter()
    with engine.begin() as conn:
        rules = load_rules(conn, campaign_id)
        fill = select_candidates(conn, rules, limit, now, seed=seed, callbacks_only=callbacks_only)
        if fill.leads:
            conn.execute(sa.text("UPDATE leads SET next_call_at = :until WHERE id = ANY(:ids)"),
                         {"until": now + hold, "ids": [lead.id for lead in fill.leads]})
        deferred = [(lid, d.next_eligible_at) for lid, d in fill.decisions.items()
                    if d.reason is cp.ReasonCode.RECYCLE_DELAY and d.next_eligible_at is not None]
        if deferred:
            conn.execute(sa.text("UPDATE leads SET next_call_at = :at WHERE id = :id"),
                         [{"id": lid, "at": at} for lid, at in deferred])
    if not fill.leads:
        logger.info("campaign %s: empty refill: %s", campaign_id, cp.explain_text(fill.summary))
    callbacks = frozenset(lead.id for lead in fill.leads if fill.decisions[lead.id].is_callback)
    return Claim(fill.leads, fill.summary, (time.perf_counter() - started) * 1000, callbacks)


def recheck_at_originate(
    conn: sa.Connection, lead_id: int, campaign_id: int, now: datetime, *, agent_id: int | None = None,
    rules: cp.CampaignRules | None = None,
) -> cp.Decision:
    """The second check, right before originate: the lead, its DNC and callback rows read now.

    The hopper reservation (``next_call_at`` pushed forward by :func:`claim_for_hopper`) is ignored
    here: it is this very dial that holds it.
    """
    rules = rules or load_rules(conn, campaign_id)
    row = conn.execute(sa.text(f"SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id = :id"), {"id": lead_id}).one_or_none()
    if row is None:
        raise LookupError(f"no lead {lead_id}")
    lead = replace(lead_view(row), next_call_at=None)
    dnc = fetch_dnc(conn, [lead.phone_e164], campaign_id)
    callback = fetch_callbacks(conn, [lead_id]).get(lead_id)
    return cp.recheck_at_originate(lead, rules, dnc, now, callback=callback, agent_id=agent_id)


RECYCLE_SAMPLE = 50_000


def refusal_counts(conn: sa.Connection, rules: cp.CampaignRules, now: datetime) -> dict[str, int]:
    """``explain`` for the whole campaign in one GROUP BY (the SQL mirror of check_lead's order).

    Recycle delay is judged on wall-clock time here (the calling-hours refinement needs Python);
    state and holiday closures are reported as state_restriction / outside_calling_hours.
    """
    params: dict[str, Any] = {
        "campaign_id": rules.id, "now": now, "statuses": sorted(rules.dial_statuses),
        "max_attempts": rules.max_attempts if rules.max_attempts is not None else 2**31 - 1,
        "recycle": sorted(s for s, r in rules.recycle_rules.items() if r.active),
        "in_flight_after": now - timedelta(seconds=cp.MAX_CALL_S),
    }
    zones = open_zones(rules.calling, now)
    in_window = _zone_clause(zones, params)
    in_generic = _zone_clause(OpenZones(zones.generic, {}), params, prefix="g_")
    recycle_terms, delay_terms = ["false"], ["false"]
    for index, rule in enumerate(r for r in rules.recycle_rules.values() if r.active):
        params[f"rs_{index}"], params[f"rm_{index}"] = rule.status, rule.max_attempts
        params[f"rb_{index}"] = now - timedelta(seconds=rule.delay_s)
        recycle_terms.append(f"(l.status = :rs_{index} AND l.attempts >= :rm_{index})")
        delay_terms.append(f"(l.status = :rs_{index} AND l.last_called_at > :rb_{index})")
    sql = f"""
        SELECT reason, count(*) AS n FROM (
          SELECT CASE
            WHEN NOT li.active THEN 'list_inactive'
            WHEN EXISTS (SELECT 1 FROM dnc_entries d WHERE d.phone_e164 = l.phone_e164 AND d.campaign_id IS NULL
                         AND (d.expires_at IS NULL OR d.expires_at > :now)) THEN 'dnc_global'
            WHEN EXISTS (SELECT 1 FROM dnc_entries d WHERE d.phone_e164 = l.phone_e164 AND d.campaign_id = :campaign_id
                         AND (d.expires_at IS NULL OR d.expires_at > :now)) THEN 'dnc_campaign'
            WHEN f.lead_id IS NOT NULL THEN 'call_in_flight'
            WHEN cb.lead_id IS NOT NULL AND cb.scope = 'agent' THEN 'callback_other_agent'
            WHEN cb.lead_id IS NOT NULL AND cb.due_at > :now THEN 'callback_not_due'
            WHEN cb.lead_id IS NOT NULL AND l.last_called_at >= cb.due_at THEN 'callback_already_dialed'
            WHEN cb.lead_id IS NULL AND NOT (l.status = ANY(CAST(:statuses AS varchar[]))
                 OR (l.called_since_reset AND l.status = ANY(CAST(:recycle AS varchar[])))) THEN 'status_not_dialable'
            WHEN cb.lead_id IS NULL AND l.attempts >= :max_attempts THEN 'max_attempts'
            WHEN l.next_call_at > :now THEN 'retry_not_due'
            WHEN cb.lead_id IS NULL AND l.called_since_reset AND NOT l.status = ANY(CAST(:recycle AS varchar[]))
                 THEN 'already_called'
            WHEN cb.lead_id IS NULL AND l.called_since_reset AND ({' OR '.join(recycle_terms)}) THEN 'recycle_max'
            WHEN cb.lead_id IS NULL AND l.called_since_reset AND ({' OR '.join(delay_terms)}) THEN 'recycle_delay'
            -- Wall-clock delay passed: the calling-hours delay is decided by the pure code below.
            WHEN cb.lead_id IS NULL AND l.called_since_reset THEN 'recycle_check'
            WHEN cardinality({_ZONES}) IS NULL OR cardinality({_ZONES}) = 0 THEN 'timezone_unknown'
            WHEN {in_window} THEN 'dialable'
            WHEN {in_generic} THEN 'state_restriction'
            ELSE 'outside_calling_hours'
          END AS reason, l.id
          FROM leads l JOIN lists li ON li.id = l.list_id
          LEFT JOIN callbacks cb ON cb.lead_id = l.id AND cb.status = 'pending'
          -- calls in flight: a handful of rows (partial index ix_call_attempts_in_flight), hash-joined
          LEFT JOIN (SELECT DISTINCT a.lead_id FROM call_attempts a WHERE a.ended_at IS NULL
                     AND a.dialed_at > :in_flight_after) f ON f.lead_id = l.id
          WHERE li.campaign_id = :campaign_id
        ) s GROUP BY reason
    """
    sql = sql.replace("SELECT reason, count(*) AS n FROM", "SELECT reason, count(*) AS n,"
                      " CASE WHEN reason = 'recycle_check' THEN array_agg(id ORDER BY id) END AS ids FROM")  # ordered: a reproducible sample
    if not rules.active:
        total = conn.execute(sa.text("SELECT count(*) FROM leads l JOIN lists li ON li.id = l.list_id"
                                     " WHERE li.campaign_id = :campaign_id"), params).scalar_one()
        return {"dialable": 0, "campaign_inactive": int(total)} if total else {"dialable": 0}
    counts: dict[str, int] = {"dialable": 0}
    to_check: list[int] = []
    for row in conn.execute(sa.text(sql), params):
        if row.reason == "recycle_check":
            to_check = list(row.ids)
        else:
            counts[row.reason] = counts.get(row.reason, 0) + int(row.n)
    # The calling-hours refinement runs in Python; past RECYCLE_SAMPLE leads it checks an even
    # sample and scales (explain is a diagnosis; the hopper itself always checks every lead).
    step = max(1, -(-len(to_check) // RECYCLE_SAMPLE))
    sample = to_check[::step]
    refined: dict[str, int] = {}
    for start in range(0, len(sample), 10_000):
        batch = conn.execute(sa.text(f"SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id = ANY(:ids)"),
                             {"ids": sample[start:start + 10_000]}).all()
        views = [lead_view(r) for r in batch]
        dnc = cp.DncView()  # DNC hits were classified by the SQL above already
        for key, n in cp.explain(cp.check_lead(v, rules, dnc, now) for v in views).items():
            refined[key] = refined.get(key, 0) + n
    if refined and step > 1:
        scale = len(to_check) / len(sample)
        refined = {k: round(n * scale) for k, n in refined.items()}
        refined[max(refined, key=lambda k: refined[k])] += len(to_check) - sum(refined.values())
    for key, n in refined.items():
        counts[key] = counts.get(key, 0) + n
    return {k: v for k, v in counts.items() if v or k == "dialable"}


# --- recycling: the system status of an unanswered call ------------------------------------------

# call_attempts.outcome -> the lead status VICIdial's dialer sets without an agent (the seed's
# system dispositions): these are the statuses recycle rules name (B after 10 min, NA after 1 h ...).
# Congestion says nothing about the person: retried like a no-answer. 'human' calls get the agent's
# disposition instead; 'cancelled' (we hung up before an answer) changes nothing.
SYSTEM_STATUSES: dict[str, str] = {
    "no_answer": "NA", "busy": "B", "congestion": "NA", "failed": "DC", "machine": "A", "abandoned": "DROP",
}
RECYCLE_LOOKBACK = timedelta(days=2)


def apply_system_statuses(conn: sa.Connection, campaign_id: int, now: datetime, *, limit: int = 5000) -> int:
    """Give the campaign's ended, undispositioned, unanswered attempts their system status.

    The attempt gets ``disposition_code`` (which also makes this idempotent: a row is picked once)
    and, when it is the lead's latest dial, the lead gets that status, so the recycle rules for
    NA/B/A/DROP can take it again. Changed CDRs are re-shipped (a newer ``version``), as an agent's
    late disposition is (:class:`dialer.agents.PgDispositions`). Returns the number of attempts set.
    """
    from core.models import OutboxMessage
    from dialer.cdr import CDR_TOPIC, cdr_payload

    rows = conn.execute(sa.text(
        "SELECT a.* FROM call_attempts a WHERE a.campaign_id = :cid AND a.dialed_at > :since"
        " AND a.ended_at IS NOT NULL AND a.disposition_code IS NULL AND a.outcome = ANY(:outcomes)"
        " ORDER BY a.dialed_at LIMIT :limit FOR UPDATE SKIP LOCKED"),
        {"cid": campaign_id, "since": now - RECYCLE_LOOKBACK, "outcomes": sorted(SYSTEM_STATUSES), "limit": limit},
    ).mappings().all()
    if not rows:
        return 0
    version = int(now.timestamp() * 1_000_000)
    conn.execute(sa.text("UPDATE call_attempts SET disposition_code = :code WHERE call_id = :id"),
                 [{"id": r["call_id"], "code": SYSTEM_STATUSES[r["outcome"]]} for r in rows])
    conn.execute(sa.text("UPDATE leads SET status = :code WHERE id = :lead AND last_called_at = :dialed"),
                 [{"lead": r["lead_id"], "code": SYSTEM_STATUSES[r["outcome"]], "dialed": r["dialed_at"]}
                  for r in rows if r["lead_id"] is not None])
    conn.execute(sa.insert(OutboxMessage), [
        {"topic": CDR_TOPIC, "key": str(r["call_id"]),
         "payload": {**cdr_payload({**r, "disposition_code": SYSTEM_STATUSES[r["outcome"]]}), "version": version}}
        for r in rows])
    return len(rows)
