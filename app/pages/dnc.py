"""``/dnc``: do-not-call search (every admin page role), add / remove / bulk import (admins, managers).

Numbers are normalised to E.164 before any look-up, so ``(312) 555-0100`` finds ``+13125550100``.
Adds and removals are audited with their reason.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app.admin import access
from app.admin import dnc as service
from app.admin.export_links import export_links
from app.api.admin_exports import export_href
from app.pages import register_page
from app.services import get_services
from core.exceptions import ValidationError
from core.models import Campaign

logger = logging.getLogger(__name__)


GRID_COLUMNS = [{"field": "id", "headerName": "#", "width": 90}, {"field": "phone_e164", "headerName": "Number"},
                {"field": "scope", "headerName": "Scope"}, {"field": "source", "headerName": "Source"},
                {"field": "reason", "headerName": "Reason", "flex": 2}, {"field": "added_at", "headerName": "Added (UTC)"}]


def entries_table(rows: list[dict[str, Any]], *, removable: bool, number: str | None = None) -> Any:
    """An AG Grid (a search may match many entries; the grid sorts and filters client-side) and,
    for editors, CSV/XLSX of exactly these entries (a search) -- the whole list is exported below."""
    if not rows:
        return html.Div("No entries.", className="text-body-secondary p-2", id="dnc-no-entries")
    data = [{"id": r["id"], "phone_e164": r["phone_e164"],
             "scope": r["scope"] if r["scope"] == "global" else f"campaign: {r['campaign']}", "source": r["source"],
             "reason": r["reason"] or "", "added_at": f"{r['added_at']:%Y-%m-%d %H:%M}"} for r in rows]
    links = (export_links("dnc", "dnc-search-export", number=number) if number and access.can(access.EDITORS)
             else None)
    return html.Div([
        html.Div([html.Span(f"{len(rows):,} entr{'y' if len(rows) == 1 else 'ies'}", className="small"), links],
                 className="d-flex align-items-center mb-1"),
        dag.AgGrid(id="dnc-results-table", rowData=data, columnDefs=GRID_COLUMNS,
                   defaultColDef={"sortable": True, "resizable": True, "filter": True, "flex": 1},
                   dashGridOptions={"suppressCellFocus": True, "domLayout": "autoHeight"},
                   getRowId="params.data.id", style={"width": "100%"}),
        html.Div("Remove an entry by its # below." if removable else "", className="form-text")])


def layout(**_query: str) -> html.Div:
    services = get_services()
    editable = access.can(access.EDITORS)
    with services.sessions() as session:
        recent = service.recent(session)
        campaigns = [{"label": "global (every campaign)", "value": "global"}] + [
            {"label": c.name, "value": str(c.id)} for c in session.query(Campaign).order_by(Campaign.name)]
    edit = html.Div([
        dbc.Card([dbc.CardHeader("Add a number"), dbc.CardBody(dbc.Row([
            dbc.Col(dbc.Input(id="dnc-add-number", placeholder="number", maxLength=40), md=3),
            dbc.Col(dbc.Select(id="dnc-add-scope", options=campaigns, value="global"), md=3),
            dbc.Col(dbc.Input(id="dnc-add-reason", placeholder="reason", maxLength=500), md=4),
            dbc.Col(dbc.Button("Add", id="dnc-add", color="danger"), md=2),
        ], className="g-2"))], className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("Remove an entry"), dbc.CardBody(dbc.Row([
            dbc.Col(dbc.Input(id="dnc-remove-id", placeholder="entry #", type="number", min=1), md=3),
            dbc.Col(dbc.Input(id="dnc-remove-reason", placeholder="reason (required)", maxLength=500), md=7),
            dbc.Col(dbc.Button("Remove", id="dnc-remove", color="secondary"), md=2),
        ], className="g-2"))], className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("Bulk import (CSV/XLSX: a 'phone' column, or numbers in the first column)"),
                  dbc.CardBody([
                      dbc.Row([dbc.Col(dbc.Select(id="dnc-bulk-scope", options=campaigns, value="global"), md=4),
                               dbc.Col(dbc.Input(id="dnc-bulk-reason", placeholder="reason", maxLength=500), md=8)],
                              className="g-2 mb-2"),
                      dcc.Upload(id="dnc-bulk-upload", children=html.Div(["Drop a file here or ", html.A("choose one")]),
                                 className="pyd-upload border border-2 rounded p-3 text-center", max_size=6 * 1024 * 1024),
                      html.Div(id="dnc-bulk-result", className="mt-2"),
                  ])], className="mb-3 shadow-sm"),
        html.Div(["The whole DNC list: ", html.A("CSV", href="/api/admin/dnc/export.csv", id="dnc-export"), " · ",
                  html.A("XLSX", href=export_href("dnc", "xlsx"), id="dnc-export-xlsx")], className="small"),
    ]) if editable else html.Div()
    return html.Div([
        html.H1("Do not call", className="h3 mb-3"),
        dbc.Card(dbc.CardBody(dbc.Row([
            dbc.Col(dbc.Input(id="dnc-search-number", placeholder="search a number, e.g. (312) 555-0100",
                              type="search", debounce=True, maxLength=40), md=6),
            dbc.Col(html.Div(id="dnc-search-note", className="small"), md=6),
        ])), className="mb-3 shadow-sm"),
        html.Div(id="dnc-message"),
        dbc.Card([dbc.CardHeader("Entries"), dbc.CardBody(html.Div(entries_table(recent, removable=editable),
                                                                  id="dnc-results"), className="p-2")],
                 className="mb-3 shadow-sm"),
        edit,
    ], id="dnc-root")


def do_search(number: str | None) -> tuple[Any, Any]:
    if not number:
        raise PreventUpdate
    access.require(access.VIEWERS)
    with get_services().sessions() as session:
        try:
            phone, rows = service.search(session, number)
        except ValueError as exc:
            return html.Span(str(exc), className="text-danger"), dash.no_update
    note = f"{phone}: {'on DNC' if rows else 'not on any DNC list'}"
    return html.Span(note, id="dnc-search-verdict"), entries_table(rows, removable=access.can(access.EDITORS),
                                                                   number=number)


def _scope(value: Any) -> int | None:
    return None if value in (None, "", "global") else int(value)


def change(_add: Any, _remove: Any, number: Any, scope: Any, reason: Any, entry_id: Any, remove_reason: Any) -> tuple[Any, Any]:
    trigger = access.clicked()
    access.require(access.EDITORS)
    services = get_services()
    try:
        with services.sessions() as session, session.begin():
            actor = access.actor(session)
            if trigger == "dnc-add":
                phone, created = service.add(session, number or "", _scope(scope), reason or "", actor=actor,
                                             ip=access.client_ip())
                msg = dbc.Alert(f"{phone} added." if created else f"{phone} was already on that list.",
                                color="success" if created else "info", className="py-1", id="dnc-added")
            else:
                if not entry_id:
                    raise ValueError("enter the # of the entry to remove")
                phone = service.remove(session, int(entry_id), remove_reason or "", actor=actor, ip=access.client_ip())
                msg = dbc.Alert(f"{phone} removed from DNC.", color="success", className="py-1", id="dnc-removed")
    except (ValueError, LookupError) as exc:
        return dbc.Alert(str(exc), color="danger", className="py-1", id="dnc-error"), dash.no_update
    with services.sessions() as session:
        rows = service.recent(session)
    return msg, entries_table(rows, removable=True)


def bulk(contents: str | None, filename: str | None, scope: Any, reason: Any) -> Any:
    if not contents:
        raise PreventUpdate
    access.require(access.EDITORS)
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=True)
        with get_services().sessions() as session, session.begin():
            result = service.bulk_import(session, data, filename or "", _scope(scope), reason or "",
                                         actor=access.actor(session), ip=access.client_ip())
    except (IndexError, binascii.Error):
        return dbc.Alert("The upload could not be read.", color="danger")
    except ValidationError as exc:
        return dbc.Alert(f"{filename}: {exc.message}", color="danger")
    parts: list[Any] = [html.Div(f"{result.added:,} added, {result.already:,} already listed, "
                                 f"{len(result.bad):,} bad rows.", id="dnc-bulk-summary")]
    if result.bad:
        parts.append(dbc.Table([html.Thead(html.Tr([html.Th("Row"), html.Th("Value"), html.Th("Problem")])),
                                html.Tbody([html.Tr([html.Td(r), html.Td(v), html.Td(p)]) for r, v, p in result.bad[:200]])],
                               size="sm", className="small w-auto", id="dnc-bulk-bad"))
    return html.Div(parts)


def register(dash_app: dash.Dash) -> None:
    dash_app.callback(Output("dnc-search-note", "children"), Output("dnc-results", "children"),
                      Input("dnc-search-number", "value"), prevent_initial_call=True)(do_search)
    dash_app.callback(Output("dnc-message", "children"), Output("dnc-results", "children", allow_duplicate=True),
                      Input("dnc-add", "n_clicks"), Input("dnc-remove", "n_clicks"),
                      State("dnc-add-number", "value"), State("dnc-add-scope", "value"), State("dnc-add-reason", "value"),
                      State("dnc-remove-id", "value"), State("dnc-remove-reason", "value"),
                      prevent_initial_call=True)(change)
    dash_app.callback(Output("dnc-bulk-result", "children"), Input("dnc-bulk-upload", "contents"),
                      State("dnc-bulk-upload", "filename"), State("dnc-bulk-scope", "value"),
                      State("dnc-bulk-reason", "value"), prevent_initial_call=True)(bulk)


register_page(
    __name__,
    name="dnc",
    path="/dnc",
    title="DNC",
    roles=access.VIEWERS,
    layout=layout,
    callbacks=register,
    order=42,
    description="Search, add and remove do-not-call numbers; bulk import.",
)
