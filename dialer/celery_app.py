"""The Celery application: the dialer engine's scheduler and work queues.

Run with ``celery -A dialer.celery_app worker -Q dial,default`` (and ``-Q imports`` on a bulk
worker) plus ``celery -A dialer.celery_app beat``. Flower works against it as usual
(``celery -A dialer.celery_app flower``).

Queues, by priority (an import never delays dialing):

* ``dial``: pacing ticks, originates, hopper refills: short tasks, own worker slots.
* ``default``: callback promotion, recycling, outbox relay, abandon-rate rollups.
* ``imports``: lead imports and exports: long tasks, a separate worker in production.

The broker and result backend are Redis (the embedded redis-server when ``REDIS_URL`` is unset).
Tasks live in :mod:`dialer.tasks`; they are thin and id-based and never import the web app.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from core.config import Settings
from core.engines import redis_url

QUEUES = ("dial", "default", "imports")

# Routing by task-name prefix keeps the queue choice next to this table, not scattered in tasks.
TASK_ROUTES = {
    "dialer.tasks.pacing_*": {"queue": "dial"},
    "dialer.tasks.refill_*": {"queue": "dial"},
    "dialer.tasks.import_*": {"queue": "imports"},
    "dialer.tasks.export_*": {"queue": "imports"},
}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    broker = redis_url(settings)
    if broker.startswith("unix://"):
        # kombu spells Redis-over-Unix-socket as redis+socket://
        broker = "redis+socket://" + broker[len("unix://"):]
    app = Celery("pydialer", broker=broker, backend=broker, include=["dialer.tasks"])
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="default",
        task_routes=TASK_ROUTES,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        # One task at a time per worker process: a long import must not hold a prefetched tick.
        worker_prefetch_multiplier=1,
        task_acks_late=False,  # opted into per task, only where the task is idempotent
        task_reject_on_worker_lost=True,
        broker_connection_retry_on_startup=True,
        result_expires=3600,
        task_track_started=True,
    )
    app.conf.pydialer_settings = settings
    return app


app = make_celery()
