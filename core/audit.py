"""Append one row to the audit log.

``record`` only adds the row to the caller's session: it commits (or rolls back) together with
the change it describes, so there is never an audit row for a change that did not happen, nor a
change without its row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from core.exceptions import ValidationError
from core.models import AuditLog, User

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


def _jsonable(value: Any) -> Any:
    """Make before/after snapshots JSON-serialisable (datetimes, UUIDs, Decimals, sets)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _valid_ip(ip: str | None) -> str | None:
    if ip is None or ip == "":
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError as exc:
        raise ValidationError("invalid client IP address", {"ip": f"not an IP address: {ip!r}"}) from exc


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: str | int | uuid.UUID | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Add an audit row describing ``action`` on ``object_type:object_id`` by ``actor``.

    ``actor=None`` means the system itself (Celery task, seed, migration). The row is flushed so
    its ``id`` and ``at`` are available, but not committed.
    """
    if not action or not object_type:
        raise ValidationError("audit record needs an action and an object type", {"action": action})
    if actor is not None and actor.id is None:
        session.flush()  # a brand-new actor (e.g. the seed's first admin) needs its id first
    entry = AuditLog(
        actor_id=actor.id if actor is not None else None,
        actor_username=actor.username if actor is not None else SYSTEM_ACTOR,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        ip=_valid_ip(ip),
    )
    session.add(entry)
    session.flush()
    logger.debug("audit %s %s:%s by %s", action, object_type, object_id, entry.actor_username)
    return entry
