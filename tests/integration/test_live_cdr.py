"""CDR finalisation: exactly one outbox row per attempt; the relay delivers each CDR once to ClickHouse."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.events import Answered, BridgedToAgent, Hangup, OriginateFailed, Ringing
from core.models import CallAttempt, OutboxMessage
from dialer import cdr
from tests.integration.dialer_fixtures import make_attempt, make_campaign

T0 = datetime.now(UTC) + timedelta(hours=6)  # after the attempts' dialed_at (now), however slow the run


def _outbox(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_hangup_delivered_twice_writes_one_outbox_row(db_committed) -> None:
    engine = db_committed
    campaign_id = make_campaign(engine)
    call_id = make_attempt(engine, campaign_id)
    with engine.begin() as conn:
        assert cdr.stamp(conn, Ringing(call_id=call_id, at=T0 + timedelta(seconds=2)))
        assert cdr.stamp(conn, Answered(call_id=call_id, at=T0 + timedelta(seconds=6), channel="PJSIP/x-1"))
        assert not cdr.stamp(conn, Answered(call_id=call_id, at=T0 + timedelta(seconds=9)))  # re-delivered
        assert cdr.stamp(conn, BridgedToAgent(call_id=call_id, at=T0 + timedelta(seconds=7), agent_endpoint="a"))
    hangup = Hangup(call_id=call_id, at=T0 + timedelta(seconds=60), cause=16)
    for _ in range(2):
        with engine.begin() as conn:
            cdr.finalise(conn, hangup.call_id, hangup.at, cause=hangup.cause, cause_txt=hangup.cause_txt)
    [row] = _outbox(engine)
    assert (row.topic, row.key, row.delivered_at) == ("cdr", call_id, None)
    assert row.payload["outcome"] == "human" and row.payload["call_id"] == call_id
    assert row.payload["answered_at"] == (T0 + timedelta(seconds=6)).isoformat()
    with engine.connect() as conn:
        attempt = conn.execute(sa.select(CallAttempt.__table__)).one()
    assert attempt.ended_at == T0 + timedelta(seconds=60) and attempt.outcome == "human"
    assert attempt.channel == "PJSIP/x-1" and attempt.hangup_cause == 16


def test_concurrent_hangup_consumers_write_one_outbox_row(db_committed) -> None:
    engine = db_committed
    campaign_id = make_campaign(engine)
    calls = [make_attempt(engine, campaign_id) for _ in range(10)]
    barrier = threading.Barrier(4)

    def consumer() -> None:
        barrier.wait()
        for call_id in calls:
            with engine.begin() as conn:
                cdr.finalise(conn, call_id, datetime.now(UTC), cause=19)

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = _outbox(engine)
    assert sorted(r.key for r in rows) == sorted(calls)
    assert {r.payload["outcome"] for r in rows} == {"no_answer"}


def test_originate_failure_and_unknown_call(db_committed) -> None:
    engine = db_committed
    campaign_id = make_campaign(engine)
    call_id = make_attempt(engine, campaign_id)
    with engine.begin() as conn:
        cdr.finalise_failed(conn, OriginateFailed(call_id=call_id, at=datetime.now(UTC), reason=5, reason_txt="Busy"))
        assert cdr.finalise(conn, str(uuid.uuid4()), datetime.now(UTC)) is None
    [row] = _outbox(engine)
    assert row.payload["outcome"] == "busy"


@pytest.fixture(scope="module")
def ch_cdr(tmp_path_factory):
    """In-process ClickHouse (chdb, CLICKHOUSE_URL unset) with the analytics schema applied."""
    from analytics.client import get_client
    from analytics.schema import Migrator
    from core.config import Settings

    data_dir = tmp_path_factory.mktemp("ch")
    settings = Settings.from_env({"PYDIALER_DATA_DIR": str(data_dir)})
    client = get_client(settings, database="")
    Migrator(client, "pydialer").up()
    client.database = "pydialer"
    yield client
    client.close()


def _ch_count(client, call_ids) -> tuple[int, int]:
    rows = client.query("SELECT count(), uniqExact(call_id) FROM cdr FINAL WHERE call_id IN {ids:Array(UUID)}",
                        parameters={"ids": [uuid.UUID(c) for c in call_ids]}).result_rows
    return int(rows[0][0]), int(rows[0][1])


def test_relay_delivers_once_and_survives_a_crash_between_insert_and_commit(db_committed, ch_cdr) -> None:
    from analytics.cdr import insert_cdrs

    engine = db_committed
    campaign_id = make_campaign(engine)
    calls = [make_attempt(engine, campaign_id) for _ in range(7)]
    for call_id in calls:
        with engine.begin() as conn:
            cdr.finalise(conn, call_id, datetime.now(UTC), cause=17)

    def insert(rows):
        insert_cdrs(ch_cdr, rows)

    # A relay that inserts into ClickHouse, then dies before marking the rows delivered.
    def insert_then_die(rows):
        insert(rows)
        raise RuntimeError("kill -9")

    with pytest.raises(RuntimeError):
        cdr.relay_cdrs(engine, insert_then_die, batch=5)
    assert all(r.delivered_at is None for r in _outbox(engine))
    assert _outbox(engine)[0].attempts == 1 and "kill -9" in _outbox(engine)[0].last_error
    assert cdr.relay_cdrs(engine, insert, batch=5) == 5
    assert cdr.relay_cdrs(engine, insert, batch=5) == 2
    assert cdr.relay_cdrs(engine, insert, batch=5) == 0
    assert all(r.delivered_at is not None for r in _outbox(engine))
    assert _ch_count(ch_cdr, calls) == (7, 7), "ClickHouse holds each CDR once despite the re-shipped batch"
    outcomes = ch_cdr.query("SELECT DISTINCT outcome FROM cdr FINAL WHERE call_id IN {ids:Array(UUID)}",
                            parameters={"ids": [uuid.UUID(c) for c in calls]}).result_rows
    assert outcomes == [("busy",)]


def test_disposition_after_hangup_updates_the_cdr(db_committed, ch_cdr) -> None:
    from analytics.cdr import insert_cdrs
    from dialer.agents import PgDispositions

    engine = db_committed
    campaign_id = make_campaign(engine)
    call_id = make_attempt(engine, campaign_id)
    with engine.begin() as conn:
        cdr.stamp(conn, Answered(call_id=call_id, at=datetime.now(UTC)))
        cdr.stamp(conn, BridgedToAgent(call_id=call_id, at=datetime.now(UTC), agent_endpoint="PJSIP/agent01"))
        cdr.finalise(conn, call_id, datetime.now(UTC), cause=16)
    assert cdr.relay_cdrs(engine, lambda rows: insert_cdrs(ch_cdr, rows)) == 1
    PgDispositions(engine).record(None, call_id, "SALE", datetime.now(UTC).timestamp() + 1, callback_at=None,
                                  note=None)
    assert cdr.relay_cdrs(engine, lambda rows: insert_cdrs(ch_cdr, rows)) == 1
    rows = ch_cdr.query("SELECT disposition_code, outcome FROM cdr FINAL WHERE call_id = {c:UUID}",
                        parameters={"c": uuid.UUID(call_id)}).result_rows
    assert rows == [("SALE", "human")]


def test_pg_abandon_figures_count_live_answers_and_abandons(db_committed) -> None:
    from datetime import timedelta as td

    from dialer.abandon import pg_figures

    engine = db_committed
    campaign_id = make_campaign(engine)
    now = datetime.now(UTC)
    for kind in ("human", "human", "human", "abandoned", "machine", "no_answer"):
        call_id = make_attempt(engine, campaign_id)
        with engine.begin() as conn:
            if kind != "no_answer":
                cdr.stamp(conn, Answered(call_id=call_id, at=now))
            if kind == "human":
                cdr.stamp(conn, BridgedToAgent(call_id=call_id, at=now, agent_endpoint="PJSIP/agent01"))
            if kind == "machine":
                from core.events import AmdMachine

                cdr.stamp(conn, AmdMachine(call_id=call_id, at=now))
            cdr.finalise(conn, call_id, now + td(seconds=5), cause=16)
    with engine.connect() as conn:
        fig = pg_figures(conn, campaign_id, now + td(minutes=1), td(days=30))
        assert (fig.answers, fig.abandons) == (4, 1)
        assert pg_figures(conn, campaign_id, now + td(days=31), td(days=30)).answers == 0


def test_pg_false_positive_base_leaves_out_answers_the_agent_found_not_live(db_committed) -> None:
    """The AMD false-positive estimate is taken on the live answers AMD passed: an answer dispositioned
    with a not-live code (the default "A", or a campaign's own code with ``human_answered`` false) is a
    machine AMD missed and leaves the base; a campaign may redefine a global code."""
    from datetime import timedelta as td

    from core.models import Disposition
    from dialer.abandon import pg_figures

    engine = db_committed
    campaign_id = make_campaign(engine, amd_enabled=True)
    other = make_campaign(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(Disposition).values([
            dict(campaign_id=None, code="NI", name="Not interested", human_answered=True),
            dict(campaign_id=campaign_id, code="FAX", name="Fax tone", human_answered=False),
            dict(campaign_id=None, code="XX", name="Global: not live", human_answered=False),
            dict(campaign_id=campaign_id, code="XX", name="This campaign: live", human_answered=True),
            dict(campaign_id=other, code="NI", name="Elsewhere: not live", human_answered=False),
        ]))
    codes = ["NI", "NI", "A", "FAX", "XX", None]
    for code in codes:
        call_id = make_attempt(engine, campaign_id)
        with engine.begin() as conn:
            cdr.stamp(conn, Answered(call_id=call_id, at=now))
            cdr.stamp(conn, BridgedToAgent(call_id=call_id, at=now, agent_endpoint="PJSIP/agent01"))
            cdr.finalise(conn, call_id, now + td(seconds=5), cause=16)
            conn.execute(sa.update(CallAttempt).where(CallAttempt.call_id == call_id)
                         .values(amd_verdict="human", disposition_code=code))
    with engine.connect() as conn:
        fig = pg_figures(conn, campaign_id, now + td(minutes=1), td(days=1))
    assert fig.answers == 6, "every answer stays in the denominator"
    live = 4  # NI, NI, XX (redefined live by the campaign), none given yet; not A, not FAX
    assert fig.amd_false_positives == pytest.approx(live / 99)
