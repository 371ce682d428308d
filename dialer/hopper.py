"""Hopper ordering and the pure "fill" step: which dialable leads go next, in which order.

Ordering (VICIDIAL.md §2.D/G): due ``anyone`` callbacks always first (oldest due first, VICIdial's
priority 50), then ``leads.priority`` descending, then the campaign's ``lead_order``:

* ``priority``          -- lead id ascending after priority (load order);
* ``new_first``         -- never-dialled leads first, then fewest attempts;
* ``oldest_last_call``  -- never-called first, then the longest since the last call;
* ``random``            -- a seeded shuffle: the same seed and leads give the same order, whatever
                           order the leads arrive in (reproducible in tests and investigations);
* ``tz_east_to_west``   -- the lead whose (easternmost) zone has the largest UTC offset first, so
                           east-coast leads are used before their window closes.

Ties always fall back to lead id so every order is total and deterministic.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from dialer.calling_hours import zone
from dialer.compliance import CallbackView, CampaignRules, Decision, DncView, LeadView, check_lead, explain

logger = logging.getLogger(__name__)

LEAD_ORDERS = ("priority", "new_first", "oldest_last_call", "random", "tz_east_to_west")


def _random_key(seed: int, lead_id: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{lead_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _east_offset(lead: LeadView, now: datetime) -> float:
    offsets = []
    for name in lead.timezones:
        tz = zone(name)
        offset = now.astimezone(tz).utcoffset() if tz else None
        if offset is not None:
            offsets.append(offset.total_seconds())
    return max(offsets) if offsets else float("-inf")


def _secondary(lead_order: str, now: datetime, seed: int) -> Callable[[LeadView], tuple]:
    if lead_order == "priority":
        return lambda lead: ()
    if lead_order == "new_first":
        return lambda lead: (lead.attempts > 0, lead.attempts)
    if lead_order == "oldest_last_call":
        return lambda lead: (lead.last_called_at is not None, lead.last_called_at or now)
    if lead_order == "random":
        return lambda lead: (_random_key(seed, lead.id),)
    if lead_order == "tz_east_to_west":
        return lambda lead: (-_east_offset(lead, now),)
    raise ValueError(f"unknown lead_order {lead_order!r}; expected one of {LEAD_ORDERS}")


def order(
    leads: Iterable[LeadView],
    lead_order: str,
    now: datetime,
    *,
    seed: int = 0,
    callback_due: Mapping[int, datetime] | None = None,
) -> list[LeadView]:
    """Sort ``leads`` for dialling; ``callback_due`` maps lead id -> due time of its due callback."""
    callback_due = callback_due or {}
    secondary = _secondary(lead_order, now, seed)

    def key(lead: LeadView) -> tuple:
        due = callback_due.get(lead.id)
        if due is not None:
            return (0, due.timestamp(), lead.id)
        return (1, -lead.priority, *secondary(lead), lead.id)

    return sorted(leads, key=key)


@dataclass(frozen=True)
class Fill:
    leads: list[LeadView]
    decisions: dict[int, Decision]
    summary: dict[str, int]


def select(
    leads: Sequence[LeadView],
    campaign: CampaignRules,
    dnc: DncView,
    now: datetime,
    limit: int,
    *,
    callbacks: Mapping[int, CallbackView] | None = None,
    seed: int = 0,
) -> Fill:
    """Check every candidate, keep the dialable ones in order, at most ``limit`` of them.

    ``summary`` counts every candidate (:func:`dialer.compliance.explain`), so an empty result
    explains itself. The predictive hopper passes no agent: agent-only callbacks stay out.
    """
    callbacks = callbacks or {}
    decisions = {lead.id: check_lead(lead, campaign, dnc, now, callback=callbacks.get(lead.id)) for lead in leads}
    dialable = [lead for lead in leads if decisions[lead.id].ok]
    due = {lead.id: callbacks[lead.id].due_at for lead in dialable if decisions[lead.id].is_callback}
    ordered = order(dialable, campaign.lead_order, now, seed=seed, callback_due=due)
    return Fill(ordered[: max(limit, 0)], decisions, explain(decisions.values()))
