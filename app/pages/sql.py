"""``/sql``: read-only SQL against the analytics database for data teams (admins and managers).

Every statement goes through :func:`app.sqlpage.validate_sql` and
:func:`app.sqlpage.check_query_tree` (ClickHouse's ``EXPLAIN QUERY TREE``: only tables of the
analytics database), then runs with :data:`app.sqlpage.QUERY_SETTINGS` (readonly, row, time and
memory limits) -- as the read-only user of ``sql/clickhouse/roles/readonly.sql`` when
``CLICKHOUSE_READONLY_URL`` is set. Every attempt -- run,
refused or failed -- is written to the audit log as ``sql.query`` with the SQL text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import time
import uuid
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate
from flask_login import current_user

from app.pages import register_page
from app.pages.analytics_data import query, require_role
from app.services import get_services
from app.sqlpage import (
    EXPLAIN_SETTINGS,
    MAX_ROWS,
    QUERY_SETTINGS,
    SqlRefused,
    SqlResult,
    check_query_tree,
    truncate_rows,
    validate_sql,
)
from core import audit
from core.db import transaction
from core.exceptions import PyDialerError, ValidationError
from core.models import User

logger = logging.getLogger(__name__)

ROLES = ("admin", "manager")
EXAMPLE = ("SELECT disposition_code, sum(sign) AS calls\nFROM cdr\nWHERE dialed_at >= now() - INTERVAL 7 DAY\n"
           "GROUP BY disposition_code\nORDER BY calls DESC")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if value != value else value  # NaN is not JSON
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _audit(sql: str, outcome: dict[str, Any]) -> None:
    services = get_services()
    with transaction(services.sessions) as session:
        actor = session.get(User, int(current_user.id))
        audit.record(session, actor=actor, action="sql.query", object_type="clickhouse", object_id=None,
                     after={"sql": sql[:20_000], **outcome}, ip=flask.request.remote_addr)


def _query_tree(client: Any, sql: str) -> str:
    # No row limit here (a cut tree would hide tables); the statement is not executed.
    result = client.query("EXPLAIN QUERY TREE " + sql, settings=EXPLAIN_SETTINGS)
    return "\n".join(str(row[0]) for row in result.result_rows)


def run_audited(sql: Any) -> SqlResult:
    """Validate (text, then ClickHouse's query tree), run, audit. Raises :class:`ValidationError`
    (refused: nothing ran) or ``EngineError`` (failed)."""
    require_role(ROLES)
    text = sql if isinstance(sql, str) else ""
    database = query(lambda c: c.database or "default", readonly_user=True)
    checked = None
    try:
        checked = validate_sql(sql, database)
        tree = query(lambda c: _query_tree(c, checked.sql), readonly_user=True)
        check_query_tree(tree, database)
    except SqlRefused as exc:
        _audit(checked.sql if checked else text, {"status": "refused", "reason": str(exc)})
        raise ValidationError(f"Refused: {exc}") from exc
    except PyDialerError as exc:
        _audit(checked.sql if checked else text, {"status": "error", "error": exc.message})
        raise
    started = time.perf_counter()
    try:
        result = query(lambda c: c.query(checked.sql, settings=QUERY_SETTINGS), readonly_user=True)
    except PyDialerError as exc:
        _audit(checked.sql, {"status": "error", "error": exc.message})
        raise
    rows, truncated = truncate_rows(result.result_rows)
    elapsed = (time.perf_counter() - started) * 1000
    _audit(checked.sql, {"status": "ok", "rows": len(rows), "truncated": truncated, "ms": round(elapsed, 1)})
    return SqlResult(list(result.column_names), [[_plain(v) for v in r] for r in rows], truncated, elapsed)


def schema_tree() -> Any:
    rows = query(lambda c: c.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
        "ORDER BY table, position", settings={"readonly": 2}).result_rows)
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, name, type_ in rows:
        tables.setdefault(table, []).append((name, type_))
    if not tables:
        return html.Div("No tables (is the analytics schema applied?)", className="text-body-secondary small")
    return [html.Details([html.Summary(table, className="sql-table-name"),
                          html.Ul([html.Li([html.Span(n, className="sql-col"), html.Span(t, className="sql-type")])
                                   for n, t in cols], className="sql-cols")], className="sql-table")
            for table, cols in tables.items()]


def layout(**_query: str) -> html.Div:
    return html.Div([
        html.H1("SQL", className="h3 mb-1"),
        html.P(f"Read-only queries on the analytics tables: one SELECT (WITH … SELECT included), "
               f"at most {MAX_ROWS:,} rows and {QUERY_SETTINGS['max_execution_time']} s. "
               "Every query is audited.", className="text-body-secondary small"),
        dbc.Row([
            dbc.Col(dbc.Card([dbc.CardHeader("Schema"),
                              dbc.CardBody(dcc.Loading(html.Div(id="sql-schema", className="sql-schema")),
                                           className="p-2")], className="shadow-sm"), lg=3, className="mb-3"),
            dbc.Col([
                dbc.Card(dbc.CardBody([
                    dbc.Textarea(id="sql-text", value=EXAMPLE, rows=7, spellCheck=False, className="font-monospace",
                                 maxLength=20_000),
                    html.Div([dbc.Button("Run", id="sql-run", color="primary", size="sm"),
                              dbc.Button("CSV", id="sql-csv", color="secondary", outline=True, size="sm"),
                              dbc.Button("XLSX", id="sql-xlsx", color="secondary", outline=True, size="sm"),
                              html.Span(id="sql-status", className="small text-body-secondary ms-2")],
                             className="d-flex gap-2 align-items-center mt-2"),
                ]), className="mb-2 shadow-sm"),
                html.Div(id="sql-msg"),
                dag.AgGrid(id="sql-grid", rowData=[], columnDefs=[],
                           defaultColDef={"sortable": True, "resizable": True, "filter": True},
                           csvExportParams={"fileName": "sql-result.csv"},
                           dashGridOptions={"suppressCellFocus": True}, style={"height": "460px"}),
                dcc.Download(id="sql-download"),
            ], lg=9),
        ]),
    ], id="sql-root")


def run(n_clicks: int | None, sql: str | None) -> tuple[Any, Any, Any, str]:
    """(columnDefs, rowData, message, status)."""
    require_role(ROLES)
    if not n_clicks:
        raise PreventUpdate
    try:
        result = run_audited(sql)
    except PyDialerError as exc:
        return [], [], dbc.Alert(exc.message, color="danger", id="sql-error", className="py-2"), ""
    columns = [{"field": f"c{i}", "headerName": name} for i, name in enumerate(result.columns)]
    rows = [{f"c{i}": v for i, v in enumerate(r)} for r in result.rows]
    note = f"{len(rows):,} rows in {result.elapsed_ms:.0f} ms"
    message = (dbc.Alert(f"Only the first {MAX_ROWS:,} rows are shown.", color="warning", className="py-2")
               if result.truncated else None)
    return columns, rows, message, note + (" (truncated)" if result.truncated else "")


def export_csv(n_clicks: int | None) -> bool:
    require_role(ROLES)
    if not n_clicks:
        raise PreventUpdate
    return True


def export_xlsx(n_clicks: int | None, sql: str | None) -> Any:
    require_role(ROLES)
    if not n_clicks:
        raise PreventUpdate
    from app.api.exports import to_xlsx

    try:
        result = run_audited(sql)
    except PyDialerError:
        raise PreventUpdate from None
    return dcc.send_bytes(to_xlsx(result.columns, result.rows, "sql"), "sql-result.xlsx")


def schema(_pathname: Any) -> Any:
    require_role(ROLES)
    try:
        return schema_tree()
    except PyDialerError as exc:
        return dbc.Alert(f"ClickHouse unavailable: {exc.message}", color="warning", className="small")


def register(dash_app: dash.Dash) -> None:
    cb = dash_app.callback
    cb(Output("sql-grid", "columnDefs"), Output("sql-grid", "rowData"), Output("sql-msg", "children"),
       Output("sql-status", "children"), Input("sql-run", "n_clicks"), State("sql-text", "value"))(run)
    cb(Output("sql-grid", "exportDataAsCsv"), Input("sql-csv", "n_clicks"))(export_csv)
    cb(Output("sql-download", "data"), Input("sql-xlsx", "n_clicks"), State("sql-text", "value"))(export_xlsx)
    cb(Output("sql-schema", "children"), Input("sql-root", "id"))(schema)


register_page(
    __name__,
    name="sql",
    path="/sql",
    title="SQL",
    roles=ROLES,
    layout=layout,
    callbacks=register,
    order=80,
    description="Read-only SQL on the analytics database, with a schema browser and CSV export.",
)
