"""Thin Celery tasks of the dialer runtime (see :mod:`dialer.loop` for why pacing runs in leases).

* ``pacing_ensure_loops`` (beat, every 3 s): for each active paced campaign without a live lease,
  enqueue ``pacing_run_campaign``. A ``...:lease_pending`` marker (SET NX, 15 s) keeps two beats
  from queueing the same campaign twice while a worker is starting it.
* ``pacing_run_campaign(campaign_id)`` (queue ``dial``): own the campaign for ``term_s`` (5 min),
  then re-enqueue itself, so ownership moves between workers in an orderly way and a deploy
  drains within one term. Not ``acks_late``: if the worker dies, the lease expires and the next
  beat restarts the loop; re-running a loop that already ran is harmless (the lease decides).
* ``relay_cdr_outbox`` (beat, every 2 s; queue ``default``): ship undelivered CDR outbox rows to
  ClickHouse (:func:`dialer.cdr.relay_cdrs`; idempotent, hence ``acks_late``). It needs
  ``CLICKHOUSE_URL`` (a server, or ``analytics.server`` in the embedded default): chdb cannot be
  opened by several pool processes.

* ``refill_hoppers`` (beat, every 5 s; ``dial``) fans out ``refill_hopper(campaign_id)``, which
  tops the campaign's Redis hopper up to its ``hopper_level`` (:func:`dialer.loop_leads.refill_hopper`:
  the first eligibility check and a reservation; the loop re-checks at originate).
* ``promote_callbacks`` (beat, every 15 s; ``default``): per campaign, due ``anyone`` callbacks go
  into the hopper ahead of everything, and the report of agent-only callbacks waiting for an
  absent agent is published (:func:`dialer.loop_leads.promote_callbacks`).
* ``recycle_statuses`` (beat, every 10 s; ``default``): unanswered ended calls get their system
  status (NA, B, A, DC, DROP) so the recycle rules can take the lead again
  (:func:`dialer.leads_repo.apply_system_statuses`).
* ``abandon_rollup`` (beat, every 60 s; ``default``): the exact abandonment figures from
  PostgreSQL (:func:`dialer.abandon.pg_figures`) over each campaign's regulatory window, to
  ``pyd:campaign:<id>:abandon_exact`` (the Redis day buckets the loop uses are approximate).
* ``import_list(job_id)`` / ``export_list(export_id, list_id)`` (``imports``, a worker of their
  own so they never delay dialing): progress in Redis (:mod:`dialer.import_jobs`).

Every task is thin (a function of :mod:`dialer` does the work) and takes ids, never objects.
The idempotent ones are ``acks_late`` (a worker killed mid-task means a redelivery, harmless), and
the ones that talk to PostgreSQL/Redis retry transient errors with exponential backoff and jitter
(:data:`RETRY`). Tasks build their engines from the Celery app's settings, once per worker process.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import redis
import sqlalchemy as sa

from dialer.celery_app import app

logger = logging.getLogger(__name__)

TERM_S = 300.0
PENDING_KEY = "pyd:campaign:{id}:lease_pending"

# Transient I/O failures (a PostgreSQL restart, a Redis fail-over): retry 5 times, 1 s, 2 s, 4 s ...
# at most 60 s apart, with jitter so a fleet of workers does not retry in lock-step.
TRANSIENT: tuple[type[BaseException], ...] = (sa.exc.OperationalError, sa.exc.InterfaceError,
                                              redis.ConnectionError, redis.TimeoutError)
RETRY: dict[str, Any] = {"autoretry_for": TRANSIENT, "retry_backoff": True, "retry_backoff_max": 60,
                         "retry_jitter": True, "max_retries": 5}

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "pacing-ensure-loops": {"task": "dialer.tasks.pacing_ensure_loops", "schedule": 3.0},
    "relay-cdr-outbox": {"task": "dialer.tasks.relay_cdr_outbox", "schedule": 2.0},
    # expires: a periodic run nobody picked up before the next one is due is dropped, not queued up
    # behind busy workers (the next run does the same work).
    "refill-hoppers": {"task": "dialer.tasks.refill_hoppers", "schedule": 5.0, "options": {"expires": 5.0}},
    "promote-callbacks": {"task": "dialer.tasks.promote_callbacks", "schedule": 15.0, "options": {"expires": 15.0}},
    "recycle-statuses": {"task": "dialer.tasks.recycle_statuses", "schedule": 10.0, "options": {"expires": 10.0}},
    "abandon-rollup": {"task": "dialer.tasks.abandon_rollup", "schedule": 60.0, "options": {"expires": 60.0}},
}
REFILL_EXPIRES_S = 10.0


@lru_cache(maxsize=1)
def _engine() -> sa.Engine:
    from core.db import make_engine
    from core.engines import postgres_url

    return make_engine(postgres_url(app.conf.pydialer_settings))


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    from core.engines import redis_url

    return redis.Redis.from_url(redis_url(app.conf.pydialer_settings), decode_responses=True)


@app.task(name="dialer.tasks.pacing_ensure_loops", ignore_result=True)
def pacing_ensure_loops() -> list[int]:
    from dialer.loop import LEASE_KEY, active_campaigns

    r = _redis()
    started = []
    for cid in active_campaigns(_engine()):
        if r.exists(LEASE_KEY.format(id=cid)):
            continue
        if r.set(PENDING_KEY.format(id=cid), "1", nx=True, ex=15):
            pacing_run_campaign.delay(cid)
            started.append(cid)
    return started


@app.task(name="dialer.tasks.pacing_run_campaign", ignore_result=True)
def pacing_run_campaign(campaign_id: int, term_s: float = TERM_S) -> bool:
    from dialer.loop import run_campaign

    r = _redis()
    r.delete(PENDING_KEY.format(id=campaign_id))
    pbx = app.conf.pydialer_settings.pbx_servers[0].name
    ran = run_campaign(int(campaign_id), _engine(), r, threading.Event(), max_s=term_s, pbx=pbx)
    if ran and r.set(PENDING_KEY.format(id=campaign_id), "1", nx=True, ex=15):
        pacing_run_campaign.delay(campaign_id, term_s)  # hand over to whichever dial worker is free
    return ran


@app.task(name="dialer.tasks.relay_cdr_outbox", ignore_result=True, acks_late=True, **RETRY)
def relay_cdr_outbox(batch: int = 500) -> int:
    from dialer.cdr import relay_cdrs

    if app.conf.pydialer_settings.clickhouse_url is None:
        # chdb locks its folder to one process: Celery's pool children cannot share it. In the
        # embedded default the supervisor sets CLICKHOUSE_URL to analytics.server; without it the
        # process that owns chdb must run dialer.cdr.relay_cdrs itself.
        _warn_once("CLICKHOUSE_URL is unset: the CDR relay does not run in Celery workers")
        return 0
    insert = _inserter()
    total = 0
    while True:
        n = relay_cdrs(_engine(), insert, batch=batch)
        total += n
        if n < batch:
            return total


@lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    logger.warning(message)


@lru_cache(maxsize=1)
def _inserter() -> Any:
    from dialer.cdr import default_cdr_inserter

    return default_cdr_inserter(app.conf.pydialer_settings)


# Not acks_late: an import killed half-way leaves its job 'running' (a redelivery would skip it:
# run_import_job only starts 'pending' jobs); retries cover a failure before it starts.
@app.task(name="dialer.tasks.import_list", ignore_result=True, **RETRY)
def import_list(job_id: int, mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """Queue ``imports``: run one pending ``import_jobs`` row (:mod:`dialer.import_jobs`)."""
    from dialer.import_jobs import run_import_job

    return run_import_job(_engine(), _redis(), app.conf.pydialer_settings.data_dir, int(job_id), mapping)


@app.task(name="dialer.tasks.export_list", acks_late=True, **RETRY)
def export_list(export_id: str, list_id: int) -> dict[str, Any]:
    """Queue ``imports``: the list's leads to a spreadsheet-safe CSV; progress in
    ``pyd:export:<export_id>:progress`` (:func:`dialer.import_jobs.run_export_job`; idempotent)."""
    from dialer.import_jobs import run_export_job

    return run_export_job(_engine(), _redis(), app.conf.pydialer_settings.data_dir, str(export_id), int(list_id))


def _now() -> datetime:
    return datetime.now(UTC)


def _campaigns() -> list[int]:
    """Campaigns the dialer works for (active, auto-dialled): the fan-out of the periodic tasks."""
    from dialer.loop import active_campaigns

    return active_campaigns(_engine())


@app.task(name="dialer.tasks.refill_hoppers", ignore_result=True, acks_late=True, **RETRY)
def refill_hoppers() -> list[int]:
    """Beat: one ``refill_hopper`` per active campaign (each its own task: one slow campaign's
    refill does not hold up the others')."""
    campaigns = _campaigns()
    for cid in campaigns:
        # The dialing loop refills by itself when the hopper runs short, so a refill that waited
        # longer than this behind busy dial slots is worthless: dropped instead of piling up.
        refill_hopper.apply_async((cid,), expires=REFILL_EXPIRES_S)
    return campaigns


@app.task(name="dialer.tasks.refill_hopper", acks_late=True, **RETRY)
def refill_hopper(campaign_id: int) -> dict[str, Any]:
    from dialer.live import LiveState
    from dialer.loop_leads import refill_hopper as refill

    r = _redis()
    result = refill(_engine(), r, int(campaign_id), _now())
    LiveState(r).set_pacing(int(campaign_id), hopper_depth=result.depth)
    return {"campaign": int(campaign_id), "added": result.added, "depth": result.depth, "level": result.level,
            "skipped": result.skipped}


@app.task(name="dialer.tasks.promote_callbacks", acks_late=True, **RETRY)
def promote_callbacks(campaign_id: int | None = None) -> dict[str, Any]:
    """Beat (no id: every active campaign), or one campaign."""
    from dialer.live import LiveState
    from dialer.loop_leads import promote_callbacks as promote

    r = _redis()
    live = LiveState(r)
    out: dict[str, Any] = {}
    for cid in [int(campaign_id)] if campaign_id is not None else _campaigns():
        logged_in = {snap.agent_id for snap in live.campaign_agents(cid)}
        out[str(cid)] = promote(_engine(), r, cid, _now(), logged_in).as_dict()
    return out


@app.task(name="dialer.tasks.recycle_statuses", acks_late=True, **RETRY)
def recycle_statuses(campaign_id: int | None = None) -> dict[str, int]:
    from dialer.leads_repo import apply_system_statuses

    out: dict[str, int] = {}
    for cid in [int(campaign_id)] if campaign_id is not None else _campaigns():
        with _engine().begin() as conn:
            out[str(cid)] = apply_system_statuses(conn, cid, _now())
    return out


ABANDON_EXACT_KEY = "pyd:campaign:{id}:abandon_exact"


@app.task(name="dialer.tasks.abandon_rollup", acks_late=True, **RETRY)
def abandon_rollup(campaign_id: int | None = None) -> dict[str, dict[str, float]]:
    """Exact abandonment figures per campaign over its window (FTC 30 days / Ofcom 24 h)."""
    from core.models import Campaign
    from dialer.abandon import pg_figures

    r = _redis()
    now = _now()
    out: dict[str, dict[str, float]] = {}
    for cid in [int(campaign_id)] if campaign_id is not None else _campaigns():
        with _engine().connect() as conn:
            window = conn.execute(sa.select(Campaign.abandon_window).where(Campaign.id == cid)).scalar()
            days = 1 if window == "ofcom_24h" else 30
            fig = pg_figures(conn, cid, now, timedelta(days=days))
        row = {"answers": fig.answers, "abandons": fig.abandons, "rate": round(fig.rate, 6), "days": days,
               "at": now.timestamp()}
        r.hset(ABANDON_EXACT_KEY.format(id=cid), mapping={k: str(v) for k, v in row.items()})
        out[str(cid)] = row
    return out
