"""CSV / XLSX exports of the analytics and SQL tables.

* ``GET /api/exports/analytics/<kpi>.<csv|xlsx>?<the page's query string>`` -- the same filter
  the page shows (``analytics_state``); ``calls`` also takes a drill-down (``analytics.kpis.CallDrill``:
  ``agent_id``, ``weekday``+``hour``, ``day``, ``disposition``, ``list_id``, ``attempt_no``,
  ``stage``) and exports all its calls up to :data:`MAX_EXPORT_ROWS` (``agent_calls?agent_id=``
  is the same for one agent).
* ``POST /api/exports/sql.<csv|xlsx>`` (form/JSON field ``sql``) -- re-runs a /sql query under the
  same validation and limits, audited like a query run on the page.

Cells a spreadsheet would evaluate (leading ``= + - @`` tab or CR) are prefixed with ``'``
(OWASP "CSV injection"), in CSV and XLSX alike; numbers are left as numbers.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable
from typing import Any

import flask
import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics import kpis
from analytics.filters import KpiFilter
from analytics.kpis.agents import MAX_PAGE_SIZE
from app.api import require_roles
from app.pages.analytics_data import campaign_settings, query, today
from app.pages.analytics_state import filter_from_query
from core.exceptions import NotFound
from dialer.importer.report import looks_like_formula

logger = logging.getLogger(__name__)

ANALYTICS_ROLES = ("admin", "manager", "supervisor")
SQL_ROLES = ("admin", "manager")
MAX_EXPORT_ROWS = 100_000

KPI_EXPORTS: dict[str, Callable[[Client, KpiFilter], pd.DataFrame]] = {
    "summary": kpis.summary,
    "funnel": kpis.funnel,
    "heatmap": kpis.contact_heatmap,
    "dispositions": kpis.dispositions_over_time,
    "abandon": kpis.abandon_trend,
    "penetration": kpis.list_penetration,
    "leaderboard": kpis.agent_leaderboard,
    "pacing": kpis.pacing_explainer,
    "sentiment": kpis.sentiment_over_time,
}


def safe_cell(value: Any) -> Any:
    """Neutralise a cell a spreadsheet would run as a formula; NaN/None -> empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    if isinstance(value, str):
        # One rule for every export we write (the import report's): a plain signed number
        # ("+15551234567", "-3.5") is data, not a formula, and stays readable.
        return "'" + value if looks_like_formula(value) else value
    if isinstance(value, (int, float, bool)):
        return value
    return safe_cell(str(value))


def to_csv(columns: list[str], rows: list[tuple[Any, ...]] | list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")  # BOM: Excel then reads UTF-8 correctly


def to_xlsx(columns: list[str], rows: list[tuple[Any, ...]] | list[list[Any]], sheet: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(title=sheet[:31] or "export")
    ws.append([safe_cell(c) for c in columns])
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def frame_rows(frame: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    columns = [str(c) for c in frame.columns]
    rows = [[v.isoformat(sep=" ") if isinstance(v, pd.Timestamp) else v for v in row]
            for row in frame.astype(object).itertuples(index=False, name=None)]
    return columns, rows


def send(columns: list[str], rows: list[Any], name: str, fmt: str) -> flask.Response:
    if fmt == "csv":
        body, mimetype = to_csv(columns, rows), "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        body = to_xlsx(columns, rows, name)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        raise NotFound(f"unknown export format {fmt!r} (csv or xlsx)")
    response = flask.Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@require_roles(ANALYTICS_ROLES)
def analytics_export(kpi: str, fmt: str) -> flask.Response:
    flt = filter_from_query(flask.request.query_string.decode("latin-1"), today())
    stamp = f"{flt.start:%Y%m%d}-{flt.end:%Y%m%d}"
    if kpi in ("agent_calls", "calls"):
        # agent_calls?agent_id=N (older links) or calls?<CallDrill params> (any chart drill-down)
        drill = kpis.CallDrill.from_params(flask.request.args)

        def all_calls(client: Client) -> pd.DataFrame:
            # kpis.drill_calls pages at most MAX_PAGE_SIZE rows: walk the pages up to the export cap.
            pages, page = [], 0
            while page * MAX_PAGE_SIZE < MAX_EXPORT_ROWS:
                result = kpis.drill_calls(client, flt, drill, page, MAX_PAGE_SIZE)
                pages.append(result.rows)
                if (page + 1) * MAX_PAGE_SIZE >= result.total:
                    break
                page += 1
            return pd.concat(pages, ignore_index=True)

        frame = query(all_calls)
        suffix = "-".join(f"{k}{v}" for k, v in drill.params().items())
        name = (f"agent-{drill.agent_id}-calls-{stamp}" if kpi == "agent_calls" else f"calls-{suffix}-{stamp}")
    elif kpi == "abandon":  # per campaign, each against its own target (as on the page)
        targets = {i: t for i, (_n, t) in campaign_settings().items()}
        frame = query(lambda c: kpis.abandon_trend(c, flt, targets))
        name = f"{kpi}-{stamp}"
    elif kpi in KPI_EXPORTS:
        frame = query(lambda c: KPI_EXPORTS[kpi](c, flt))
        name = f"{kpi}-{stamp}"
    else:
        raise NotFound(f"no export named {kpi!r}")
    columns, rows = frame_rows(frame.head(MAX_EXPORT_ROWS))
    logger.info("export %s.%s: %d rows", kpi, fmt, len(rows))
    return send(columns, rows, name, fmt)


@require_roles(SQL_ROLES)
def sql_export(fmt: str) -> flask.Response:
    from app.pages.sql import run_audited

    payload = flask.request.get_json(silent=True) if flask.request.is_json else flask.request.form
    sql = (payload or {}).get("sql")
    result = run_audited(sql)
    return send(result.columns, result.rows, "sql-result", fmt)


def init_app(server: flask.Flask) -> None:
    from app.api import admin_exports

    admin_exports.init_app(server)  # the admin tables' exports share this module's writer
    if "api_export_analytics" in server.view_functions:
        return
    server.add_url_rule("/api/exports/analytics/<kpi>.<fmt>", "api_export_analytics", analytics_export,
                        methods=["GET"])
    server.add_url_rule("/api/exports/sql.<fmt>", "api_export_sql", sql_export, methods=["POST"])
