"""The importer into real PostgreSQL: COPY, duplicate check against the list, DNC scrub, re-import."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dialer.importer.parse import ImportFileError
from dialer.importer.writer import import_into_list

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "csv"


@pytest.fixture()
def list_ids(db_committed: sa.Engine) -> tuple[int, int]:
    with db_committed.begin() as conn:
        campaign = conn.execute(sa.text("INSERT INTO campaigns (name) VALUES ('imp') RETURNING id")).scalar_one()
        other = conn.execute(sa.text("INSERT INTO campaigns (name) VALUES ('other') RETURNING id")).scalar_one()
        list_id = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'L') RETURNING id"),
                               {"c": campaign}).scalar_one()
        conn.execute(sa.text("INSERT INTO dnc_entries (phone_e164) VALUES ('+12125550151')"))
        conn.execute(sa.text("INSERT INTO dnc_entries (phone_e164, scope, campaign_id) VALUES"
                             " ('+12125550152', 'campaign', :c), ('+12125550153', 'campaign', :o)"),
                     {"c": campaign, "o": other})
    return campaign, list_id


def test_import_copy_dnc_scrub_and_reimport(db_committed: sa.Engine, list_ids: tuple[int, int]) -> None:
    _, list_id = list_ids
    data = (CORPUS / "formula.csv").read_bytes()
    progress: list[tuple[int, int]] = []
    report = import_into_list(db_committed, list_id, data, filename="formula.csv", progress=lambda d, t: progress.append((d, t)))
    # 0151 global DNC, 0152 this campaign's DNC, 0153 another campaign's (not a hit), 0154 fine.
    assert report.imported == 2 and progress[-1] == (4, 4)
    assert {(i.row, i.reason) for i in report.issues if i.severity == "error"} == {
        (2, "on the global DNC list"), (3, "on the campaign DNC list")}
    with db_committed.connect() as conn:
        rows = conn.execute(sa.text("SELECT phone_e164, first_name, tz_candidates, timezone, custom_fields, consent_call"
                                    " FROM leads WHERE list_id = :l ORDER BY phone_e164"), {"l": list_id}).all()
    assert [r.phone_e164 for r in rows] == ["+12125550153", "+12125550154"]
    assert rows[1].first_name == '+HYPERLINK("http://evil")'  # stored verbatim as text
    assert rows[0].tz_candidates == ["America/New_York"] and rows[0].timezone == "America/New_York"
    assert rows[0].custom_fields == {"notes": "+12"} and rows[0].consent_call is False
    again = import_into_list(db_committed, list_id, data)
    assert again.imported == 0
    assert sum("already in this list" in i.reason for i in again.issues) == 2


def test_corpus_into_postgres_every_valid_row_lands(db_committed: sa.Engine, list_ids: tuple[int, int]) -> None:
    _, list_id = list_ids
    total = 0
    for name in ("utf8_bom.csv", "utf16_bom.csv", "cp1252.csv", "ragged.csv", "duplicates.csv", "invalid_foreign.csv",
                 "multiline.csv", "mapping.csv"):
        report = import_into_list(db_committed, list_id, (CORPUS / name).read_bytes(), filename=name, chunk_rows=2)
        total += report.imported
        # Every data row is accounted for: imported, rejected (error) or skipped (blank).
        assert report.imported + report.rejected + report.skipped == report.total_rows, name
    with db_committed.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM leads WHERE list_id = :l"), {"l": list_id}).scalar_one()
        names = set(conn.execute(sa.text("SELECT first_name FROM leads")).scalars())
    assert stored == total == 2 + 2 + 2 + 3 + 2 + 1 + 2 + 2
    assert {"Zoë", "Łukasz", "Renée", "Müller"} <= names


def test_too_long_values_and_unknown_list(db_committed: sa.Engine, list_ids: tuple[int, int]) -> None:
    _, list_id = list_ids
    data = ("phone,first_name,country\n2125550301," + "x" * 101 + ",US\n2125550302,Ok,USA\n").encode()
    report = import_into_list(db_committed, list_id, data)
    assert report.imported == 1
    assert [(i.row, i.reason, i.severity) for i in report.issues] == [
        (2, "first_name longer than 100 characters", "error"),
        (3, "country is not a 2-letter ISO code; left empty", "warning"),
    ]
    with pytest.raises(LookupError):
        import_into_list(db_committed, 999_999, data)
    with pytest.raises(ImportFileError):
        import_into_list(db_committed, list_id, (CORPUS / "binary.csv").read_bytes())


def test_nasty_file_lands_the_same_with_worker_processes(db_committed: sa.Engine, list_ids: tuple[int, int],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The real import (COPY behind the normaliser, on one connection) against the in-memory
    pipeline, and with two normalising processes and two COPY connections: same leads, same
    report, ids in file order."""
    from dialer.importer import MemoryStore, import_file, writer
    from tests.unit.test_import import full_issues, nasty_csv

    campaign, list_id = list_ids
    with db_committed.begin() as conn:
        other_list = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'L2') RETURNING id"),
                                  {"c": campaign}).scalar_one()
    data = nasty_csv(600) + b"2125550151,OnDnc\n2125550152,OnCampaignDnc\n"
    allowed = frozenset({1, 44})
    single = import_into_list(db_committed, list_id, data, chunk_rows=41, allowed_country_codes=allowed,
                              copy_connections=1)
    monkeypatch.setattr(writer, "COPY_READ_CHARS", 300)  # COPY fed in many small reads (whole lines each)
    multi = import_into_list(db_committed, other_list, data, chunk_rows=41, allowed_country_codes=allowed, workers=2)
    memory = MemoryStore(dnc={"+12125550151": "global", "+12125550152": "campaign"})
    expected = import_file(data, memory, chunk_rows=41, allowed_country_codes=allowed)
    assert full_issues(single) == full_issues(multi) == full_issues(expected)
    assert single.imported == multi.imported == len(memory.leads) > 0
    columns = ("phone_e164, first_name, last_name, state, postal_code, country, timezone, tz_candidates, priority,"
               " consent_call, custom_fields")
    with db_committed.connect() as conn:
        stored = [conn.execute(sa.text(f"SELECT {columns} FROM leads WHERE list_id = :l ORDER BY id"), {"l": lid}).all()
                  for lid in (list_id, other_list)]
    assert stored[0] == stored[1]
    assert [tuple(row) for row in stored[0]] == [
        (lead.phone_e164, lead.first_name or "", lead.last_name or "", lead.state, lead.postal_code, lead.country,
         lead.timezone, list(lead.tz_candidates) or None, lead.priority, bool(lead.consent_call), lead.custom_fields)
        for lead in memory.leads
    ]  # in file order (ids follow the file), custom fields exactly as read (quotes, backslashes, newlines)


