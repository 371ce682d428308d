"""Raw ``cdr`` or a rollup (sql/clickhouse/0006, 0009): the same measures under the same names.

A rollup answers a filter only when the filter has no team/agent and its range is aligned to
the rollup's grain (:meth:`KpiFilter.rollup_grain`); otherwise the KPI reads ``cdr`` with sign
arithmetic. All give identical numbers -- the integration tests run every path against pandas.
``cdr_day`` (0009) has no hour, so lead-local buckets (which shift UTC hours) need ``cdr_hour``.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.filters import KpiFilter


@dataclass(frozen=True)
class Source:
    table: str
    time_column: str  # for bucket_sql
    dials: str
    answers: str
    contacts: str
    connected: str
    abandoned: str
    sales: str
    talk: str
    wrap: str

    def measures(self) -> str:
        return (f"{self.dials} AS dials, {self.answers} AS answers, {self.contacts} AS contacts, "
                f"{self.connected} AS connected, {self.abandoned} AS abandoned, {self.sales} AS sales, "
                f"{self.talk} AS talk_total, {self.wrap} AS wrap_total")


RAW = Source(
    table="cdr", time_column="dialed_at", dials="sum(sign)",
    answers="sum(sign * (outcome IN ('human', 'machine', 'abandoned')))", contacts="sum(sign * is_contact)",
    connected="sum(sign * (connected_at IS NOT NULL))", abandoned="sum(sign * dropped)", sales="sum(sign * is_sale)",
    talk="sum(sign * talk_s)", wrap="sum(sign * wrap_s)",
)
# Aliases differ from the rollup's column names on purpose: ClickHouse lets a SELECT alias shadow a
# column in the same query (WHERE included), so "sum(dials) AS dials" would be ambiguous.
HOURLY = Source(
    table="cdr_hour", time_column="hour", dials="sum(cdr_hour.dials)", answers="sum(cdr_hour.answers)",
    contacts="sum(cdr_hour.contacts)", connected="sum(cdr_hour.connected)", abandoned="sum(cdr_hour.abandoned)",
    sales="sum(cdr_hour.sales)", talk="sum(cdr_hour.talk_s)", wrap="sum(cdr_hour.wrap_s)",
)

DAILY = Source(
    table="cdr_day", time_column="day", dials="sum(cdr_day.dials)", answers="sum(cdr_day.answers)",
    contacts="sum(cdr_day.contacts)", connected="sum(cdr_day.connected)", abandoned="sum(cdr_day.abandoned)",
    sales="sum(cdr_day.sales)", talk="sum(cdr_day.talk_s)", wrap="sum(cdr_day.wrap_s)",
)


def hourly_or_raw(flt: KpiFilter) -> Source:
    return HOURLY if flt.rollup_grain() is not None else RAW


def coarsest(flt: KpiFilter) -> Source:
    """The smallest table that answers ``flt`` when no hour of the day is needed (totals, UTC days)."""
    return DAILY if flt.rollup_grain() == "day" else hourly_or_raw(flt)


def daily_dispositions(flt: KpiFilter) -> bool:
    """``cdr_day_disposition`` answers the filter (day-aligned, no team/agent)."""
    return flt.rollup_grain() == "day"
