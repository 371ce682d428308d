"""Redis Streams edges of the telephony service.

* call events go out on ``pyd:events:calls`` (``XADD ... MAXLEN ~ N``: approximate trimming lets
  Redis drop whole radix-tree nodes, far cheaper than exact trimming; Redis XADD docs);
* commands come in on ``pyd:commands:telephony`` through a consumer group. An entry is acked
  after it was executed (or rejected). Entries a crashed consumer left pending are claimed with
  ``XAUTOCLAIM`` once idle for ``claim_idle_ms``; an entry delivered ``max_deliveries`` times
  (a command that kills its consumer) goes to the dead-letter stream instead of looping.
* bad payloads (not JSON, unknown type, invalid fields) are logged and dead-lettered with the
  reason, never raised.
* an ``originate`` runs at most once per call id (``SET NX`` marker): re-delivering a claimed
  entry must not dial the customer twice.
* new entries are handled a read batch at a time (``CommandConsumer._handle_batch``): a run of
  originates costs two pipelined round trips (markers, acks) instead of two per entry. Per-entry
  round trips capped the service at ~20 originates/s on a busy host (bench/telephony.py).

Entry layout: ``{"type": <message type>, "call_id": ..., "data": <JSON of core.events.to_dict>}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

from core import events as ev

logger = logging.getLogger(__name__)

EVENTS_STREAM = "pyd:events:calls"
COMMANDS_STREAM = "pyd:commands:telephony"
DEAD_LETTER_STREAM = "pyd:commands:telephony:dead"
COMMANDS_GROUP = "telephony"
ONCE_KEY = "pyd:telephony:once:{type}:{call_id}"
DEFAULT_MAXLEN = 1_000_000

CommandHandler = Callable[[ev.Command], Awaitable[None]]


def encode(message: ev.Message) -> dict[str, str]:
    data = message.to_dict()
    return {"type": message.type, "call_id": str(data.get("call_id", "")), "data": json.dumps(data)}


def decode(fields: dict[Any, Any]) -> ev.Message:
    """Entry fields -> message; ``ValueError`` with the reason on anything malformed."""
    raw = fields.get("data", fields.get(b"data"))
    if raw is None:
        raise ValueError("entry has no 'data' field")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"data is not JSON: {exc}") from exc
    return ev.from_dict(payload)


class EventPublisher:
    def __init__(self, client: aioredis.Redis, stream: str = EVENTS_STREAM, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen

    async def publish(self, event: ev.Message) -> str:
        return (await self.publish_many([event]))[0]

    async def publish_many(self, events: Sequence[ev.Message],
                           also: Callable[[Any, Sequence[ev.Message]], None] | None = None) -> list[str]:
        """XADD every event in one pipelined round trip, in order.

        ``also(pipe, events)`` may queue more commands on the same pipeline (the telephony service
        keeps its calls-in-progress hash there), so they go out in the same round trip as the events.

        One round trip per event capped the service near 150 originates/s on a loaded host
        (bench/telephony.py): each XADD waited for the previous reply. The pipeline is not a
        transaction, so on a connection error some events may have landed: the caller retries the
        whole batch, and consumers already tolerate a repeated event (see dialer.cdr.stamp).
        """
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            fields: dict[Any, Any] = encode(event)
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        if also is not None:
            also(pipe, events)
        ids = (await pipe.execute())[:len(events)]
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


def send_command(client: redis.Redis, command: ev.Command, stream: str = COMMANDS_STREAM,
                 maxlen: int = DEFAULT_MAXLEN) -> str:
    """Synchronous producer for the dialer / app (Celery tasks, Flask views)."""
    fields: dict[Any, Any] = encode(command)
    entry_id = client.xadd(stream, fields, maxlen=maxlen, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def send_commands(client: redis.Redis, commands: list[ev.Command], stream: str = COMMANDS_STREAM,
                  maxlen: int = DEFAULT_MAXLEN) -> list[str]:
    """Several commands in one pipelined round trip (same entries as :func:`send_command` each)."""
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.xadd(stream, encode(command), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
    return [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]


class CommandConsumer:
    def __init__(
        self,
        client: aioredis.Redis,
        handler: CommandHandler,
        consumer: str,
        *,
        stream: str = COMMANDS_STREAM,
        group: str = COMMANDS_GROUP,
        dead_letter: str = DEAD_LETTER_STREAM,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1_000,
        batch: int = 200,  # a run of originates costs two Redis round trips whatever its length
        max_deliveries: int = 5,
        once_ttl_s: int = 6 * 3600,
    ) -> None:
        self.client = client
        self.handler = handler
        self.consumer = consumer
        self.stream = stream
        self.group = group
        self.dead_letter = dead_letter
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.batch = batch
        self.max_deliveries = max_deliveries
        self.once_ttl_s = once_ttl_s
        self.processed = 0
        self.dead = 0

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        while not stop.is_set():
            try:
                await self.run_once()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("command stream: Redis unavailable (%s); retrying", exc)
                await asyncio.sleep(1.0)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                    raise
                # Redis lost the stream (restart without persistence, FLUSHDB): recreate the group.
                logger.warning("command stream: consumer group vanished; recreating it")
                await self.ensure_group()

    async def run_once(self, block_ms: int | None = None) -> int:
        """Claim stale entries, read new ones, execute and ack them; returns how many were handled."""
        handled = 0
        for entry_id, fields in await self._claim_stale():
            handled += await self._handle(entry_id, fields, reclaimed=True)
        reply: Any = await self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.batch,
                                             block=self.block_ms if block_ms is None else block_ms)
        entries = [entry for _stream, batch in reply or [] for entry in batch]
        if entries:
            handled += await self._handle_batch(entries)
        return handled

    async def _handle_batch(self, entries: list[tuple[Any, dict[Any, Any]]]) -> int:
        """New (first-delivery) entries, in stream order, with Redis round trips per run, not per entry.

        A run of consecutive originates costs one pipelined ``SET NX`` (their markers) before and
        one pipelined ``XACK`` after; their handlers only write to the AMI socket. Acks are settled
        before any other command (hangup, redirect ... which wait for Asterisk), so a crash while
        one of those is in flight re-delivers that command only, as before batching. If the task
        dies inside a run, the markers of originates not yet handed to the PBX are removed again,
        so the reclaimed entries dial (nothing is dialled twice, nothing silently dropped).
        """
        decoded: list[tuple[Any, dict[Any, Any], ev.Command | None, str]] = []
        for entry_id, fields in entries:
            try:
                message = decode(fields)
                if not isinstance(message, ev.Command):
                    raise ValueError(f"{message.type} is not a command")
                decoded.append((entry_id, fields, message, ""))
            except ValueError as exc:
                decoded.append((entry_id, fields, None, str(exc)))
        acks: list[Any] = []
        dead: list[tuple[Any, dict[Any, Any], str]] = []
        marked: dict[Any, str] = {}  # entry id -> marker key, set but not yet handed to the handler
        i = 0
        try:
            while i < len(decoded):
                if isinstance(decoded[i][2], ev.OriginateCommand):
                    j = i
                    while j < len(decoded) and isinstance(decoded[j][2], ev.OriginateCommand):
                        j += 1
                    run = decoded[i:j]
                    keys = [ONCE_KEY.format(type=cmd.type, call_id=cmd.call_id) for _e, _f, cmd, _r in run]  # type: ignore[union-attr]
                    pipe = self.client.pipeline(transaction=False)
                    for (entry_id, _f, _c, _r), key in zip(run, keys, strict=True):
                        pipe.set(key, entry_id, nx=True, ex=self.once_ttl_s)
                    fresh = await pipe.execute()
                    marked.update({entry[0]: key for entry, key, ok in zip(run, keys, fresh, strict=True) if ok})
                    for entry_id, fields, command, _r in run:
                        assert command is not None
                        if marked.pop(entry_id, None) is None:
                            logger.warning("command %s: originate for %s already executed; not dialing twice",
                                           entry_id, command.call_id)
                            acks.append(entry_id)
                            continue
                        await self._run(entry_id, fields, command, acks, dead)
                    i = j
                    continue
                entry_id, fields, command, error = decoded[i]
                i += 1
                if command is None:
                    dead.append((entry_id, fields, error))
                    continue
                await self._settle(acks, dead)  # what already ran is acked before waiting on the PBX
                await self._run(entry_id, fields, command, acks, dead)
            await self._settle(acks, dead)
        except BaseException:
            if marked:  # handed to nobody: let the re-delivery dial them
                with contextlib.suppress(Exception):
                    await self.client.delete(*marked.values())
            raise
        return len(decoded)

    async def _run(self, entry_id: Any, fields: dict[Any, Any], command: ev.Command, acks: list[Any],
                   dead: list[tuple[Any, dict[Any, Any], str]]) -> None:
        try:
            await self.handler(command)
        except Exception as exc:  # a failed command is reported, never retried blindly (see module doc)
            logger.warning("command %s (%s %s) failed: %s", entry_id, command.type, command.call_id, exc)
            dead.append((entry_id, fields, f"{type(exc).__name__}: {exc}"))
            return
        acks.append(entry_id)
        self.processed += 1

    async def _settle(self, acks: list[Any], dead: list[tuple[Any, dict[Any, Any], str]]) -> None:
        """Dead-letter the rejects and ack everything handled, in one round trip."""
        if not acks and not dead:
            return
        pipe = self.client.pipeline(transaction=False)
        for entry_id, fields, reason in dead:
            logger.warning("command %s dead-lettered: %s", entry_id, reason)
            pipe.xadd(self.dead_letter, self._dead_copy(entry_id, fields, reason), maxlen=100_000, approximate=True)
        pipe.xack(self.stream, self.group, *acks, *(entry_id for entry_id, _f, _r in dead))
        await pipe.execute()
        self.dead += len(dead)
        acks.clear()
        dead.clear()

    async def _claim_stale(self) -> list[tuple[Any, dict[Any, Any]]]:
        result: Any = await self.client.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                              start_id="0-0", count=self.batch)
        claimed = result[1] if len(result) > 1 else []
        return [(eid, fields) for eid, fields in claimed if fields is not None]

    async def _deliveries(self, entry_id: Any) -> int:
        info = await self.client.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        return int(info[0]["times_delivered"]) if info else 1

    async def _handle(self, entry_id: Any, fields: dict[Any, Any], reclaimed: bool) -> int:
        if reclaimed and await self._deliveries(entry_id) > self.max_deliveries:
            await self._dead(entry_id, fields, f"delivered more than {self.max_deliveries} times")
            return 1
        try:
            command = decode(fields)
            if not isinstance(command, ev.Command):
                raise ValueError(f"{command.type} is not a command")
        except ValueError as exc:
            await self._dead(entry_id, fields, str(exc))
            return 1
        if isinstance(command, ev.OriginateCommand):
            key = ONCE_KEY.format(type=command.type, call_id=command.call_id)
            if not await self.client.set(key, entry_id, nx=True, ex=self.once_ttl_s):
                logger.warning("command %s: originate for %s already executed; not dialing twice", entry_id,
                               command.call_id)
                await self.client.xack(self.stream, self.group, entry_id)
                return 1
        try:
            await self.handler(command)
        except Exception as exc:  # a failed command is reported, never retried blindly (see module doc)
            logger.warning("command %s (%s %s) failed: %s", entry_id, command.type, command.call_id, exc)
            await self._dead(entry_id, fields, f"{type(exc).__name__}: {exc}")
            return 1
        await self.client.xack(self.stream, self.group, entry_id)
        self.processed += 1
        return 1

    async def _dead(self, entry_id: Any, fields: dict[Any, Any], reason: str) -> None:
        logger.warning("command %s dead-lettered: %s", entry_id, reason)
        await self.client.xadd(self.dead_letter, self._dead_copy(entry_id, fields, reason), maxlen=100_000,
                               approximate=True)
        await self.client.xack(self.stream, self.group, entry_id)
        self.dead += 1

    @staticmethod
    def _dead_copy(entry_id: Any, fields: dict[Any, Any], reason: str) -> dict[Any, Any]:
        copy: dict[Any, Any] = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in fields.items()}
        copy.update(error=reason, entry_id=entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))
        return copy
