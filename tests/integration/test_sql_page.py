"""/sql through Flask's test client on generated data in chdb (and once over HTTP on a real
analytics.server): SELECTs run under the limits, everything else is refused, all is audited."""

from __future__ import annotations

import csv
import dataclasses
import http.server
import io
import json
import threading

import pytest
import sqlalchemy as sa

from app.auth import CSRF_COOKIE, CSRF_HEADER
from app.sqlpage import MAX_ROWS, QUERY_SETTINGS
from tests.integration import test_analytics_page_helpers as helpers
from tests.integration.test_analytics_page_helpers import call, out, signed_in

loaded_ch = helpers.loaded_ch  # shared fixtures, registered in this module
page_app = helpers.page_app


def run(client, app, sql):
    return call(client, app, "sql-grid.columnDefs", {"sql-run.n_clicks": 1, "sql-text.value": sql})


def audit_rows(app) -> list[dict]:
    with app.extensions["pydialer"].engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor_username, action, after FROM audit_log "
                                    "WHERE action = 'sql.query' ORDER BY id")).all()
    return [{"actor": r[0], "action": r[1], **(r[2] or {})} for r in rows]


def test_select_runs_and_fills_the_grid(page_app, loaded_ch):
    cdr = loaded_ch[1].cdr
    client = signed_in(page_app, "manager")
    resp = run(client, page_app, "SELECT campaign_id, sum(sign) AS calls FROM cdr GROUP BY campaign_id "
                                 "ORDER BY campaign_id")
    columns = out(resp, "sql-grid", "columnDefs")
    rows = out(resp, "sql-grid", "rowData")
    assert [c["headerName"] for c in columns] == ["campaign_id", "calls"]
    assert {r["c0"]: r["c1"] for r in rows} == {int(k): int(v) for k, v in cdr.groupby("campaign_id").size().items()}
    assert out(resp, "sql-status", "children").startswith("3 rows in ")
    assert audit_rows(page_app)[-1]["status"] == "ok" and audit_rows(page_app)[-1]["rows"] == 3


def test_insert_is_refused_with_a_message_and_audited(page_app, loaded_ch):
    client = signed_in(page_app, "admin")
    sql = "INSERT INTO cdr (campaign_id) VALUES (1)"
    resp = run(client, page_app, sql)
    assert out(resp, "sql-grid", "rowData") == []
    message = json.dumps(out(resp, "sql-msg", "children"))
    assert "Refused: only a single SELECT statement is allowed, not INSERT" in message
    last = audit_rows(page_app)[-1]
    assert (last["actor"], last["status"], last["sql"]) == ("admin", "refused", sql)
    count = loaded_ch[0].command("SELECT sum(sign) FROM cdr")
    assert count == len(loaded_ch[1].cdr)  # nothing was written


@pytest.mark.parametrize(("sql", "needle"), [
    ("SELECT 1; DROP TABLE cdr", "only one statement"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
    ("SELECT 1 SETTINGS readonly = 0", "SETTINGS are not allowed"),
])
def test_other_statements_are_refused(page_app, sql, needle):
    resp = run(signed_in(page_app, "manager"), page_app, sql)
    assert needle in json.dumps(out(resp, "sql-msg", "children"))


def test_row_limit_cuts_and_says_so(page_app):
    resp = run(signed_in(page_app, "manager"), page_app, "SELECT number FROM numbers(1000000)")
    assert len(out(resp, "sql-grid", "rowData")) == MAX_ROWS
    assert "truncated" in out(resp, "sql-status", "children")


def test_engine_errors_are_shown_not_raised(page_app):
    resp = run(signed_in(page_app, "manager"), page_app, "SELECT nosuchcolumn FROM cdr")
    assert "nosuchcolumn" in json.dumps(out(resp, "sql-msg", "children"))
    assert audit_rows(page_app)[-1]["status"] == "error"


def test_with_select_and_union_run(page_app):
    client = signed_in(page_app, "manager")
    assert out(run(client, page_app, "WITH 2 AS x SELECT x * 3 AS y"), "sql-grid", "rowData") == [{"c0": 6}]
    resp = run(client, page_app, "SELECT a FROM ((SELECT 1 AS a) UNION ALL (SELECT 2 AS a)) ORDER BY a")
    assert out(resp, "sql-grid", "rowData") == [{"c0": 1}, {"c0": 2}]


@pytest.fixture()
def other_database(loaded_ch):
    """A second database on the same engine holding a secret: /sql must never read it."""
    client = loaded_ch[0]
    name = "pyd_other_" + loaded_ch[0].database[-8:]
    client.command(f"CREATE DATABASE IF NOT EXISTS {name}")
    client.command(f"CREATE TABLE {name}.secrets (s String) ENGINE = MergeTree ORDER BY s")
    client.command(f"INSERT INTO {name}.secrets VALUES ('top-secret')")
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


class _Hits(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).count += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"1\n")

    def log_message(self, *_args):
        pass


