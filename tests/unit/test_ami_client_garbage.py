"""Garbage on a live AMI socket (issue 3, "Bad input") never kills :class:`AmiClient`.

A real TCP server (asyncio, in the test) logs the client in, then writes valid events, garbage and
more valid events; the client runs unmodified panoramisk over :class:`FramedAMIProtocol`. Each case
asserts: the valid events on either side arrive intact and in order, the garbage reached no
handler, the drop was logged with its reason, and the session is still usable (a Ping answered on
the same connection), or, when the server cuts the connection mid-message, the client reconnects
and the half message is never delivered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import pytest

from core.config import PbxServer
from telephony.ami.client import AmiClient, FramedAMIProtocol
from telephony.ami.message import MAX_LINE, MAX_MESSAGE, Framer, Message

CRLF = b"\r\n"


class GarbagePeer:
    """Banner, Login -> Success, Ping -> Pong; :meth:`send` writes raw bytes to the live session."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.logins = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
            self._writer = None

    async def send(self, *chunks: bytes, pause: float = 0.0) -> None:
        assert self._writer is not None
        for chunk in chunks:
            self._writer.write(chunk)
            await self._writer.drain()
            if pause:
                await asyncio.sleep(pause)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writer = writer
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        framer = Framer()
        try:
            while data := await reader.read(65536):
                for msg in framer.feed(data):
                    writer.write(self._answer(msg))
        except ConnectionError:
            pass

    def _answer(self, msg: Message) -> bytes:
        action, action_id = (msg.get("Action") or "").lower(), msg.get("ActionID") or ""
        if action == "login":
            self.logins.set()
            return (bytes(Message((("Response", "Success"), ("ActionID", action_id),
                                   ("Message", "Authentication accepted"))))
                    + bytes(Message((("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", "5"),
                                     ("LastReload", "5"), ("Status", "Fully Booted")))))
        if action == "ping":
            return bytes(Message((("Response", "Success"), ("ActionID", action_id), ("Ping", "Pong"),
                                  ("Timestamp", "1763848000.000000"))))
        return bytes(Message((("Response", "Error"), ("ActionID", action_id), ("Message", "Invalid/unknown command"))))


def event(uid: str, cause: str = "16") -> bytes:
    """A whole Hangup event as Asterisk 20 writes it (field order from the Hangup event docs)."""
    return bytes(Message((
        ("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", f"PJSIP/trunk-{uid[-8:]}"),
        ("ChannelState", "6"), ("ChannelStateDesc", "Up"), ("CallerIDNum", "15551230001"),
        ("CallerIDName", "<unknown>"), ("ConnectedLineNum", "<unknown>"), ("ConnectedLineName", "<unknown>"),
        ("Language", "en"), ("AccountCode", ""), ("Context", "pydialer-outbound"), ("Exten", "s"),
        ("Priority", "1"), ("Uniqueid", uid), ("Linkedid", uid), ("Cause", cause),
        ("Cause-txt", "Normal Clearing"),
    )))


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 30))


class Harness:
    def __init__(self) -> None:
        self.peer = GarbagePeer()
        self.events: list[Message] = []
        self.client: AmiClient | None = None

    async def __aenter__(self) -> Harness:
        await self.peer.start()
        server = PbxServer(name="pbx1", ami_host="127.0.0.1", ami_port=self.peer.port)
        self.client = AmiClient(server, on_event=self._on_event, backoff_base=0.05, backoff_cap=0.2,
                                rng=random.Random(1), ping_interval=3600)
        await self.client.start()
        await self.client.wait_ready(5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.close()
        await self.peer.stop()

    def _on_event(self, msg: Message) -> None:
        if msg.event != "FullyBooted":
            self.events.append(msg)

    @property
    def protocol(self) -> FramedAMIProtocol:
        assert self.client is not None and self.client._manager is not None
        protocol = self.client._manager.protocol
        assert isinstance(protocol, FramedAMIProtocol)  # the live path reads through our Framer
        return protocol

    async def wait_events(self, n: int, timeout: float = 5.0) -> None:
        for _ in range(int(timeout / 0.01)):
            if len(self.events) >= n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"got {len(self.events)} events, wanted {n}: {[m.headers[:2] for m in self.events]}")


def _random_binary() -> bytes:
    rng = random.Random(5)
    noise = bytes(rng.getrandbits(8) for _ in range(4000)).replace(b"\n", b"\x00")
    return noise + CRLF + CRLF


