"""The wallboard's static skeleton. ``assets/wallboard.js`` fills it from the pushed snapshot.

Elements that show a number carry ``data-key`` (a dotted path into the campaign summary of
:func:`dialer.wallboard.snapshot.summary`) and ``data-fmt`` (int, pct, secs, level, text), so
the JS stays generic: adding a tile is a layout change only.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

ROTATE_RANGE_S = (1.0, 600.0)


def rotate_seconds(text: str | None) -> float | None:
    """``?rotate=<seconds>`` for the TV rotation, clamped to :data:`ROTATE_RANGE_S`; garbage -> default."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    if value is None or value != value:  # NaN
        return None
    lo, hi = ROTATE_RANGE_S
    return min(hi, max(lo, value))


def data(**attrs: str) -> dict[str, Any]:
    """``data-*`` attributes (``data(key="x")`` -> ``{"data-key": "x"}``) for ``**`` into a component."""
    return {f"data-{name.replace('_', '-')}": value for name, value in attrs.items()}


def tile(label: str, key: str, fmt: str = "int", tone: str = "", sub: tuple[str, str, str] | None = None) -> html.Div:
    children: list = [
        html.Div(label, className="wb-tile-label"),
        html.Div("–", className="wb-tile-value", **data(key=key, fmt=fmt)),
    ]
    if sub is not None:
        sub_label, sub_key, sub_fmt = sub
        children.append(html.Div([html.Span(sub_label + " "),
                                  html.Span("–", **data(key=sub_key, fmt=sub_fmt))],
                                 className="wb-tile-sub"))
    return html.Div(children, className=f"wb-tile {tone}".strip())


def gauge(label: str, key: str) -> html.Div:
    """A CSS gauge: the bar's width is rate / (2 x target); the marker sits at the target."""
    return html.Div(
        [
            html.Div([html.Span(label, className="wb-gauge-label"),
                      html.Span("–", className="wb-gauge-value", **data(key=key, fmt="pct"))],
                     className="wb-gauge-head"),
            html.Div([html.Div(className="wb-gauge-fill"), html.Div(className="wb-gauge-target")],
                     className="wb-gauge-track"),
        ],
        className="wb-gauge", **data(gauge=key),
    )


def agent_table() -> html.Table:
    head = ["Agent", "State", "Time", "Campaign", "Calls", "Customer", "Monitor"]
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(id="wallboard-agents")],
        className="wb-agents",
    )


def build(campaign: str, tv: bool, endpoint: str, rotate_s: float | None = None) -> html.Div:
    """``rotate_s``: TV rotation period (``None``: the JS default, 15 s)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Div([html.Span("Wallboard", className="wb-title"),
                              html.Span("", id="wallboard-campaign-name", className="wb-campaign-name")]),
                    html.Div(id="wallboard-campaign-links", className="wb-links"),
                    html.Div(
                        [
                            html.Label("My phone", htmlFor="wallboard-endpoint", className="wb-endpoint-label"),
                            dcc.Input(id="wallboard-endpoint", value=endpoint, debounce=True, type="text",
                                      className="wb-endpoint", persistence=True, persistence_type="local"),
                        ],
                        className="wb-endpoint-box",
                    ),
                    html.Span("connecting…", id="wallboard-status", className="wb-status"),
                    html.Span("", id="wallboard-clock", className="wb-clock"),
                ],
                className="wb-header",
            ),
            html.Div("", id="wallboard-stale", className="wb-stale", hidden=True, role="alert"),
            html.Div(id="wallboard-alert-strip", className="wb-alert-strip"),
            html.Div(
                [
                    tile("Logged in", "agents.logged_in"),
                    tile("Ready", "agents.ready", tone="wb-ready"),
                    tile("In call", "agents.incall", tone="wb-incall"),
                    tile("Wrap", "agents.wrap", tone="wb-wrap"),
                    tile("Paused", "agents.paused", tone="wb-paused"),
                    tile("Dead", "agents.dead", tone="wb-dead"),
                    tile("Ringing", "calls.ringing"),
                    tile("Waiting", "calls.waiting", tone="wb-waiting", sub=("max", "calls.longest_wait_s", "secs")),
                    tile("Live calls", "calls.in_progress"),
                    tile("Dial level", "dial_level", fmt="level", sub=("", "dial_method", "text")),
                ],
                className="wb-tiles",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div([html.Span("Abandon rate "), html.Span("target "),
                                      html.Span("–", **data(key="abandon.target", fmt="pct"))],
                                     className="wb-section-title"),
                            gauge("Today", "abandon.today"),
                            gauge("Last hour", "abandon.hour"),
                            gauge("Rolling", "abandon.window"),
                        ],
                        className="wb-panel wb-abandon",
                    ),
                    html.Div(
                        [
                            tile("Calls today", "today.calls"),
                            tile("Human answers", "today.humans"),
                            tile("Contacts / hour", "today.contacts_per_hour"),
                            tile("Conversions", "today.conversions", tone="wb-ready"),
                            tile("AHT", "today.aht_s", fmt="secs"),
                            tile("Hopper", "hopper.depth", sub=("dialable", "hopper.dialable", "int")),
                        ],
                        className="wb-panel wb-tiles wb-today",
                    ),
                    html.Div(
                        [html.Div("Paused by code", className="wb-section-title"),
                         html.Ul(id="wallboard-paused-codes", className="wb-list"),
                         html.Div("Hopper: why not dialable", className="wb-section-title"),
                         html.Ul(id="wallboard-reasons", className="wb-list")],
                        className="wb-panel wb-side",
                    ),
                ],
                className="wb-row",
            ),
            html.Div(
                [
                    html.Div([html.Div("Agents", className="wb-section-title"), agent_table()],
                             className="wb-panel wb-grid"),
                    html.Div([html.Div("Alerts", className="wb-section-title"),
                              html.Ul(id="wallboard-alerts", className="wb-alerts")],
                             className="wb-panel wb-alerts-panel"),
                ],
                className="wb-row wb-bottom",
            ),
            dcc.Store(id="wallboard-monitor-request"),
            html.Div(id="wallboard-monitor-result", className="wb-monitor-result", role="status"),
        ],
        id="wallboard-root",
        className="wb-root" + (" wb-tv-root" if tv else ""),
        **data(campaign=campaign, tv="1" if tv else "0",
               rotate_ms=str(int(rotate_s * 1000)) if rotate_s else ""),
    )
