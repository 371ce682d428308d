"""The telephony process: PBX connections in, Redis Streams out.

* one :class:`PbxConnection` (AMI, plus ARI for media) per configured PBX, each reconnecting with
  backoff and re-syncing its calls after every login (so a PBX restart loses no call and leaves
  none dangling: see :meth:`Normalizer.resync`);
* normalised call events are queued in memory and published to ``pyd:events:calls`` in order;
  Redis hiccups are retried, never dropped;
* commands from ``pyd:commands:telephony`` (consumer group) are executed through
  :class:`AsteriskControl`;
* the calls in progress are kept in a Redis hash per PBX (``pyd:telephony:calls:<pbx>``), written
  in the same pipeline as their ``dialing`` and ``hangup`` events. A restarted process (kill -9,
  a crash) seeds its normalisers from it before logging in, so a call that ended while no process
  listened is reported by the resync (``hangup``, source ``resync``) instead of staying open for
  ever: the in-memory normaliser alone forgets it with the process.

Call-attempt rows in PostgreSQL are written by the dialer (``dialer.cdr``) from the event stream,
not here: one writer per row keeps the CDR exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

from core import events as ev
from core.clock import Clock, SystemClock
from core.config import PbxServer
from telephony.ami.control import AsteriskControl, DialplanConfig, PbxConnection
from telephony.ports import OriginateRequest
from telephony.streams import EVENTS_STREAM, CommandConsumer, EventPublisher

logger = logging.getLogger(__name__)

CALLS_KEY = "pyd:telephony:calls"  # + ":<pbx>": call_id -> {"uniqueid", "campaign_id", "lead_id"}


class TelephonyService:
    def __init__(
        self,
        servers: tuple[PbxServer, ...] | list[PbxServer],
        client: aioredis.Redis,
        *,
        clock: Clock | None = None,
        dialplan: DialplanConfig | None = None,
        use_ari: bool = True,
        consumer_name: str | None = None,
        events_maxlen: int = 1_000_000,
        events_stream: str = EVENTS_STREAM,
        calls_key: str = CALLS_KEY,
        ami_options: dict[str, Any] | None = None,
        consumer_options: dict[str, Any] | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.client = client
        self.calls_key = calls_key
        self.publisher = EventPublisher(client, stream=events_stream, maxlen=events_maxlen)
        self._queue: asyncio.Queue[ev.CallEvent] = asyncio.Queue()
        self.connections = [PbxConnection(s, self._sink, clock=self.clock, use_ari=use_ari, **(ami_options or {}))
                            for s in servers]
        self.control = AsteriskControl(self.connections, dialplan)
        name = consumer_name or f"telephony-{socket.gethostname()}-{os.getpid()}"
        self.consumer = CommandConsumer(client, self.execute, name, **(consumer_options or {}))
        self.published = 0
        self._in_flight = 0  # events taken from the queue, not yet acknowledged by Redis

    def _sink(self, event: ev.CallEvent) -> None:
        self._queue.put_nowait(event)

    async def execute(self, cmd: ev.Command) -> None:
        c = self.control
        if isinstance(cmd, ev.OriginateCommand):
            await c.originate(OriginateRequest(
                call_id=cmd.call_id, number=cmd.number, caller_id=cmd.caller_id, timeout_s=cmd.timeout_s,
                campaign_id=cmd.campaign_id, lead_id=cmd.lead_id, variables=cmd.variables, context=cmd.context,
                exten=cmd.exten, amd=cmd.amd, pbx=cmd.pbx))
        elif isinstance(cmd, ev.HangupCommand):
            await c.hangup(cmd.call_id, cmd.cause)
        elif isinstance(cmd, ev.BridgeCommand):
            await c.bridge_to_agent(cmd.call_id, cmd.agent_endpoint)
        elif isinstance(cmd, ev.MonitorCommand):
            await c.monitor(cmd.call_id, cmd.supervisor_endpoint, cmd.mode)  # type: ignore[arg-type]
        elif isinstance(cmd, ev.PlayCommand):
            if not cmd.safe_harbor:
                # Channels run dialplan, not Stasis, so the only playback path is the safeharbor
                # extension, and its VarSet would report a safe-harbor message that was not one.
                raise ValueError("only safe-harbor playback is supported (safe_harbor=true)")
            await c.play_safe_harbor(cmd.call_id, cmd.audio)
        elif isinstance(cmd, ev.RecordCommand):
            if cmd.action == "start":
                await c.start_recording(cmd.call_id, cmd.filename)
            else:
                await c.stop_recording(cmd.call_id)
        elif isinstance(cmd, ev.ExternalMediaCommand):
            await c.start_external_media(cmd.call_id, cmd.host_port, cmd.format)
        else:
            raise ValueError(f"no handler for {cmd.type}")

    async def _publish_loop(self, max_batch: int = 500) -> None:
        while True:
            # Everything queued goes out in one pipelined round trip (order kept).
            batch = [await self._queue.get()]
            while len(batch) < max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = len(batch)
            while True:
                try:
                    await self.publisher.publish_many(batch, also=self._track_calls)
                    self.published += len(batch)
                    self._in_flight = 0
                    break
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    logger.warning("event stream: Redis unavailable (%s); retrying %d events", exc, len(batch))
                    await asyncio.sleep(0.5)

    def _track_calls(self, pipe: Any, events: Sequence[ev.Message]) -> None:
        for event in events:
            if not isinstance(event, ev.CallEvent) or not event.pbx:
                continue
            key = f"{self.calls_key}:{event.pbx}"
            if isinstance(event, ev.Dialing):
                pipe.hset(key, event.call_id, json.dumps({"uniqueid": event.uniqueid, "campaign_id": event.campaign_id,
                                                          "lead_id": event.lead_id}))
            elif isinstance(event, ev.Hangup | ev.OriginateFailed):
                pipe.hdel(key, event.call_id)

    async def _seed_calls(self) -> None:
        """Hand each normaliser the calls a previous process left in progress (see the module doc)."""
        for conn in self.connections:
            while True:
                try:
                    rows = await self.client.hgetall(f"{self.calls_key}:{conn.server.name}")
                    break
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    logger.warning("calls in progress: Redis unavailable (%s); retrying", exc)
                    await asyncio.sleep(0.5)
            for raw_id, raw in rows.items():
                call_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                try:
                    info = json.loads(raw)
                    conn.normalizer.seed(call_id, uniqueid=info.get("uniqueid") or call_id,
                                         campaign_id=info.get("campaign_id"), lead_id=info.get("lead_id"))
                except (ValueError, TypeError, AttributeError) as exc:
                    logger.warning("calls in progress: entry %s unreadable (%s); left to the dialer's sweep",
                                   call_id, exc)
            if rows:
                logger.info("%s: %d calls in progress from the previous process", conn.server.name, len(rows))

    async def run(self, stop: asyncio.Event) -> None:
        await self._seed_calls()
        for conn in self.connections:
            await conn.start()
        publisher = asyncio.create_task(self._publish_loop(), name="publish-events")
        consumer = asyncio.create_task(self.consumer.run(stop), name="consume-commands")
        try:
            await stop.wait()
        finally:
            consumer.cancel()
            for conn in self.connections:
                await conn.close()
            await self.flush(timeout=2.0)
            publisher.cancel()
            for task in (consumer, publisher):
                with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down
                    await task

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued event has been published (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (not self._queue.empty() or self._in_flight) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
