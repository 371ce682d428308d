"""``/campaigns``: campaign settings (admins, managers) and the campaign status list (supervisors).

Every write validates the whole form first and saves nothing when one field is wrong; each field
shows its own message. The what-if panel runs :mod:`dialer.simulate` before the live setting moves.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app.admin import access, codes, whatif
from app.admin import campaigns as service
from app.admin.campaign_form import DEFAULT_FORM, campaign_to_form
from app.admin.export_links import export_links
from app.pages import register_page
from app.pages.campaigns_form import PAGE, editor, status_table
from app.services import get_services
from core.models import Campaign

logger = logging.getLogger(__name__)
NEW = "new"


def _options(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"label": f"{r['name']}{'' if r['active'] else ' (stopped)'}", "value": r["id"]} for r in rows] + [
        {"label": "+ New campaign", "value": NEW}]


def layout(**_query: str) -> html.Div:
    services = get_services()
    with services.sessions() as session:
        rows = service.campaign_rows(session)
    editable = access.can(access.EDITORS)
    return html.Div([
        html.Div([html.H1("Campaigns", className="h3 mb-0"),
                  html.Span("read-only" if not editable else "", className="badge text-bg-secondary ms-2"),
                  html.A("Audit log", href="/audit", className="ms-auto small") if access.can(access.ADMINS) else None],
                 className="d-flex align-items-center mb-3"),
        dbc.Card([dbc.CardHeader(html.Div(["Status", export_links("campaigns", "campaigns-export") if editable else None],
                                          className="d-flex align-items-center")),
                  dbc.CardBody(html.Div(status_table(rows), id="campaigns-table"),
                                                         className="p-2")], className="mb-3 shadow-sm"),
        editor(_options(rows)) if editable else html.Div(),
    ], id="campaigns-root")


def load(selected: Any) -> list[Any]:
    if selected is None:
        raise PreventUpdate
    access.require(access.EDITORS)
    services = get_services()
    form = dict(DEFAULT_FORM)
    if selected != NEW:
        with services.sessions() as session:
            campaign = session.get(Campaign, int(selected))
            if campaign is None:
                raise PreventUpdate
            form = campaign_to_form(campaign)
            form["dispositions"], form["pause_codes"] = service.codes_text(session, campaign.id)
    return [form.get(o["id"]["field"]) for o in dash.ctx.outputs_list]


def act(_save: Any, _start: Any, _stop: Any, values: list[Any], selected: Any) -> tuple[Any, ...]:
    trigger = access.clicked()
    if selected is None:
        raise PreventUpdate
    access.require(access.EDITORS)
    services = get_services()
    fields = [s["id"]["field"] for s in dash.ctx.states_list[0]]
    raw = dict(zip(fields, values, strict=False))
    feedback_ids = [o["id"]["fb"] for o in dash.ctx.outputs_list[0]]
    errors: dict[str, str] = {}
    new_selected: Any = selected
    with services.sessions() as session, session.begin():
        actor = access.actor(session)
        if trigger == "campaigns-save":
            result = service.save_campaign(session, None if selected == NEW else int(selected), raw, actor=actor,
                                           ip=access.client_ip())
            errors = result.errors
            if result.ok:
                new_selected = result.campaign_id
                alert = dbc.Alert("Saved.", color="success", duration=4000, id="campaigns-alert-ok")
            else:  # save_campaign wrote nothing: validation runs before any change
                alert = dbc.Alert(f"Nothing was saved: {len(errors)} field(s) need attention.", color="danger",
                                  id="campaigns-alert-error")
        elif selected == NEW:
            alert = dbc.Alert("Save the new campaign first.", color="warning")
        else:
            active = trigger == "campaigns-start"
            service.set_active(session, int(selected), active, actor=actor, ip=access.client_ip())
            alert = dbc.Alert("Campaign started." if active else "Campaign stopped.", color="info", duration=4000)
    with services.sessions() as session:
        rows = service.campaign_rows(session)
    # Re-selecting the same campaign would reload the form and wipe what the user typed (and the
    # values the messages refer to): only a newly created campaign moves the selection.
    moved = new_selected != selected
    return ([errors.get(f, "") for f in feedback_ids], alert, _options(rows) if moved or not errors else dash.no_update,
            new_selected if moved else dash.no_update, status_table(rows))


def preview(template: str | None, selected: Any) -> Any:
    if selected is None or selected == NEW:
        return html.Span("Choose a saved campaign to preview with one of its leads.", className="text-body-secondary")
    access.require(access.EDITORS)
    with get_services().sessions() as session:
        lead = service.sample_lead(session, int(selected))
        fields = codes.lead_fields(lead) if lead is not None else {}
    result = codes.render_script(template or "", fields)
    notes = []
    if lead is None:
        notes.append(dbc.Alert("This campaign has no leads yet: every field shows as missing.", color="warning",
                               className="py-1 small"))
    if result.missing:
        notes.append(html.Div([html.Strong("Missing for this lead: "), ", ".join(result.missing)],
                              className="text-danger small mb-1", id="campaigns-script-missing"))
    return html.Div(notes + [html.Pre(result.text, className="mb-0 pyd-script-text")])


def run_whatif(n_clicks: Any, selected: Any, target_pct: Any, drop_after: Any, timeout: Any) -> tuple[Any, Any]:
    if not n_clicks or selected is None:
        raise PreventUpdate
    access.require(access.EDITORS)
    if selected == NEW:
        return dbc.Alert("Save the campaign first.", color="warning"), None
    services = get_services()
    try:
        target = float(target_pct) / 100.0
        drop_s, timeout_s = float(drop_after), float(timeout)
        if not (0 <= target <= 1 and 0 <= drop_s <= 60 and 15 <= timeout_s <= 120):
            raise ValueError
    except (TypeError, ValueError):
        return dbc.Alert("Fix the target abandon rate, drop and ring timeout fields first.", color="warning"), None
    with services.sessions() as session:
        campaign = session.get(Campaign, int(selected))
        wrap = float(campaign.wrap_up_s) if campaign is not None else 10.0
        stats = whatif.observed_stats(session.connection(), int(selected), now=services.clock.now(), wrap_s=wrap)
    scenario = whatif.scenario_for(stats, target_abandon_rate=target, drop_after_s=drop_s, dial_timeout_s=timeout_s)
    rows = whatif.run_whatif(scenario)
    color = "secondary" if stats.source == "history" else "warning"
    note = dbc.Alert(stats.describe(), color=color, className="py-1 small", id="campaigns-whatif-source")
    graph = dcc.Graph(id="campaigns-whatif-graph", figure=whatif.whatif_figure(rows, target),
                      config={"displayModeBar": False})
    return note, graph


def register(dash_app: dash.Dash) -> None:
    field_ids = {"page": PAGE, "field": ALL}
    dash_app.callback(Output(field_ids, "value"), Input("campaigns-select", "value"))(load)
    dash_app.callback(
        Output({"page": PAGE, "fb": ALL}, "children"),
        Output("campaigns-alert", "children"),
        Output("campaigns-select", "options"),
        Output("campaigns-select", "value"),
        Output("campaigns-table", "children"),
        Input("campaigns-save", "n_clicks"),
        Input("campaigns-start", "n_clicks"),
        Input("campaigns-stop", "n_clicks"),
        State(field_ids, "value"),
        State("campaigns-select", "value"),
        prevent_initial_call=True,
    )(act)
    dash_app.callback(
        Output("campaigns-script-preview", "children"),
        Input({"page": PAGE, "field": "script_template"}, "value"),
        Input("campaigns-select", "value"),
    )(preview)
    dash_app.callback(
        Output("campaigns-whatif-note", "children"),
        Output("campaigns-whatif-chart", "children"),
        Input("campaigns-whatif-run", "n_clicks"),
        State("campaigns-select", "value"),
        State({"page": PAGE, "field": "target_abandon_rate"}, "value"),
        State({"page": PAGE, "field": "drop_after_s"}, "value"),
        State({"page": PAGE, "field": "dial_timeout_s"}, "value"),
        prevent_initial_call=True,
    )(run_whatif)


register_page(
    __name__,
    name="campaigns",
    path="/campaigns",
    title="Campaigns",
    roles=access.VIEWERS,
    layout=layout,
    callbacks=register,
    order=40,
    description="Dial method, pacing, calling windows, recycling, dispositions, scripts and a what-if simulator.",
)
