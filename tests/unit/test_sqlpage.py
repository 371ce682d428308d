"""app.sqlpage: what /sql accepts and refuses (pure; the engine-side limits are tested in
tests/integration/test_sql_page.py)."""

from __future__ import annotations

import pytest

from app.sqlpage import MAX_ROWS, QUERY_SETTINGS, SqlRefused, check_query_tree, truncate_rows, validate_sql

ACCEPTED = [
    ("SELECT 1", "SELECT"),
    ("select count() from cdr", "SELECT"),
    ("  SELECT * FROM cdr WHERE disposition_code = 'SALE';  ", "SELECT"),
    ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "SELECT"),  # WITH … SELECT is a SELECT
    ("SELECT * FROM cdr ORDER BY dialed_at DESC", "SELECT"),  # DESC as ORDER BY's keyword
    ("SELECT c.campaign_id FROM cdr AS c JOIN agent_states AS a ON a.agent_id = c.agent_id", "SELECT"),
    ("SELECT * FROM pydialer.cdr", "SELECT"),  # the analytics database itself, qualified
    ("(SELECT 1) UNION ALL (SELECT 2)", "SELECT"),
    ("SELECT 'a; DROP TABLE cdr' AS s", "SELECT"),  # ';' and DROP inside a string are data
    ("SELECT `drop` FROM t", "SELECT"),  # a quoted identifier may be named like a keyword
    ("SELECT 1 -- trailing comment; DROP TABLE cdr", "SELECT"),  # the comment is removed, not run
    ("SELECT name FROM t WHERE s = 'system.columns'", "SELECT"),  # a string is data
    ("SELECT number FROM numbers(10)", "SELECT"),  # row generators are fine
    ("SELECT * FROM zeros(3)", "SELECT"),
    ("SELECT 'it''s' AS s", "SELECT"),
    ("SELECT profile FROM t", "SELECT"),  # 'file' inside a longer word is not the file() function
]


@pytest.mark.parametrize(("sql", "kind"), ACCEPTED)
def test_accepts_read_only_statements(sql, kind):
    assert validate_sql(sql, "pydialer").kind == kind


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
    ("DESCRIBE TABLE cdr", "only a single SELECT statement is allowed, not DESCRIBE"),
    ("DESC cdr", "not DESC"),
    ("SHOW TABLES", "not SHOW"),
    ("EXPLAIN SELECT * FROM cdr", "not EXPLAIN"),
    ("SELECT * FROM (EXPLAIN SELECT 1)", "EXPLAIN is not"),
    ("SELECT * FROM (SHOW TABLES)", "SHOW is not"),
    ("WITH 1 AS x", "followed by a SELECT"),
    ("SELECT name FROM system.tables", "system.tables is a server table"),
    ("SELECT * FROM `system`.`users`", "system.users is a server table"),
    ('SELECT * FROM "system"."settings"', "system.settings is a server table"),
    ("SELECT * FROM SYSTEM.ONE", "SYSTEM.ONE is a server table"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables is a server table"),
    ("SELECT * FROM cdr WHERE agent_id IN (SELECT 1 FROM system.one)", "server table"),
    ("SELECT * FROM other_db.cdr", "other_db.cdr is in another database"),
    ("SELECT * FROM cdr AS c JOIN `other`.leads AS l ON 1", "other.leads is in another database"),
    ("SELECT * FROM cdr WHERE agent_id IN other.ids", "other.ids is in another database"),
    ("SELECT * FROM merge('system', '^one$')", "merge() reads tables by name"),
    ("SELECT * FROM cdr, merge(currentDatabase(), 'cdr')", "merge() reads tables by name"),
    ("SELECT joinGet('system.one', 'dummy', 1)", "joinGet() reads tables by name"),
    ("SELECT dictGetString('d', 'a', 1)", "dictGetString() reads tables by name"),
    ("SELECT * FROM generateRandom('a Int8') LIMIT 1", "table function generateRandom() is not allowed"),
    ("SELECT * FROM view(SELECT 1)", "table function view() is not allowed"),
    ("SELECT * FROM cdr JOIN values('a Int8', 1) AS v ON 1 JOIN numbers(2) AS n ON 1 JOIN cluster('x', cdr) ON 1",
     "cluster()"),
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
        validate_sql(sql, "pydialer")
    assert reason in str(info.value)


# Trimmed from chdb 26.9's real ``EXPLAIN QUERY TREE`` output.
TREE = """QUERY id: 0
  JOIN TREE
    CROSS JOIN id: 7
      TABLE EXPRESSION
        QUERY id: 3, alias: __table1, is_subquery: 1, is_cte: 1, cte_name: t
          JOIN TREE
            TABLE_FUNCTION id: 10, alias: __table2, table_function_name: {function}
      TABLE EXPRESSION
        TABLE id: 5, alias: __table3, table_name: {table}
"""


def test_query_tree_inside_the_database_passes():
    check_query_tree(TREE.format(function="numbers", table="pydialer.cdr"), "pydialer")
    check_query_tree("QUERY id: 0\n  PROJECTION\n    CONSTANT id: 1, constant_value: UInt64_1\n", "pydialer")
    # A SELECT without FROM reads ClickHouse's one-row dummy table; typed explicitly it is refused
    # by validate_sql (test_refuses_with_a_clear_message).
    check_query_tree(TREE.format(function="numbers", table="system.one"), "pydialer")


@pytest.mark.parametrize(("function", "table", "reason"), [
    ("numbers", "system.tables", "system.tables is outside the analytics database (pydialer)"),
    ("numbers", "other.cdr", "other.cdr is outside"),
    ("numbers", "`other`.`cdr`", "other.cdr is outside"),
    ("numbers", "cdr", "cdr is outside"),  # no database: cannot tell, so refused
    ("generateRandom", "pydialer.cdr", "table function generateRandom() is not allowed"),
    ("file", "pydialer.cdr", "table function file() is not allowed"),
])
def test_query_tree_outside_the_database_is_refused(function, table, reason):
    with pytest.raises(SqlRefused) as info:
        check_query_tree(TREE.format(function=function, table=table), "pydialer")
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
