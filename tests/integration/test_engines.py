"""The embedded engines are real PostgreSQL and Redis, and the server path is the same code."""

import sqlalchemy as sa


def test_postgres_is_real(pg_server_url: str) -> None:
    engine = sa.create_engine(pg_server_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
        # A real PostgreSQL feature the product relies on: SKIP LOCKED row claiming.
        conn.execute(sa.text("CREATE TEMP TABLE t (id int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1), (2)"))
        rows = conn.execute(sa.text("SELECT id FROM t FOR UPDATE SKIP LOCKED")).all()
    engine.dispose()
    assert int(version) >= 150000
    assert len(rows) == 2


def test_redis_is_real(redis_client) -> None:  # type: ignore[no-untyped-def]
    redis_client.xadd("events", {"type": "ping"})
    redis_client.xgroup_create("events", "g", id="0")
    messages = redis_client.xreadgroup("g", "c", {"events": ">"}, count=10)
    assert messages[0][1][0][1] == {"type": "ping"}
