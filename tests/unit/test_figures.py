"""app.figures: known DataFrames (shaped like analytics.kpis returns them) in, Plotly figures out."""

from __future__ import annotations

import math

import pandas as pd

from app import figures


def _annotation(fig) -> str:
    return fig.layout.annotations[0].text if fig.layout.annotations else ""


def test_funnel_stages_counts_and_drill_keys():
    frame = pd.DataFrame({"stage": ["dials", "answers", "contacts", "connected", "sales"],
                          "count": [1000, 400, 300, 250, 20],
                          "rate_of_previous": [1.0, 0.4, 0.75, 0.83, 0.08], "rate_of_dials": [1, .4, .3, .25, .02]})
    fig = figures.funnel_figure(frame)
    (trace,) = fig.data
    assert list(trace.y) == ["Dials", "Answers", "Humans", "Connected", "Sales"]
    assert list(trace.x) == [1000, 400, 300, 250, 20]
    assert list(trace.customdata) == ["dials", "answers", "contacts", "connected", "sales"]


def test_funnel_without_dials_says_no_data():
    frame = pd.DataFrame({"stage": ["dials", "sales"], "count": [0, 0], "rate_of_previous": [math.nan] * 2,
                          "rate_of_dials": [math.nan] * 2})
    assert _annotation(figures.funnel_figure(frame)) == "No data for this filter"


def test_heatmap_grid_is_weekday_by_hour_in_percent_with_gaps():
    frame = pd.DataFrame({"weekday": [0, 0, 6], "hour": [9, 10, 20], "dials": [100, 50, 10],
                          "contacts": [25, 5, 1], "contact_rate": [0.25, 0.1, 0.1]})
    (trace,) = figures.heatmap_figure(frame).data
    assert list(trace.y) == list(figures.WEEKDAYS)
    assert list(trace.x) == [f"{h:02d}:00" for h in range(9, 21)]
    assert trace.z[0][0] == 25.0 and trace.z[0][1] == 10.0 and trace.z[6][11] == 10.0
    assert trace.z[3][0] is None  # Thursday 09:00 had no dials: a gap, not 0%
    assert trace.customdata[0][0] == 100 and trace.customdata[3][0] == 0


def test_dispositions_stacked_biggest_first():
    frame = pd.DataFrame({"bucket": pd.to_datetime(["2026-11-01", "2026-11-01", "2026-11-02"]),
                          "disposition_code": ["NA", "SALE", "NA"], "calls": [30, 4, 20]})
    fig = figures.dispositions_figure(frame)
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["NA", "SALE"]
    assert list(fig.data[0].y) == [30, 20] and list(fig.data[1].y) == [4]


def test_abandon_trend_one_rolling_line_and_target_per_campaign():
    days = pd.date_range("2026-11-01", periods=3)
    frame = pd.DataFrame({"day": list(days) * 2, "campaign_id": [1] * 3 + [2] * 3,
                          "contacts": [100, 200, 0, 50, 50, 50], "abandoned": [2, 8, 0, 0, 1, 0],
                          "rate": [0.02, 0.04, math.nan, 0.0, 0.02, 0.0],
                          "rolling_30d": [0.02, 10 / 300, 10 / 300, 0.0, 0.01, 1 / 150],
                          "target": [0.01] * 3 + [0.03] * 3}).sort_values(["day", "campaign_id"])
    fig = figures.abandon_figure(frame, {1: "Solar"})
    daily, rolling1, target1, rolling2, target2 = fig.data
    assert list(daily.y[:2]) == [2 / 150, 9 / 250]  # the selection's daily rate: summed, then divided
    assert daily.customdata[1] == [250, 9]
    assert rolling1.name == "Solar 30-day" and list(rolling1.y) == [0.02, 10 / 300, 10 / 300]
    assert target1.name == "Solar target 1.0%" and list(target1.y) == [0.01] * 3
    assert target1.line.color == rolling1.line.color != rolling2.line.color
    assert rolling2.name == "campaign 2 30-day" and list(target2.y) == [0.03] * 3


