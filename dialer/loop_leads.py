"""Claim leads for the dialing loop and create their call attempts, in one transaction.

Selection is the compliance helper's :func:`dialer.leads_repo.select_candidates` (SQL prefilter
with ``FOR UPDATE OF leads SKIP LOCKED``, then the pure rules of :mod:`dialer.compliance` re-run
on every locked row with DNC and callback rows read in the *same* transaction). Doing it inside
the transaction that creates the call attempt makes it the check "at originate": a DNC entry
committed a moment ago still blocks the call, and two loops (a lease hand-over) never claim the
same lead. The lead is marked called (attempts + 1, ``last_called_at``, ``called_since_reset``)
and the ``call_attempts`` row inserted in that transaction, so a crash leaves both or neither.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from core.models import CallAttempt, Campaign, Lead, LeadList
from dialer import leads_repo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    call_id: str
    lead_id: int
    list_id: int
    phone_e164: str
    attempt_no: int


def claim_leads(
    engine: sa.Engine, campaign_id: int, count: int, now: datetime, *, pbx: str, dial_method: str,
) -> tuple[list[Claimed], dict[str, int]]:
    """Claim up to ``count`` dialable leads; returns the claims and the refusal summary (``explain``)."""
    if count <= 0:
        return [], {}
    with engine.begin() as conn:
        rules = leads_repo.load_rules(conn, campaign_id)
        if not rules.active or not rules.active_list_ids:
            return [], {"campaign_inactive" if not rules.active else "list_inactive": 1}
        fill = leads_repo.select_candidates(conn, rules, count, now)
        claims = []
        for lead in fill.leads:
            call_id = str(uuid.uuid4())
            conn.execute(sa.update(Lead).where(Lead.id == lead.id).values(
                attempts=Lead.attempts + 1, last_called_at=now, called_since_reset=True))
            conn.execute(sa.insert(CallAttempt).values(
                call_id=uuid.UUID(call_id), campaign_id=campaign_id, list_id=lead.list_id, lead_id=lead.id, pbx=pbx,
                phone_e164=lead.phone_e164, attempt_no=lead.attempts + 1, dial_method=dial_method, dialed_at=now))
            claims.append(Claimed(call_id, lead.id, lead.list_id, lead.phone_e164, lead.attempts + 1))
        return claims, fill.summary


def dialable_estimate(engine: sa.Engine, campaign_id: int) -> int:
    """Hopper depth for the wallboard: leads in dialable statuses not yet called since the reset."""
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(Campaign.dial_statuses).where(Campaign.id == campaign_id)).scalar()
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(Lead).join(LeadList, LeadList.id == Lead.list_id)
            .where(LeadList.campaign_id == campaign_id, LeadList.active, Lead.status.in_(list(statuses or ["NEW"])),
                   Lead.called_since_reset.is_(False))
        ).scalar_one())
