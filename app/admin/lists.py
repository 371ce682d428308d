"""Lead lists: per-status counts, enable/disable, reset, export, and the upload preview.

Reset follows VICIdial's "reset lead-called-status for this list": every lead becomes dialable
again in the hopper's standard pass (``called_since_reset = false``); statuses are kept, so the
campaign's dial statuses still decide which leads are called (VICIDIAL.md §3).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterator
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import audit
from core.models import Campaign, ImportJob, Lead, LeadList, User
from dialer.importer.normalize import LEAD_FIELDS, auto_mapping
from dialer.importer.parse import read_table
from dialer.importer.report import looks_like_formula

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 5
EXPORT_COLUMNS = ("id", "phone_e164", "first_name", "last_name", "state", "postal_code", "country", "status",
                  "attempts", "last_called_at", "called_since_reset", "vendor_lead_code")


def list_rows(session: Session) -> list[dict[str, Any]]:
    counts = (sa.select(Lead.list_id, sa.func.count().label("leads"),
                        sa.func.count().filter(~Lead.called_since_reset).label("not_called"))
              .group_by(Lead.list_id).subquery())
    rows = session.execute(
        sa.select(LeadList.id, LeadList.name, LeadList.active, Campaign.name.label("campaign"), LeadList.reset_count,
                  LeadList.last_reset_at, sa.func.coalesce(counts.c.leads, 0).label("leads"),
                  sa.func.coalesce(counts.c.not_called, 0).label("not_called"))
        .join(Campaign, Campaign.id == LeadList.campaign_id)
        .join(counts, counts.c.list_id == LeadList.id, isouter=True).order_by(Campaign.name, LeadList.name)).all()
    return [dict(r._mapping) for r in rows]


def status_counts(session: Session, list_id: int) -> dict[str, int]:
    rows = session.execute(sa.select(Lead.status, sa.func.count()).where(Lead.list_id == list_id)
                           .group_by(Lead.status).order_by(sa.func.count().desc())).all()
    return {status: int(n) for status, n in rows}


def create_list(session: Session, campaign_id: int, name: str, region: str, *, actor: User,
                ip: str | None = None) -> LeadList:
    name, region = name.strip(), region.strip().upper() or "US"
    if not name or len(name) > 100:
        raise ValueError("list name: 1-100 characters")
    if len(region) != 2 or not region.isalpha():
        raise ValueError("default region: a two-letter country code such as US")
    if session.get(Campaign, campaign_id) is None:
        raise ValueError("choose a campaign")
    if session.scalar(sa.select(LeadList.id).where(LeadList.campaign_id == campaign_id, LeadList.name == name)):
        raise ValueError(f"the campaign already has a list named {name!r}")
    lst = LeadList(campaign_id=campaign_id, name=name, default_region=region)
    session.add(lst)
    session.flush()
    audit.record(session, actor=actor, action="list.create", object_type="list", object_id=lst.id,
                 after={"name": name, "campaign_id": campaign_id, "default_region": region}, ip=ip)
    return lst


def set_list_active(session: Session, list_id: int, active: bool, *, actor: User, ip: str | None = None) -> None:
    lst = session.get(LeadList, list_id)
    if lst is None:
        raise LookupError(f"no list {list_id}")
    before = lst.active
    lst.active = active
    audit.record(session, actor=actor, action="list.enable" if active else "list.disable", object_type="list",
                 object_id=list_id, before={"active": before}, after={"active": active}, ip=ip)


def reset_list(session: Session, list_id: int, *, actor: User, now: dt.datetime, ip: str | None = None) -> int:
    lst = session.get(LeadList, list_id)
    if lst is None:
        raise LookupError(f"no list {list_id}")
    result = session.execute(sa.update(Lead).where(Lead.list_id == list_id, Lead.called_since_reset)
                             .values(called_since_reset=False))
    changed = int(getattr(result, "rowcount", 0) or 0)
    lst.reset_count += 1
    lst.last_reset_at = now
    audit.record(session, actor=actor, action="list.reset", object_type="list", object_id=list_id,
                 before={"reset_count": lst.reset_count - 1}, after={"reset_count": lst.reset_count, "leads_reset": changed},
                 ip=ip)
    return changed


def _lead_batches(session: Session, list_id: int) -> Iterator[list[tuple[Any, ...]]]:
    result = session.execute(sa.select(*(getattr(Lead, c) for c in EXPORT_COLUMNS), Lead.custom_fields)
                             .where(Lead.list_id == list_id).order_by(Lead.id).execution_options(yield_per=5000))
    while batch := list(islice(result, 5000)):
        yield [tuple(r[:-1]) + (_custom(r[-1]),) for r in batch]


def export_csv(session: Session, list_id: int) -> Iterator[str]:
    """Chunks of a spreadsheet-safe CSV (cells that would be formulas are prefixed with ')."""
    yield write_safe_csv([EXPORT_COLUMNS + ("custom_fields",)])
    for batch in _lead_batches(session, list_id):
        yield write_safe_csv(batch)


def export_rows(session: Session, list_id: int) -> list[tuple[Any, ...]]:
    """Every lead of the list as :data:`EXPORT_COLUMNS` + custom_fields (the XLSX export)."""
    return [row for batch in _lead_batches(session, list_id) for row in batch]


def write_safe_csv(rows: list[tuple[Any, ...]]) -> str:
    """CSV where a cell a spreadsheet would evaluate gets a leading ``'`` (OWASP CSV injection);
    plain signed numbers such as E.164 phones (``+13125550100``) are harmless and stay as they are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else ("'" + v if isinstance(v, str) and looks_like_formula(v) else v)
                         for v in row])
    return out.getvalue()


def _custom(fields: dict[str, Any] | None) -> str:
    return "; ".join(f"{k}={v}" for k, v in (fields or {}).items())


def mapping_options() -> list[dict[str, str]]:
    return ([{"label": f"lead: {f}", "value": f} for f in LEAD_FIELDS]
            + [{"label": "custom field", "value": "custom"}, {"label": "ignore", "value": "ignore"}])


def preview_upload(data: bytes, filename: str) -> dict[str, Any]:
    """Header, the first rows and the suggested mapping (``custom`` for custom:<column>)."""
    table = read_table(data, filename)
    rows = [cells for _n, cells in islice(table.rows, PREVIEW_ROWS)]
    suggested = {col: ("custom" if target.startswith("custom:") else target) for col, target in auto_mapping(table.header).items()}
    return {"header": table.header, "rows": rows, "mapping": suggested, "encoding": table.encoding,
            "estimate": table.total_rows_estimate}


def mapping_from_form(header: list[str], choices: list[str | None]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for column, choice in zip(header, choices, strict=False):
        if choice in (None, "custom"):
            mapping[column] = f"custom:{column}"
        else:
            mapping[column] = choice
    return mapping


def create_import_job(session: Session, list_id: int, filename: str, *, actor: User, ip: str | None = None) -> ImportJob:
    if session.get(LeadList, list_id) is None:
        raise ValueError("choose a list")
    job = ImportJob(list_id=list_id, filename=filename[:255] or "upload", status="pending", created_by=actor.id)
    session.add(job)
    session.flush()
    audit.record(session, actor=actor, action="list.import", object_type="list", object_id=list_id,
                 after={"job": job.id, "filename": job.filename}, ip=ip)
    return job


def csv_bytes(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))
