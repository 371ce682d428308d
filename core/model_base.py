"""The declarative base shared by every model module (see :mod:`core.models`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names: Alembic can then drop/alter them by name in later migrations
# (https://alembic.sqlalchemy.org/en/latest/naming.html).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# E.164 (ITU-T E.164 section 6): '+', a country code not starting with 0, at most 15 digits.
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"


def in_check(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    """SQL for ``column IN ('a', 'b')`` (values are our own constants, never user input)."""
    sql = f"{column} IN ({', '.join(repr(v) for v in values)})"
    return f"{column} IS NULL OR {sql}" if nullable else sql


def e164_check(column: str) -> str:
    return f"{column} ~ '{E164_REGEX}'"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


def created_at_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def updated_at_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False)
