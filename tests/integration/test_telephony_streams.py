"""Event publishing and command consumption on a real Redis (embedded and, when set, the server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis

from core import events as ev
from telephony.streams import (
    CommandConsumer,
    EventPublisher,
    decode,
    send_command,
    send_commands,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# Own stream names: other packages' tests may use the default streams on the shared test server.
_TAG = uuid.uuid4().hex[:8]
EVENTS_STREAM, COMMANDS_STREAM, DEAD_LETTER_STREAM = f"t:{_TAG}:events", f"t:{_TAG}:commands", f"t:{_TAG}:dead"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_publish_trims_approximately_and_round_trips(redis_url: str, redis_client) -> None:
    async def body() -> None:
        client = aioredis.from_url(redis_url)
        pub = EventPublisher(client, stream=EVENTS_STREAM, maxlen=100)
        for i in range(1000):
            await pub.publish(ev.Hangup(call_id=f"c{i}", at=T0, cause=17, cause_txt="User busy", pbx="pbx1"))
        length = await client.xlen(EVENTS_STREAM)
        assert 100 <= length < 1000  # "~" keeps at least MAXLEN, trims whole nodes
        last = (await client.xrevrange(EVENTS_STREAM, count=1))[0][1]
        event = decode(last)
        assert event == ev.Hangup(call_id="c999", at=T0, cause=17, cause_txt="User busy", pbx="pbx1")
        assert last[b"type"] == b"call.hangup" and last[b"call_id"] == b"c999"
        await client.aclose()

    run(body())


def test_commands_are_executed_acked_and_bad_ones_dead_lettered(redis_url: str, redis_client) -> None:
    send_command(
        redis_client, ev.OriginateCommand(call_id="c1", number="15551230001", campaign_id=7), stream=COMMANDS_STREAM
    )
    send_command(redis_client, ev.HangupCommand(call_id="c1", cause=17), stream=COMMANDS_STREAM)
    redis_client.xadd(COMMANDS_STREAM, {"type": "cmd.originate", "data": "{not json"})
    redis_client.xadd(COMMANDS_STREAM, {"type": "x", "data": json.dumps({"type": "cmd.originate", "call_id": "c2"})})
    redis_client.xadd(COMMANDS_STREAM, {"nothing": "here"})
    send_command(
        redis_client,
        ev.MonitorCommand(call_id="c1", supervisor_endpoint="PJSIP/sup1", mode="barge"),
        stream=COMMANDS_STREAM,
    )
    # an event is not a command
    redis_client.xadd(COMMANDS_STREAM, {"data": json.dumps(ev.Ringing(call_id="c1", at=T0).to_dict())})

    async def body() -> None:
        client = aioredis.from_url(redis_url)
        seen: list[ev.Command] = []

        async def handler(cmd: ev.Command) -> None:
            if isinstance(cmd, ev.MonitorCommand):
                raise RuntimeError("supervisor endpoint offline")
            seen.append(cmd)

        consumer = CommandConsumer(
            client, handler, "tel-1", stream=COMMANDS_STREAM, dead_letter=DEAD_LETTER_STREAM, block_ms=100
        )
        await consumer.ensure_group()
        await consumer.ensure_group()  # idempotent
        handled = await consumer.run_once()
        assert handled == 7
        assert [type(c).__name__ for c in seen] == ["OriginateCommand", "HangupCommand"]
        assert seen[0].campaign_id == 7
        pending = await client.xpending(COMMANDS_STREAM, "telephony")
        assert pending["pending"] == 0
        dead = await client.xrange(DEAD_LETTER_STREAM)
        reasons = [f[b"error"].decode() for _, f in dead]
        assert len(reasons) == 5
        assert any("not JSON" in r for r in reasons) and any("missing field 'number'" in r for r in reasons)
        assert any("no 'data'" in r for r in reasons) and any("supervisor endpoint offline" in r for r in reasons)
        assert any("not a command" in r for r in reasons)
        await client.aclose()

    run(body())


def test_stale_pending_commands_of_a_crashed_consumer_are_claimed(redis_url: str, redis_client) -> None:
    send_command(redis_client, ev.HangupCommand(call_id="c7"), stream=COMMANDS_STREAM)
    send_command(redis_client, ev.OriginateCommand(call_id="c8", number="100"), stream=COMMANDS_STREAM)

    async def body() -> None:
        client = aioredis.from_url(redis_url)

        async def crash(cmd: ev.Command) -> None:
            raise asyncio.CancelledError  # the process dies mid-command: nothing is acked

        dying = CommandConsumer(
            client, crash, "tel-dead", stream=COMMANDS_STREAM, dead_letter=DEAD_LETTER_STREAM, block_ms=50
        )
        await dying.ensure_group()
        with contextlib.suppress(asyncio.CancelledError):
            await dying.run_once()
        seen: list[str] = []

        async def ok(cmd: ev.Command) -> None:
            seen.append(cmd.call_id)

        survivor = CommandConsumer(
            client, ok, "tel-2", stream=COMMANDS_STREAM, dead_letter=DEAD_LETTER_STREAM, block_ms=50, claim_idle_ms=100
        )
        assert await survivor.run_once() == 0  # not idle long enough yet: left alone
        await asyncio.sleep(0.2)
        await survivor.run_once()
        # both entries were delivered to the dying consumer in one batch; it died on the first,
        # so both stayed pending and were claimed; c8's originate had not started, so it runs now
        assert seen == ["c7", "c8"]
        pending = await client.xpending(COMMANDS_STREAM, "telephony")
        assert pending["pending"] == 0
        await client.aclose()

    run(body())


def test_originate_is_never_executed_twice(redis_url: str, redis_client) -> None:
    cmd = ev.OriginateCommand(call_id="c-once", number="100")
    send_command(redis_client, cmd, stream=COMMANDS_STREAM)
    send_command(
        redis_client, cmd, stream=COMMANDS_STREAM
    )  # a duplicate delivery (producer retry, reclaimed entry ...)

    async def body() -> None:
        client = aioredis.from_url(redis_url)
        dialed: list[str] = []

        async def handler(c: ev.Command) -> None:
            dialed.append(c.call_id)

        consumer = CommandConsumer(
            client, handler, "tel-3", stream=COMMANDS_STREAM, dead_letter=DEAD_LETTER_STREAM, block_ms=50
        )
        await consumer.ensure_group()
        await consumer.run_once()
        assert dialed == ["c-once"]
        await client.aclose()

    run(body())


def test_poison_command_goes_to_dead_letter_after_max_deliveries(redis_url: str, redis_client) -> None:
    send_command(redis_client, ev.HangupCommand(call_id="poison"), stream=COMMANDS_STREAM)

    async def body() -> None:
        client = aioredis.from_url(redis_url)

        async def crash(cmd: ev.Command) -> None:
            raise asyncio.CancelledError

        for i in range(3):
            consumer = CommandConsumer(
                client,
                crash,
                f"tel-{i}",
                stream=COMMANDS_STREAM,
                dead_letter=DEAD_LETTER_STREAM,
                block_ms=20,
                claim_idle_ms=1,
                max_deliveries=2,
            )
            await consumer.ensure_group()
            await asyncio.sleep(0.01)
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.run_once()
        dead = await client.xrange(DEAD_LETTER_STREAM)
        assert len(dead) == 1 and b"delivered more than 2 times" in dead[0][1][b"error"]
        assert (await client.xpending(COMMANDS_STREAM, "telephony"))["pending"] == 0
        await client.aclose()

    run(body())


def test_consumer_recreates_its_group_when_redis_lost_the_stream(redis_url: str, redis_client) -> None:
    async def body() -> None:
        client = aioredis.from_url(redis_url)
        seen: list[str] = []

        async def handler(cmd: ev.Command) -> None:
            seen.append(cmd.call_id)

        consumer = CommandConsumer(
            client, handler, "tel-r", stream=COMMANDS_STREAM, dead_letter=DEAD_LETTER_STREAM, block_ms=20
        )
        await consumer.ensure_group()
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        await asyncio.sleep(0.1)
        await client.delete(COMMANDS_STREAM)  # what a Redis restart without persistence looks like
        await asyncio.sleep(0.1)
        send_command(redis_client, ev.HangupCommand(call_id="after-loss"), stream=COMMANDS_STREAM)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert seen == ["after-loss"]
        await client.aclose()

    run(body())


def _crash_on(call_id: str, seen: list[str]):
    async def handler(cmd: ev.Command) -> None:
        if cmd.call_id == call_id:
            raise asyncio.CancelledError  # the process dies here: nothing after it runs
        seen.append(cmd.call_id)

    return handler


def _reclaim_with(client, stream: str, seen: list[str]) -> CommandConsumer:
    async def ok(cmd: ev.Command) -> None:
        seen.append(cmd.call_id)

    return CommandConsumer(client, ok, "survivor", stream=stream, dead_letter=f"{stream}:dead", block_ms=50,
                           claim_idle_ms=100)


def test_a_crash_inside_a_run_of_originates_neither_redials_nor_drops(redis_url: str, redis_client) -> None:
    stream = f"{COMMANDS_STREAM}:run"
    for call_id in ("o1", "o2", "o3", "o4"):
        send_command(redis_client, ev.OriginateCommand(call_id=f"{_TAG}-{call_id}", number="100"), stream=stream)

    async def body() -> None:
        client = aioredis.from_url(redis_url)
        first: list[str] = []
        dying = CommandConsumer(client, _crash_on(f"{_TAG}-o2", first), "dying", stream=stream,
                                dead_letter=f"{stream}:dead", block_ms=50)
        await dying.ensure_group()
        with contextlib.suppress(asyncio.CancelledError):
            await dying.run_once()
        assert first == [f"{_TAG}-o1"]
        await asyncio.sleep(0.2)
        second: list[str] = []
        await _reclaim_with(client, stream, second).run_once()
        # o1 was sent and o2 may have been (it died inside the handler): not again. o3 and o4 were
        # never handed to the PBX: their markers were taken back, so they dial now.
        assert second == [f"{_TAG}-o3", f"{_TAG}-o4"]
        assert (await client.xpending(stream, "telephony"))["pending"] == 0
        await client.aclose()

    run(body())


def test_commands_before_a_slow_one_are_acked_before_it_runs(redis_url: str, redis_client) -> None:
    stream = f"{COMMANDS_STREAM}:mixed"
    send_command(redis_client, ev.OriginateCommand(call_id=f"{_TAG}-m1", number="100"), stream=stream)
    send_command(redis_client, ev.HangupCommand(call_id=f"{_TAG}-m2"), stream=stream)
    send_command(redis_client, ev.OriginateCommand(call_id=f"{_TAG}-m3", number="100"), stream=stream)

    async def body() -> None:
        client = aioredis.from_url(redis_url)
        first: list[str] = []
        dying = CommandConsumer(client, _crash_on(f"{_TAG}-m2", first), "dying", stream=stream,
                                dead_letter=f"{stream}:dead", block_ms=50)
        await dying.ensure_group()
        with contextlib.suppress(asyncio.CancelledError):
            await dying.run_once()
        assert (await client.xpending(stream, "telephony"))["pending"] == 2  # m1 acked before the hangup ran
        await asyncio.sleep(0.2)
        second: list[str] = []
        await _reclaim_with(client, stream, second).run_once()
        assert second == [f"{_TAG}-m2", f"{_TAG}-m3"]
        await client.aclose()

    run(body())


def test_send_commands_pipelines_entries_a_consumer_reads_in_order(redis_url: str, redis_client) -> None:
    stream = f"{COMMANDS_STREAM}:many"
    ids = send_commands(redis_client, [ev.OriginateCommand(call_id=f"{_TAG}-p{i}", number=str(i)) for i in range(120)],
                        stream=stream)
    assert len(ids) == 120 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))

    async def body() -> None:
        client = aioredis.from_url(redis_url)
        seen: list[str] = []
        consumer = _reclaim_with(client, stream, seen)
        await consumer.ensure_group()
        while await consumer.run_once() and len(seen) < 120:
            pass
        assert seen == [f"{_TAG}-p{i}" for i in range(120)] and consumer.processed == 120
        assert (await client.xpending(stream, "telephony"))["pending"] == 0
        await client.aclose()

    run(body())
