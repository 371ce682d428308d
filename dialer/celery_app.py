"""The Celery application: the dialer engine's scheduler and work queues.

Run with ``celery -A dialer.celery_app worker -Q dial,default`` and, as a separate worker,
``celery -A dialer.celery_app worker -Q imports`` (``make run`` and docker-compose both do), plus
``celery -A dialer.celery_app beat``. Flower works against it as usual
(``celery -A dialer.celery_app flower``; ``pip install flower``, pinned in requirements-dev.txt,
since the product never starts it). The workers run without ``-E`` and the app leaves
``worker_send_task_events`` off: Flower switches task events on in every running worker itself
(its ``--enable-events``, on by default, every 5 s); its HTTP API wants ``--basic-auth=user:pw``.
tests/integration/test_flower.py checks all of it.

Queues, by priority (an import never delays dialing: it has its own worker, so a 1 M-row file
never occupies a slot a campaign's loop or a hopper refill needs):

* ``dial``: the campaigns' dialing loops (``pacing_ensure_loops``, ``pacing_run_campaign``) and
  the hopper refills (``refill_hoppers``, ``refill_hopper``).
* ``default``: ``promote_callbacks``, ``recycle_statuses``, ``relay_cdr_outbox``,
  ``abandon_rollup``.
* ``imports``: ``import_list`` and ``export_list``: long tasks with progress in Redis.

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
# Every other task goes to ``default`` (task_default_queue).
TASK_ROUTES = {
    "dialer.tasks.pacing_*": {"queue": "dial"},
    "dialer.tasks.refill_*": {"queue": "dial"},
    "dialer.tasks.import_*": {"queue": "imports"},
    "dialer.tasks.export_*": {"queue": "imports"},
}
# The names the docstring and the routes promise (tests check each is a registered task).
ROUTED_TASKS = {
    "dial": ("dialer.tasks.pacing_ensure_loops", "dialer.tasks.pacing_run_campaign", "dialer.tasks.refill_hoppers",
             "dialer.tasks.refill_hopper"),
    "default": ("dialer.tasks.promote_callbacks", "dialer.tasks.recycle_statuses", "dialer.tasks.relay_cdr_outbox",
                "dialer.tasks.abandon_rollup"),
    "imports": ("dialer.tasks.import_list", "dialer.tasks.export_list"),
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
