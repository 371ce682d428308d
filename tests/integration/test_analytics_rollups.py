"""The rollups and copies of ``cdr`` that the KPI queries read (sql/clickhouse/0009 ``cdr_day``, 0010
``cdr_by_zone``) against ``cdr`` itself, on known calls with redeliveries and corrections: filled by
the migration's backfill from the CDRs stored before it, then by their materialized views, and
still exact after parts merge (OPTIMIZE ... FINAL collapses each table on its own key)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from analytics.cdr import insert_cdrs
from analytics.kpis.agents import CALL_COLUMNS
from analytics.schema import Migrator, render

DAY = datetime.combine(date.today(), datetime.min.time(), UTC) - timedelta(days=14)  # 500 calls: ~13 days
ZONES = ("America/New_York", "America/Chicago", "Asia/Kolkata", "")
OUTCOMES = ("human", "machine", "abandoned", "no_answer", "busy")


@pytest.fixture()
def at_0008(ch_engine_path: Path) -> Iterator[object]:
    """A database migrated up to 0008, before the tables under test exist."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(interface="chdb", path=str(ch_engine_path))
    name = f"pyd_rollups_{uuid.uuid4().hex[:8]}"
    Migrator(client, name).up(target=8)
    client.database = name
    yield client
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


def _calls(n: int, offset: int = 0) -> list[dict[str, object]]:
    out = []
    for i in range(offset, offset + n):
        at = DAY + timedelta(minutes=37 * i, milliseconds=i)
        outcome = OUTCOMES[i % len(OUTCOMES)]
        connected = outcome == "human"
        out.append({"call_id": str(uuid.uuid4()), "campaign_id": 1 + i % 3, "list_id": 10 + i % 2,
                    "agent_id": 100 + i % 4 if connected else 0, "team_id": 1 + i % 2 if connected else 0,
                    "lead_timezone": ZONES[i % len(ZONES)], "dialed_at": at, "outcome": outcome,
                    "answered_at": at + timedelta(seconds=6) if outcome in ("human", "machine", "abandoned") else None,
                    "connected_at": at + timedelta(seconds=7) if connected else None,
                    "ended_at": at + timedelta(seconds=20 + i % 90), "disposition_code": "NI" if connected else "",
                    "version": 1})
    return out


def _corrections(calls: list[dict[str, object]], version: int) -> list[dict[str, object]]:
    """Newer versions that change what the tables group by: disposition/sale, zone, list, outcome."""
    return ([dict(c, disposition_code="SALE", is_sale=True, version=version) for c in calls[0::11]]
            + [dict(c, lead_timezone="America/Denver", version=version) for c in calls[3::13]]
            + [dict(c, list_id=12, version=version) for c in calls[5::17]]
            + [dict(c, outcome="abandoned", connected_at=None, agent_id=0, team_id=0, version=version)
               for c in calls[7::19]])


def _load(client: object, calls: list[dict[str, object]], version: int) -> None:
    assert insert_cdrs(client, calls).inserted == len(calls)  # type: ignore[arg-type]
    assert insert_cdrs(client, calls[::4]).skipped == len(calls[::4])  # type: ignore[arg-type]  # redelivered
    fixes = {str(c["call_id"]): c for c in _corrections(calls, version)}  # one correction per call
    assert insert_cdrs(client, list(fixes.values())).corrected == len(fixes)  # type: ignore[arg-type]
    assert insert_cdrs(client, list(fixes.values())[:5]).skipped == 5  # type: ignore[arg-type]  # again


def _rows(client: object, sql: str) -> list[tuple[object, ...]]:
    return sorted(client.query(sql).result_rows)  # type: ignore[attr-defined]


# The straightforward answers: the latest state of every call (FINAL), counted per group.
DAY_FROM_CDR = """
    SELECT campaign_id, toDate(dialed_at, 'UTC') AS day, list_id, lead_timezone, count(),
           countIf(outcome IN ('human', 'machine', 'abandoned')), sum(is_contact), countIf(connected_at IS NOT NULL),
           sum(dropped), sum(is_sale), round(sum(talk_s), 3), round(sum(wrap_s), 3)
    FROM cdr FINAL GROUP BY campaign_id, day, list_id, lead_timezone"""
DAY_FROM_ROLLUP = """
    SELECT campaign_id, day, list_id, lead_timezone, sum(dials) AS n, sum(answers), sum(contacts), sum(connected),
           sum(abandoned), sum(sales), round(sum(talk_s), 3), round(sum(wrap_s), 3)
    FROM cdr_day GROUP BY campaign_id, day, list_id, lead_timezone HAVING n != 0"""
ZONE_COLUMNS = ", ".join(dict.fromkeys(("call_id", *CALL_COLUMNS, "team_id", "agent_id", "is_contact", "connected_at",
                                        "version")))


def _assert_exact(client: object, calls: int) -> None:
    by_day = _rows(client, DAY_FROM_CDR)
    assert sum(r[4] for r in by_day) == calls  # type: ignore[misc]
    assert _rows(client, DAY_FROM_ROLLUP) == by_day
    latest = _rows(client, f"SELECT {ZONE_COLUMNS} FROM cdr FINAL")
    assert len(latest) == calls
    assert _rows(client, f"SELECT {ZONE_COLUMNS} FROM cdr_by_zone FINAL") == latest
    # Sign arithmetic (what the drill reads, without FINAL): the same live calls in the same zones.
    live = "SELECT call_id, lead_timezone, sum(sign) AS s FROM {t} GROUP BY call_id, lead_timezone HAVING s != 0"
    assert _rows(client, live.format(t="cdr_by_zone")) == _rows(client, live.format(t="cdr"))
    assert {r[2] for r in _rows(client, live.format(t="cdr_by_zone"))} == {1}


def test_backfill_then_views_keep_cdr_day_and_cdr_by_zone_exact(at_0008) -> None:  # type: ignore[no-untyped-def]
    client = at_0008
    before = _calls(300)
    _load(client, before, version=2)  # stored before 0009/0010: their tables get it from the backfill
    assert [m.version for m in Migrator(client, client.database).up()] == [9, 10]  # type: ignore[attr-defined]
    _assert_exact(client, 300)

    after = _calls(200, offset=300)
    _load(client, after, version=2)  # through the views
    fixes = {str(c["call_id"]): c for c in _corrections(before, version=3)}  # backfilled rows corrected again
    assert insert_cdrs(client, list(fixes.values())).corrected == len(fixes)
    _assert_exact(client, 500)

    for table in ("cdr", "cdr_day", "cdr_by_zone"):  # merges collapse/fold each table on its own
        client.command(f"OPTIMIZE TABLE {table} FINAL")  # type: ignore[attr-defined]
    _assert_exact(client, 500)


def test_backfill_is_skipped_when_the_table_already_has_rows(at_0008) -> None:  # type: ignore[no-untyped-def]
    """A re-run of an up file after a crash past its backfill must not copy the CDRs twice."""
    client = at_0008
    _load(client, _calls(50), version=2)
    migrator = Migrator(client, client.database)  # type: ignore[attr-defined]
    migrator.up()
    for migration in (m for m in migrator.migrations if m.version in (9, 10)):
        for statement in render(migration.up_path.read_text(), client.database):  # type: ignore[attr-defined]
            client.command(statement)  # type: ignore[attr-defined]
    _assert_exact(client, 50)
