"""Campaign reads and writes (SQLAlchemy sessions in, plain values out), every change audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.admin import codes
from app.admin.campaign_form import CleanCampaign, snapshot, validate_campaign_form
from core import audit
from core.models import Campaign, Disposition, Lead, LeadList, PauseCode, RecycleRule, User

logger = logging.getLogger(__name__)


@dataclass
class SaveResult:
    campaign_id: int | None
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


def campaign_rows(session: Session) -> list[dict[str, Any]]:
    leads = (sa.select(LeadList.campaign_id, sa.func.count(Lead.id).label("n"))
             .join(Lead, Lead.list_id == LeadList.id, isouter=True).group_by(LeadList.campaign_id).subquery())
    rows = session.execute(
        sa.select(Campaign.id, Campaign.name, Campaign.active, Campaign.dial_method, Campaign.target_abandon_rate,
                  sa.func.coalesce(leads.c.n, 0).label("leads"))
        .join(leads, leads.c.campaign_id == Campaign.id, isouter=True).order_by(Campaign.name)).all()
    return [dict(r._mapping) for r in rows]


def _apply(session: Session, campaign: Campaign, clean: CleanCampaign) -> None:
    for key, value in clean.values.items():
        setattr(campaign, key, value)
    wanted = {status: (delay, attempts) for status, delay, attempts in clean.recycle_rules}
    for rule in list(campaign.recycle_rules):
        if rule.status not in wanted:
            campaign.recycle_rules.remove(rule)
        else:
            rule.delay_s, rule.max_attempts = wanted.pop(rule.status)
    for status, (delay, attempts) in wanted.items():
        campaign.recycle_rules.append(RecycleRule(status=status, delay_s=delay, max_attempts=attempts))


def _replace_codes(session: Session, campaign_id: int, dispos: list[codes.DispoLine],
                   pauses: list[codes.PauseLine]) -> None:
    session.execute(sa.delete(Disposition).where(Disposition.campaign_id == campaign_id))
    session.execute(sa.delete(PauseCode).where(PauseCode.campaign_id == campaign_id))
    session.flush()
    for d in dispos:
        session.add(Disposition(campaign_id=campaign_id, code=d.code, name=d.name, human_answered=d.human_answered,
                                sale=d.sale, dnc=d.dnc, callback=d.callback, selectable=d.selectable))
    for p in pauses:
        session.add(PauseCode(campaign_id=campaign_id, code=p.code, name=p.name, billable=p.billable, max_s=p.max_s))


def codes_text(session: Session, campaign_id: int) -> tuple[str, str]:
    dispos = session.scalars(sa.select(Disposition).where(Disposition.campaign_id == campaign_id)).all()
    pauses = session.scalars(sa.select(PauseCode).where(PauseCode.campaign_id == campaign_id)).all()
    return codes.dispositions_text(list(dispos)), codes.pause_codes_text(list(pauses))


def save_campaign(session: Session, campaign_id: int | None, raw: dict[str, Any], *, actor: User,
                  ip: str | None = None) -> SaveResult:
    """Validate everything first; write (and audit) only when every field is valid."""
    clean = validate_campaign_form(raw)
    errors = dict(clean.errors)
    try:
        dispos = codes.parse_dispositions(str(raw.get("dispositions") or ""))
    except ValueError as exc:
        errors["dispositions"], dispos = str(exc), []
    try:
        pauses = codes.parse_pause_codes(str(raw.get("pause_codes") or ""))
    except ValueError as exc:
        errors["pause_codes"], pauses = str(exc), []
    name = clean.values.get("name")
    if name and "name" not in errors:
        clash = session.scalar(sa.select(Campaign.id).where(Campaign.name == name, Campaign.id != (campaign_id or -1)))
        if clash is not None:
            errors["name"] = f"another campaign (id {clash}) already has this name"
    campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        errors["name"] = f"campaign {campaign_id} no longer exists"
    if errors:
        return SaveResult(campaign_id, errors)
    before = None
    if campaign is None:
        campaign = Campaign(name=clean.values["name"])
        session.add(campaign)
    else:
        before = snapshot(campaign)
        before["dispositions"], before["pause_codes"] = codes_text(session, campaign.id)
    _apply(session, campaign, clean)
    session.flush()
    _replace_codes(session, campaign.id, dispos, pauses)
    session.flush()
    after = snapshot(campaign)
    after["dispositions"], after["pause_codes"] = codes_text(session, campaign.id)
    audit.record(session, actor=actor, action="campaign.create" if before is None else "campaign.update",
                 object_type="campaign", object_id=campaign.id, before=before, after=after, ip=ip)
    return SaveResult(campaign.id, {})


def set_active(session: Session, campaign_id: int, active: bool, *, actor: User, ip: str | None = None) -> bool:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    before = campaign.active
    campaign.active = active
    audit.record(session, actor=actor, action="campaign.start" if active else "campaign.stop", object_type="campaign",
                 object_id=campaign_id, before={"active": before}, after={"active": active}, ip=ip)
    return active


def sample_lead(session: Session, campaign_id: int) -> Lead | None:
    return session.scalars(
        sa.select(Lead).join(LeadList, LeadList.id == Lead.list_id).where(LeadList.campaign_id == campaign_id)
        .order_by(Lead.id).limit(1)).first()
