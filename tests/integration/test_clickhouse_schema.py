"""Migrations on real engines: in-process chdb and analytics.server over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import clickhouse_connect
import pytest

from analytics.schema import Migrator, discover, render

TABLES = {"cdr", "agent_states", "dial_decisions", "utterances", "cdr_minute", "cdr_minute_mv", "schema_migrations",
          "cdr_hour", "cdr_hour_mv", "cdr_day_disposition", "cdr_day_disposition_mv",  # 0006: KPI rollups
          "cdr_agent_day", "cdr_agent_day_mv",  # 0008
          "cdr_day", "cdr_day_mv", "cdr_by_zone", "cdr_by_zone_mv"}  # 0009, 0010


@pytest.fixture(params=["chdb", "http"])
def admin(request: pytest.FixtureRequest) -> Iterator[tuple[object, str]]:
    """A client bound to no database, and a database name nobody uses yet (dropped after)."""
    if request.param == "chdb":
        client = clickhouse_connect.get_client(interface="chdb", path=str(request.getfixturevalue("ch_engine_path")))
    else:
        url = request.getfixturevalue("ch_server")
        host, port = url.removeprefix("http://").split(":")
        client = clickhouse_connect.get_client(host=host, port=int(port))
    name = f"pyd_schema_{uuid.uuid4().hex[:8]}"
    yield client, name
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


def tables(client: object, db: str) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": db})  # type: ignore[attr-defined]
    return {r[0] for r in rows.result_rows}


def test_up_twice_is_harmless_and_status_tracks_it(admin: tuple[object, str]) -> None:
    client, db = admin
    migrator = Migrator(client, db)  # type: ignore[arg-type]
    assert [m.version for m in migrator.up()] == [m.version for m in discover()]
    assert migrator.up() == []
    assert tables(client, db) == TABLES
    assert all(s.applied and not s.edited for s in migrator.status())


def test_every_up_file_applies_twice_without_error_even_without_bookkeeping(admin: tuple[object, str]) -> None:
    client, db = admin
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")  # type: ignore[attr-defined]
    for _ in range(2):
        for migration in discover():
            for statement in render(migration.up_path.read_text(), db):
                client.command(statement)  # type: ignore[attr-defined]
    assert tables(client, db) == TABLES - {"schema_migrations"}


def test_down_then_up_restores_the_schema(admin: tuple[object, str]) -> None:
    client, db = admin
    migrator = Migrator(client, db)  # type: ignore[arg-type]
    migrator.up()
    back = len(discover()) - 3  # down to 0003: cdr_minute (0005) and utterances (0004) go
    undone = migrator.down(back)
    assert [m.name for m in undone] == [m.name for m in reversed(discover())][:back]
    assert "cdr_minute" not in tables(client, db) and "utterances" not in tables(client, db)
    assert [s.applied for s in migrator.status()][-back:] == [False] * back
    assert [m.name for m in migrator.up()] == [m.name for m in discover()][-back:]
    assert tables(client, db) == TABLES
    migrator.down(len(discover()))
    assert tables(client, db) == {"schema_migrations"}


def test_up_to_a_target_stops_there(admin: tuple[object, str]) -> None:
    client, db = admin
    migrator = Migrator(client, db)  # type: ignore[arg-type]
    assert [m.version for m in migrator.up(target=2)] == [1, 2]
    assert tables(client, db) == {"cdr", "agent_states", "schema_migrations"}


def test_roles_cannot_run_on_chdb(ch_client: object) -> None:
    # chdb has no access control: the explicit `roles` command is for real servers.
    from clickhouse_connect.driver.exceptions import DatabaseError

    migrator = Migrator(ch_client, ch_client.database)  # type: ignore[arg-type, attr-defined]
    with pytest.raises(DatabaseError, match="ACCESS_DENIED|Not enough privileges"):
        migrator.roles("a-password")


def test_get_client_without_url_is_in_process_chdb(base_settings: object, ch_engine_path: object) -> None:
    import dataclasses

    from analytics.client import get_client

    name = f"pyd_factory_{uuid.uuid4().hex[:8]}"
    settings = dataclasses.replace(base_settings, clickhouse_database=name)  # type: ignore[type-var]
    client = get_client(settings)
    try:
        assert type(client).__name__ == "ChdbClient"
        assert client.database in (None, "", "default")  # the database does not exist yet
        Migrator(client, name).up()
        bound = get_client(settings)
        assert bound.database == name and bound.command("SELECT count() FROM cdr") == 0
        bound.close()
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        client.close()


@pytest.mark.slow  # three interpreter start-ups
def test_schema_cli_over_http(ch_server: str, tmp_path: object) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    name = f"pyd_cli_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CLICKHOUSE_URL": f"{ch_server}/{name}", "PYDIALER_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(repo)}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "analytics.schema", *args], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run("up").count("applied ") == len(discover())
    status = run("status")
    assert "pending" not in status and "0005_cdr_minute" in status
    last = discover()[-1]
    assert run("down", str(len(discover()))).splitlines()[0] == f"rolled back {last.version:04d}_{last.name}"
    client = clickhouse_connect.get_client(host="127.0.0.1", port=int(ch_server.rsplit(":", 1)[1]))
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


@pytest.mark.slow  # starts a second server
def test_server_applies_the_schema_at_start_and_owns_the_folder(tmp_path: object) -> None:
    from pathlib import Path

    from analytics.server import start_subprocess

    folder = Path(str(tmp_path))
    proc, url = start_subprocess(folder, "--apply-schema")
    try:
        client = clickhouse_connect.get_client(host="127.0.0.1", port=int(url.rsplit(":", 1)[1]), database="pydialer")
        assert client.command("SELECT count() FROM schema_migrations FINAL WHERE applied = 1") == len(discover())
        client.close()
        assert (folder / "clickhouse").is_dir()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
