"""app.sqlpage: what /sql accepts and refuses (pure; the engine-side limits are tested in
tests/integration/test_sql_page.py)."""

from __future__ import annotations

import pytest

from app.sqlpage import MAX_ROWS, QUERY_SETTINGS, SqlRefused, truncate_rows, validate_sql

ACCEPTED = [
    ("SELECT 1", "SELECT"),
    ("select count() from cdr", "SELECT"),
    ("  SELECT * FROM cdr WHERE disposition_code = 'SALE';  ", "SELECT"),
    ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "WITH"),
    ("EXPLAIN SELECT * FROM cdr", "EXPLAIN"),
    ("DESCRIBE TABLE cdr", "DESCRIBE"),
    ("SHOW TABLES", "SHOW"),
    ("(SELECT 1) UNION ALL (SELECT 2)", "SELECT"),
    ("SELECT 'a; DROP TABLE cdr' AS s", "SELECT"),  # ';' and DROP inside a string are data
    ("SELECT `drop` FROM t", "SELECT"),  # a quoted identifier may be named like a keyword
    ("SELECT 1 -- trailing comment; DROP TABLE cdr", "SELECT"),  # the comment is removed, not run
    ("SELECT name FROM system.columns WHERE table = 'cdr'", "SELECT"),
    ("SELECT number FROM numbers(10)", "SELECT"),
    ("SELECT 'it''s' AS s", "SELECT"),
    ("SELECT profile FROM t", "SELECT"),  # 'file' inside a longer word is not the file() function
]


@pytest.mark.parametrize(("sql", "kind"), ACCEPTED)
def test_accepts_read_only_statements(sql, kind):
    assert validate_sql(sql).kind == kind


def test_comments_are_removed_from_what_runs():
    checked = validate_sql("SELECT 1 /* hi */ -- bye\n;")
    assert "hi" not in checked.sql and "bye" not in checked.sql and not checked.sql.endswith(";")


REFUSED = [
    ("INSERT INTO cdr VALUES (1)", "not INSERT"),
    ("DROP TABLE cdr", "not DROP"),
    ("ALTER TABLE cdr DELETE WHERE 1", "not ALTER"),
    ("TRUNCATE TABLE cdr", "not TRUNCATE"),
    ("CREATE TABLE x (a Int8) ENGINE = Memory", "not CREATE"),
    ("SYSTEM SHUTDOWN", "not SYSTEM"),
    ("SELECT 1; DROP TABLE cdr", "one statement"),
    ("SELECT 1;; SELECT 2", "one statement"),
    ("SELECT 1 /* ; */; DROP TABLE cdr", "one statement"),
    ("/* SELECT */ DROP TABLE cdr", "not DROP"),
    ("-- SELECT\nDROP TABLE cdr", "not DROP"),
    ("SELECT 1 /* unterminated", "unterminated"),
    ("SELECT /* a /* b */ 1 */ 2", "nested"),
    ("SELECT 1 # hidden\n; DROP TABLE cdr", "'#'"),
    ("SELECT $$x$$", "'$'"),
    ("SELECT * FROM cdr INTO OUTFILE '/tmp/x.csv'", "INTO OUTFILE"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
    ("SELECT * FROM url('http://example.com/x.csv', CSV)", "url()"),
    ("SELECT * FROM s3('https://bucket/x')", "s3()"),
    ("SELECT * FROM remote('10.0.0.1', system.one)", "remote()"),
    ("SELECT * FROM remoteSecure('10.0.0.1', system.one)", "remoteSecure()"),
    ("SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", "mysql()"),
    ("SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')", "postgresql()"),
    ("SELECT * FROM FILE ('/etc/passwd')", "FILE()"),
    ("SELECT 1 SETTINGS readonly=0", "SETTINGS"),
    ("SELECT 1 SETTINGS max_result_rows = 0", "SETTINGS"),
    ("SET readonly = 0", "not SET"),
    ("SELECT 1 FORMAT JSON", "FORMAT"),
    ("SELECT 'unterminated", "unterminated"),
    ("", "enter a SELECT"),
    ("   -- only a comment", "enter a SELECT"),
    (None, "enter a SELECT"),
    ("SELECT 1" + " " * 20_001, "longer than"),
    ("SELECT '\x00'", "NUL"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_refuses_with_a_clear_message(sql, reason):
    with pytest.raises(SqlRefused) as info:
        validate_sql(sql)
    assert reason in str(info.value)


def test_engine_side_limits_are_always_sent():
    assert QUERY_SETTINGS["readonly"] == 2
    assert QUERY_SETTINGS["max_result_rows"] == MAX_ROWS
    assert QUERY_SETTINGS["result_overflow_mode"] == "break"
    assert QUERY_SETTINGS["max_execution_time"] == 10


def test_truncate_rows():
    rows = [(i,) for i in range(12)]
    assert truncate_rows(rows, 10) == (rows[:10], True)
    assert truncate_rows(rows[:5], 10) == (rows[:5], False)
