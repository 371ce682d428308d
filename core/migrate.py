"""Run the PostgreSQL Alembic migrations programmatically.

    python -m core.migrate upgrade            # to head
    python -m core.migrate upgrade REV
    python -m core.migrate downgrade REV      # e.g. -1, base, or a revision id
    python -m core.migrate current
    python -m core.migrate history

The CLI resolves the database with :func:`core.engines.postgres_url` (starting the embedded
pgserver when ``DATABASE_URL`` is unset); the functions take an explicit URL.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.engines import normalize_postgres_url

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "sql" / "postgres"


def alembic_config(url: str) -> Config:
    """An Alembic ``Config`` equivalent to ``sql/postgres/alembic.ini`` with ``url`` bound."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["url"] = normalize_postgres_url(url)
    cfg.attributes["configure_logger"] = False  # leave the process's logging configuration alone
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    logger.info("migrating PostgreSQL up to %s", revision)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    logger.info("migrating PostgreSQL down to %s", revision)
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (``None`` for an empty, never-migrated database)."""
    engine = sa.create_engine(normalize_postgres_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    head_rev = ScriptDirectory.from_config(alembic_config("postgresql://unused/")).get_current_head()
    assert head_rev is not None, "no migrations found under sql/postgres/versions"
    return head_rev


def is_at_head(url: str) -> bool:
    return current(url) == head()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.migrate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade", help="upgrade to a revision (default head)")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="downgrade to a revision (-1, base, or an id)")
    down.add_argument("revision")
    sub.add_parser("current", help="print the current revision")
    sub.add_parser("history", help="list the migrations")
    args = parser.parse_args(argv)

    from core.config import Settings
    from core.engines import postgres_url

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.cmd == "history":
        command.history(alembic_config("postgresql://unused/"))
        return 0
    url = postgres_url(Settings.from_env())
    try:
        if args.cmd == "upgrade":
            upgrade(url, args.revision)
        elif args.cmd == "downgrade":
            downgrade(url, args.revision)
        print(f"current revision: {current(url) or '(none)'} (head: {head()})")
    except sa.exc.OperationalError as exc:
        print(f"cannot reach PostgreSQL: {exc.orig}", file=sys.stderr)
        return 2
    except Exception as exc:  # alembic's CommandError and friends: one clear line, exit non-zero
        print(f"migration failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
