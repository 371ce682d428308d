"""DataFrame -> Plotly Figure for the analytics pages. No Dash here: unit-tested with plain frames.

Each function takes the DataFrame an ``analytics.kpis`` function returns (same column names) and
returns a :class:`plotly.graph_objects.Figure`; an empty frame gives an empty figure that says so.
Figures carry ``customdata`` where a click should drill down (heatmap cell -> weekday/hour, funnel
stage, dispositions bar -> day), read back by the page's clickData callbacks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

logger = logging.getLogger(__name__)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
STAGE_LABELS = {"dials": "Dials", "answers": "Answers", "contacts": "Humans", "connected": "Connected",
                "sales": "Sales"}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 48, "r": 16, "t": 36, "b": 40}, "height": 320,
           "font": {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12}}
PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569",
           "#ea580c", "#0d9488", "#9333ea")


def _base(title: str, **extra: object) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 14}}, **{**_LAYOUT, **extra})
    return fig


def empty_figure(title: str, message: str = "No data for this filter") -> go.Figure:
    fig = _base(title)
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False},
                      annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper",
                                    "x": 0.5, "y": 0.5, "font": {"size": 14, "color": "#6b7280"}}])
    return fig


def funnel_figure(frame: pd.DataFrame) -> go.Figure:
    """Dials -> answers -> humans -> connected -> sales (``kpis.funnel``)."""
    title = "Funnel"
    if frame.empty or int(frame["count"].iloc[0]) == 0:
        return empty_figure(title)
    labels = [STAGE_LABELS.get(s, s) for s in frame["stage"]]
    fig = _base(title)
    fig.add_trace(go.Funnel(
        y=labels, x=frame["count"].astype(int).tolist(), customdata=frame["stage"].tolist(),
        textinfo="value+percent initial", marker={"color": list(PALETTE[:len(labels)])},
    ))
    return fig


def heatmap_figure(frame: pd.DataFrame) -> go.Figure:
    """Contact rate by lead-local weekday x hour (``kpis.contact_heatmap``); missing cells are gaps."""
    title = "Contact rate by lead local time"
    if frame.empty:
        return empty_figure(title)
    hours = list(range(int(frame["hour"].min()), int(frame["hour"].max()) + 1))
    grid = frame.pivot_table(index="weekday", columns="hour", values="contact_rate", aggfunc="first")
    grid = grid.reindex(index=range(7), columns=hours)
    dials = frame.pivot_table(index="weekday", columns="hour", values="dials", aggfunc="sum")
    dials = dials.reindex(index=range(7), columns=hours).fillna(0)
    z = [[None if pd.isna(v) else round(float(v) * 100, 2) for v in row] for row in grid.to_numpy()]
    fig = _base(title)
    fig.add_trace(go.Heatmap(
        z=z, x=[f"{h:02d}:00" for h in hours], y=list(WEEKDAYS), colorscale="Blues", zmin=0,
        customdata=dials.astype(int).to_numpy().tolist(), colorbar={"title": "%", "thickness": 12},
        hovertemplate="%{y} %{x}<br>contact rate %{z:.1f}%<br>dials %{customdata}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    return fig


def dispositions_figure(frame: pd.DataFrame) -> go.Figure:
    """Stacked calls per bucket and disposition (``kpis.dispositions_over_time``)."""
    title = "Dispositions over time"
    if frame.empty:
        return empty_figure(title)
    totals = frame.groupby("disposition_code")["calls"].sum().sort_values(ascending=False)
    fig = _base(title, barmode="stack", legend={"orientation": "h", "y": -0.2})
    for i, code in enumerate(totals.index):
        rows = frame[frame["disposition_code"] == code]
        fig.add_trace(go.Bar(x=rows["bucket"], y=rows["calls"].astype(int), name=str(code),
                             marker_color=PALETTE[i % len(PALETTE)], customdata=[str(code)] * len(rows)))
    return fig


ABANDON_MAX_LINES = 5  # more campaigns than this: only the worst (closest to / over target) are drawn


def worst_campaigns(frame: pd.DataFrame, limit: int = ABANDON_MAX_LINES) -> list[int]:
    """Campaign ids ordered by their worst day's rolling rate minus target (most at risk first)."""
    margin = (frame["rolling_30d"] - frame["target"]).groupby(frame["campaign_id"]).max().fillna(-math.inf)
    return [int(c) for c in margin.sort_values(ascending=False, kind="stable").index[:limit]]


