"""Layout pieces of ``/campaigns``: the edit form (pattern-matching ids, one per field) and tables."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.admin.campaign_form import CHOICES
from core.models import WEEKDAYS

PAGE = "campaigns"

# (field, label, kind, help)
GENERAL = [
    ("name", "Name", "text", ""),
    ("description", "Description", "text", ""),
    ("active", "Active (dialing allowed)", "check", ""),
    ("caller_id", "Caller ID", "text", "E.164, e.g. +13125550100"),
    ("dial_statuses", "Dial statuses", "text", "comma-separated, e.g. NEW, NA, B"),
    ("lead_order", "Lead order", "select", ""),
    ("hopper_level", "Hopper level", "number", "leads kept ready"),
    ("max_attempts", "Max attempts per lead", "number", ""),
    ("recording_policy", "Recording", "select", ""),
]
PACING = [
    ("dial_method", "Dial method", "select", ""),
    ("dial_level", "Dial level", "number", "lines per agent (ratio / adapt start)"),
    ("min_dial_level", "Min dial level", "number", ""),
    ("max_dial_level", "Max dial level", "number", "≤ 20"),
    ("dial_ratio", "Dial ratio", "number", "ratio method"),
    ("target_abandon_rate", "Target abandon rate (%)", "number", "FTC: ≤ 3 % over 30 days"),
    ("abandon_window", "Abandon window", "select", "ftc_30d = 16 CFR 310.4; ofcom_24h"),
    ("dial_timeout_s", "Ring timeout (s)", "number", "15-120 (16 CFR 310.4(b)(4)(i))"),
    ("wrap_up_s", "Wrap-up (s)", "number", ""),
]
DROPS = [
    ("drop_after_s", "Drop after (s)", "number", "2 s for TSR campaigns"),
    ("drop_action", "Drop action", "select", ""),
    ("safe_harbor_audio", "Safe-harbor audio", "text", "sound file played to dropped calls"),
    ("amd_enabled", "Answering-machine detection", "check", ""),
    ("amd_machine_action", "Machine action", "select", ""),
]


def fid(name: str) -> dict[str, str]:
    return {"page": PAGE, "field": name}


def fb(name: str) -> dict[str, str]:
    return {"page": PAGE, "fb": name}


def _widget(name: str, kind: str) -> Any:
    if kind == "select":
        return dbc.Select(id=fid(name), options=[{"label": c, "value": c} for c in CHOICES[name]])
    if kind == "check":
        return dbc.Checkbox(id=fid(name), value=False)
    if kind == "textarea":
        return dbc.Textarea(id=fid(name), rows=5, className="font-monospace small")
    return dbc.Input(id=fid(name), type="text", debounce=True)


def field(name: str, label: str, kind: str, help_text: str = "", width: int = 4) -> dbc.Col:
    parts: list[Any] = []
    if kind == "check":
        parts.append(html.Div([_widget(name, kind), dbc.Label(label, className="ms-2")], className="d-flex mt-4"))
    else:
        parts += [dbc.Label(label, className="small fw-semibold mb-1"), _widget(name, kind)]
    if help_text:
        parts.append(html.Div(help_text, className="form-text"))
    parts.append(html.Div(id=fb(name), className="text-danger small pyd-field-error"))
    return dbc.Col(parts, md=width, className="mb-2")


def section(title: str, rows: list[tuple[str, str, str, str]]) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(dbc.Row([field(*r) for r in rows]))], className="mb-3 shadow-sm")


def windows_section() -> dbc.Card:
    cols = []
    for day in WEEKDAYS:
        cols.append(dbc.Col([
            dbc.Label(day.title(), className="small fw-semibold mb-1"),
            dbc.Input(id=fid(f"win_{day}_start"), type="text", placeholder="08:00", debounce=True, className="mb-1"),
            dbc.Input(id=fid(f"win_{day}_end"), type="text", placeholder="21:00", debounce=True),
            html.Div(id=fb(f"win_{day}_start"), className="text-danger small pyd-field-error"),
            html.Div(id=fb(f"win_{day}_end"), className="text-danger small pyd-field-error"),
        ], md=True, className="mb-2"))
    return dbc.Card([dbc.CardHeader("Calling windows (lead's local time; both empty = no calls that day)"),
                     dbc.CardBody(dbc.Row(cols))], className="mb-3 shadow-sm")


def codes_section() -> dbc.Card:
    return dbc.Card([dbc.CardHeader("Recycling, dispositions and pause codes"), dbc.CardBody(dbc.Row([
        field("recycle_rules", "Recycle rules", "textarea", "STATUS DELAY_MINUTES MAX_ATTEMPTS, e.g. NA 60 3"),
        field("dispositions", "Dispositions", "textarea", "CODE | Name | human sale dnc callback system"),
        field("pause_codes", "Pause codes", "textarea", "CODE | Name | billable | max minutes"),
    ]))], className="mb-3 shadow-sm")


def script_section() -> dbc.Card:
    return dbc.Card([dbc.CardHeader("Agent script"), dbc.CardBody(dbc.Row([
        dbc.Col([dbc.Label("Template ({first_name}, {last_name}, {state}, custom fields ...)", className="small"),
                 dbc.Textarea(id=fid("script_template"), rows=8, debounce=True),
                 html.Div(id=fb("script_template"), className="text-danger small pyd-field-error")], md=6),
        dbc.Col([dbc.Label("Preview against a lead of this campaign", className="small"),
                 html.Div(id="campaigns-script-preview", className="pyd-script-preview border rounded p-2 small")], md=6),
    ]))], className="mb-3 shadow-sm")


def status_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return html.Div("No campaigns yet.", className="text-body-secondary p-2")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Campaign", "Status", "Dial method", "Target abandon", "Leads")]))
    body = html.Tbody([html.Tr([
        html.Td(r["name"]),
        html.Td(dbc.Badge("active" if r["active"] else "stopped", color="success" if r["active"] else "secondary")),
        html.Td(r["dial_method"]), html.Td(f"{r['target_abandon_rate']:.1%}"), html.Td(f"{r['leads']:,}"),
    ]) for r in rows])
    return dbc.Table([head, body], hover=True, size="sm", className="mb-0 align-middle", id="campaigns-table-inner")


def editor(options: list[dict[str, Any]]) -> html.Div:
    return html.Div([
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="campaigns-select", options=options, placeholder="Choose a campaign to edit",
                                 clearable=False), md=5),
            dbc.Col([dbc.Button("Save", id="campaigns-save", color="primary", className="me-2"),
                     dbc.Button("Start", id="campaigns-start", color="success", outline=True, className="me-2"),
                     dbc.Button("Stop", id="campaigns-stop", color="danger", outline=True)], md=7),
        ], className="g-2 mb-2 align-items-center"),
        html.Div(id="campaigns-alert"),
        section("General", GENERAL),
        section("Pacing", PACING),
        section("Drops and answering machines", DROPS),
        windows_section(),
        codes_section(),
        script_section(),
        dbc.Card([dbc.CardHeader("What-if: predicted utilisation and abandonment per dial method"), dbc.CardBody([
            html.P("Runs the pacing simulator (one virtual hour) on this campaign's recent call statistics, "
                   "with the target abandon rate entered above. Nothing live changes.", className="small mb-2"),
            dbc.Button("Run what-if", id="campaigns-whatif-run", color="secondary", className="mb-2"),
            dcc.Loading(html.Div([html.Div(id="campaigns-whatif-note", className="small mb-2"),
                                  html.Div(id="campaigns-whatif-chart")]), type="circle"),
        ])], className="mb-3 shadow-sm"),
    ], id="campaigns-editor")
