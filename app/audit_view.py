"""Queries behind the ``/audit`` page: the audit log, newest first, filtered and paged."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog

PAGE_SIZE = 25
MAX_FILTER_LENGTH = 64


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    action: str
    object: str
    ip: str | None
    details: str


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    pages: int


def clean_filter(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()[:MAX_FILTER_LENGTH]
    return value or None


def _details(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    parts = []
    if before:
        parts.append("before " + json.dumps(before, sort_keys=True, separators=(", ", ": ")))
    if after:
        parts.append(json.dumps(after, sort_keys=True, separators=(", ", ": ")))
    text = "; ".join(parts)
    return text if len(text) <= 300 else text[:299] + "…"


def query_audit(session: Session, *, actor: object = None, action: object = None, page: object = 1,
                page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of the log. ``actor`` is a username (exact, case-insensitive); ``action`` an
    exact action name. Unusable filter values are ignored; ``page`` is clamped into range."""
    conditions = []
    actor_f, action_f = clean_filter(actor), clean_filter(action)
    if actor_f:
        conditions.append(AuditLog.actor_username == actor_f)
    if action_f:
        conditions.append(AuditLog.action == action_f)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(*conditions)) or 0
    pages = max(1, -(-total // page_size))
    number = page if isinstance(page, int) and not isinstance(page, bool) else 1
    number = min(max(1, number), pages)
    entries = session.scalars(
        select(AuditLog).where(*conditions).order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(page_size).offset((number - 1) * page_size)
    ).all()
    rows = [
        AuditRow(
            id=e.id,
            at=e.at,
            actor=e.actor_username,
            action=e.action,
            object=f"{e.object_type}:{e.object_id}" if e.object_id is not None else e.object_type,
            ip=str(e.ip) if e.ip is not None else None,
            details=_details(e.before, e.after),
        )
        for e in entries
    ]
    return AuditPage(rows, total, number, pages)


def known_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))
