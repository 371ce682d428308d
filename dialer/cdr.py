"""Call attempts in PostgreSQL: created before originate, stamped by call events, finalised once.

Finalisation (:func:`finalise`) is the CDR's birth. In ONE transaction it locks the attempt row,
sets ``ended_at``/``outcome``/hangup cause and inserts the ``outbox`` row (topic ``cdr``, key =
call id, payload = the whole CDR). Consequences:

* kill -9 before the commit: nothing happened, the hangup event is still un-ACKed in the stream
  and is processed again;
* kill -9 after the commit: the CDR exists exactly once; the re-delivered hangup finds
  ``ended_at`` set (under the row lock) and writes nothing;
* the relay (:func:`relay_cdrs`) ships undelivered outbox rows to ClickHouse and marks them
  delivered; a crash between the two re-ships them, and ClickHouse deduplicates by call id
  (``analytics.cdr.insert_cdrs``), so no CDR is lost and none is doubled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.config import Settings
from core.events import (
    AmdHuman,
    AmdMachine,
    AmdNotSure,
    Answered,
    BridgedToAgent,
    CallEvent,
    Dialing,
    OriginateFailed,
    Ringing,
    SafeHarborPlayed,
)
from core.models import CallAttempt, OutboxMessage

logger = logging.getLogger(__name__)

CDR_TOPIC = "cdr"

# ITU-T Q.850 causes (Asterisk HANGUPCAUSE) for calls that were never answered.
_BUSY = {17}
_CONGESTION = {34, 38, 41, 42, 44, 47}
_NO_ANSWER = {16, 18, 19, 31}
# OriginateResponse Reason (AST_CONTROL_*): 3 ring timeout, 5 busy, 8 congestion.
_ORIGINATE_REASON = {3: "no_answer", 5: "busy", 8: "congestion", 1: "no_answer"}


def create_attempt(
    conn: sa.Connection,
    *,
    call_id: str,
    campaign_id: int,
    phone_e164: str,
    pbx: str,
    dial_method: str,
    lead_id: int | None = None,
    list_id: int | None = None,
    attempt_no: int = 1,
    dialed_at: datetime | None = None,
) -> None:
    conn.execute(sa.insert(CallAttempt).values(
        call_id=uuid.UUID(call_id), campaign_id=campaign_id, list_id=list_id, lead_id=lead_id, pbx=pbx,
        phone_e164=phone_e164, attempt_no=attempt_no, dial_method=dial_method,
        dialed_at=dialed_at or datetime.now(UTC),
    ))


def _stamp_values(event: CallEvent) -> tuple[dict[str, Any], list[sa.ColumnElement[bool]]]:
    """Columns an event sets; only where still NULL, so a re-delivered event changes nothing."""
    c = CallAttempt
    at = event.at
    if isinstance(event, Dialing):
        return {"channel": event.channel, "uniqueid": event.uniqueid}, [c.uniqueid.is_(None)]
    if isinstance(event, Ringing):
        return {"ringing_at": at}, [c.ringing_at.is_(None)]
    if isinstance(event, Answered):
        values: dict[str, Any] = {"answered_at": at}
        if event.channel:
            values["channel"] = event.channel
        return values, [c.answered_at.is_(None)]
    if isinstance(event, AmdHuman | AmdMachine | AmdNotSure):
        verdict = {AmdHuman: "human", AmdMachine: "machine", AmdNotSure: "notsure"}[type(event)]
        return {"amd_verdict": verdict, "amd_at": at}, [c.amd_verdict.is_(None)]
    if isinstance(event, BridgedToAgent):
        return {"connected_at": at}, [c.connected_at.is_(None)]
    if isinstance(event, SafeHarborPlayed):
        return {"safe_harbor_played": True}, []
    return {}, []


def stamp(conn: sa.Connection, event: CallEvent) -> bool:
    """Record an event's timestamp on its attempt; returns whether a row changed."""
    values, guards = _stamp_values(event)
    values = {k: v for k, v in values.items() if v is not None}
    if not values:
        return False
    result = conn.execute(
        sa.update(CallAttempt).where(CallAttempt.call_id == uuid.UUID(event.call_id), CallAttempt.ended_at.is_(None),
                                     *guards).values(**values)
    )
    return bool(result.rowcount)


def set_agent(conn: sa.Connection, call_id: str, agent_id: int) -> None:
    conn.execute(sa.update(CallAttempt).where(CallAttempt.call_id == uuid.UUID(call_id)).values(agent_id=agent_id))


def mark_dropped(conn: sa.Connection, call_id: str) -> None:
    """The call flow dropped the call (no agent within drop_after_s)."""
    conn.execute(sa.update(CallAttempt).where(CallAttempt.call_id == uuid.UUID(call_id)).values(dropped=True))