def test_a_deadlocked_chunk_is_copied_again(db_committed: sa.Engine, list_ids: tuple[int, int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg2.errors

    from dialer.importer import writer

    _, list_id = list_ids
    real_copy = writer.PgLeadStore.copy
    failures: list[int] = []

    def copy_once_deadlocked(self: writer.PgLeadStore, connection: object, ids: list[int], leads: list) -> None:  # type: ignore[type-arg]
        if not failures:
            failures.append(leads[0].row)
            real_copy(self, connection, ids, leads)  # half done, then rolled back
            raise psycopg2.errors.DeadlockDetected("deadlock detected")
        real_copy(self, connection, ids, leads)

    monkeypatch.setattr(writer.PgLeadStore, "copy", copy_once_deadlocked)
    data = ("phone\n" + "".join(f"2125551{i:03d}\n" for i in range(100, 400))).encode()  # none on the DNC
    report = import_into_list(db_committed, list_id, data, chunk_rows=50)
    assert failures and report.imported == 300
    with db_committed.connect() as conn:
        phones = conn.execute(sa.text("SELECT phone_e164 FROM leads WHERE list_id = :l ORDER BY id"),
                              {"l": list_id}).scalars().all()
    assert phones == [f"+12125551{i:03d}" for i in range(100, 400)]  # once each, in file order
