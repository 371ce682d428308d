"""Call attempts (PostgreSQL ``call_attempts`` vocabulary) -> ``cdr`` rows, written idempotently.

:func:`cdr_row` is pure: it validates one call-attempt mapping and derives the durations and
flags. :func:`insert_cdrs` writes a batch so that delivering the same CDR twice counts once,
everywhere, including the per-minute rollup fed by a materialized view (see
``sql/clickhouse/0001_cdr.up.sql``):

1. it looks up the current state of the batch's call_ids in ``cdr`` (sum of ``sign`` per
   call_id and version: exact whether or not parts have merged);
2. a row whose version is not newer than the stored one is a redelivery: skipped;
3. a newer version is written as a ``-1`` copy of the stored row plus the new ``+1`` row, in the
   same insert block, so ``cdr FINAL``, ``sum(sign * x)`` and ``cdr_minute`` all move from the
   old values to the new ones.

The lookup-then-insert is not atomic: callers must not write the same call_id from two
processes at the same moment. The ingest satisfies this by construction (one consumer handles a
given call's events; a redelivery comes after the first delivery was acknowledged or timed
out), and the embedded server runs statements one at a time.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from core.exceptions import ValidationError

logger = logging.getLogger(__name__)

OUTCOMES = frozenset({"human", "machine", "busy", "congestion", "no_answer", "failed", "abandoned", "cancelled"})
# A person picked up: the call reached an agent (human) or was dropped waiting for one (abandoned).
HUMAN_OUTCOMES = frozenset({"human", "abandoned"})

CDR_COLUMNS: tuple[str, ...] = (
    "call_id", "campaign_id", "list_id", "lead_id", "agent_id", "team_id", "pbx", "uniqueid", "phone_e164",
    "lead_timezone", "lead_state", "dial_method", "attempt_no", "dialed_at", "ringing_at", "answered_at",
    "amd_at", "connected_at", "ended_at", "wrap_ended_at", "ring_s", "wait_s", "talk_s", "wrap_s", "outcome",
    "amd_verdict", "hangup_cause", "hangup_cause_txt", "dropped", "safe_harbor_played", "disposition_code",
    "is_contact", "is_sale", "is_dnc", "recording_id", "version", "sign",
)
_TIMES = ("ringing_at", "answered_at", "amd_at", "connected_at", "ended_at", "wrap_ended_at")
_UINTS = {"campaign_id": 2**32, "list_id": 2**32, "lead_id": 2**64, "agent_id": 2**32, "team_id": 2**32,
          "attempt_no": 2**16, "hangup_cause": 2**16}
_STRINGS = ("pbx", "uniqueid", "phone_e164", "lead_timezone", "lead_state", "dial_method", "amd_verdict",
            "hangup_cause_txt", "disposition_code", "recording_id")
_FLAGS = ("dropped", "safe_harbor_played", "is_sale", "is_dnc")
# Batches read back the stored rows of their call_ids by (campaign_id, dialed_at range): the
# sorting key, so only the granules of the batch's campaigns and minutes are read. Both never
# change for a call attempt; the margin only absorbs millisecond rounding.
_LOOKUP_MARGIN = timedelta(seconds=1)


def _when(value: Any, name: str, errors: dict[str, str]) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            errors[name] = f"not an ISO-8601 timestamp: {value!r}"
            return None
    if not isinstance(value, datetime):
        errors[name] = f"expected a datetime, got {type(value).__name__}"
        return None
    # Naive datetimes are taken as UTC (PostgreSQL timestamptz always arrives aware).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _seconds(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def _version(attempt: Mapping[str, Any], times: Mapping[str, datetime | None], errors: dict[str, str]) -> int:
    """``version`` if given, else ``updated_at`` in microseconds, else the latest lifecycle time.

    A call attempt only gains timestamps as it progresses, so the latest one grows with it.
    """
    raw = attempt.get("version")
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            errors["version"] = "must be a non-negative integer"
            return 0
        return raw
    stamp = _when(attempt.get("updated_at"), "updated_at", errors)
    if stamp is None:
        stamp = max((t for t in times.values() if t is not None), default=None)
    return int(stamp.timestamp() * 1_000_000) if stamp else 0


def cdr_row(attempt: Mapping[str, Any]) -> dict[str, Any]:
    """One ``cdr`` row (``sign`` +1) from a call attempt; raises ValidationError on bad input."""
    errors: dict[str, str] = {}
    row: dict[str, Any] = {}
    try:
        raw_id = attempt.get("call_id")
        row["call_id"] = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id))
    except (ValueError, TypeError):
        errors["call_id"] = f"not a UUID: {attempt.get('call_id')!r}"
    for name, limit in _UINTS.items():
        value = attempt.get(name)
        if value is None:
            if name == "campaign_id":
                errors[name] = "required"
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            errors[name] = f"expected an integer in [0, {limit}), got {value!r}"
            value = 0
        row[name] = value
    for name in _STRINGS:
        value = attempt.get(name)
        row[name] = "" if value is None else str(value)
    dialed_at = _when(attempt.get("dialed_at"), "dialed_at", errors)
    if dialed_at is None and "dialed_at" not in errors:
        errors["dialed_at"] = "required"
    row["dialed_at"] = dialed_at
    times = {name: _when(attempt.get(name), name, errors) for name in _TIMES}
    row.update(times)
    outcome = attempt.get("outcome")
    if outcome not in OUTCOMES:
        errors["outcome"] = f"expected one of {sorted(OUTCOMES)}, got {outcome!r}"
    row["outcome"] = outcome if isinstance(outcome, str) else ""
    for name in _FLAGS:
        row[name] = 1 if attempt.get(name) else 0
    if outcome == "abandoned":
        row["dropped"] = 1
    contact = attempt.get("is_contact")
    row["is_contact"] = int(bool(contact)) if contact is not None else int(outcome in HUMAN_OUTCOMES)
    version = _version(attempt, {"dialed_at": dialed_at, **times}, errors)
    if errors:
        raise ValidationError("invalid call attempt", errors)

    answered, connected, ended = times["answered_at"], times["connected_at"], times["ended_at"]
    derived = {
        "ring_s": _seconds(times["ringing_at"] or dialed_at, answered or ended),
        "wait_s": _seconds(answered, connected or (ended if outcome in HUMAN_OUTCOMES else None)),
        "talk_s": _seconds(connected, ended),
        "wrap_s": _seconds(ended, times["wrap_ended_at"]) if connected else 0.0,
    }
    for name, value in derived.items():
        given = attempt.get(name)
        row[name] = float(given) if isinstance(given, (int, float)) and not isinstance(given, bool) else value
    row["version"] = version
    row["sign"] = 1
    return row


@dataclass
class InsertResult:
    inserted: int = 0  # new calls
    corrected: int = 0  # newer versions of stored calls (a -1/+1 pair each)
    skipped: int = 0  # redeliveries: a version not newer than the stored one
    invalid: list[tuple[int, ValidationError]] = field(default_factory=list)


def _current_rows(client: Client, table: str, rows: Sequence[Mapping[str, Any]]) -> dict[uuid.UUID, dict[str, Any]]:
    """The stored, not-cancelled row of the highest version for each call_id of ``rows``.

    Two steps: the (call_id, version, net sign) of every stored row -- cheap, and all a plain
    redelivery needs -- then the full rows only for the versions that a newer CDR will cancel.
    """
    lo = min(r["dialed_at"] for r in rows) - _LOOKUP_MARGIN
    hi = max(r["dialed_at"] for r in rows) + _LOOKUP_MARGIN
    campaigns = sorted({r["campaign_id"] for r in rows})
    window = (
        "campaign_id IN {campaigns:Array(UInt32)} "
        "AND dialed_at BETWEEN {lo:DateTime64(3, 'UTC')} AND {hi:DateTime64(3, 'UTC')}"
    )
    states = client.query(
        f"SELECT call_id, version, sum(sign) FROM {table} WHERE {window} AND call_id IN {{ids:Array(UUID)}} "
        "GROUP BY call_id, version HAVING sum(sign) > 0",
        parameters={"campaigns": campaigns, "lo": lo, "hi": hi, "ids": [str(r["call_id"]) for r in rows]},
    ).result_rows
    latest: dict[uuid.UUID, int] = {}
    for call_id, version, _net in states:
        if version > latest.get(call_id, -1):
            latest[call_id] = version
    incoming = {r["call_id"]: r["version"] for r in rows}
    to_cancel = [(c, v) for c, v in latest.items() if incoming.get(c, -1) > v]
    current: dict[uuid.UUID, dict[str, Any]] = {c: {"call_id": c, "version": v} for c, v in latest.items()}
    if to_cancel:
        full = client.query(
            f"SELECT {', '.join(CDR_COLUMNS)} FROM {table} WHERE {window} AND call_id IN {{ids:Array(UUID)}} "
            "AND sign = 1 ORDER BY version DESC LIMIT 1 BY call_id, version",
            parameters={"campaigns": campaigns, "lo": lo, "hi": hi, "ids": [str(c) for c, _ in to_cancel]},
        ).result_rows
        wanted = set(to_cancel)
        for values in full:
            stored = dict(zip(CDR_COLUMNS, values, strict=True))
            if (stored["call_id"], stored["version"]) in wanted:
                current[stored["call_id"]] = stored
    return current


def insert_cdrs(
    client: Client,
    attempts: Iterable[Mapping[str, Any]],
    *,
    table: str = "cdr",
    skip_invalid: bool = False,
) -> InsertResult:
    """Write call attempts to ``table`` so each call counts once (see module docstring).

    Invalid attempts raise ValidationError (``details`` maps ``"<index>.<field>"`` to a message)
    unless ``skip_invalid``, which leaves them out and lists them in the result.
    """
    result = InsertResult()
    latest: dict[uuid.UUID, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for index, attempt in enumerate(attempts):
        try:
            row = cdr_row(attempt)
        except ValidationError as exc:
            result.invalid.append((index, exc))
            problems.update({f"{index}.{k}": v for k, v in exc.details.items()})
            continue
        seen = latest.get(row["call_id"])
        if seen is not None and seen["version"] >= row["version"]:
            result.skipped += 1
            continue
        if seen is not None:
            result.skipped += 1  # superseded within the batch
        latest[row["call_id"]] = row
    if problems and not skip_invalid:
        raise ValidationError(f"{len(result.invalid)} invalid call attempt(s)", problems)
    if not latest:
        return result
    stored = _current_rows(client, table, list(latest.values()))
    block: list[list[Any]] = []
    for call_id, row in latest.items():
        old = stored.get(call_id)
        if old is not None and old["version"] >= row["version"]:
            result.skipped += 1
            continue
        if old is not None:
            block.append([old[c] if c != "sign" else -1 for c in CDR_COLUMNS])
            result.corrected += 1
        else:
            result.inserted += 1
        block.append([row[c] for c in CDR_COLUMNS])
    if block:
        client.insert(table, block, column_names=list(CDR_COLUMNS))
    logger.debug("cdr batch: %d new, %d corrected, %d skipped", result.inserted, result.corrected, result.skipped)
    return result
