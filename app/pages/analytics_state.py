"""The analytics filter as URL query string, saved-view state and :class:`KpiFilter`. Pure (no Dash).

The query string is the page's state (shareable): ``?start=2026-11-01&end=2026-11-07&campaign=1,2
&list=101&team=3&agent=12,14`` -- days are UTC calendar days, ``end`` inclusive. Anything
unparsable is dropped (a hand-edited link still opens, with defaults) rather than erroring.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from analytics.filters import KpiFilter

logger = logging.getLogger(__name__)

DEFAULT_DAYS = 7
MAX_DAYS = 400
DIMENSIONS = ("campaign", "list", "team", "agent")
MAX_IDS = 200


def default_state(today: date) -> dict[str, Any]:
    return {"start": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), "end": today.isoformat(),
            **{d: [] for d in DIMENSIONS}}


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _ids(value: object) -> list[int]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    out: list[int] = []
    for item in items:
        text = str(item).strip()
        if text.isdigit() and 0 < int(text) < 2**32:
            out.append(int(text))
    return sorted(set(out))[:MAX_IDS]


def normalize(state: dict[str, Any] | None, today: date) -> dict[str, Any]:
    """A complete, valid state from partial or hand-edited input (saved view, query string)."""
    base = default_state(today)
    state = state or {}
    start, end = _day(state.get("start")), _day(state.get("end"))
    if start is not None:
        base["start"] = start.isoformat()
    if end is not None:
        base["end"] = end.isoformat()
    s, e = date.fromisoformat(base["start"]), date.fromisoformat(base["end"])
    if e < s:
        s, e = e, s
    if (e - s).days >= MAX_DAYS:
        s = e - timedelta(days=MAX_DAYS - 1)
    base["start"], base["end"] = s.isoformat(), e.isoformat()
    for dim in DIMENSIONS:
        base[dim] = _ids(state.get(dim))
    return base


def from_query(search: str | None, today: date) -> dict[str, Any]:
    """``"?start=...&campaign=1,2"`` -> normalised state."""
    parsed = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
    raw: dict[str, Any] = {k: v[-1] for k, v in parsed.items() if k in ("start", "end")}
    for dim in DIMENSIONS:
        raw[dim] = ",".join(parsed.get(dim, []))
    return normalize(raw, today)


def to_query(state: dict[str, Any]) -> str:
    """Normalised state -> ``"?start=...&end=..."`` (empty dimensions left out)."""
    pairs: list[tuple[str, str]] = [("start", state["start"]), ("end", state["end"])]
    pairs += [(dim, ",".join(str(i) for i in state[dim])) for dim in DIMENSIONS if state.get(dim)]
    return "?" + urlencode(pairs, safe=",")


def to_filter(state: dict[str, Any]) -> KpiFilter:
    """Days ``start``..``end`` inclusive, 00:00 UTC to 00:00 UTC (day-aligned: the KPIs can use
    the rollups when no team/agent is chosen)."""
    start = datetime.combine(date.fromisoformat(state["start"]), datetime.min.time(), UTC)
    end = datetime.combine(date.fromisoformat(state["end"]) + timedelta(days=1), datetime.min.time(), UTC)
    ids = {d: tuple(int(i) for i in state.get(d) or ()) for d in DIMENSIONS}
    return KpiFilter(start=start, end=end, campaign_ids=ids["campaign"], list_ids=ids["list"], team_ids=ids["team"],
                     agent_ids=ids["agent"])


def filter_from_query(search: str | None, today: date) -> KpiFilter:
    return to_filter(from_query(search, today))
