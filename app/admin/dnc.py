"""Do-not-call entries: search by number (normalised to E.164), add, remove, bulk import.

Every add and removal is audited with the reason given. Removing a number from DNC is the
sensitive direction (it makes the number callable again), so a reason is mandatory there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import audit
from core.models import Campaign, DncEntry, User
from dialer.importer.parse import read_table

logger = logging.getLogger(__name__)

MAX_REASON = 500


def to_e164(text: str, region: str = "US") -> str:
    """Raise ValueError with a readable message for anything that is not a valid number."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError("enter a phone number")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def search(session: Session, number: str, limit: int = 50) -> tuple[str, list[dict[str, Any]]]:
    phone = to_e164(number)
    rows = session.execute(
        sa.select(DncEntry.id, DncEntry.phone_e164, DncEntry.scope, Campaign.name.label("campaign"), DncEntry.source,
                  DncEntry.reason, DncEntry.added_at)
        .join(Campaign, Campaign.id == DncEntry.campaign_id, isouter=True)
        .where(DncEntry.phone_e164 == phone).order_by(DncEntry.added_at.desc()).limit(limit)).all()
    return phone, [dict(r._mapping) for r in rows]


def recent(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(DncEntry.id, DncEntry.phone_e164, DncEntry.scope, Campaign.name.label("campaign"), DncEntry.source,
                  DncEntry.reason, DncEntry.added_at)
        .join(Campaign, Campaign.id == DncEntry.campaign_id, isouter=True)
        .order_by(DncEntry.added_at.desc(), DncEntry.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def _scope(campaign_id: int | None) -> str:
    return "global" if campaign_id is None else "campaign"


def add(session: Session, number: str, campaign_id: int | None, reason: str, *, actor: User,
        ip: str | None = None, source: str = "manual") -> tuple[str, bool]:
    """(E.164, created). An existing entry for the same number and scope is left as it is."""
    phone = to_e164(number)
    reason = (reason or "").strip()[:MAX_REASON]
    if campaign_id is not None and session.get(Campaign, campaign_id) is None:
        raise ValueError(f"no campaign {campaign_id}")
    new_id = session.scalar(
        insert(DncEntry).values(phone_e164=phone, scope=_scope(campaign_id), campaign_id=campaign_id, source=source,
                                reason=reason or None, added_by=actor.id)
        .on_conflict_do_nothing().returning(DncEntry.id))
    if new_id is not None:
        audit.record(session, actor=actor, action="dnc.add", object_type="dnc", object_id=phone,
                     after={"scope": _scope(campaign_id), "campaign_id": campaign_id, "reason": reason}, ip=ip)
    return phone, new_id is not None


def remove(session: Session, entry_id: int, reason: str, *, actor: User, ip: str | None = None) -> str:
    reason = (reason or "").strip()[:MAX_REASON]
    if not reason:
        raise ValueError("give a reason for removing a number from DNC")
    entry = session.get(DncEntry, entry_id)
    if entry is None:
        raise LookupError(f"no DNC entry {entry_id}")
    before = {"scope": entry.scope, "campaign_id": entry.campaign_id, "source": entry.source, "reason": entry.reason}
    phone = entry.phone_e164
    session.delete(entry)
    audit.record(session, actor=actor, action="dnc.remove", object_type="dnc", object_id=phone, before=before,
                 after={"removed_because": reason}, ip=ip)
    return phone


@dataclass
class BulkResult:
    added: int = 0
    already: int = 0
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (row, value, reason)


def bulk_import(session: Session, data: bytes, filename: str, campaign_id: int | None, reason: str, *,
                actor: User, ip: str | None = None) -> BulkResult:
    """A CSV/XLSX whose first column (or a column named phone) holds numbers; bad rows reported."""
    table = read_table(data, filename)
    names = [h.strip().lower() for h in table.header]
    col = next((i for i, h in enumerate(names) if h in ("phone", "phone_number", "number", "phone_e164")), 0)
    out = BulkResult()
    # The header of a headerless file is itself a number: count it as row 1.
    header_value = table.header[col] if table.header else ""
    rows = [(1, [header_value])] if header_value and any(ch.isdigit() for ch in header_value) else []
    rows += [(n, [cells[col] if col < len(cells) else ""]) for n, cells in table.rows]
    phones: dict[str, int] = {}
    for n, (value,) in rows:
        try:
            phones.setdefault(to_e164(value), n)
        except ValueError as exc:
            out.bad.append((n, value, str(exc)))
    for issue in table.issues:
        out.bad.append((issue.row, issue.value, issue.reason))
    scope = _scope(campaign_id)
    for phone in phones:
        created = session.scalar(
            insert(DncEntry).values(phone_e164=phone, scope=scope, campaign_id=campaign_id, source="import",
                                    reason=reason or None, added_by=actor.id)
            .on_conflict_do_nothing().returning(DncEntry.id))
        if created is None:
            out.already += 1
        else:
            out.added += 1
    audit.record(session, actor=actor, action="dnc.import", object_type="dnc", object_id=None,
                 after={"filename": filename, "scope": scope, "campaign_id": campaign_id, "added": out.added,
                        "already": out.already, "bad": len(out.bad), "reason": reason}, ip=ip)
    return out


def export_rows(session: Session) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in session.execute(
        sa.select(DncEntry.phone_e164, DncEntry.scope, Campaign.name, DncEntry.source, DncEntry.reason, DncEntry.added_at)
        .join(Campaign, Campaign.id == DncEntry.campaign_id, isouter=True).order_by(DncEntry.phone_e164)).all()]
