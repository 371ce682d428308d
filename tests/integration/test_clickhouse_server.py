"""analytics.server as a ClickHouse HTTP server: clickhouse-connect, curl-style requests, abuse."""

from __future__ import annotations

import base64
import contextlib
import gzip
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import clickhouse_connect
import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.conftest import CH_READONLY_PASSWORD, CH_READONLY_USER


def http(base: str, query: str | None = None, body: bytes | None = None, *, method: str | None = None,
         headers: dict[str, str] | None = None, **params: str) -> tuple[int, dict[str, str], bytes]:
    if query is not None:
        params["query"] = query
    url = f"{base}/?{urllib.parse.urlencode(params)}" if params else f"{base}/"
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"),
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def connect(base: str, **kw: object) -> clickhouse_connect.driver.client.Client:
    host, port = base.removeprefix("http://").split(":")
    return clickhouse_connect.get_client(host=host, port=int(port), **kw)


@pytest.fixture()
def table(ch_http_client: object) -> Iterator[str]:
    ch_http_client.command(  # type: ignore[attr-defined]
        "CREATE TABLE t (id UUID, k UInt32, s LowCardinality(String), n Nullable(Float64), at DateTime64(3, 'UTC'), "
        "tags Array(String)) ENGINE = MergeTree ORDER BY k"
    )
    yield f"{ch_http_client.database}.t"  # type: ignore[attr-defined]


def test_clickhouse_connect_round_trip(ch_http_client: object, table: str) -> None:
    ch = ch_http_client
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    rows = [[uuid.uuid4(), i, "ab"[i % 2], None if i == 3 else i / 2, now, ["x"] * (i % 3)] for i in range(500)]
    summary = ch.insert("t", rows, column_names=["id", "k", "s", "n", "at", "tags"])  # type: ignore[attr-defined]
    assert summary.written_rows == 500
    df = pd.DataFrame({"id": [uuid.uuid4()], "k": [1000], "s": ["c"], "n": [1.5], "at": [pd.Timestamp(now)], "tags": [["y"]]})
    ch.insert_df("t", df)  # type: ignore[attr-defined]
    assert ch.command("SELECT count() FROM t") == 501  # type: ignore[attr-defined]
    result = ch.query("SELECT s, count(), sum(n) FROM t GROUP BY s ORDER BY s")  # type: ignore[attr-defined]
    assert result.result_rows == [("a", 250, pytest.approx(sum(i / 2 for i in range(0, 500, 2)))),
                                  ("b", 250, pytest.approx(sum(i / 2 for i in range(1, 500, 2)) - 1.5)),
                                  ("c", 1, 1.5)]
    frame = ch.query_df("SELECT k, s, n, at, tags FROM t WHERE k IN (3, 4, 1000) ORDER BY k")  # type: ignore[attr-defined]
    assert frame["k"].tolist() == [3, 4, 1000]
    assert pd.isna(frame["n"][0]) and frame["n"][1] == 2.0
    stamp = frame["at"][0]  # naive when the column's zone is the server's (UTC), as with ClickHouse
    assert (stamp.tz_convert(None) if stamp.tzinfo else stamp) == pd.Timestamp("2026-01-02 03:04:05.678")
    assert frame["tags"][1] == ["x"]
    params = ch.query("SELECT {a:String}, {b:UInt8} + 1", parameters={"a": "it's", "b": 4}).result_rows  # type: ignore[attr-defined]
    assert params == [("it's", 5)]
    assert ch.query("SELECT count() FROM t WHERE s = %(s)s", parameters={"s": "c"}).result_rows == [(1,)]  # type: ignore[attr-defined]
    assert ch.query_arrow("SELECT k FROM t ORDER BY k LIMIT 2").column("k").to_pylist() == [0, 1]  # type: ignore[attr-defined]


@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip", False])
def test_inserts_with_every_compression(ch_server: str, compress: object) -> None:
    ch = connect(ch_server, compress=compress)
    name = f"default.comp_{uuid.uuid4().hex[:8]}"
    ch.command(f"CREATE TABLE {name} (a String, b UInt64) ENGINE = Memory")
    try:
        ch.insert(name, [[f"row{i}", i] for i in range(2000)], column_names=["a", "b"])
        assert ch.query(f"SELECT count(), sum(b) FROM {name}").result_rows == [(2000, sum(range(2000)))]
    finally:
        ch.command(f"DROP TABLE {name}")
        ch.close()


