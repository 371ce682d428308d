"""Background list exports: start one, read its progress, download the finished CSV.

* ``POST /api/admin/lists/<list_id>/exports`` -- 202 ``{"export": id, "list_id", "progress", "download"}``;
  the export runs as the Celery task ``dialer.tasks.export_list`` (queue ``imports``), or whatever
  ``server.extensions[LAUNCHER_KEY]`` is (tests and single-process setups: :func:`thread_launcher`,
  the very same job function in a background thread) -- the import's wiring (:mod:`app.admin.imports`).
* ``GET /api/admin/exports/<export_id>`` -- ``{"done", "total", "state", "percent"}`` from the Redis
  hash :data:`dialer.import_jobs.EXPORT_PROGRESS_KEY`; ``state`` is queued -> running -> done | failed
  (then ``error`` says why).
* ``GET /api/admin/exports/<export_id>/download`` -- the file :func:`dialer.import_jobs.run_export_job`
  wrote, whose cells it already neutralised (``looks_like_formula``, OWASP "CSV injection").

Admins and managers only (:data:`app.admin.access.EDITORS`), like the list's direct CSV download.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import sqlalchemy as sa

from app.admin.access import EDITORS
from app.api import require_roles
from app.services import get_services
from core.exceptions import Conflict, NotFound, ValidationError
from core.models import LeadList
from dialer.import_jobs import EXPORT_PROGRESS_KEY, PROGRESS_TTL_S, export_path, run_export_job

logger = logging.getLogger(__name__)

Launcher = Callable[[str, int], None]
LAUNCHER_KEY = "pydialer_export_launcher"


def celery_launcher(export_id: str, list_id: int) -> None:
    from dialer.tasks import export_list

    export_list.apply_async(args=[export_id, list_id])


def thread_launcher(engine: sa.Engine, redis_client: Any, data_dir: Path) -> Launcher:
    def run(export_id: str, list_id: int) -> None:
        try:
            run_export_job(engine, redis_client, data_dir, export_id, list_id)
        except Exception:  # the job has published state "failed"; no worker here to retry it
            logger.exception("export %s of list %s", export_id, list_id)

    def launch(export_id: str, list_id: int) -> None:
        threading.Thread(target=run, args=(export_id, list_id), name=f"export-{export_id}", daemon=True).start()

    return launch


def start_export(server: flask.Flask, list_id: int) -> str:
    """Publish a ``queued`` progress hash (so a poll right after the start finds it), then launch."""
    services = get_services(server)
    with services.sessions() as session:
        if session.get(LeadList, list_id) is None:
            raise NotFound(f"no list {list_id}", {"list_id": list_id})
    export_id = uuid.uuid4().hex
    key = EXPORT_PROGRESS_KEY.format(id=export_id)
    services.redis.hset(key, mapping={"done": 0, "total": 0, "state": "queued", "list_id": list_id})
    services.redis.expire(key, PROGRESS_TTL_S)
    launcher: Launcher = server.extensions.get(LAUNCHER_KEY, celery_launcher)
    launcher(export_id, list_id)
    logger.info("export %s of list %s started", export_id, list_id)
    return export_id


def export_progress(redis_client: Any, export_id: str) -> dict[str, Any]:
    """``done``, ``total``, ``state`` and ``percent`` of an export; :class:`NotFound` for an unknown id."""
    live = redis_client.hgetall(EXPORT_PROGRESS_KEY.format(id=export_id)) or {}
    if not live:
        raise NotFound(f"no export {export_id!r}")
    done, total, state = int(live.get("done", 0)), int(live.get("total", 0)), str(live.get("state", "running"))
    running = min(99.0, 100.0 * done / total) if total else 0.0
    percent = 100.0 if state == "done" else running
    list_id = int(live["list_id"]) if str(live.get("list_id", "")).isdigit() else None
    return {"export": export_id, "list_id": list_id, "done": done, "total": total, "state": state, "percent": percent,
            "error": live.get("error")}


def download_url(export_id: str) -> str:
    return f"/api/admin/exports/{export_id}/download"


@require_roles(EDITORS)
def start(list_id: str) -> flask.Response:
    # a string in the rule, not <int:>: "abc" gets this JSON 400, not the HTML 405 of the Dash catch-all
    if not list_id.isdigit():
        raise ValidationError("invalid export", {"list_id": f"{list_id!r} is not a list id (a number)"})
    export_id = start_export(flask.current_app, int(list_id))
    response = flask.jsonify({"export": export_id, "list_id": int(list_id), "state": "queued",
                              "progress": f"/api/admin/exports/{export_id}", "download": download_url(export_id)})
    response.status_code = 202
    response.headers["Location"] = f"/api/admin/exports/{export_id}"
    return response


@require_roles(EDITORS)
def progress(export_id: str) -> flask.Response:
    response = flask.jsonify(export_progress(get_services().redis, export_id))
    response.headers["Cache-Control"] = "no-store"
    return response


@require_roles(EDITORS)
def download(export_id: str) -> flask.Response:
    services = get_services()
    p = export_progress(services.redis, export_id)
    if p["state"] != "done":
        raise Conflict(f"export {export_id} is not finished ({p['state']})", {"state": p["state"]})
    try:
        path = export_path(services.settings.data_dir, export_id)  # never a path read back from Redis
    except ValueError as exc:
        raise NotFound(f"no export {export_id!r}") from exc
    if not path.is_file():
        raise NotFound(f"export {export_id} has no file (any more)")
    name = f"list-{p['list_id']}-export.csv" if p["list_id"] is not None else f"export-{export_id}.csv"
    response = flask.send_file(path, mimetype="text/csv", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(server: flask.Flask) -> None:
    server.add_url_rule("/api/admin/lists/<list_id>/exports", "admin_export_start", start, methods=["POST"])
    server.add_url_rule("/api/admin/exports/<export_id>", "admin_export_progress", progress, methods=["GET"])
    server.add_url_rule("/api/admin/exports/<export_id>/download", "admin_export_download", download,
                        methods=["GET"])
