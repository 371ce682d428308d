"""The Celery side of the dialing loop: beat's ensure task, the leased run task, the CDR relay task.

Task bodies are called directly (no broker): ``delay`` is replaced by a recorder, the engines by
the test's.
"""

import pytest

from dialer import tasks
from dialer.loop import LEASE_KEY, Lease
from tests.integration.dialer_fixtures import make_campaign


@pytest.fixture()
def wired(db_committed, redis_client, monkeypatch):
    queued: list[tuple] = []
    monkeypatch.setattr(tasks, "_engine", lambda: db_committed)
    monkeypatch.setattr(tasks, "_redis", lambda: redis_client)
    monkeypatch.setattr(tasks.pacing_run_campaign, "delay", lambda *a: queued.append(a))
    return db_committed, redis_client, queued


def test_ensure_enqueues_each_active_paced_campaign_once(wired) -> None:
    engine, r, queued = wired
    paced = make_campaign(engine, dial_method="predictive")
    make_campaign(engine, dial_method="manual")
    make_campaign(engine, dial_method="ratio", active=False)
    owned = make_campaign(engine, dial_method="progressive")
    assert Lease(r, owned).acquire()
    assert tasks.pacing_ensure_loops() == [paced]
    assert tasks.pacing_ensure_loops() == [], "pending marker: no second enqueue while starting"
    assert queued == [(paced,)]


def test_run_task_owns_the_campaign_for_its_term_then_hands_over(wired) -> None:
    engine, r, queued = wired
    cid = make_campaign(engine, dial_method="progressive")
    assert tasks.pacing_run_campaign(cid, 0.3) is True
    assert queued == [(cid, 0.3)], "re-enqueued itself"
    assert not r.exists(LEASE_KEY.format(id=cid)), "lease released at the end of the term"
    assert r.exists(f"pyd:campaign:{cid}:policy"), "policy state persisted for the next owner"
    other = Lease(r, cid)
    assert other.acquire()
    assert tasks.pacing_run_campaign(cid, 0.3) is False, "someone else holds the lease"


def test_relay_task_ships_outbox_rows_and_needs_a_clickhouse_url(wired, monkeypatch) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from dialer import cdr
    from tests.integration.dialer_fixtures import make_attempt

    engine, r, queued = wired
    cid = make_campaign(engine)
    for _ in range(3):
        call_id = make_attempt(engine, cid)
        with engine.begin() as conn:
            cdr.finalise(conn, call_id, datetime.now(UTC), cause=19)
    settings = tasks.app.conf.pydialer_settings
    monkeypatch.setitem(tasks.app.conf, "pydialer_settings", replace(settings, clickhouse_url=None))
    assert tasks.relay_cdr_outbox() == 0, "no chdb in pool workers"
    shipped: list = []
    monkeypatch.setitem(tasks.app.conf, "pydialer_settings", replace(settings, clickhouse_url="http://ch:8123"))
    monkeypatch.setattr(tasks, "_inserter", lambda: shipped.extend)
    assert tasks.relay_cdr_outbox(batch=2) == 3
    assert sorted(row["outcome"] for row in shipped) == ["no_answer"] * 3
    assert tasks.relay_cdr_outbox() == 0
