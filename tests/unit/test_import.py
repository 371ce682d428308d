"""The nasty-CSV corpus (tests/fixtures/csv/): every bad row reported with its reason, every valid row
imported. Storage here is the in-memory LeadStore; tests/integration/test_import_pg.py runs the
same pipeline into PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from dialer.importer import ImportFileError, MemoryStore, import_file
from dialer.importer.parse import decode

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "csv"


def run(name: str, **kw: object) -> tuple[MemoryStore, object]:
    store = kw.pop("store", None) or MemoryStore()
    report = import_file((CORPUS / name).read_bytes(), store, filename=name, **kw)  # type: ignore[arg-type]
    return store, report


def phones(store: MemoryStore) -> list[str]:
    return [lead.phone_e164 for lead in store.leads]


def issues(report: object) -> list[tuple[int, str | None, str, str]]:
    return sorted((i.row, i.column, i.severity, i.reason) for i in report.issues)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "encoding", "names"),
    [
        ("utf8_bom.csv", "utf-8-sig", ["Zoë", "José"]),
        ("utf16_bom.csv", "utf-16", ["Åsa", "Łukasz"]),
        ("utf16le_nobom.csv", "utf-16-le", ["Chloé"]),
        ("cp1252.csv", "cp1252", ["Renée", "Müller"]),
    ],
)
def test_encodings_are_detected_and_text_survives(name: str, encoding: str, names: list[str]) -> None:
    store, report = run(name)
    assert report.encoding == encoding
    assert [lead.first_name for lead in store.leads] == names
    assert report.rejected == 0
    if encoding == "cp1252":
        assert any("Windows-1252" in note for note in report.notes)
        assert store.leads[0].custom_fields == {"notes": "costs 5€"}  # and the ';' delimiter was sniffed


def test_binary_file_is_a_clear_error() -> None:
    with pytest.raises(ImportFileError, match="binary"):
        run("binary.csv")
    with pytest.raises(ImportFileError, match="empty"):
        import_file(b"", MemoryStore())
    with pytest.raises(ImportFileError, match="legacy .xls"):
        import_file(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, MemoryStore())
    with pytest.raises(ImportFileError, match="XLSX"):
        import_file(b"PK\x03\x04 not really a zip", MemoryStore())


def test_ragged_rows_are_reported_and_the_rest_lands() -> None:
    store, report = run("ragged.csv")
    assert phones(store) == ["+12125550141", "+12125550144", "+12125550145"]
    assert issues(report) == [
        (3, None, "error", "too few fields: 2 instead of 3"),
        (4, None, "error", "too many fields: 5 instead of 3"),
        (6, None, "skipped", "empty row"),
    ]
    assert report.total_rows == 6 and report.imported == 3 and report.rejected == 2


def test_formula_cells_are_stored_as_text_flagged_and_neutralised_on_export() -> None:
    store, report = run("formula.csv")
    assert len(store.leads) == 4
    assert store.leads[0].first_name == "=cmd|' /C calc'!A0"  # stored verbatim, as text
    flagged = [(i.row, i.column) for i in report.issues if i.severity == "warning"]
    assert flagged == [(2, "first_name"), (3, "notes"), (5, "first_name")]  # "-5" and "+12" are plain numbers
    exported = list(csv.reader(io.StringIO(report.to_csv())))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in exported for cell in row)
    assert exported[1][4] == "'=cmd|' /C calc'!A0"


def test_duplicates_within_the_file_and_against_the_list() -> None:
    store, report = run("duplicates.csv", store=MemoryStore(existing={"+12125550162": 99}))
    assert phones(store) == ["+12125550161"]
    assert issues(report) == [
        (3, "phone", "error", "duplicate of row 2 in this file"),
        (4, "phone", "error", "duplicate of row 2 in this file"),
        (5, "phone", "error", "already in this list (lead 99)"),
    ]


def test_dnc_scrub() -> None:
    store, report = run("duplicates.csv", store=MemoryStore(dnc={"+12125550161": "global", "+12125550162": "campaign"}))
    assert phones(store) == []
    assert [(i.row, i.reason) for i in report.issues if "DNC" in i.reason] == [
        (2, "on the global DNC list"),
        (5, "on the campaign DNC list"),
    ]


def test_invalid_and_foreign_numbers() -> None:
    store, report = run("invalid_foreign.csv")
    assert phones(store) == ["+12125550171"]
    reasons = {i.row: i.reason for i in report.issues}
    assert reasons[2] == "invalid phone number"
    assert reasons[3] == "invalid phone number"
    assert reasons[4].startswith("not a phone number")
    assert reasons[5].startswith("foreign number (+44")
    assert reasons[6].startswith("foreign number (+33")
    assert reasons[7] == "phone missing"
    # The same file into a list that accepts UK and French numbers too.
    store, report = run("invalid_foreign.csv", allowed_country_codes=frozenset({1, 44, 33}))
    assert phones(store) == ["+442079460958", "+33123456789", "+12125550171"]
    assert store.leads[0].tz_candidates == ("Europe/London",)


def test_multiline_cells_count_as_one_row() -> None:
    store, report = run("multiline.csv")
    assert store.leads[0].custom_fields["notes"] == "line one\nline two"
    assert [(i.row, i.reason[:18]) for i in report.issues] == [(4, "not a phone number")]


def test_mapping_custom_fields_and_time_zone_refinement() -> None:
    mapping = {"Tel": "phone", "Given": "first_name", "Family": "last_name", "Province": "state", "ZIP": "postal_code",
               "Junk": "ignore"}
    store, report = run("mapping.csv", mapping=mapping)
    first, second = store.leads
    assert first.custom_fields == {"Account Id": "A-1"}
    assert "America/Indiana/Indianapolis" in first.tz_candidates
    assert second.tz_candidates == ("America/Denver",) and second.timezone == "America/Denver"  # El Paso 915 + 79901
    with pytest.raises(ImportFileError, match="not in the file"):
        run("mapping.csv", mapping={"Telephone": "phone"})
    with pytest.raises(ImportFileError, match="unknown lead fields"):
        run("mapping.csv", mapping={"Tel": "phone", "Given": "nickname"})
    with pytest.raises(ImportFileError, match="no column is mapped to the phone"):
        run("mapping.csv", mapping={"Tel": "ignore"})


def test_a_10_mb_cell_rejects_its_row_only() -> None:
    big = "x" * (10 * 1024 * 1024)
    data = f'phone,notes\n2125550191,ok\n2125550192,"{big}"\n2125550193,also ok\n'.encode()
    store = MemoryStore()
    report = import_file(data, store)
    assert phones(store) == ["+12125550191", "+12125550193"]
    (issue,) = report.issues
    assert (issue.row, issue.column) == (3, "notes") and issue.reason.startswith("cell too large (10,485,760")


def test_progress_is_reported_per_chunk_and_completes() -> None:
    rows = "".join(f"2125{i:06d}\n" for i in range(2000, 2250))
    calls: list[tuple[int, int]] = []
    store = MemoryStore()
    report = import_file(("phone\n" + rows).encode(), store, chunk_rows=100, progress=lambda d, t: calls.append((d, t)))
    assert [d for d, _ in calls] == [100, 200, 250, 250]
    assert calls[-1] == (250, 250) and report.imported == len(store.leads)


def test_xlsx_import_with_numeric_phone_cells() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["phone", "first_name", "consent"])
    sheet.append([2125550201, "Num", "yes"])
    sheet.append(["(212) 555-0202", "Text", "maybe"])
    sheet.append(["bad", "Bad", "no"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    store = MemoryStore()
    report = import_file(buffer.getvalue(), store, filename="leads.xlsx")
    assert phones(store) == ["+12125550201", "+12125550202"]
    assert [lead.consent_call for lead in store.leads] == [True, None]
    assert [(i.row, i.severity) for i in report.issues] == [(3, "warning"), (4, "error")]


def test_decode_fallbacks() -> None:
    assert decode("héllo".encode())[1] == "utf-8"
    assert decode(b"caf\xe9")[:2] == ("café", "cp1252")
    assert decode(b"\x81\x8d")[1] == "latin-1"


def test_worker_processes_give_the_same_report() -> None:
    lines = ["phone,first_name,notes"]
    for i in range(600):
        phone = "bad" if i % 50 == 0 else f"212555{i % 400:04d}"  # invalid rows and in-file duplicates
        lines.append(f"{phone},N{i},=x{i}" if i % 97 == 0 else f"{phone},N{i},n")
    data = "\n".join(lines).encode()
    one, two = MemoryStore(), MemoryStore()
    single = import_file(data, one, chunk_rows=64)
    multi = import_file(data, two, chunk_rows=64, workers=2)
    assert issues(single) == issues(multi) and single.rejected > 0
    assert [(lead.row, lead.phone_e164) for lead in one.leads] == [(lead.row, lead.phone_e164) for lead in two.leads]


def nasty_csv(rows: int = 400) -> bytes:
    """A file with a bit of everything, spread over many chunks: formula cells, ragged, blank and
    multi-line rows, invalid / foreign / duplicate numbers, Canadian and Caribbean numbers, too-long
    names, bad priority / country / consent, custom values with quotes, backslashes, tabs, newlines."""
    lines = ["phone,first_name,last_name,state,zip,priority,country,consent,Account Id,Notes"]
    phones = ["2125550100", "(416) 555-0199", "+1 246 521 0123", "876-606-0123", "1-800-555-0100", "555-555-0100",
              "911", "+44 20 7946 0958", "n/a", "", "+1 (787) 234 5678", "2125550100", "212.555.01"]
    notes = ['say "hi"', "back\\slash", "tab\there", '"two\nlines"', "=cmd|' /C calc'!A0", "+12", "-5", "ünï©ødé", ""]
    for i in range(rows):
        phone = phones[i % len(phones)] if i % 3 else f"212{200 + i % 700:03d}{i:04d}"
        first = "x" * 101 if i % 97 == 5 else ("@SUM(A1)" if i % 41 == 3 else f"N{i}")
        if i % 89 == 4:
            first = f"Back\\slash {i}"
        elif i % 42 == 9 and i > 300:  # past the delimiter sniffer's sample; a unique number
            first = f'"Tab\tand\rCR {i}"'
        note = notes[i % len(notes)]
        note = note if note.startswith('"') else '"' + note.replace('"', '""') + '"'
        row = (f"{phone},{first},L{i},{['NY', 'ca', '', 'XX', 'IN'][i % 5]},{['10001', '', '46204', 'ABCDE', '07030-1234'][i % 5]},"
               f"{['', '3', 'high', ' 7 '][i % 4]},{['US', '', 'USA', 'ca'][i % 4]},{['yes', 'no', 'maybe', ''][i % 4]},"
               f"A-{i % 50},{note}")
        if i % 53 == 7:
            row += ",extra"
        if i % 61 == 11:
            row = row.rsplit(",", 3)[0]
        lines.append(row)
        if i % 71 == 13:
            lines.append(",,,")
    return ("\n".join(lines) + "\n").encode()


def test_nul_characters_reject_their_row_only() -> None:
    # Past the first 64 KiB (a NUL there means a binary file): PostgreSQL cannot store NUL in text.
    good = "".join(f"212555{i:04d},A\n" for i in range(1000, 9000))
    data = ("phone,first_name\n" + good + "2125550999,B\x00C\n2125550998,D\n").encode()
    store = MemoryStore()
    report = import_file(data, store)
    assert [(i.row, i.column, i.reason, i.value) for i in report.issues] == [
        (8002, "first_name", "NUL character in the cell (binary data?)", "B\\0C")]
    assert report.imported == 8001 and store.leads[-1].phone_e164 == "+12125550998"


def full_issues(report: object) -> list[tuple[int, str | None, str, str, str]]:
    return [(i.row, i.column, i.severity, i.reason, i.value) for i in report.issues]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("workers", "background"), [(2, False), (1, True), (3, True)])
def test_workers_and_background_store_change_nothing_on_a_nasty_file(workers: int, background: bool) -> None:
    data = nasty_csv()
    one, other = MemoryStore(dnc={"+12125550100": "global"}), MemoryStore(dnc={"+12125550100": "global"})
    single = import_file(data, one, chunk_rows=37, allowed_country_codes=frozenset({1, 44}))
    multi = import_file(data, other, chunk_rows=37, allowed_country_codes=frozenset({1, 44}), workers=workers,
                        background_store=background)
    assert full_issues(single) == full_issues(multi)
    assert single.summary() == multi.summary()
    assert one.leads == other.leads  # every field, in file order
    reasons = single.reasons()
    for expected in ("duplicate of row N in this file", "invalid phone number", "on the global DNC list",
                     "formula-like text stored as text", "first_name longer than N characters", "too many fields",
                     "too few fields", "empty row", "priority is not a whole number; N used", "consent not yes/no; left unknown"):
        assert reasons.get(expected), (expected, reasons)
    assert any(lead.phone_e164.startswith("+1246") for lead in one.leads)  # Barbados
    assert any(lead.custom_fields.get("Notes") == "two\nlines" for lead in one.leads)
    rows = [i.row for i in single.issues]
    assert rows == sorted(rows)  # the report reads top to bottom
    assert single.imported + single.rejected + single.skipped == single.total_rows


def test_background_store_reports_progress_per_chunk_and_raises_store_errors() -> None:
    rows = "".join(f"2125{i:06d}\n" for i in range(2000, 2250))
    data = ("phone\n" + rows).encode()
    calls: list[tuple[int, int]] = []
    report = import_file(data, MemoryStore(), chunk_rows=100, background_store=True,
                         progress=lambda d, t: calls.append((d, t)))
    assert [d for d, _ in calls] == [100, 200, 250, 250] and report.imported == 250

    class Failing(MemoryStore):
        def write(self, leads: list) -> int:  # type: ignore[type-arg]
            if self.leads:
                raise RuntimeError("disk full")
            return super().write(leads)

    failing = Failing()
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(data, failing, chunk_rows=100, background_store=True)
    assert len(failing.leads) == 100
