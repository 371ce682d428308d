"""CSV downloads of the admin pages: import error reports, list exports, the DNC list.

Every view checks the role itself (the guard only requires a session under ``/api/``); every CSV
goes through :func:`dialer.importer.report.write_safe_csv`, which neutralises cells a spreadsheet
would run as formulas (OWASP "CSV injection").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import flask

from app.admin import dnc as dnc_service
from app.admin import lists as list_service
from app.admin.access import EDITORS
from app.admin.lists import write_safe_csv
from app.api import require_roles
from app.services import get_services
from core.exceptions import NotFound
from core.models import ImportJob, LeadList
from dialer.import_jobs import report_path

logger = logging.getLogger(__name__)


def _csv(body: str | Iterator[str], filename: str) -> flask.Response:
    response = flask.Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@require_roles(EDITORS)
def import_errors(job_id: int) -> flask.Response:
    services = get_services()
    with services.sessions() as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.status != "done":
            raise NotFound(f"no finished import {job_id}")
    path = report_path(services.settings.data_dir, job_id)
    if not path.is_file():
        raise NotFound(f"import {job_id} has no error report")
    return _csv(path.read_text(encoding="utf-8"), f"import-{job_id}-errors.csv")


@require_roles(EDITORS)
def list_export(list_id: int) -> flask.Response:
    services = get_services()
    with services.sessions() as session:
        if session.get(LeadList, list_id) is None:
            raise NotFound(f"no list {list_id}")

    def stream() -> Iterator[str]:
        with services.sessions() as session:
            yield from list_service.export_csv(session, list_id)

    return _csv(flask.stream_with_context(stream()), f"list-{list_id}.csv")


@require_roles(EDITORS)
def dnc_export() -> flask.Response:
    services = get_services()
    with services.sessions() as session:
        rows = dnc_service.export_rows(session)
    header = [("phone_e164", "scope", "campaign", "source", "reason", "added_at")]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return _csv(write_safe_csv(header + rows), f"dnc-{stamp}.csv")


def init_app(server: flask.Flask) -> None:
    from app.api import export_jobs

    export_jobs.init_app(server)  # background list exports (start, progress, download)
    server.add_url_rule("/api/admin/imports/<int:job_id>/errors.csv", "admin_import_errors", import_errors)
    server.add_url_rule("/api/admin/lists/<int:list_id>/export.csv", "admin_list_export", list_export)
    server.add_url_rule("/api/admin/dnc/export.csv", "admin_dnc_export", dnc_export)