def classify(row: Mapping[str, Any], cause: int | None, originate_reason: int | None = None) -> str:
    """The attempt's outcome (``call_attempts.outcome`` vocabulary) from what we know at hangup.

    An answered call that neither reached an agent nor was classed a machine is ``abandoned``,
    whether we dropped it or the person hung up while waiting or during AMD: counting a doubtful
    case as abandoned keeps the reported rate on the safe side of 16 CFR 310.4(b)(4).
    """
    if row.get("connected_at") is not None:
        return "human"
    if row.get("amd_verdict") == "machine":
        return "machine"
    if row.get("answered_at") is not None:
        return "abandoned"
    if originate_reason is not None:
        return _ORIGINATE_REASON.get(originate_reason, "failed")
    if cause in _BUSY:
        return "busy"
    if cause in _CONGESTION:
        return "congestion"
    if cause in _NO_ANSWER or cause is None:
        return "no_answer"
    return "failed"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def cdr_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """A call attempt as the JSON the outbox carries (``analytics.cdr.cdr_row`` reads it)."""
    return {k: _jsonable(v) for k, v in row.items()}


def finalise(
    conn: sa.Connection,
    call_id: str,
    ended_at: datetime,
    *,
    cause: int | None = None,
    cause_txt: str | None = None,
    originate_reason: int | None = None,
) -> dict[str, Any] | None:
    """End the attempt and write its outbox row, in the caller's transaction. None if already ended.

    Use inside ``engine.begin()``: the row lock (SELECT ... FOR UPDATE) serialises two consumers
    handling the same hangup; the second sees ``ended_at`` set and returns None.
    """
    table: sa.Table = CallAttempt.__table__  # type: ignore[assignment]
    row = conn.execute(
        sa.select(table).where(table.c.call_id == uuid.UUID(call_id)).with_for_update()
    ).mappings().one_or_none()
    if row is None:
        logger.warning("hangup for unknown call attempt %s", call_id)
        return None
    if row["ended_at"] is not None:
        return None
    outcome = classify(dict(row), cause, originate_reason)
    ended = max(ended_at, row["dialed_at"])
    changes = {"ended_at": ended, "outcome": outcome, "hangup_cause": cause, "hangup_cause_txt": cause_txt}
    conn.execute(sa.update(table).where(table.c.call_id == row["call_id"]).values(**changes))
    cdr = cdr_payload({**row, **changes})
    conn.execute(sa.insert(OutboxMessage).values(topic=CDR_TOPIC, key=call_id, payload=cdr))
    return cdr


def finalise_failed(conn: sa.Connection, event: OriginateFailed) -> dict[str, Any] | None:
    return finalise(conn, event.call_id, event.at, cause=None, cause_txt=event.reason_txt or None,
                    originate_reason=event.reason)


# --- the relay ---------------------------------------------------------------------------------


def relay_cdrs(
    engine: sa.Engine,
    insert: Callable[[Sequence[Mapping[str, Any]]], object],
    *,
    batch: int = 500,
) -> int:
    """Ship one batch of undelivered CDRs with ``insert`` and mark them delivered; returns the count.

    ``FOR UPDATE SKIP LOCKED`` lets several relays run without shipping the same rows at once. If
    ``insert`` raises, the batch stays undelivered (``attempts``/``last_error`` are recorded) and
    the error propagates.
    """
    o: sa.Table = OutboxMessage.__table__  # type: ignore[assignment]
    failure: Exception | None = None
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(o.c.id, o.c.payload).where(o.c.topic == CDR_TOPIC, o.c.delivered_at.is_(None))
            .order_by(o.c.id).limit(batch).with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0
        ids = [r.id for r in rows]
        try:
            insert([r.payload for r in rows])
        except Exception as exc:  # noqa: BLE001 - recorded on the rows, re-raised below
            failure = exc
            error = f"{type(exc).__name__}: {exc}"[:2000]
            conn.execute(sa.update(o).where(o.c.id.in_(ids)).values(attempts=o.c.attempts + 1, last_error=error))
        else:
            conn.execute(sa.update(o).where(o.c.id.in_(ids))
                         .values(delivered_at=sa.func.now(), attempts=o.c.attempts + 1, last_error=None))
    if failure is not None:
        raise failure
    return len(ids)


def default_cdr_inserter(settings: Settings) -> Callable[[Sequence[Mapping[str, Any]]], object]:
    """``analytics.cdr.insert_cdrs`` bound to a ClickHouse client (the analytics helper owns both)."""
    from analytics.cdr import insert_cdrs
    from analytics.client import get_client

    client = get_client(settings)
    return lambda rows: insert_cdrs(client, rows)
