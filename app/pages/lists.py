"""``/lists``: lead lists with per-status counts (supervisors read), import/enable/reset/export (admins, managers).

An upload is previewed (first rows, one mapping dropdown per column), then imported by a Celery
task (:mod:`dialer.import_jobs`); the progress bar polls the job's published progress, and the
row-level error report is downloadable when it ends. "Export in background" runs the list's
export the same way (:mod:`app.api.export_jobs`, Celery ``dialer.tasks.export_list``): a second
progress bar polls it and a download link appears when the file is complete.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
from dash import ALL, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app.admin import access, imports
from app.admin import lists as service
from app.admin.export_links import export_links
from app.api import export_jobs
from app.api.admin_exports import export_href
from app.pages import register_page
from app.services import get_services
from core.exceptions import ValidationError
from core.models import Campaign

logger = logging.getLogger(__name__)
PAGE = "lists"
POLL_MS = 500


def lists_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return html.Div("No lists yet.", className="text-body-secondary p-2")
    head = html.Thead(html.Tr([html.Th(h) for h in ("List", "Campaign", "Status", "Leads", "Not called since reset",
                                                      "Resets")]))
    body = html.Tbody([html.Tr([
        html.Td(f"{r['name']} (#{r['id']})"), html.Td(r["campaign"]),
        html.Td(dbc.Badge("enabled" if r["active"] else "disabled", color="success" if r["active"] else "secondary")),
        html.Td(f"{r['leads']:,}"), html.Td(f"{r['not_called']:,}"), html.Td(r["reset_count"]),
    ]) for r in rows])
    return dbc.Table([head, body], hover=True, size="sm", className="mb-0 align-middle")


def _list_options(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"label": f"{r['campaign']} / {r['name']} (#{r['id']})", "value": r["id"]} for r in rows]


def _editor(campaigns: list[dict[str, Any]]) -> html.Div:
    return html.Div([
        dbc.Card([dbc.CardHeader("New list"), dbc.CardBody(dbc.Row([
            dbc.Col(dbc.Select(id="lists-new-campaign", options=campaigns, placeholder="campaign"), md=4),
            dbc.Col(dbc.Input(id="lists-new-name", placeholder="list name", maxLength=100), md=4),
            dbc.Col(dbc.Input(id="lists-new-region", placeholder="US", value="US", maxLength=2), md=2),
            dbc.Col(dbc.Button("Create", id="lists-new-create", color="primary"), md=2),
            dbc.Col(html.Div(id="lists-new-result"), md=12),
        ], className="g-2"))], className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("Import leads (CSV or XLSX)"), dbc.CardBody([
            dcc.Upload(id="lists-upload", children=html.Div(["Drop a file here or ", html.A("choose one")]),
                       className="pyd-upload border border-2 rounded p-3 text-center mb-2", multiple=False,
                       max_size=6 * 1024 * 1024),
            html.Div(id="lists-preview"),
            dcc.Store(id="lists-upload-store"),
            dbc.Button("Start import", id="lists-import-start", color="primary", className="mt-2", disabled=True),
            html.Div(id="lists-import-msg", className="mt-2"),
            dbc.Progress(id="lists-progress", value=0, label="", striped=True, animated=True,
                         className="mt-2", style={"height": "1.4rem"}),
            html.Div(id="lists-import-status", className="small mt-1"),
            dcc.Store(id="lists-job"),
            dcc.Interval(id="lists-poll", interval=POLL_MS, disabled=True),
        ])], className="mb-3 shadow-sm"),
    ])


def _background_export() -> html.Div:
    return html.Div([
        dbc.Button("Export in background", id="lists-export-bg", color="primary", outline=True, size="sm"),
        dbc.Progress(id="lists-export-progress", value=0, label="", striped=True, animated=True,
                     className="mt-2", style={"height": "1.2rem"}),
        html.Div(id="lists-export-status", className="small mt-1"),
        dcc.Store(id="lists-export-job"),
        dcc.Interval(id="lists-export-poll", interval=POLL_MS, disabled=True),
    ], className="mb-2")


def layout(**_query: str) -> html.Div:
    services = get_services()
    with services.sessions() as session:
        rows = service.list_rows(session)
        campaigns = [{"label": c.name, "value": c.id} for c in session.query(Campaign).order_by(Campaign.name)]
    editable = access.can(access.EDITORS)
    actions = [dbc.Button("Enable", id="lists-enable", color="success", outline=True, size="sm", className="me-1"),
               dbc.Button("Disable", id="lists-disable", color="secondary", outline=True, size="sm", className="me-1"),
               dbc.Button("Reset called status", id="lists-reset", color="warning", outline=True, size="sm",
                          className="me-1"),
               html.A("Export CSV", id="lists-export", href="#", className="btn btn-outline-primary btn-sm me-1"),
               html.A("XLSX", id="lists-leads-xlsx", href="#", className="btn btn-outline-primary btn-sm")]
    return html.Div([
        html.H1("Lead lists", className="h3 mb-3"),
        dbc.Card([dbc.CardHeader(html.Div(["Lists", export_links("lists", "lists-table-export") if editable else None],
                                          className="d-flex align-items-center")), dbc.CardBody(html.Div(lists_table(rows), id="lists-table"), className="p-2")],
                 className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("List detail"), dbc.CardBody([
            dbc.Row([dbc.Col(dcc.Dropdown(id="lists-select", options=_list_options(rows), placeholder="choose a list"),
                             md=5),
                     dbc.Col(actions if editable else [html.A(id="lists-export", hidden=True),
                                                       html.A(id="lists-leads-xlsx", hidden=True)], md=7)], className="g-2 mb-2"),
            _background_export() if editable else None,
            html.Div(id="lists-action-msg"),
            html.Div(id="lists-status-counts"),
        ])], className="mb-3 shadow-sm"),
        _editor(campaigns) if editable else html.Div(),
    ], id="lists-root")


def counts(selected: Any) -> tuple[Any, str, str]:
    if selected is None:
        return html.Div("Choose a list to see its leads by status.", className="text-body-secondary small"), "#", "#"
    access.require(access.VIEWERS)
    with get_services().sessions() as session:
        by_status = service.status_counts(session, int(selected))
    table = dbc.Table([html.Thead(html.Tr([html.Th("Status"), html.Th("Leads")])),
                       html.Tbody([html.Tr([html.Td(s), html.Td(f"{n:,}")]) for s, n in by_status.items()])],
                      size="sm", className="w-auto", id="lists-status-table") if by_status else html.Div("No leads.")
    return table, f"/api/admin/lists/{int(selected)}/export.csv", export_href("list-leads", "xlsx", list_id=int(selected))


def list_action(_enable: Any, _disable: Any, _reset: Any, selected: Any) -> tuple[Any, Any]:
    trigger = access.clicked()
    if selected is None:
        raise PreventUpdate
    access.require(access.EDITORS)
    services = get_services()
    with services.sessions() as session, session.begin():
        actor = access.actor(session)
        if trigger == "lists-reset":
            n = service.reset_list(session, int(selected), actor=actor, now=services.clock.now(), ip=access.client_ip())
            msg = f"List reset: {n:,} leads are dialable again."
        else:
            service.set_list_active(session, int(selected), trigger == "lists-enable", actor=actor,
                                    ip=access.client_ip())
            msg = "List enabled." if trigger == "lists-enable" else "List disabled."
    with services.sessions() as session:
        rows = service.list_rows(session)
    return dbc.Alert(msg, color="info", duration=5000, className="py-1"), lists_table(rows)


def create(n_clicks: Any, campaign_id: Any, name: Any, region: Any) -> tuple[Any, Any, Any]:
    if not n_clicks:
        raise PreventUpdate
    access.require(access.EDITORS)
    services = get_services()
    try:
        with services.sessions() as session, session.begin():
            lst = service.create_list(session, int(campaign_id or 0), name or "", region or "US",
                                      actor=access.actor(session), ip=access.client_ip())
            msg = dbc.Alert(f"List {lst.name!r} created (#{lst.id}).", color="success", className="py-1 mt-2")
    except ValueError as exc:
        msg = dbc.Alert(str(exc), color="danger", className="py-1 mt-2")
    with services.sessions() as session:
        rows = service.list_rows(session)
    return msg, lists_table(rows), _list_options(rows)


def preview(contents: str | None, filename: str | None) -> tuple[Any, Any, bool]:
    if not contents:
        raise PreventUpdate
    access.require(access.EDITORS)
    services = get_services()
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=True)
        info = service.preview_upload(data, filename or "")
    except (IndexError, binascii.Error):
        return dbc.Alert("The upload could not be read.", color="danger"), None, True
    except ValidationError as exc:
        return dbc.Alert(f"{filename}: {exc.message}", color="danger"), None, True
    token = imports.stage_upload(services.settings.data_dir, data)
    options = service.mapping_options()
    header = info["header"]
    mapping_row = html.Tr([html.Th(dcc.Dropdown(id={"page": PAGE, "map": i}, options=options, clearable=False,
                                                value=info["mapping"][col], className="small"), style={"minWidth": "10rem"})
                           for i, col in enumerate(header)])
    table = dbc.Table([html.Thead([html.Tr([html.Th(c) for c in header]), mapping_row]),
                       html.Tbody([html.Tr([html.Td(v) for v in row]) for row in info["rows"]])],
                      size="sm", bordered=True, responsive=True, className="small", id="lists-preview-table")
    note = html.Div(f"{filename}: about {info['estimate']:,} rows ({info['encoding']}). Map each column, then start.",
                    className="small mb-1")
    return html.Div([note, table]), {"token": token, "filename": filename, "header": header}, False


def start(n_clicks: Any, list_id: Any, staged: dict[str, Any] | None, choices: list[Any]) -> tuple[Any, Any, bool]:
    if not n_clicks or not staged:
        raise PreventUpdate
    access.require(access.EDITORS)
    if list_id is None:
        return dbc.Alert("Choose the target list above first.", color="warning", className="py-1"), None, True
    services = get_services()
    mapping = service.mapping_from_form(staged["header"], choices)
    if "phone" not in mapping.values():
        return dbc.Alert("Map one column to 'lead: phone'.", color="warning", className="py-1"), None, True
    with services.sessions() as session, session.begin():
        job = service.create_import_job(session, int(list_id), staged.get("filename") or "upload",
                                        actor=access.actor(session), ip=access.client_ip())
        job_id = job.id
    try:
        imports.promote_upload(services.settings.data_dir, str(staged["token"]), job_id)
    except ValueError as exc:
        return dbc.Alert(str(exc), color="danger", className="py-1"), None, True
    launcher = flask.current_app.extensions.get(imports.LAUNCHER_KEY, imports.celery_launcher)
    launcher(job_id, mapping)
    return dbc.Alert(f"Import #{job_id} started.", color="info", className="py-1"), {"job": job_id}, False


def poll(_n: Any, job: dict[str, Any] | None) -> tuple[Any, ...]:
    if not job:
        raise PreventUpdate
    access.require(access.EDITORS)
    services = get_services()
    with services.engine.connect() as conn:
        p = imports.job_progress(conn, services.redis, int(job["job"]))
    finished = p["status"] in ("done", "failed", "cancelled")
    label = f"{p['percent']:.0f} %"
    status: Any
    if p["status"] == "done":
        href = f"/api/admin/imports/{int(job['job'])}/errors.csv"
        status = html.Div([
            html.Span(f"Done: {p['imported']:,} imported, {p['rejected']:,} rejected "
                      f"({p['duplicates']:,} duplicates) of {p['total']:,} rows. ", id="lists-import-summary"),
            html.A("Download the error report (CSV)", href=href, id="lists-error-report", download=""),
        ])
    elif p["status"] == "failed":
        status = dbc.Alert(f"Import failed: {p['error']}", color="danger", className="py-1", id="lists-import-failed")
    else:
        status = html.Span(f"{p['status']}: {p['done']:,} of ~{p['total']:,} rows", id="lists-import-running")
    table: Any = dash.no_update
    if finished:
        with services.sessions() as session:
            table = lists_table(service.list_rows(session))
    return p["percent"], label, status, not finished, finished, table


def start_export(n_clicks: Any, list_id: Any) -> tuple[Any, Any, bool, int, str]:
    if not n_clicks:
        raise PreventUpdate
    access.require(access.EDITORS)
    if list_id is None:
        return (dbc.Alert("Choose a list first.", color="warning", className="py-1", id="lists-export-nolist"),
                None, True, 0, "")
    # The Flask app serving this request (dash.get_app() is the last Dash app created in the process).
    export_id = export_jobs.start_export(flask.current_app, int(list_id))
    queued = html.Span(f"Export of list #{int(list_id)} queued.", id="lists-export-running")
    return queued, {"export": export_id}, False, 0, "0 %"


def poll_export(_n: Any, job: dict[str, Any] | None) -> tuple[Any, ...]:
    if not job:
        raise PreventUpdate
    access.require(access.EDITORS)
    p = export_jobs.export_progress(get_services().redis, str(job["export"]))
    finished = p["state"] in ("done", "failed")
    status: Any
    if p["state"] == "done":
        status = html.Div([html.Span(f"Done: {p['done']:,} leads. ", id="lists-export-done"),
                           html.A("Download the export (CSV)", href=export_jobs.download_url(p["export"]),
                                  id="lists-export-download", download="")])
    elif p["state"] == "failed":
        status = dbc.Alert(f"Export failed: {p['error']}", color="danger", className="py-1", id="lists-export-failed")
    else:
        status = html.Span(f"{p['state']}: {p['done']:,} of {p['total']:,} leads", id="lists-export-running")
    return p["percent"], f"{p['percent']:.0f} %", status, not finished, finished


def register(dash_app: dash.Dash) -> None:
    dash_app.callback(Output("lists-status-counts", "children"), Output("lists-export", "href"),
                      Output("lists-leads-xlsx", "href"), Input("lists-select", "value"))(counts)
    dash_app.callback(Output("lists-action-msg", "children"), Output("lists-table", "children"),
                      Input("lists-enable", "n_clicks"), Input("lists-disable", "n_clicks"),
                      Input("lists-reset", "n_clicks"), State("lists-select", "value"),
                      prevent_initial_call=True)(list_action)
    dash_app.callback(Output("lists-new-result", "children"), Output("lists-table", "children", allow_duplicate=True),
                      Output("lists-select", "options"),
                      Input("lists-new-create", "n_clicks"), State("lists-new-campaign", "value"),
                      State("lists-new-name", "value"), State("lists-new-region", "value"),
                      prevent_initial_call=True)(create)
    dash_app.callback(Output("lists-preview", "children"), Output("lists-upload-store", "data"),
                      Output("lists-import-start", "disabled"),
                      Input("lists-upload", "contents"), State("lists-upload", "filename"),
                      prevent_initial_call=True)(preview)
    dash_app.callback(Output("lists-import-msg", "children"), Output("lists-job", "data"),
                      Output("lists-poll", "disabled"),
                      Input("lists-import-start", "n_clicks"), State("lists-select", "value"),
                      State("lists-upload-store", "data"), State({"page": PAGE, "map": ALL}, "value"),
                      prevent_initial_call=True)(start)
    dash_app.callback(Output("lists-progress", "value"), Output("lists-progress", "label"),
                      Output("lists-import-status", "children"), Output("lists-progress", "animated"),
                      Output("lists-poll", "disabled", allow_duplicate=True),
                      Output("lists-table", "children", allow_duplicate=True),
                      Input("lists-poll", "n_intervals"), State("lists-job", "data"),
                      prevent_initial_call=True)(poll)
    dash_app.callback(Output("lists-export-status", "children"), Output("lists-export-job", "data"),
                      Output("lists-export-poll", "disabled"), Output("lists-export-progress", "value"),
                      Output("lists-export-progress", "label"),
                      Input("lists-export-bg", "n_clicks"), State("lists-select", "value"),
                      prevent_initial_call=True)(start_export)
    dash_app.callback(Output("lists-export-progress", "value", allow_duplicate=True),
                      Output("lists-export-progress", "label", allow_duplicate=True),
                      Output("lists-export-status", "children", allow_duplicate=True),
                      Output("lists-export-progress", "animated"),
                      Output("lists-export-poll", "disabled", allow_duplicate=True),
                      Input("lists-export-poll", "n_intervals"), State("lists-export-job", "data"),
                      prevent_initial_call=True)(poll_export)


register_page(
    __name__,
    name="lists",
    path="/lists",
    title="Lists",
    roles=access.VIEWERS,
    layout=layout,
    callbacks=register,
    order=41,
    description="Lead lists: import with a column mapping, per-status counts, reset, export (also in the background).",
)
