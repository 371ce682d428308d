"""Alembic migrations: upgrade/downgrade round trip and models == migrated database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.util import CommandError

from core import migrate
from core.models import Base


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(empty_pg_url: str) -> None:
    expected = set(Base.metadata.tables)
    assert migrate.current(empty_pg_url) is None

    migrate.upgrade(empty_pg_url)
    assert migrate.current(empty_pg_url) == migrate.head()
    assert _tables(empty_pg_url) == expected | {"alembic_version"}

    migrate.downgrade(empty_pg_url, "base")
    assert migrate.current(empty_pg_url) is None
    assert _tables(empty_pg_url) == {"alembic_version"}

    migrate.upgrade(empty_pg_url)
    assert migrate.is_at_head(empty_pg_url)
    assert _tables(empty_pg_url) == expected | {"alembic_version"}


def test_each_revision_downgrades_one_step(empty_pg_url: str) -> None:
    """Walk down one revision at a time so every downgrade() is exercised on its own."""
    migrate.upgrade(empty_pg_url)
    seen = []
    while (rev := migrate.current(empty_pg_url)) is not None:
        seen.append(rev)
        migrate.downgrade(empty_pg_url, "-1")
    assert seen[0] == migrate.head()
    assert _tables(empty_pg_url) == {"alembic_version"}


def test_models_match_migrated_database(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"


def test_compare_detects_drift(db_url: str) -> None:
    """The comparison above can fail: a model with one more column and one fewer index differs."""
    drifted = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["leads"].append_column(sa.Column("shoe_size", sa.Integer))
    drifted.tables["leads"].indexes.discard(next(i for i in drifted.tables["leads"].indexes if i.name == "ix_leads_phone_e164"))
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), drifted)
    finally:
        engine.dispose()
    kinds = {(d[0], getattr(d[-1], "name", None)) for d in diff if isinstance(d, tuple)}
    assert ("add_column", "shoe_size") in kinds
    assert ("add_index", "ix_leads_phone_e164") not in kinds
    assert any(d[0] == "remove_index" and d[1].name == "ix_leads_phone_e164" for d in diff if isinstance(d, tuple))


def test_stock_alembic_cli_with_url_argument(db_url: str) -> None:
    """`alembic -c sql/postgres/alembic.ini -x url=...` works from any directory, and refuses to
    guess a database when no URL is given."""
    alembic = Path(sys.executable).with_name("alembic")
    ini = str(migrate.SCRIPT_LOCATION / "alembic.ini")
    ok = subprocess.run([str(alembic), "-c", ini, "-x", f"url={db_url}", "current"], cwd="/", capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert f"{migrate.head()} (head)" in ok.stdout
    missing = subprocess.run([str(alembic), "-c", ini, "current"], cwd="/", capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "no database URL" in missing.stderr


def test_cli_module_reports_unreachable_database(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYDIALER_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    proc = subprocess.run(
        [sys.executable, "-m", "core.migrate", "current"], cwd=migrate.SCRIPT_LOCATION.parent.parent,
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach PostgreSQL" in proc.stderr and "Traceback" not in proc.stderr


def test_no_functions_or_triggers_survive_downgrade(empty_pg_url: str) -> None:
    migrate.upgrade(empty_pg_url)
    migrate.downgrade(empty_pg_url, "base")
    engine = sa.create_engine(empty_pg_url)
    try:
        with engine.connect() as conn:
            functions = conn.execute(
                sa.text(
                    "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname = 'public'"
                )
            ).scalars().all()
    finally:
        engine.dispose()
    assert functions == []


def test_upgrade_to_a_revision_and_unknown_revision(empty_pg_url: str) -> None:
    migrate.upgrade(empty_pg_url, "0001")
    assert migrate.current(empty_pg_url) == "0001"
    assert not migrate.is_at_head(empty_pg_url)
    # An unknown revision is alembic's CommandError (the CLI prints it as one line, exit 1).
    with pytest.raises(CommandError, match="nope-not-a-revision"):
        migrate.upgrade(empty_pg_url, "nope-not-a-revision")


@pytest.mark.slow
def test_concurrent_upgrades_serialise(empty_pg_url: str, tmp_path: Path) -> None:
    """Several processes starting together each run `upgrade head`: none fails, the schema is built
    once (alembic's context is process-global, so this needs real processes, not threads)."""
    env = {"PATH": "/usr/bin:/bin", "PYDIALER_DATA_DIR": str(tmp_path), "DATABASE_URL": empty_pg_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "core.migrate", "upgrade"], cwd=migrate.SCRIPT_LOCATION.parent.parent,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sum("Running upgrade  -> 0001" in err for _out, err in outputs) == 1, outputs
    assert migrate.is_at_head(empty_pg_url)
    assert _tables(empty_pg_url) == set(Base.metadata.tables) | {"alembic_version"}
