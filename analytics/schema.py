"""Apply ``sql/clickhouse/NNNN_name.up.sql`` in order, idempotently; roll back with ``.down.sql``.

    python -m analytics.schema up            # apply every pending migration
    python -m analytics.schema down [N]      # roll back the last N applied (default 1)
    python -m analytics.schema status        # applied / pending, and edited-after-apply warnings
    python -m analytics.schema roles --readonly-password-file FILE   # real servers only

Files are append-only: never edit an applied migration, add the next number. Tables are named
``{db}.table`` in the files and ``{db}`` is replaced by the analytics database
(``settings.clickhouse_database``, default ``pydialer``), so materialized views name their source
and target without depending on the session's current database. Every statement is written
with ``IF [NOT] EXISTS``, and applied versions are recorded in ``{db}.schema_migrations``
(ReplacingMergeTree keyed by version: the latest row says applied or rolled back), so running
``up`` twice, or after a crash half-way through a file, is harmless.

The same code runs over clickhouse-connect's chdb client (in-process) and its HTTP client (a
real server or ``analytics.server``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from analytics.sqltext import split_statements
from core.exceptions import ConfigError, ValidationError

logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "clickhouse"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.up\.sql$")
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_path: Path
    down_path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_path.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    applied: bool
    applied_at: datetime | None
    edited: bool  # the .up.sql changed after it was applied (files are append-only)


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Every ``NNNN_name.up.sql`` with its ``.down.sql``, ordered by number."""
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.up.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise ConfigError(f"{path.name}: migration files are named NNNN_lower_name.up.sql")
        version = int(m.group(1))
        down = path.with_name(path.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise ConfigError(f"{path.name}: missing {down.name}")
        if version in found:
            raise ConfigError(f"{path.name}: migration number {version:04d} is used twice")
        found[version] = Migration(version, m.group(2), path, down)
    return [found[v] for v in sorted(found)]


def render(sql: str, database: str) -> list[str]:
    """A migration file's statements with ``{db}`` replaced."""
    return split_statements(sql.replace("{db}", database))


class Migrator:
    def __init__(self, client: Client, database: str, sql_dir: Path = SQL_DIR) -> None:
        if not _DB_NAME.match(database):
            raise ConfigError(f"CLICKHOUSE_DATABASE: {database!r} is not a plain identifier")
        self.client = client
        self.db = database
        self.sql_dir = sql_dir
        self.migrations = discover(sql_dir)

    def _ensure_bookkeeping(self) -> None:
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.db}")
        self.client.command(
            f"""CREATE TABLE IF NOT EXISTS {self.db}.schema_migrations
            (version UInt32, name String, applied UInt8, checksum String, at DateTime64(6, 'UTC'))
            ENGINE = ReplacingMergeTree(at) ORDER BY version"""
        )

    def _applied(self) -> dict[int, tuple[datetime, str]]:
        self._ensure_bookkeeping()
        rows = self.client.query(
            f"SELECT version, argMax(applied, at), max(at), argMax(checksum, at) FROM {self.db}.schema_migrations GROUP BY version"
        ).result_rows
        return {int(v): (at, checksum) for v, applied, at, checksum in rows if applied}

    def _record(self, migration: Migration, applied: bool) -> None:
        self.client.insert(
            f"{self.db}.schema_migrations",
            [[migration.version, migration.name, int(applied), migration.checksum, datetime.now(UTC)]],
            column_names=["version", "name", "applied", "checksum", "at"],
        )

    def _run_file(self, path: Path) -> None:
        for statement in render(path.read_text(), self.db):
            self.client.command(statement)

    def up(self, target: int | None = None) -> list[Migration]:
        """Apply pending migrations (up to ``target`` included); return those applied now."""
        applied = self._applied()
        done = []
        for migration in self.migrations:
            if migration.version in applied or (target is not None and migration.version > target):
                continue
            logger.info("applying %04d_%s", migration.version, migration.name)
            self._run_file(migration.up_path)
            self._record(migration, True)
            done.append(migration)
        return done

    def down(self, steps: int = 1) -> list[Migration]:
        """Roll back the last ``steps`` applied migrations, newest first."""
        if steps < 1:
            raise ValidationError("down needs a positive number of steps", {"steps": "must be >= 1"})
        applied = self._applied()
        undone = []
        for migration in [m for m in reversed(self.migrations) if m.version in applied][:steps]:
            logger.info("rolling back %04d_%s", migration.version, migration.name)
            self._run_file(migration.down_path)
            self._record(migration, False)
            undone.append(migration)
        return undone

    def status(self) -> list[MigrationStatus]:
        applied = self._applied()
        out = []
        for m in self.migrations:
            at, checksum = applied.get(m.version, (None, None))
            out.append(MigrationStatus(m.version, m.name, m.version in applied, at, bool(checksum) and checksum != m.checksum))
        return out

    def roles(self, readonly_password: str) -> None:
        """Create the data teams' read-only role, profile, quota and user (real servers only)."""
        if not readonly_password or "'" in readonly_password or "\\" in readonly_password:
            raise ValidationError("a read-only password without quotes or backslashes is required", {"password": "invalid"})
        sql = (self.sql_dir / "roles" / "readonly.sql").read_text().replace("{password}", readonly_password)
        for statement in render(sql, self.db):
            self.client.command(statement)


def main(argv: list[str] | None = None) -> int:
    from analytics.client import get_client
    from core.config import Settings

    parser = argparse.ArgumentParser(prog="python -m analytics.schema", description="ClickHouse schema migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="apply pending migrations")
    up.add_argument("--to", type=int, help="stop after this migration number")
    down = sub.add_parser("down", help="roll back the last N applied migrations")
    down.add_argument("steps", nargs="?", type=int, default=1)
    sub.add_parser("status", help="list migrations")
    roles = sub.add_parser("roles", help="create the read-only role/user on a real ClickHouse server")
    roles.add_argument("--readonly-password-file", required=True)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "roles" and settings.embedded_clickhouse:
        print("roles need a real ClickHouse server (set CLICKHOUSE_URL); chdb has no access control -- "
              "run analytics.server with --readonly-user instead", file=sys.stderr)
        return 2
    from analytics.client import database_name

    client = get_client(settings, database="")
    try:
        migrator = Migrator(client, database_name(settings))
        if args.command == "up":
            for m in migrator.up(args.to):
                print(f"applied {m.version:04d}_{m.name}")
        elif args.command == "down":
            for m in migrator.down(args.steps):
                print(f"rolled back {m.version:04d}_{m.name}")
        elif args.command == "status":
            for s in migrator.status():
                state = f"applied {s.applied_at:%Y-%m-%d %H:%M:%S}" if s.applied and s.applied_at else "pending"
                warn = "  WARNING: edited after it was applied" if s.edited else ""
                print(f"{s.version:04d}_{s.name:<24} {state}{warn}")
        else:
            migrator.roles(Path(args.readonly_password_file).read_text().strip())
            print("read-only role, profile, quota and user pydialer_analyst created")
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
