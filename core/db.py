"""SQLAlchemy engine and session factory for the system-of-record PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
