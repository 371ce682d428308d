"""The filter every KPI takes: a time range, who (campaigns, lists, teams, agents), which clock.

``KpiFilter.where(table)`` renders the WHERE clause for one of the analytics tables with
clickhouse-connect server-side parameters (``{name:Type}``), so no value is ever pasted into
SQL. Dimensions a table does not carry are left out (documented per table in ``_COLUMNS``):
``dial_decisions`` knows only campaigns, ``agent_states`` has no list, ``utterances`` no list or
team.

``start``/``end`` are instants (``end`` exclusive); naive datetimes are taken as UTC.
``clock`` chooses how KPIs bucket time: ``"utc"`` or ``"lead_local"`` (the lead's own time zone,
``cdr.lead_timezone`` -- what calling-hours rules and contact-rate heatmaps care about).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from core.exceptions import ValidationError

Clock = Literal["utc", "lead_local"]
_MAX_IDS = 10_000

# table -> (time column, {filter field -> column}) for the tables KPIs read.
_COLUMNS: dict[str, tuple[str, dict[str, str]]] = {
    "cdr": ("dialed_at", {"campaign_ids": "campaign_id", "list_ids": "list_id", "team_ids": "team_id",
                          "agent_ids": "agent_id"}),
    "agent_states": ("started_at", {"campaign_ids": "campaign_id", "team_ids": "team_id", "agent_ids": "agent_id"}),
    "dial_decisions": ("at", {"campaign_ids": "campaign_id"}),
    "utterances": ("at", {"campaign_ids": "campaign_id", "agent_ids": "agent_id"}),
    # Rollups (sql/clickhouse/0006): no team/agent; see KpiFilter.rollup_grain.
    "cdr_hour": ("hour", {"campaign_ids": "campaign_id", "list_ids": "list_id"}),
    "cdr_day_disposition": ("day", {"campaign_ids": "campaign_id", "list_ids": "list_id"}),
    "cdr_agent_day": ("day", {"campaign_ids": "campaign_id", "team_ids": "team_id", "agent_ids": "agent_id"}),
    "cdr_day": ("day", {"campaign_ids": "campaign_id", "list_ids": "list_id"}),  # 0009
    # 0010: cdr's rows re-sorted by lead zone for the heatmap drill-down; every dimension.
    "cdr_by_zone": ("dialed_at", {"campaign_ids": "campaign_id", "list_ids": "list_id", "team_ids": "team_id",
                                  "agent_ids": "agent_id"}),
}


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError("invalid filter", {name: f"expected a datetime, got {type(value).__name__}"})
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ids(values: Iterable[int] | None, name: str) -> tuple[int, ...]:
    if values is None:
        return ()
    out = tuple(values)
    bad = [v for v in out if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32]
    if bad:
        raise ValidationError("invalid filter", {name: f"expected ids in [0, 2^32), got {bad[:3]!r}"})
    if len(out) > _MAX_IDS:
        raise ValidationError("invalid filter", {name: f"at most {_MAX_IDS} ids"})
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class KpiFilter:
    start: datetime
    end: datetime
    campaign_ids: tuple[int, ...] = field(default=())
    list_ids: tuple[int, ...] = field(default=())
    team_ids: tuple[int, ...] = field(default=())
    agent_ids: tuple[int, ...] = field(default=())
    clock: Clock = "utc"

    def __post_init__(self) -> None:
        start, end = _utc(self.start, "start"), _utc(self.end, "end")
        if end <= start:
            raise ValidationError("invalid filter", {"end": "must be after start"})
        if self.clock not in ("utc", "lead_local"):
            raise ValidationError("invalid filter", {"clock": f"expected 'utc' or 'lead_local', got {self.clock!r}"})
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        for name in ("campaign_ids", "list_ids", "team_ids", "agent_ids"):
            object.__setattr__(self, name, _ids(getattr(self, name), name))

    def rollup_grain(self) -> str | None:
        """The coarsest rollup grain ("day", "hour") that answers this filter exactly, or None.

        Rollups carry campaign and list but not team or agent, and cover whole UTC hours/days.
        """
        if self.team_ids or self.agent_ids:
            return None
        if any(t.minute or t.second or t.microsecond for t in (self.start, self.end)):
            return None
        return "day" if self.start.hour == 0 and self.end.hour == 0 else "hour"

    def agent_rollup(self) -> bool:
        """``cdr_agent_day`` (0008) answers this filter: whole UTC days, no list filter."""
        return not self.list_ids and all(not (t.hour or t.minute or t.second or t.microsecond)
                                         for t in (self.start, self.end))

    def where(self, table: str, *, prefix: str = "", start: datetime | None = None) -> tuple[str, dict[str, Any]]:
        """``(sql, parameters)`` for ``table``'s WHERE clause; ``start`` overrides the range start
        (the abandon trend reads 29 days before it for the rolling window)."""
        if table not in _COLUMNS:
            raise ValueError(f"no filter mapping for table {table!r}")
        time_col, dims = _COLUMNS[table]
        params: dict[str, Any] = {"f_start": start or self.start, "f_end": self.end}
        clauses = [f"{prefix}{time_col} >= {{f_start:DateTime64(3, 'UTC')}}",
                   f"{prefix}{time_col} < {{f_end:DateTime64(3, 'UTC')}}"]
        for name, column in dims.items():
            ids = getattr(self, name)
            if ids:
                params[f"f_{name}"] = list(ids)
                clauses.append(f"{prefix}{column} IN {{f_{name}:Array(UInt32)}}")
        return " AND ".join(clauses), params
