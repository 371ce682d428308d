"""The SQL lexing the embedded ClickHouse HTTP server relies on (pure, no engine)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import sqltext


@pytest.mark.parametrize("first_byte", [b"\x09", b"\x0a", b"\x20", b"\x0d", b"\x00", b"A"])
def test_split_insert_keeps_binary_data_that_starts_with_whitespace_bytes(first_byte: bytes) -> None:
    # A Native block with 9 / 10 / 32 columns starts with the byte 0x09 / 0x0a / 0x20.
    data = first_byte + b"\x01\x02rest\n\x00"
    split = sqltext.split_insert(b"INSERT INTO db.t (`a`, `b`) FORMAT Native\n" + data)
    assert split is not None
    assert split.fmt == "Native"
    assert split.data == data
    assert split.head == "INSERT INTO db.t (`a`, `b`)"


@given(st.binary(max_size=200))
def test_split_insert_round_trips_any_payload(data: bytes) -> None:
    split = sqltext.split_insert(b"INSERT INTO t FORMAT RowBinary\n" + data)
    assert split is not None and split.data == data


def test_split_insert_moves_settings_after_infile() -> None:
    split = sqltext.split_insert(b"INSERT INTO t (x) SETTINGS async_insert = 0 FORMAT CSV\n1\n2\n")
    assert split is not None
    assert split.settings == "SETTINGS async_insert = 0"
    assert split.data == b"1\n2\n"
    assert split.infile_sql("/tmp/a'b") == "INSERT INTO t (x) FROM INFILE '/tmp/a\\'b' SETTINGS async_insert = 0 FORMAT CSV"


def test_split_insert_is_not_fooled_by_quoted_keywords() -> None:
    sql = b"INSERT INTO t (`format`, \"settings\") FORMAT TabSeparated\nFORMAT\tSETTINGS\n"
    split = sqltext.split_insert(sql)
    assert split is not None
    assert split.fmt == "TabSeparated"
    assert split.data == b"FORMAT\tSETTINGS\n"
    assert split.settings == ""


@pytest.mark.parametrize(
    "sql",
    [
        b"INSERT INTO t VALUES (1, 'FORMAT Native')",
        b"INSERT INTO t SELECT * FROM s FORMAT Native",
        b"INSERT INTO t FROM INFILE '/x' FORMAT CSV",
        b"SELECT 1 FORMAT Native",
        b"INSERT INTO t",
        b"",
    ],
)
def test_split_insert_leaves_plain_statements_alone(sql: bytes) -> None:
    assert sqltext.split_insert(sql) is None


@pytest.mark.parametrize(
    ("sql", "keyword", "read_only"),
    [
        ("SELECT 1", "SELECT", True),
        ("  -- comment\n/* block */ with x as (select 1) select * from x", "WITH", True),
        ("show tables", "SHOW", True),
        ("DESCRIBE TABLE cdr", "DESCRIBE", True),
        ("INSERT INTO t VALUES (1)", "INSERT", False),
        ("drop table t", "DROP", False),
        ("(SELECT 1)", "SELECT", True),
        ("", "", False),
        ("-- only a comment", "", False),
    ],
)
def test_first_keyword_and_read_only(sql: str, keyword: str, read_only: bool) -> None:
    assert sqltext.first_keyword(sql) == keyword
    assert sqltext.is_read_only(sql) is read_only


def test_external_table_functions_are_found_outside_strings_only() -> None:
    assert sqltext.external_table_functions("SELECT * FROM file('/etc/passwd', 'LineAsString')") == {"file"}
    assert sqltext.external_table_functions("SELECT * FROM URL ('http://x', CSV)") == {"url"}
    assert sqltext.external_table_functions("SELECT 'file(x)', file_name FROM t") == set()
    assert sqltext.external_table_functions("SELECT 1 INTO OUTFILE 'x'") == {"outfile"}


def test_output_format_is_the_top_level_clause() -> None:
    assert sqltext.output_format("SELECT 1 FORMAT JSONEachRow") == "JSONEachRow"
    assert sqltext.output_format("SELECT 'FORMAT CSV'") is None
    assert sqltext.output_format("SELECT * FROM (SELECT 1 FORMAT CSV)") is None


def test_split_statements_respects_quotes_and_comments() -> None:
    text = "CREATE TABLE a (x String DEFAULT ';');\n-- a comment; with a semicolon\nCREATE VIEW b AS SELECT ';' ;\n;\n"
    assert sqltext.split_statements(text) == [
        "CREATE TABLE a (x String DEFAULT ';')",
        "-- a comment; with a semicolon\nCREATE VIEW b AS SELECT ';'",
    ]


@given(st.binary(max_size=300))
def test_lexer_never_crashes_on_garbage(data: bytes) -> None:
    sqltext.tokens(data)
    sqltext.split_insert(data)
    sqltext.first_keyword(data)
    sqltext.external_table_functions(data)
