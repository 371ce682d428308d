"""A CDR delivered twice counts once: in cdr (FINAL and sign sums) and in the minute rollup.

Runs on the in-process chdb client and on analytics.server over HTTP (same code path above
analytics.client).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from analytics.cdr import insert_cdrs
from core.exceptions import ValidationError

T0 = datetime(2026, 5, 4, 9, 30, 15, 250000, tzinfo=UTC)


@pytest.fixture(params=["chdb", "http"])
def ch(request: pytest.FixtureRequest) -> object:
    return request.getfixturevalue("ch_client" if request.param == "chdb" else "ch_http_client")


def call(campaign_id: int = 3, outcome: str = "human", offset_s: float = 0, **over: object) -> dict[str, object]:
    start = T0 + timedelta(seconds=offset_s)
    row: dict[str, object] = {
        "call_id": str(uuid.uuid4()), "campaign_id": campaign_id, "lead_id": 1000, "list_id": 5,
        "dialed_at": start, "ringing_at": start + timedelta(seconds=1), "outcome": outcome,
        "ended_at": start + timedelta(seconds=40), "pbx": "sim1", "dial_method": "predictive", "version": 1,
    }
    if outcome in ("human", "machine", "abandoned"):
        row["answered_at"] = start + timedelta(seconds=6)
    if outcome == "human":
        row.update(agent_id=8, connected_at=start + timedelta(seconds=8))
    row.update(over)
    return row


def totals(ch: object) -> dict[str, object]:
    q = ch.query  # type: ignore[attr-defined]
    raw = q("SELECT count(), sum(sign), sum(sign * talk_s), sum(sign * is_sale) FROM cdr").result_rows[0]
    final = q("SELECT count(), countIf(is_sale = 1), sum(talk_s) FROM cdr FINAL").result_rows[0]
    rollup = q(
        "SELECT sum(dials), sum(answers), sum(humans), sum(machines), sum(connected), sum(abandoned), sum(sales), "
        "sum(talk_s) FROM cdr_minute"
    ).result_rows[0]
    return {"rows": raw[0], "net": raw[1], "talk": raw[2], "sales": raw[3], "final": final, "rollup": rollup}


def test_a_cdr_inserted_twice_is_counted_once(ch: object) -> None:
    calls = [call(), call(outcome="machine", offset_s=5), call(outcome="abandoned", offset_s=70),
             call(outcome="no_answer", offset_s=75, ended_at=T0 + timedelta(seconds=105))]
    first = insert_cdrs(ch, calls)  # type: ignore[arg-type]
    assert (first.inserted, first.corrected, first.skipped) == (4, 0, 0)
    before = totals(ch)
    again = insert_cdrs(ch, calls)  # type: ignore[arg-type]
    assert (again.inserted, again.corrected, again.skipped) == (0, 0, 4)
    after = totals(ch)
    assert after == before
    assert after["rows"] == 4 and after["net"] == 4
    assert after["final"][0] == 4
    # dials, answers (human+machine+abandoned), humans, machines, connected, abandoned, sales, talk
    assert after["rollup"] == (4, 3, 2, 1, 1, 1, 0, pytest.approx(32.0))
    minutes = ch.query("SELECT minute, sum(dials) FROM cdr_minute GROUP BY minute ORDER BY minute").result_rows  # type: ignore[attr-defined]
    assert [(m.replace(tzinfo=None), n) for m, n in minutes] == [(datetime(2026, 5, 4, 9, 30), 2), (datetime(2026, 5, 4, 9, 31), 2)]


def test_a_newer_version_replaces_the_old_one_everywhere(ch: object) -> None:
    original = call()
    insert_cdrs(ch, [original])  # type: ignore[arg-type]
    sold = dict(original, version=2, disposition_code="SALE", is_sale=True, wrap_ended_at=T0 + timedelta(seconds=55))
    result = insert_cdrs(ch, [sold, original])  # type: ignore[arg-type]  # stale copy in the same batch
    assert (result.inserted, result.corrected, result.skipped) == (0, 1, 1)
    t = totals(ch)
    assert (t["rows"], t["net"], t["sales"]) == (3, 1, 1)
    assert t["final"] == (1, 1, pytest.approx(32.0))
    assert t["rollup"][0] == 1 and t["rollup"][6] == 1  # still one dial, now one sale
    row = ch.query("SELECT disposition_code, wrap_s, version FROM cdr FINAL").result_rows  # type: ignore[attr-defined]
    assert row == [("SALE", 15.0, 2)]
    # A late redelivery of version 1 changes nothing; after a merge FINAL and the rollup agree.
    assert insert_cdrs(ch, [original]).skipped == 1  # type: ignore[arg-type]
    ch.command("OPTIMIZE TABLE cdr FINAL")  # type: ignore[attr-defined]
    ch.command("OPTIMIZE TABLE cdr_minute FINAL")  # type: ignore[attr-defined]
    assert totals(ch)["net"] == 1 and totals(ch)["rollup"][0] == 1 and totals(ch)["final"][0] == 1


def test_invalid_attempts_raise_or_are_skipped(ch: object) -> None:
    good, bad = call(), call(outcome="exploded")
    with pytest.raises(ValidationError) as err:
        insert_cdrs(ch, [good, bad])  # type: ignore[arg-type]
    assert "1.outcome" in err.value.details
    assert totals(ch)["rows"] == 0  # nothing of a rejected batch is written
    result = insert_cdrs(ch, [good, bad], skip_invalid=True)  # type: ignore[arg-type]
    assert result.inserted == 1 and [i for i, _ in result.invalid] == [1]


def test_other_tables_accept_rows(ch: object) -> None:
    now = datetime.now(UTC)  # dial_decisions keep 90 days: an older row expires at once (TTL)
    ch.insert("agent_states", [[uuid.uuid4(), 8, 1, 3, "s1", "ready", "", now, now + timedelta(seconds=30), 30.0, None, 1]],  # type: ignore[attr-defined]
              column_names=["interval_id", "agent_id", "team_id", "campaign_id", "session_id", "state", "pause_code",
                            "started_at", "ended_at", "duration_s", "call_id", "version"])
    ch.insert("dial_decisions", [[uuid.uuid4(), now, 3, "adaptive", 10, 2, 8, 4, 0, 2.5, 3, "", 0.3, 0.01, 0.03, 0, 500, "{}"]],  # type: ignore[attr-defined]
              column_names=["decision_id", "at", "campaign_id", "algorithm", "agents_logged_in", "agents_idle",
                            "agents_busy", "calls_ringing", "calls_waiting", "dial_level", "calls_placed", "capped_by",
                            "est_answer_rate", "est_abandon_rate", "target_abandon_rate", "guard_active",
                            "hopper_depth", "extra"])
    ch.insert("utterances", [[uuid.uuid4(), 1, "customer", 0.5, 2.0, "hello", 0.4, 0, 3, 8, now, 1]],  # type: ignore[attr-defined]
              column_names=["call_id", "seq", "speaker", "started_s", "ended_s", "text", "sentiment", "redacted",
                            "campaign_id", "agent_id", "at", "version"])
    for table in ("agent_states", "dial_decisions", "utterances"):
        assert ch.command(f"SELECT count() FROM {table}") == 1  # type: ignore[attr-defined]
