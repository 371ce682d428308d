"""SQLAlchemy engine and session factory for the system-of-record PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from core.engines import normalize_postgres_url


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    return create_engine(
        normalize_postgres_url(url),
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,  # survive a PostgreSQL restart without a 500 on the next request
        echo=echo,
        future=True,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def create_database(admin_url: str, name: str) -> str:
    """Create an empty database ``name`` on the server of ``admin_url``; return its URL.

    For tests and benchmarks that want a scratch database next to an existing one.
    """
    admin = create_engine(normalize_postgres_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return sa.engine.make_url(normalize_postgres_url(admin_url)).set(database=name).render_as_string(
        hide_password=False
    )


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` (if it exists), disconnecting whoever still uses it."""
    admin = create_engine(normalize_postgres_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
