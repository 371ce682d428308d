"""Rendering of the live overview: :class:`app.live.LiveSnapshot` in, Dash components out.

Pure functions (no request, no I/O), so they are unit-tested with hand-built snapshots. Missing
data is shown as missing ("—" and the reason), never as a zero.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from app.health import Probe
from app.live import KNOWN_STATES, LiveSnapshot, seconds_in_state

MAX_TABLE_ROWS = 200
DASH = "—"
STATE_LABELS = {"ready": "Ready", "reserved": "Connecting", "incall": "In call", "dead": "Dead call",
                "wrap": "Wrap-up", "paused": "Paused"}
ENGINE_LABELS = {"postgres": "PostgreSQL", "redis": "Redis", "clickhouse": "ClickHouse"}


def fmt_int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_duration(seconds: int | None) -> str:
    if seconds is None:
        return DASH
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state.replace("_", " ").capitalize())


def state_color(state: str) -> str:
    return KNOWN_STATES.get(state, "dark")


def kpi_card(label: str, value: str, note: str, accent: str, card_id: str) -> dbc.Col:
    return dbc.Col(
        html.Div(
            [
                html.Div(label, className="pyd-kpi-label"),
                html.Div(value, className="pyd-kpi-value", id=f"{card_id}-value"),
                html.Div(note, className="pyd-kpi-note"),
            ],
            className=f"pyd-kpi pyd-accent-{accent}",
            id=card_id,
        ),
        xs=6,
        md=4,
        xl=True,
    )


def agent_kpis(snap: LiveSnapshot) -> list[dbc.Col]:
    if snap.agents is None:
        note = "live state unavailable (Redis)"
        counts: dict[str, int | None] = dict.fromkeys(("total", "ready", "incall", "wrap", "paused"))
    else:
        note = "from live state"
        states = dict(snap.states)
        counts = {"total": len(snap.agents), **{s: states.get(s, 0) for s in ("ready", "incall", "wrap", "paused")}}
    return [
        kpi_card("Agents signed in", fmt_int(counts["total"]), note, "dark", "live-kpi-agents"),
        kpi_card("Ready", fmt_int(counts["ready"]), "waiting for a call", "success", "live-kpi-ready"),
        kpi_card("In call", fmt_int(counts["incall"]), "talking", "primary", "live-kpi-incall"),
        kpi_card("Wrap-up", fmt_int(counts["wrap"]), "after-call work", "info", "live-kpi-wrapup"),
        kpi_card("Paused", fmt_int(counts["paused"]), "not taking calls", "warning", "live-kpi-paused"),
    ]


def db_kpis(snap: LiveSnapshot) -> list[dbc.Col]:
    c = snap.counts
    if c is None:
        na = "unavailable (PostgreSQL)"
        return [
            kpi_card(label, DASH, na, "secondary", f"live-kpi-{key}")
            for label, key in (("Campaigns", "campaigns"), ("Leads", "leads"), ("Dialable now", "dialable"), ("DNC numbers", "dnc"))
        ]
    return [
        kpi_card("Campaigns", f"{c.active_campaigns:,} / {c.campaigns:,}", "active / total", "secondary", "live-kpi-campaigns"),
        kpi_card("Leads", fmt_int(c.leads), "in all lists", "secondary", "live-kpi-leads"),
        kpi_card("Dialable now", fmt_int(c.dialable_leads), "due, under attempt cap, not DNC", "secondary", "live-kpi-dialable"),
        kpi_card("DNC numbers", fmt_int(c.dnc_numbers), "global + campaign, unexpired", "secondary", "live-kpi-dnc"),
    ]


def state_bar(snap: LiveSnapshot) -> html.Div:
    if snap.agents is None:
        return html.Div("Agent states cannot be read: Redis is unavailable.", className="text-danger small")
    total = len(snap.agents)
    if total == 0:
        return html.Div("No agents are signed in right now.", className="text-body-secondary", id="live-no-agents")
    states = snap.states
    bars = [
        dbc.Progress(value=100 * n / total, color=state_color(s), bar=True, label=str(n) if n / total > 0.06 else "")
        for s, n in states
    ]
    legend = [
        html.Span(
            [html.Span(className=f"pyd-dot bg-{state_color(s)}"), f"{state_label(s)} {n}"],
            className="me-3 small text-nowrap",
        )
        for s, n in states
    ]
    return html.Div([dbc.Progress(bars, className="pyd-state-bar mb-2"), html.Div(legend)])


def agents_table(snap: LiveSnapshot) -> html.Div:
    if snap.agents is None:
        return html.Div(DASH, className="text-body-secondary")
    if not snap.agents:
        return html.Div("Nobody is signed in to the agent screen.", className="text-body-secondary")
    order = {s: i for i, s in enumerate(KNOWN_STATES)}
    rows = sorted(
        snap.agents,
        key=lambda a: (order.get(a.state, len(order)), -(seconds_in_state(a, snap.now) or 0), a.agent_id),
    )
    body = []
    for agent in rows[:MAX_TABLE_ROWS]:
        name = snap.names.agents.get(agent.agent_id, f"agent #{agent.agent_id}")
        campaign = (
            snap.names.campaigns.get(agent.campaign_id, f"#{agent.campaign_id}") if agent.campaign_id is not None else DASH
        )
        body.append(
            html.Tr(
                [
                    html.Td(name),
                    html.Td(dbc.Badge(state_label(agent.state), color=state_color(agent.state), className="pyd-badge")),
                    html.Td(campaign),
                    html.Td(fmt_duration(seconds_in_state(agent, snap.now)), className="text-end font-monospace"),
                ]
            )
        )
    head = html.Thead(html.Tr([html.Th("Agent"), html.Th("State"), html.Th("Campaign"), html.Th("In state", className="text-end")]))
    extra = []
    if len(rows) > MAX_TABLE_ROWS:
        extra.append(html.Div(f"… and {len(rows) - MAX_TABLE_ROWS} more", className="small text-body-secondary"))
    return html.Div([dbc.Table([head, html.Tbody(body)], hover=True, size="sm", className="mb-0 align-middle"), *extra])


def health_badges(probes: list[Probe]) -> list[html.Span]:
    out = []
    for probe in probes:
        label = ENGINE_LABELS.get(probe.name, probe.name)
        if probe.ok is None:
            cls, text, title = "pyd-health-off", f"{label}: not configured", probe.detail
        elif probe.ok:
            cls, text, title = "pyd-health-ok", f"{label}", f"{probe.latency_ms} ms"
        else:
            cls, text, title = "pyd-health-down", f"{label}: down", probe.detail
        out.append(html.Span(text, className=f"pyd-health {cls}", title=title, id=f"live-health-{probe.name}"))
    return out


def updated_text(snap: LiveSnapshot) -> str:
    return f"Updated {snap.now:%H:%M:%S} UTC"
