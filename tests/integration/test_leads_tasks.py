"""The leads/compliance Celery tasks against real PostgreSQL and Redis.

Task bodies are called eagerly first (the engines are the test's), then a few go through a real
Celery worker (``celery.contrib.testing.worker.start_worker``, thread pool, the real Redis broker),
so routing, JSON serialisation and the separate ``imports`` worker are exercised.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dialer import celery_app, tasks
from dialer.loop_leads import CALLBACKS_KEY, HOPPER_KEY, hopper_depth
from tests.integration.dialer_fixtures import make_agents, make_campaign, make_leads


@pytest.fixture()
def wired(db_committed, redis_client, monkeypatch, tmp_path):
    from dataclasses import replace

    monkeypatch.setattr(tasks, "_engine", lambda: db_committed)
    monkeypatch.setattr(tasks, "_redis", lambda: redis_client)
    settings = tasks.app.conf.pydialer_settings
    monkeypatch.setitem(tasks.app.conf, "pydialer_settings", replace(settings, data_dir=tmp_path))
    return db_committed, redis_client, tmp_path


def test_every_routed_and_scheduled_task_exists_with_its_queue_and_retry_policy() -> None:
    router = tasks.app.amqp.router
    for queue, names in celery_app.ROUTED_TASKS.items():
        for name in names:
            assert name in tasks.app.tasks, f"{name} is routed/documented but not a task"
            route = router.route({}, name)
            assert route["queue"].name == queue, (name, route)
    for entry in tasks.app.conf.beat_schedule.values():
        assert entry["task"] in tasks.app.tasks, entry
    for name in ("refill_hopper", "refill_hoppers", "promote_callbacks", "recycle_statuses", "abandon_rollup",
                 "export_list", "relay_cdr_outbox"):
        task = getattr(tasks, name)
        assert task.acks_late, f"{name}: idempotent, so acks_late"
        assert task.retry_backoff and sa.exc.OperationalError in task.autoretry_for, name
    assert not tasks.import_list.acks_late and tasks.import_list.autoretry_for


def test_refill_task_fills_the_hopper_to_its_level_idempotently(wired, monkeypatch) -> None:
    engine, r, _ = wired
    cid = make_campaign(engine, dial_method="predictive", hopper_level=4)
    make_leads(engine, cid, 10)
    make_campaign(engine, dial_method="manual")
    queued: list[tuple] = []
    monkeypatch.setattr(tasks.refill_hopper, "apply_async", lambda args, **kw: queued.append((args, kw)))
    assert tasks.refill_hoppers() == [cid], "fan-out over active auto-dialled campaigns"
    assert queued == [((cid,), {"expires": tasks.REFILL_EXPIRES_S})]
    first = tasks.refill_hopper(cid)
    assert (first["added"], first["depth"], first["level"]) == (4, 4, 4)
    assert r.hget(f"pyd:campaign:{cid}:pacing", "hopper_depth") == "4", "the wallboard's hopper depth"
    assert tasks.refill_hopper(cid)["added"] == 0, "idempotent: a redelivery adds nothing"
    assert hopper_depth(r, cid) == 4


def test_promote_callbacks_hoppers_due_callbacks_first_and_reports_absent_agents(wired) -> None:
    engine, r, _ = wired
    cid = make_campaign(engine, dial_method="predictive", hopper_level=2)
    leads = make_leads(engine, cid, 5)
    (agent,) = make_agents(engine, 1)
    now = datetime.now(UTC)
    tasks.refill_hopper(cid)  # full: two ordinary leads
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, due_at) VALUES (:l, :c, :d)"),
                     {"l": leads[4], "c": cid, "d": now - timedelta(minutes=1)})
        conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, scope, agent_id, due_at)"
                             " VALUES (:l, :c, 'agent', :a, :d)"),
                     {"l": leads[3], "c": cid, "a": agent, "d": now - timedelta(hours=2)})
    report = tasks.promote_callbacks(cid)[str(cid)]
    assert report["overdue_agent_absent"] == 1 and report["agents_absent"] == str(agent)
    assert r.hget(CALLBACKS_KEY.format(id=cid), "overdue_agent_absent") == "1"
    order = [int(m) for m in r.zrange(HOPPER_KEY.format(id=cid), 0, -1)]
    assert order[0] == leads[4] and len(order) == 3, "ahead of the hopper, whatever its level"
    assert leads[3] not in order, "agent-only: never in the shared hopper"
    again = tasks.promote_callbacks(cid)[str(cid)]
    assert again["due_anyone"] == 1 and hopper_depth(r, cid) == 3, "idempotent (the lead is reserved)"


def test_recycle_task_sets_system_statuses_so_recycle_rules_fire(wired) -> None:
    from dialer import cdr
    from dialer.leads_repo import claim_for_hopper

    engine, r, _ = wired
    cid = make_campaign(engine, dial_method="predictive", dial_statuses=["NEW"])
    leads = make_leads(engine, cid, 3)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO campaign_recycle_rules (campaign_id, status, delay_s, max_attempts)"
                             " VALUES (:c, 'NA', 60, 3)"), {"c": cid})
    now = datetime.now(UTC) - timedelta(minutes=30)
    outcomes = {leads[0]: 19, leads[1]: 17, leads[2]: None}  # no answer, busy, still in flight
    calls = {}
    with engine.begin() as conn:
        for lead, _cause in outcomes.items():
            call_id = str(uuid.uuid4())
            calls[lead] = call_id
            conn.execute(sa.text("UPDATE leads SET attempts = 1, called_since_reset = true, last_called_at = :t"
                                 " WHERE id = :l"), {"t": now, "l": lead})
            cdr.create_attempt(conn, call_id=call_id, campaign_id=cid, phone_e164=f"+1202555{lead:04d}", pbx="sim1",
                               dial_method="predictive", lead_id=lead, dialed_at=now)
    with engine.begin() as conn:
        for lead, cause in outcomes.items():
            if cause is not None:
                cdr.finalise(conn, calls[lead], now + timedelta(seconds=25), cause=cause)
    assert tasks.recycle_statuses(cid) == {str(cid): 2}
    assert tasks.recycle_statuses(cid) == {str(cid): 0}, "idempotent"
    with engine.connect() as conn:
        status = dict(conn.execute(sa.text("SELECT id, status FROM leads")).all())
        dispo = dict(conn.execute(sa.text("SELECT lead_id, disposition_code FROM call_attempts")).all())
        reshipped = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE payload ? 'version'")).scalar()
    assert (status[leads[0]], status[leads[1]], status[leads[2]]) == ("NA", "B", "NEW")
    assert (dispo[leads[0]], dispo[leads[1]], dispo[leads[2]]) == ("NA", "B", None)
    assert reshipped == 2, "the corrected CDRs go to ClickHouse again"
    claim = claim_for_hopper(engine, cid, 10, datetime.now(UTC))
    assert [lead.id for lead in claim.leads] == [leads[0]], "NA recycles after its delay; B has no rule"


def test_abandon_rollup_writes_exact_figures(wired) -> None:
    from tests.integration.dialer_fixtures import make_attempt

    engine, r, _ = wired
    cid = make_campaign(engine, dial_method="predictive")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for outcome in ("human", "human", "human", "abandoned", "machine"):
            call_id = make_attempt(engine, cid)
            conn.execute(sa.text("UPDATE call_attempts SET answered_at = :t, outcome = :o WHERE call_id = :c"),
                         {"t": now - timedelta(hours=1), "o": outcome, "c": call_id})
    row = tasks.abandon_rollup(cid)[str(cid)]
    assert (row["answers"], row["abandons"], row["rate"], row["days"]) == (4, 1, 0.25, 30)
    assert r.hget(f"pyd:campaign:{cid}:abandon_exact", "abandons") == "1"


def _export_fixture(engine: sa.Engine) -> tuple[int, list[int]]:
    cid = make_campaign(engine, dial_method="predictive")
    leads = make_leads(engine, cid, 3)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE leads SET first_name = '=HYPERLINK(\"http://x\")' WHERE id = :l"), {"l": leads[0]})
        list_id = conn.execute(sa.text("SELECT list_id FROM leads WHERE id = :l"), {"l": leads[0]}).scalar_one()
    return list_id, leads


def test_export_task_writes_a_safe_csv_with_progress_once(wired) -> None:
    engine, r, data_dir = wired
    list_id, leads = _export_fixture(engine)
    out = tasks.export_list("exp-1", list_id)
    assert out["rows"] == 3
    rows = list(csv.DictReader(io.StringIO((data_dir / "exports" / "exp-1.csv").read_text(encoding="utf-8"))))
    assert [int(row["id"]) for row in rows] == leads
    assert rows[0]["first_name"].startswith("'="), "formula neutralised"
    assert rows[0]["phone_e164"].startswith("+1202"), "a phone number is not a formula"
    assert r.hgetall("pyd:export:exp-1:progress") | {"path": ""} == {"done": "3", "total": "3", "state": "done",
                                                                      "path": ""}
    assert tasks.export_list("exp-1", list_id)["skipped"] is True
    with pytest.raises(ValueError):
        tasks.export_list("../etc", list_id)


# --- through a real worker -------------------------------------------------------------------------


@pytest.fixture()
def app_on_test_redis(redis_url):
    """Point the real Celery app at the test's Redis (broker and results) for one test."""
    app = tasks.app
    broker = "redis+socket://" + redis_url[len("unix://"):] if redis_url.startswith("unix://") else redis_url
    saved = (app.conf.broker_url, app.conf.result_backend)

    def reset() -> None:
        app._pool = None
        app._backend_cache = None
        app._local = threading.local()
        if "amqp" in app.__dict__:  # a producer pool bound to the old broker
            app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.result_backend = broker, broker
    reset()
    yield app
    app.conf.broker_url, app.conf.result_backend = saved
    reset()


@pytest.mark.slow
def test_tasks_through_a_real_worker_routing_and_the_separate_imports_worker(wired, app_on_test_redis) -> None:
    from celery.contrib.testing.worker import start_worker

    engine, r, data_dir = wired
    app = app_on_test_redis
    cid = make_campaign(engine, dial_method="predictive", hopper_level=3)
    make_leads(engine, cid, 6)
    list_id, _ = _export_fixture(engine)
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=["dial", "default"],
                      shutdown_timeout=30):
        refill = tasks.refill_hopper.delay(cid)
        assert refill.get(timeout=30) == {"campaign": cid, "added": 3, "depth": 3, "level": 3, "skipped": False}
        assert tasks.recycle_statuses.delay(cid).get(timeout=30) == {str(cid): 0}
        # Routed to 'imports': the dial/default worker never takes it, whatever its load.
        export = tasks.export_list.delay("exp-w", list_id)
        time.sleep(1.5)
        assert r.llen("imports") == 1 and not (data_dir / "exports" / "exp-w.csv").exists()
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, queues=["imports"],
                      shutdown_timeout=30):
        assert export.get(timeout=30)["rows"] == 3
    assert r.hget("pyd:export:exp-w:progress", "state") == "done"