def abandon_figure(frame: pd.DataFrame, names: Mapping[int, str] | None = None) -> go.Figure:
    """Daily abandon rate of the selection (bars), and per campaign its 30-day rolling rate (line)
    against its own target (dashed, same colour) -- the FTC limit is per campaign
    (``kpis.abandon_trend``). With many campaigns only the :data:`ABANDON_MAX_LINES` worst are drawn."""
    title = "Abandon rate (FTC: abandons / live answers, 30-day rolling, per campaign)"
    if frame.empty:
        return empty_figure(title)
    names = names or {}
    fig = _base(title, yaxis={"tickformat": ".1%", "rangemode": "tozero"}, legend={"orientation": "h", "y": -0.2})
    daily = frame.groupby("day", as_index=False)[["contacts", "abandoned"]].sum()
    rate = (daily["abandoned"] / daily["contacts"].replace(0, math.nan)).astype(float)
    fig.add_trace(go.Bar(x=daily["day"], y=rate, name="daily (selection)", marker_color="#cbd5e1",
                         customdata=daily[["contacts", "abandoned"]].astype(int).to_numpy().tolist(),
                         hovertemplate="%{x|%Y-%m-%d}: %{y:.2%} (%{customdata[1]} of %{customdata[0]})<extra></extra>"))
    shown = worst_campaigns(frame)
    for i, campaign_id in enumerate(shown):
        rows = frame[frame["campaign_id"] == campaign_id]
        label = names.get(campaign_id, f"campaign {campaign_id}")
        color = PALETTE[i % len(PALETTE)]
        target = float(rows["target"].iloc[0])
        fig.add_trace(go.Scatter(x=rows["day"], y=rows["rolling_30d"], name=f"{label} 30-day", mode="lines+markers",
                                 line={"color": color, "width": 2}, customdata=[campaign_id] * len(rows),
                                 hovertemplate=f"{label}: %{{y:.2%}} (30-day)<extra></extra>"))
        fig.add_trace(go.Scatter(x=rows["day"], y=[target] * len(rows), name=f"{label} target {target:.1%}",
                                 mode="lines", line={"color": color, "dash": "dash", "width": 1},
                                 hovertemplate=f"{label} target {target:.1%}<extra></extra>"))
    hidden = frame["campaign_id"].nunique() - len(shown)
    if hidden > 0:
        fig.add_annotation(text=f"{hidden} more campaign(s) further below target not drawn", showarrow=False,
                           xref="paper", yref="paper", x=1, y=1.08, xanchor="right", font={"size": 11})
    return fig


def penetration_figure(frame: pd.DataFrame) -> go.Figure:
    """Dials per attempt number, one bar group per list (``kpis.list_penetration``)."""
    title = "List penetration by attempt"
    if frame.empty:
        return empty_figure(title)
    fig = _base(title, barmode="group", xaxis={"title": "attempt", "dtick": 1}, legend={"orientation": "h", "y": -0.25})
    for i, (list_id, rows) in enumerate(frame.groupby("list_id", sort=True)):
        fig.add_trace(go.Bar(x=rows["attempt_no"].astype(int), y=rows["dials"].astype(int), name=f"list {list_id}",
                             marker_color=PALETTE[i % len(PALETTE)],
                             # [list id, contact rate]: a click drills into that list's attempt
                             customdata=[[int(list_id), r] for r in rows["contact_rate"].fillna(0).round(4)],
                             hovertemplate="attempt %{x}: %{y} dials, contact rate %{customdata[1]:.1%}<extra></extra>"))
    return fig


