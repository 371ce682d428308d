"""Starting a lead import from the web: stage the upload, create the job, hand it to a runner.

The runner is ``server.extensions["pydialer_import_launcher"]``: by default the Celery task
``dialer.tasks.import_list`` on the ``imports`` queue; tests and single-process setups use
:func:`thread_launcher`, which runs the very same job function in a background thread.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dialer.import_jobs import PROGRESS_KEY, run_import_job, upload_path

logger = logging.getLogger(__name__)

Launcher = Callable[[int, dict[str, str]], None]
LAUNCHER_KEY = "pydialer_import_launcher"


def stage_upload(data_dir: Path, data: bytes) -> str:
    token = secrets.token_hex(12)
    path = data_dir / "imports" / f"staged-{token}.upload"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return token


def staged_path(data_dir: Path, token: str) -> Path:
    if not token.isalnum() or len(token) != 24:
        raise ValueError("bad upload token")
    return data_dir / "imports" / f"staged-{token}.upload"


def promote_upload(data_dir: Path, token: str, job_id: int) -> None:
    src = staged_path(data_dir, token)
    if not src.is_file():
        raise ValueError("the uploaded file is gone: upload it again")
    shutil.move(src, upload_path(data_dir, job_id))


def celery_launcher(job_id: int, mapping: dict[str, str]) -> None:
    from dialer.tasks import import_list

    import_list.apply_async(args=[job_id, mapping])


def thread_launcher(engine: sa.Engine, redis_client: Any, data_dir: Path) -> Launcher:
    def launch(job_id: int, mapping: dict[str, str]) -> None:
        threading.Thread(target=run_import_job, args=(engine, redis_client, data_dir, job_id, mapping),
                         name=f"import-{job_id}", daemon=True).start()

    return launch


def job_progress(conn: sa.Connection, redis_client: Any, job_id: int) -> dict[str, Any]:
    row = conn.execute(sa.text("SELECT status, total_rows, good_rows, bad_rows, duplicate_rows, error FROM import_jobs "
                               "WHERE id = :id"), {"id": job_id}).one_or_none()
    if row is None:
        raise LookupError(f"no import job {job_id}")
    live = redis_client.hgetall(PROGRESS_KEY.format(id=job_id)) or {}
    done, total = int(live.get("done", 0)), int(live.get("total", 0))
    if row.status == "done":
        pct = 100.0
    elif total:
        pct = min(99.0, 100.0 * done / total)
    else:
        pct = 0.0
    return {"status": row.status, "percent": pct, "done": done, "total": total or row.total_rows,
            "imported": row.good_rows, "rejected": row.bad_rows, "duplicates": row.duplicate_rows, "error": row.error}