def test_bad_sql_raises_a_clickhouse_error_and_the_server_carries_on(ch_http_client: object) -> None:
    ch = ch_http_client
    with pytest.raises(DatabaseError) as err:
        ch.query("SELEC 1")  # type: ignore[attr-defined]
    assert err.value.code == 62 and "SYNTAX_ERROR" in str(err.value)
    with pytest.raises(DatabaseError) as err:
        ch.command("SELECT * FROM no_such_table")  # type: ignore[attr-defined]
    assert err.value.code == 60
    with pytest.raises(DatabaseError):
        ch.query("SELECT 1", settings={"no_such_setting_x": 1})  # type: ignore[attr-defined]
    assert ch.command("SELECT 41 + 1") == 42  # type: ignore[attr-defined]


def test_curl_style_requests(ch_server: str) -> None:
    with urllib.request.urlopen(f"{ch_server}/ping") as resp:
        assert resp.read() == b"Ok.\n"
    assert http(ch_server)[2] == b"Ok.\n"
    status, headers, body = http(ch_server, "SELECT 1, 'a' UNION ALL SELECT 2, 'b' ORDER BY 1")
    assert (status, body) == (200, b"1\ta\n2\tb\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert http(ch_server, body=b"SELECT number FROM numbers(3) FORMAT CSV")[2] == b"0\n1\n2\n"
    assert http(ch_server, "SELECT 7 AS x", default_format="JSONEachRow")[2] == b'{"x":7}\n'
    assert http(ch_server, "SELECT {v:UInt8} * 2", param_v="21")[2] == b"42\n"
    # INSERT with the statement in the URL and the rows in the body, as in ClickHouse's docs.
    name = f"default.curl_{uuid.uuid4().hex[:8]}"
    assert http(ch_server, body=f"CREATE TABLE {name} (a UInt8, s String) ENGINE = Memory".encode())[0] == 200
    assert http(ch_server, f"INSERT INTO {name} FORMAT TabSeparated", b"1\tone\n2\ttwo\n")[0] == 200
    assert http(ch_server, f"INSERT INTO {name} VALUES", b"(3, 'three')")[0] == 200
    gz = gzip.compress(b"4\tfour\n")
    assert http(ch_server, f"INSERT INTO {name} FORMAT TSV", gz, headers={"Content-Encoding": "gzip"})[0] == 200
    assert http(ch_server, f"SELECT sum(a), count() FROM {name}")[2] == b"10\t4\n"
    http(ch_server, body=f"DROP TABLE {name}".encode())


def test_errors_look_like_clickhouse(ch_server: str) -> None:
    status, headers, body = http(ch_server, body=b"SELECT * FROM nowhere_at_all")
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "60"
    assert body.startswith(b"Code: 60. DB::Exception:")
    status, headers, _ = http(ch_server, body=b"   ")
    assert status == 400 and headers["X-ClickHouse-Exception-Code"] == "62"
    # GET is read-only, as in ClickHouse.
    status, headers, _ = http(ch_server, "CREATE TABLE default.nope (a UInt8) ENGINE = Memory")
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "164"
    assert http(ch_server, "EXISTS TABLE default.nope")[2] == b"0\n"


def test_authentication(ch_server: str) -> None:
    bad = {"Authorization": "Basic " + base64.b64encode(b"default:wrong").decode()}
    status, headers, _ = http(ch_server, "SELECT 1", headers=bad)
    assert status == 401 and headers["X-ClickHouse-Exception-Code"] == "516"
    status, _, _ = http(ch_server, "SELECT 1", headers={"X-ClickHouse-User": "mallory"})
    assert status == 401
    status, _, _ = http(ch_server, "SELECT 1", headers={"Authorization": "Basic %%%"})
    assert status == 401
    with pytest.raises(DatabaseError):
        connect(ch_server, username="default", password="nope")


def test_read_only_user(ch_server: str, ch_http_client: object) -> None:
    ch_http_client.command("CREATE TABLE kept (a UInt8) ENGINE = MergeTree ORDER BY a")  # type: ignore[attr-defined]
    ch_http_client.command("INSERT INTO kept VALUES (1)")  # type: ignore[attr-defined]
    db = ch_http_client.database  # type: ignore[attr-defined]
    ro = connect(ch_server, username=CH_READONLY_USER, password=CH_READONLY_PASSWORD, database=db)
    try:
        assert ro.command("SELECT count() FROM kept") == 1
        assert ro.query("SELECT a FROM kept", settings={"max_threads": 1}).result_rows == [(1,)]
        # The read-only user's limits win over what the request asks for.
        assert ro.command("SELECT getSetting('max_execution_time')", settings={"max_execution_time": 0}) == 60
        with pytest.raises(DatabaseError) as err:
            ro.command("SELECT count() FROM kept SETTINGS max_execution_time = 0")
        assert err.value.code == 497
        for statement in ("INSERT INTO kept VALUES (2)", "DROP TABLE kept", "CREATE TABLE x (a UInt8) ENGINE = Memory",
                          "ALTER TABLE kept DELETE WHERE 1", "TRUNCATE TABLE kept"):
            with pytest.raises(DatabaseError) as err:
                ro.command(statement)
            assert err.value.code == 164, statement
        with pytest.raises(DatabaseError) as err:
            ro.query("SELECT * FROM file('/etc/hostname', 'LineAsString')")
        assert err.value.code == 497
        with pytest.raises(DatabaseError):
            ro.insert("kept", [[3]], column_names=["a"])
        assert ch_http_client.command("SELECT count() FROM kept") == 1  # type: ignore[attr-defined]
    finally:
        ro.close()


def test_settings_stay_in_their_session(ch_server: str) -> None:
    a = connect(ch_server)
    b = connect(ch_server)
    try:
        a.command("SET max_threads = 3")
        assert a.command("SELECT getSetting('max_threads')") == 3
        assert b.command("SELECT getSetting('max_threads')") != 3
        assert a.query("SELECT getSetting('max_threads')", settings={"max_threads": 2}).result_rows == [(2,)]
        assert a.command("SELECT getSetting('max_threads')") == 3
        status, _, body = http(ch_server, "SELECT getSetting('max_threads')")
        assert status == 200 and body != b"3\n"
    finally:
        a.close()
        b.close()


def test_garbage_never_kills_the_server(ch_server: str) -> None:
    host, port = ch_server.removeprefix("http://").split(":")
    for junk in (b"\x00\xff\x13garbage\r\n\r\n", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\nshort", b"NOTHTTP\r\n"):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                sock.recv(1024)
    cases = [
        dict(body=b"\x00\x01\x02\xff\xfe binary junk"),
        dict(body=b"INSERT INTO default.nope FORMAT Native\n\x09\x00\xff"),
        dict(body=b"garbage", headers={"Content-Encoding": "lz4"}),
        dict(body=b"garbage", headers={"Content-Encoding": "snappy"}),
        dict(body=b"SELECT 1", method="PUT"),
        dict(body=b"SELECT 1", session_timeout="soon"),
        dict(body=b"SELECT 1", decompress="1"),
        dict(body=b"SELECT 1", database="no_such_db"),
        dict(body=b"SELECT 1", session_id="nope", session_check="1"),
        dict(body=b"SET readonly = 0"),
    ]
    for case in cases:
        status, headers, body = http(ch_server, **case)  # type: ignore[arg-type]
        assert status >= 400, case
        assert "X-ClickHouse-Exception-Code" in headers, case
        assert body.startswith(b"Code: "), (case, body[:200])
    # A runaway query is cut by max_execution_time and does not block the engine.
    status, headers, _ = http(ch_server, "SELECT count() FROM system.numbers", max_execution_time="1")
    assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "159"  # TIMEOUT_EXCEEDED
    assert http(ch_server, "SELECT 'still here'")[2] == b"still here\n"
    assert http(ch_server, "SELECT length({s:String})", param_s="x" * 100_000)[2] == b"100000\n"


def test_one_factory_client_serves_many_threads(ch_http_client: object) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ch = ch_http_client
    ch.command("CREATE TABLE hits (worker UInt8, n UInt32) ENGINE = MergeTree ORDER BY worker")  # type: ignore[attr-defined]

    def work(worker: int) -> int:
        for n in range(5):
            ch.insert("hits", [[worker, n]], column_names=["worker", "n"])  # type: ignore[attr-defined]
        return int(ch.command(f"SELECT count() FROM hits WHERE worker = {worker}"))  # type: ignore[attr-defined]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(work, range(8))) == [5] * 8
    assert ch.command("SELECT count() FROM hits") == 40  # type: ignore[attr-defined]
