"""Run one ``import_jobs`` row: the body of the ``dialer.tasks.import_list`` Celery task.

The uploaded file waits in ``<data_dir>/imports/<job>.upload`` (the web process wrote it); the
row-level error report goes to ``<data_dir>/imports/<job>-errors.csv``. Progress is published
after every chunk to the Redis hash :data:`PROGRESS_KEY` (``done``, ``total``), which the /lists
page polls, and the ``import_jobs`` row moves pending -> running -> done | failed.

Idempotent by id: a job that is no longer ``pending`` is not run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.exceptions import ValidationError
from dialer.importer.writer import import_into_list

logger = logging.getLogger(__name__)

PROGRESS_KEY = "pyd:import:{id}:progress"
PROGRESS_TTL_S = 24 * 3600
MIN_CHUNK_ROWS = 200
PROGRESS_STEPS = 20


def upload_path(data_dir: Path, job_id: int) -> Path:
    return data_dir / "imports" / f"{job_id}.upload"


def report_path(data_dir: Path, job_id: int) -> Path:
    return data_dir / "imports" / f"{job_id}-errors.csv"


def chunk_rows_for(size_bytes: int) -> int:
    """About :data:`PROGRESS_STEPS` progress updates per file (~40 bytes per CSV row)."""
    return max(MIN_CHUNK_ROWS, min(50_000, size_bytes // 40 // PROGRESS_STEPS))


def _update(engine: sa.Engine, job_id: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE import_jobs SET {sets} WHERE id = :id"), {"id": job_id, **values})


def run_import_job(engine: sa.Engine, redis_client: Any, data_dir: Path, job_id: int,
                   mapping: dict[str, str] | None = None) -> dict[str, Any]:
    with engine.begin() as conn:
        job = conn.execute(sa.text("SELECT id, list_id, filename, status FROM import_jobs WHERE id = :id FOR UPDATE"),
                           {"id": job_id}).one_or_none()
        if job is None or job.status != "pending":
            logger.info("import job %s: nothing to do (%s)", job_id, None if job is None else job.status)
            return {"job": job_id, "skipped": True}
        conn.execute(sa.text("UPDATE import_jobs SET status = 'running', started_at = :now WHERE id = :id"),
                     {"id": job_id, "now": dt.datetime.now(dt.UTC)})
    key = PROGRESS_KEY.format(id=job_id)

    def progress(done: int, total: int) -> None:
        redis_client.hset(key, mapping={"done": done, "total": total})
        redis_client.expire(key, PROGRESS_TTL_S)
        _update(engine, job_id, total_rows=total)

    source = upload_path(data_dir, job_id)
    try:
        data = source.read_bytes()
        report = import_into_list(engine, job.list_id, data, filename=job.filename, mapping=mapping,
                                  progress=progress, chunk_rows=chunk_rows_for(len(data)))
    except (ValidationError, LookupError, OSError, ValueError) as exc:
        logger.warning("import job %s failed: %s", job_id, exc)
        _update(engine, job_id, status="failed", error=str(exc)[:2000], finished_at=dt.datetime.now(dt.UTC))
        redis_client.hset(key, mapping={"done": 0, "total": 0, "failed": 1})
        return {"job": job_id, "failed": str(exc)}
    path = report_path(data_dir, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_csv(), encoding="utf-8")
    duplicates = sum(1 for i in report.issues if "duplicate" in i.reason or "already in this list" in i.reason)
    _update(engine, job_id, status="done", total_rows=report.total_rows, good_rows=report.imported,
            bad_rows=report.rejected, duplicate_rows=duplicates, error_report_path=str(path),
            finished_at=dt.datetime.now(dt.UTC))
    source.unlink(missing_ok=True)
    return {"job": job_id, **report.summary()}
