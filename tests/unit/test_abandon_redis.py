"""The shared Redis abandon counters: a rolling 24 h (Ofcom) and 30 UTC days (FTC), on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.abandon import DAY_S, SLOT_S, AbandonFigures, RedisAbandonCounts


def test_ofcom_figure_is_a_rolling_24_hours_not_the_calendar_day(redis_client) -> None:
    counts = RedisAbandonCounts(redis_client)
    # 23:00 UTC: late in the day, so a calendar-day figure would drop these at midnight
    t0 = datetime(2026, 3, 2, 23, 0, tzinfo=UTC).timestamp()
    counts.record(7, t0, answers=100, abandons=2)
    counts.record(7, t0 + 1800, answers=50, abandons=1, amd_fp=0.5)
    counts.record(8, t0, answers=999)  # another campaign: never mixed in
    # 01:00 the next day: a new UTC day, but everything is still inside the last 24 h
    fig = counts.figures(7, t0 + 2 * 3600, days=1)
    assert (fig.answers, fig.abandons) == (150, 3)
    assert fig.amd_false_positives == pytest.approx(0.5)
    # while the 30-day figure (day buckets) of course keeps them as well
    assert counts.figures(7, t0 + 2 * 3600, days=30) == fig
    # 24 h 10 min + 1 s after the first batch it has left the window; the second has not
    fig = counts.rolling_24h(7, t0 + DAY_S + SLOT_S + 1)
    assert (fig.answers, fig.abandons) == (50, 1)
    # and 24 h 40 min after the second batch, nothing is left in the rolling 24 h
    assert counts.rolling_24h(7, t0 + 1800 + DAY_S + 4 * SLOT_S) == AbandonFigures(0, 0, 0.0)
    assert counts.figures(7, t0 + 1800 + DAY_S + 4 * SLOT_S, days=30).answers == 150


def test_the_window_covers_at_least_24_hours(redis_client) -> None:
    counts = RedisAbandonCounts(redis_client)
    now = datetime(2026, 3, 3, 12, 7, tzinfo=UTC).timestamp()
    counts.record(9, now - DAY_S + 1, answers=1)  # 23 h 59 min 59 s ago: inside
    counts.record(9, now, abandons=1, answers=1)
    assert counts.rolling_24h(9, now) == AbandonFigures(2, 1, 0.0)
    ttl = redis_client.ttl(f"pyd:campaign:9:abandon:s{int(now // SLOT_S)}")
    assert DAY_S < ttl <= DAY_S + 2 * SLOT_S  # slots expire by themselves just after they leave the window