@pytest.fixture()
def http_target():
    """A local HTTP server counting requests: proves a refused url() never reached the network."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hits.count = 0
    yield f"http://127.0.0.1:{server.server_port}/x.csv"
    server.shutdown()


REFUSALS = [
    ("DESCRIBE TABLE cdr", "only a single SELECT statement is allowed, not DESCRIBE"),
    ("SHOW TABLES", "only a single SELECT statement is allowed, not SHOW"),
    ("EXPLAIN SELECT count() FROM cdr", "only a single SELECT statement is allowed, not EXPLAIN"),
    ("SELECT name FROM system.tables", "system.tables is a server table"),
    ("SELECT name FROM system.users", "system.users is a server table"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables is a server table"),
    ("SELECT * FROM {other}.secrets", "{other}.secrets is in another database"),
    ("SELECT count() FROM file('/etc/hostname', 'LineAsString')", "file() reaches outside"),
    ("SELECT * FROM url('{url}', CSV, 'a Int8')", "url() reaches outside"),
    ("SELECT * FROM cdr AS c, url('{url}', CSV, 'a Int8') AS u", "url() reaches outside"),
    ("SELECT * FROM remote('127.0.0.1', system.one)", "remote() reaches outside"),
    ("SELECT * FROM s3('{url}')", "s3() reaches outside"),
    ("SELECT * FROM merge('{other}', '.*')", "merge() reads tables by name"),
    # Past the lexer (comma joins are not in FROM position): ClickHouse's query tree refuses them.
    ("SELECT * FROM cdr AS c, {other}.secrets AS s", "{other}.secrets is outside the analytics database"),
    ("SELECT * FROM cdr AS c, generateRandom('a Int8') AS g LIMIT 1",
     "table function generateRandom() is not allowed"),
]


def test_refusals_say_why_and_run_nothing(page_app, loaded_ch, other_database, http_target):
    client = signed_in(page_app, "manager")  # one app for all cases: a web_app costs seconds
    for sql, needle in REFUSALS:
        sql = sql.format(other=other_database, url=http_target)
        needle = needle.format(other=other_database)
        resp = run(client, page_app, sql)
        assert out(resp, "sql-grid", "rowData") == [], sql
        message = json.dumps(out(resp, "sql-msg", "children"))
        assert "Refused: " in message and needle in message, (sql, message)
        assert "top-secret" not in message
        assert _Hits.count == 0, sql  # url()/s3() never reached the network
        last = audit_rows(page_app)[-1]
        assert last["status"] == "refused" and needle in last["reason"], (sql, last)
    # The same engine does serve the secret to a direct query: the refusals above are /sql's doing.
    assert loaded_ch[0].command(f"SELECT s FROM {other_database}.secrets") == "top-secret"


def test_schema_browser_lists_tables_and_columns(page_app):
    text = json.dumps(out(call(signed_in(page_app, "admin"), page_app, "sql-schema.children", {}),
                          "sql-schema", "children"))
    for needle in ("cdr", "agent_states", "dial_decisions", "utterances", "disposition_code", "LowCardinality"):
        assert needle in text


def test_sql_export_route(page_app):
    client = signed_in(page_app, "manager")
    token = client.get_cookie(CSRF_COOKIE).value
    resp = client.post("/api/exports/sql.csv", json={"sql": "SELECT number, '=1+1' AS f FROM numbers(3)"},
                       headers={CSRF_HEADER: token})
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows == [["number", "f"], ["0", "'=1+1"], ["1", "'=1+1"], ["2", "'=1+1"]]
    refused = client.post("/api/exports/sql.xlsx", json={"sql": "DROP TABLE cdr"}, headers={CSRF_HEADER: token})
    assert refused.status_code == 400 and "Refused" in refused.get_json()["message"]


def test_roles(page_app):
    for role, status in (("agent", 403), ("supervisor", 403)):
        client = signed_in(page_app, role)
        assert run(client, page_app, "SELECT 1").status_code == status
        token = client.get_cookie(CSRF_COOKIE).value
        assert client.post("/api/exports/sql.csv", json={"sql": "SELECT 1"},
                           headers={CSRF_HEADER: token}).status_code == status
        assert client.get("/sql").status_code == 403
    assert run(page_app.test_client(), page_app, "SELECT 1").status_code == 401
    assert signed_in(page_app, "manager").get("/sql").status_code == 200
    assert all(r["actor"] not in ("agent01", "supervisor") for r in audit_rows(page_app))


@pytest.mark.slow
def test_limits_over_http_on_a_real_server(web_app, ch_http_client, ch_server, loaded_ch):
    """Same page against analytics.server over HTTP (what `make run` uses): settings are accepted
    per query and writes are refused by the server."""
    from analytics.generate import insert_dataset
    from app.pages.analytics_data import set_client

    insert_dataset(ch_http_client, dataclasses.replace(loaded_ch[1]))
    set_client(web_app, ch_http_client)
    client = signed_in(web_app, "manager")
    resp = run(client, web_app, "SELECT count() AS n FROM cdr FINAL")
    assert out(resp, "sql-grid", "rowData") == [{"c0": len(loaded_ch[1].cdr)}]
    resp = run(client, web_app, "SELECT number FROM numbers(100000000)")  # the row limit stops it
    assert len(out(resp, "sql-grid", "rowData")) == MAX_ROWS
    for sql in ("DESCRIBE TABLE cdr", "SELECT * FROM system.one", "SELECT * FROM cdr AS c, generateRandom('a Int8') AS g"):
        assert "Refused" in json.dumps(out(run(client, web_app, sql), "sql-msg", "children")), sql
    # readonly=2 is the second wall, should validation ever miss a write: the server refuses it.
    with pytest.raises(Exception, match="readonly"):
        ch_http_client.command("CREATE TABLE sneaky (a Int8) ENGINE = Memory", settings=QUERY_SETTINGS)


def test_xlsx_download_from_the_page(page_app):
    import base64

    from openpyxl import load_workbook

    resp = call(signed_in(page_app, "manager"), page_app, "sql-download.data",
                {"sql-xlsx.n_clicks": 1, "sql-text.value": "SELECT number AS n, '@x' AS s FROM numbers(4)"})
    data = out(resp, "sql-download", "data")
    assert data["filename"] == "sql-result.xlsx" and data["base64"]
    sheet = load_workbook(io.BytesIO(base64.b64decode(data["content"]))).active
    assert list(sheet.values) == [("n", "s"), (0, "'@x"), (1, "'@x"), (2, "'@x"), (3, "'@x")]
    assert audit_rows(page_app)[-1]["status"] == "ok"