GARBAGE: dict[str, tuple[bytes, str]] = {
    "binary": (_random_binary(), "binary line"),
    "binary_inside_a_message": (b"Event: Hangup\r\nUniqueid: 9.9\r\nCause: \x00\x01\x02\xff\r\n\r\n", "binary line"),
    "line_over_64k": (b"Event: VarSet\r\nVariable: X\r\nValue: " + b"v" * 200_000 + b"\r\nUniqueid: 9.9\r\n\r\n",
                      f"line longer than {MAX_LINE} bytes"),
    "header_without_colon": (b"Event: Hangup\r\nUniqueid: 9.9\r\nthis is not a header\r\nCause: 16\r\n\r\n",
                             "header without colon"),
    "neither_event_nor_response": (b"Action: Hangup\r\nChannel: PJSIP/x-1\r\n\r\n", "neither an Event nor a Response"),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_between_valid_events_is_dropped_logged_and_the_session_goes_on(
        kind: str, caplog: pytest.LogCaptureFixture) -> None:
    garbage, reason = GARBAGE[kind]

    async def body() -> None:
        async with Harness() as h:
            await h.peer.send(event("1763848000.1"), garbage, event("1763848000.2"))
            await h.wait_events(2)
            await asyncio.sleep(0.05)  # nothing else trickles in after the second event
            assert [bytes(m) for m in h.events] == [event("1763848000.1"), event("1763848000.2")]  # intact
            assert all(m["Uniqueid"] != "9.9" for m in h.events)
            pong = await h.client.action({"Action": "Ping"}, timeout=5)  # same connection still usable
            assert pong["Ping"] == "Pong"
            assert h.client.connects == 1 and h.peer.connections == 1

    with caplog.at_level(logging.WARNING):
        run(body)
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1 and reason in drops[0], drops


def test_half_messages_in_any_chunking_arrive_whole() -> None:
    async def body() -> None:
        async with Harness() as h:
            data = event("1763848000.1") + event("1763848000.2")
            cuts = [0, 7, 8, 30, 31, 120, len(data) // 2, len(data) - 3, len(data) - 1, len(data)]
            await h.peer.send(*(data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)), pause=0.02)
            await h.wait_events(2)
            assert [bytes(m) for m in h.events] == [event("1763848000.1"), event("1763848000.2")]

    run(body)


def test_an_unterminated_megabyte_message_is_bounded_and_the_stream_recovers(
        caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with Harness() as h:
            await h.peer.send(event("1763848000.1"))
            await h.wait_events(1)
            framer = h.protocol.framer
            # 1 MB of well-formed header lines that never reach a blank line, then 1 MB in one line
            lines = b"".join(b"Variable: V%06d=%s\r\n" % (i, b"p" * 40) for i in range(20_000))
            assert len(lines) > 1_000_000
            await h.peer.send(b"Event: VarSet\r\n", lines, b"Value: " + b"z" * 1_000_000)
            for _ in range(500):
                if framer.dropped_count >= 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the rest of the megabyte line is read and discarded
            assert framer.peak_buffered <= MAX_MESSAGE + MAX_LINE
            assert framer.buffered_bytes <= MAX_LINE
            await h.peer.send(CRLF + CRLF, event("1763848000.2"))
            await h.wait_events(2)
            assert [m["Uniqueid"] for m in h.events] == ["1763848000.1", "1763848000.2"]
            assert (await h.client.action({"Action": "Ping"}, timeout=5))["Ping"] == "Pong"
            assert h.client.connects == 1

    with caplog.at_level(logging.WARNING):
        run(body)
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert any(f"message longer than {MAX_MESSAGE} bytes" in d for d in drops), drops


def test_a_connection_cut_mid_message_reconnects_and_never_delivers_the_half() -> None:
    async def body() -> None:
        async with Harness() as h:
            await h.peer.send(event("1763848000.1"), event("1763848000.9")[:60])
            await h.wait_events(1)
            h.peer.logins.clear()
            h.peer.cut()
            await asyncio.wait_for(h.peer.logins.wait(), 5)
            await h.client.wait_ready(5)
            # the new session starts a fresh frame: the old half cannot glue onto new bytes
            await h.peer.send(event("1763848000.9")[60:], event("1763848000.2"))
            await h.wait_events(2)
            await asyncio.sleep(0.05)
            assert [m["Uniqueid"] for m in h.events] == ["1763848000.1", "1763848000.2"]
            assert h.client.connects == 2

    run(body)
