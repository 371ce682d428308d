"""Pure parts of the ClickHouse layer: CDR rows, the client URL, migration files, server users."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from analytics.cdr import CDR_COLUMNS, cdr_row
from analytics.client import database_name, parse_clickhouse_url
from analytics.schema import SQL_DIR, discover, render
from analytics.server import Users
from core.config import Settings
from core.exceptions import ConfigError, ValidationError

T0 = datetime(2026, 3, 1, 14, 0, 0, tzinfo=UTC)


def attempt(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "call_id": "7d9f3f0e-6a39-4a0e-9d3f-0a4b6f1f2c11",
        "campaign_id": 12,
        "lead_id": 99,
        "dialed_at": T0,
        "ringing_at": T0 + timedelta(seconds=2),
        "answered_at": T0 + timedelta(seconds=9),
        "connected_at": T0 + timedelta(seconds=10.5),
        "ended_at": T0 + timedelta(seconds=70.5),
        "wrap_ended_at": T0 + timedelta(seconds=85.5),
        "outcome": "human",
        "agent_id": 4,
    }
    base.update(over)
    return base


def test_human_call_durations_and_flags() -> None:
    row = cdr_row(attempt(disposition_code="SALE", is_sale=True))
    assert set(row) == set(CDR_COLUMNS)
    assert row["call_id"] == uuid.UUID("7d9f3f0e-6a39-4a0e-9d3f-0a4b6f1f2c11")
    assert (row["ring_s"], row["wait_s"], row["talk_s"], row["wrap_s"]) == (7.0, 1.5, 60.0, 15.0)
    assert (row["is_contact"], row["is_sale"], row["dropped"], row["sign"]) == (1, 1, 0, 1)
    # No explicit version: the latest lifecycle timestamp, in microseconds.
    assert row["version"] == int((T0 + timedelta(seconds=85.5)).timestamp() * 1_000_000)


def test_abandoned_call_counts_as_contact_and_drop_with_wait_until_hangup() -> None:
    row = cdr_row(attempt(outcome="abandoned", connected_at=None, wrap_ended_at=None, agent_id=None))
    assert (row["dropped"], row["is_contact"], row["agent_id"]) == (1, 1, 0)
    assert row["wait_s"] == pytest.approx(61.5)
    assert (row["talk_s"], row["wrap_s"]) == (0.0, 0.0)


def test_unanswered_call_rings_until_the_end() -> None:
    row = cdr_row(attempt(outcome="no_answer", answered_at=None, connected_at=None, wrap_ended_at=None,
                          ended_at=T0 + timedelta(seconds=32)))
    assert (row["ring_s"], row["wait_s"], row["is_contact"]) == (30.0, 0.0, 0)


def test_explicit_values_win_and_times_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    row = cdr_row(attempt(version=5, talk_s=12, dialed_at=datetime(2026, 3, 1, 15, 0, tzinfo=paris),
                          ended_at="2026-03-01T14:01:00+00:00"))
    assert row["version"] == 5 and row["talk_s"] == 12.0
    assert row["dialed_at"] == T0 and row["dialed_at"].tzinfo == UTC
    assert row["ended_at"] == T0 + timedelta(minutes=1)


def test_updated_at_is_the_version_when_present() -> None:
    row = cdr_row(attempt(updated_at=T0 + timedelta(hours=1)))
    assert row["version"] == int((T0 + timedelta(hours=1)).timestamp() * 1_000_000)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"call_id": "nope"}, "call_id"),
        ({"campaign_id": None}, "campaign_id"),
        ({"campaign_id": -1}, "campaign_id"),
        ({"lead_id": "12"}, "lead_id"),
        ({"dialed_at": None}, "dialed_at"),
        ({"ended_at": "yesterday"}, "ended_at"),
        ({"outcome": "maybe"}, "outcome"),
        ({"version": -3}, "version"),
        ({"attempt_no": 70000}, "attempt_no"),
    ],
)
def test_invalid_attempts_name_the_field(override: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        cdr_row(attempt(**override))
    assert field in err.value.details


def test_clickhouse_url_parsing() -> None:
    kw = parse_clickhouse_url("http://an%40lyst:p%3Ass@ch.example:8124/reporting?compress=false")
    assert kw == {"interface": "http", "host": "ch.example", "port": 8124, "username": "an@lyst",
                  "password": "p:ss", "database": "reporting", "compress": "false"}
    assert parse_clickhouse_url("https://ch.example")["port"] == 8443
    assert parse_clickhouse_url("http://127.0.0.1:8123")["username"] == "default"
    with pytest.raises(ConfigError):
        parse_clickhouse_url("tcp://ch.example:9000")
    with pytest.raises(ConfigError):
        parse_clickhouse_url("http://:8123")


def test_database_name_comes_from_the_url_path_or_the_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, clickhouse_database="pyd")
    assert database_name(settings) == "pyd"
    assert database_name(Settings(data_dir=tmp_path, clickhouse_url="http://h:8123/other")) == "other"
    assert database_name(Settings(data_dir=tmp_path, clickhouse_url="http://h:8123/")) == "pydialer"


def test_migration_files_are_numbered_paired_and_qualified() -> None:
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        for path in (m.up_path, m.down_path):
            statements = render(path.read_text(), "somedb")
            assert statements, path
            for statement in statements:
                assert "{db}" not in statement
                code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
                head = code.split("(")[0].upper()
                if head.lstrip().startswith("INSERT INTO"):
                    # A backfill is idempotent only when it runs on an empty target.
                    target = head.split()[2].lower().rstrip(";")
                    assert f"(select count() from {target}) = 0" in code.lower(), (
                        f"{path.name}: a backfill INSERT must be guarded by an empty-target check"
                    )
                    continue
                if " MATERIALIZE INDEX " in f" {head} " or " MATERIALIZE PROJECTION " in f" {head} ":
                    continue  # rebuilding an index or projection again is harmless
                assert "IF NOT EXISTS" in head or "IF EXISTS" in head, f"{path.name}: not idempotent: {head}"
    assert (SQL_DIR / "roles" / "readonly.sql").exists()


def test_discover_rejects_badly_named_or_unpaired_files(tmp_path: Path) -> None:
    (tmp_path / "0001_a.up.sql").write_text("SELECT 1")
    with pytest.raises(ConfigError, match="missing"):
        discover(tmp_path)
    (tmp_path / "0001_a.down.sql").write_text("SELECT 1")
    (tmp_path / "1_b.up.sql").write_text("SELECT 1")
    with pytest.raises(ConfigError, match="NNNN"):
        discover(tmp_path)


def test_users_authenticate() -> None:
    users = Users(default_password="s3cret", readonly_user="analyst", readonly_password="ro")
    assert users.authenticate("default", "s3cret") is False
    assert users.authenticate("analyst", "ro") is True
    assert users.authenticate("default", "") is None
    assert users.authenticate("analyst", "s3cret") is None
    assert users.authenticate("nobody", "") is None
    assert Users().authenticate("default", "") is False


def test_users_accept_any_unicode_password() -> None:
    users = Users(default_password="pässwörd")
    assert users.authenticate("default", "pässwörd") is False
    assert users.authenticate("default", "ünknown") is None
