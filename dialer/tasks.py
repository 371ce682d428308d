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

Tasks build their engines from the Celery app's settings, once per worker process.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

import redis
import sqlalchemy as sa

from dialer.celery_app import app

logger = logging.getLogger(__name__)

TERM_S = 300.0
PENDING_KEY = "pyd:campaign:{id}:lease_pending"

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "pacing-ensure-loops": {"task": "dialer.tasks.pacing_ensure_loops", "schedule": 3.0},
    "relay-cdr-outbox": {"task": "dialer.tasks.relay_cdr_outbox", "schedule": 2.0},
}


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


@app.task(name="dialer.tasks.relay_cdr_outbox", ignore_result=True, acks_late=True)
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


@app.task(name="dialer.tasks.import_list", ignore_result=True)
def import_list(job_id: int, mapping: dict[str, str] | None = None) -> dict[str, Any]:
    """Queue ``imports``: run one pending ``import_jobs`` row (:mod:`dialer.import_jobs`)."""
    from dialer.import_jobs import run_import_job

    return run_import_job(_engine(), _redis(), app.conf.pydialer_settings.data_dir, int(job_id), mapping)