def test_abandon_trend_draws_only_the_worst_campaigns():
    days = pd.date_range("2026-11-01", periods=2)
    n = figures.ABANDON_MAX_LINES + 2
    frame = pd.DataFrame({"day": list(days) * n, "campaign_id": [c for c in range(1, n + 1) for _ in days],
                          "contacts": 100, "abandoned": 1, "rate": 0.01,
                          "rolling_30d": [c / 1000 for c in range(1, n + 1) for _ in days], "target": 0.005})
    fig = figures.abandon_figure(frame)
    drawn = [t.name for t in fig.data if t.name.endswith("30-day")]
    assert drawn == [f"campaign {c} 30-day" for c in range(n, n - figures.ABANDON_MAX_LINES, -1)]
    assert "2 more campaign(s)" in fig.layout.annotations[0].text


def test_penetration_one_series_per_list():
    frame = pd.DataFrame({"list_id": [101, 101, 102], "attempt_no": [1, 2, 1], "dials": [80, 20, 50],
                          "share_of_dials": [0.8, 0.2, 1.0], "contacts": [20, 3, 10],
                          "contact_rate": [0.25, 0.15, 0.2], "sales": [2, 0, 1]})
    fig = figures.penetration_figure(frame)
    assert [t.name for t in fig.data] == ["list 101", "list 102"]
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [80, 20]


def test_pacing_abandons_on_second_axis():
    frame = pd.DataFrame({"minute": pd.date_range("2026-11-01 10:00", periods=2, freq="min"), "decisions": [60, 60],
                          "avg_dial_level": [2.5, 3.0], "max_dial_level": [3.0, 3.5], "avg_agents_idle": [1.0, 0.5],
                          "avg_agents_logged_in": [10, 10], "calls_placed": [5, 6],
                          "max_est_abandon_rate": [0.01, 0.02], "guard_active": [0, 1], "dials": [5, 6],
                          "abandoned": [0, 1]})
    fig = figures.pacing_figure(frame)
    assert [t.name for t in fig.data] == ["dial level", "idle agents", "abandons"]
    assert fig.data[2].yaxis == "y2" and list(fig.data[2].y) == [0, 1]


def test_sentiment_empty_says_no_utterances_yet():
    empty = pd.DataFrame(columns=["bucket", "speaker", "utterances", "avg_sentiment", "share_negative"])
    assert _annotation(figures.sentiment_figure(empty)) == "No utterances yet"
    frame = pd.DataFrame({"bucket": pd.to_datetime(["2026-11-01 10:00"] * 2), "speaker": ["agent", "lead"],
                          "utterances": [10, 8], "avg_sentiment": [0.3, -0.1], "share_negative": [0.0, 0.25]})
    fig = figures.sentiment_figure(frame)
    assert [t.name for t in fig.data] == ["agent", "lead"] and list(fig.data[1].y) == [-0.1]


def test_every_chart_handles_an_empty_frame():
    for fn in (figures.heatmap_figure, figures.dispositions_figure, figures.abandon_figure,
               figures.penetration_figure, figures.pacing_figure):
        fig = fn(pd.DataFrame())
        assert not fig.data and _annotation(fig)


def test_summary_cards_format():
    frame = pd.DataFrame([{"dials": 12345, "contacts": 3000, "contact_rate": 3000 / 12345, "conversions": 90,
                           "conversion_rate": 0.03, "aht_s": 125.4, "abandon_rate": math.nan, "talk_hours": 51.25}])
    cards = dict(figures.summary_cards(frame))
    assert cards["Dials"] == "12,345" and cards["Contact rate"] == "24.3%" and cards["AHT"] == "2:05"
    assert cards["Abandon rate"] == "—" and cards["Talk hours"] == "51.2"
    assert figures.summary_cards(pd.DataFrame()) == []


def test_pacing_over_a_long_range_is_drawn_in_15_minute_buckets_with_gaps():
    minutes = list(pd.date_range("2026-11-01 09:00", periods=60, freq="min")) + \
        list(pd.date_range("2026-11-02 09:00", periods=30, freq="min"))
    frame = pd.DataFrame({"minute": minutes, "decisions": 60, "avg_dial_level": 2.0, "max_dial_level": 3.0,
                          "avg_agents_idle": 1.0, "avg_agents_logged_in": 10, "calls_placed": 5,
                          "max_est_abandon_rate": 0.01, "guard_active": 0, "dials": 5, "abandoned": 1})
    level, idle, abandons = figures.pacing_figure(frame).data
    assert sum(abandons.y) == 90  # nothing lost in the buckets
    assert level.y[0] == 2.0 and any(v is None or v != v for v in level.y)  # the night is a gap
    assert len(level.x) == 24 * 4 + 2
