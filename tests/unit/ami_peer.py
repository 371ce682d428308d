"""A tiny scripted AMI TCP peer that replays recorded transcripts (tests only).

For each action the client sends, the peer expects the next ``Action:`` block of the script (same
action name), then sends the server blocks that follow it, with their ActionID rewritten to the
client's. ``Ping`` is always answered; anything unexpected gets ``Response: Error`` and is
recorded in ``unexpected``.
"""

from __future__ import annotations

import asyncio
import contextlib

from telephony.ami.message import Framer, Message


class ScriptedAmiPeer:
    def __init__(self, script: list[Message], banner: str = "9.0.0") -> None:
        self.script = list(script)
        self.banner = banner
        self.received: list[Message] = []
        self.unexpected: list[Message] = []
        self.connections = 0
        self.mute = False  # stop answering anything (a hung PBX / half-open TCP connection)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def extend(self, messages: list[Message]) -> None:
        self.script.extend(messages)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        writer.write(f"Asterisk Call Manager/{self.banner}\r\n".encode())
        framer = Framer()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in framer.feed(data):
                    self.received.append(msg)
                    if self.mute:
                        continue
                    for reply in self._answer(msg):
                        writer.write(bytes(reply))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _answer(self, msg: Message) -> list[Message]:
        action = (msg.get("Action") or "").lower()
        client_id = msg.get("ActionID") or ""
        if action == "ping":
            return [Message((("Response", "Success"), ("ActionID", client_id), ("Ping", "Pong")))]
        if not self.script or self.script[0].kind != "action" or self.script[0].name.lower() != action:
            self.unexpected.append(msg)
            return [Message((("Response", "Error"), ("ActionID", client_id), ("Message", "unexpected in script")))]
        scripted_id = self.script.pop(0).get("ActionID")
        out = []
        while self.script and self.script[0].kind != "action":
            reply = self.script.pop(0)
            headers = tuple((k, client_id if k.lower() == "actionid" and v == scripted_id else v) for k, v in reply.headers)
            out.append(Message(headers))
        return out