PACING_FINE_HOURS = 12  # longer ranges are drawn in 15-minute buckets (one point per minute is noise)


def _span_hours(stamps: pd.Series) -> float:
    values = pd.to_datetime(stamps)
    return float((values.max() - values.min()).total_seconds() / 3600) if len(values) else 0.0


def _coarsen(frame: pd.DataFrame) -> pd.DataFrame:
    """15-minute means of levels/agents and sums of abandons; empty buckets stay NaN so the lines
    break over nights instead of joining the evening to the next morning."""
    out = (frame.assign(minute=pd.to_datetime(frame["minute"])).set_index("minute")
           .resample("15min").agg({"avg_dial_level": "mean", "avg_agents_idle": "mean", "abandoned": "sum"}))
    return out.reset_index()


def pacing_figure(frame: pd.DataFrame) -> go.Figure:
    """Dial level and idle agents (left axis) against abandons (right axis), per minute."""
    title = "Pacing: dial level vs idle agents vs abandons"
    if frame.empty:
        return empty_figure(title, "No dial decisions for this filter")
    frame = _coarsen(frame) if _span_hours(frame["minute"]) > PACING_FINE_HOURS else frame
    fig = _base(title, yaxis={"title": "level / agents", "rangemode": "tozero"},
                yaxis2={"title": "abandons", "overlaying": "y", "side": "right", "rangemode": "tozero",
                        "showgrid": False},
                legend={"orientation": "h", "y": -0.2})
    fig.add_trace(go.Scatter(x=frame["minute"], y=frame["avg_dial_level"], name="dial level", mode="lines",
                             line={"color": "#2563eb"}))
    fig.add_trace(go.Scatter(x=frame["minute"], y=frame["avg_agents_idle"], name="idle agents", mode="lines",
                             line={"color": "#16a34a"}))
    fig.add_trace(go.Bar(x=frame["minute"], y=frame["abandoned"], name="abandons", yaxis="y2",
                         marker_color="#dc2626", opacity=0.6))
    return fig


def sentiment_figure(frame: pd.DataFrame) -> go.Figure:
    """Average sentiment per bucket and speaker (``kpis.sentiment_over_time``)."""
    title = "Sentiment over time"
    if frame.empty:
        return empty_figure(title, "No utterances yet")
    fig = _base(title, yaxis={"range": [-1, 1], "title": "avg sentiment"}, legend={"orientation": "h", "y": -0.2})
    for i, (speaker, rows) in enumerate(frame.groupby("speaker", sort=True)):
        fig.add_trace(go.Scatter(x=rows["bucket"], y=rows["avg_sentiment"], name=str(speaker), mode="lines+markers",
                                 line={"color": PALETTE[i % len(PALETTE)]},
                                 customdata=rows["utterances"].astype(int).tolist(),
                                 hovertemplate="%{x}: %{y:.2f} (%{customdata} utterances)<extra></extra>"))
    return fig


def summary_cards(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``(label, formatted value)`` for the KPI cards from ``kpis.summary``."""
    if frame.empty:
        return []
    row = frame.iloc[0]

    def pct(value: object) -> str:
        v = float(value)  # type: ignore[arg-type]
        return "—" if math.isnan(v) else f"{v:.1%}"

    aht = float(row["aht_s"])
    return [
        ("Dials", f"{int(row['dials']):,}"),
        ("Contacts", f"{int(row['contacts']):,}"),
        ("Contact rate", pct(row["contact_rate"])),
        ("Conversions", f"{int(row['conversions']):,}"),
        ("Conversion rate", pct(row["conversion_rate"])),
        ("AHT", "—" if math.isnan(aht) else f"{int(aht // 60)}:{int(aht % 60):02d}"),
        ("Abandon rate", pct(row["abandon_rate"])),
        ("Talk hours", f"{float(row['talk_hours']):,.1f}"),
    ]
