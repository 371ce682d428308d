"""Alembic environment for the PostgreSQL system of record.

The database URL comes from the caller, never from a global settings import, so the same
migrations run against the embedded pgserver, a CI server or production. In order of precedence:

1. ``config.attributes["connection"]``: an open SQLAlchemy ``Connection`` (tests, programmatic use);
2. ``config.attributes["url"]``: what :mod:`core.migrate` passes;
3. ``-x url=...`` on the alembic command line;
4. ``sqlalchemy.url`` in the ini file (left empty in ours on purpose).
"""

from __future__ import annotations

import logging
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from core.engines import normalize_postgres_url
from core.models import Base

logger = logging.getLogger("alembic.env")

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# The whole upgrade runs in one transaction (PostgreSQL has transactional DDL): a migration that
# fails half-way leaves the schema exactly as it was.
COMMON_OPTIONS = {
    "target_metadata": target_metadata,
    "compare_type": True,
    "transaction_per_migration": False,
}


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            "no database URL: use `python -m core.migrate`, or pass `-x url=postgresql+psycopg2://...` to alembic"
        )
    return normalize_postgres_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"}, **COMMON_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


# Several processes of the suite may start at once and each run `upgrade head`: a transaction-level
# advisory lock makes the second wait for the first, then find the schema at head and do nothing.
MIGRATION_LOCK_KEY = 0x50D1A1E2


def _run_on(connection: sa.Connection) -> None:
    context.configure(connection=connection, **COMMON_OPTIONS)
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            _run_on(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
