"""ExternalMedia: when an ExternalMedia channel shares a bridge with a call (or a snoop on one),
stream that call's conversation to the external host as RTP."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from .audio import TtsCache, Turn, render_dialogue
from .pbx import Bridge, Channel, Pbx
from .rtp import RtpStream, packet_stream

logger = logging.getLogger(__name__)


class ExternalMedia:
    def __init__(self, pbx: Pbx, tts: TtsCache) -> None:
        self.pbx = pbx
        self.tts = tts
        self.streams: dict[str, RtpStream] = {}  # external channel id -> stream
        self.rng = random.Random(pbx.seed ^ 0x5EED)
        self.packets_sent_closed = 0
        pbx.on_bridge_change.append(self._bridge_changed)
        pbx.on_hangup.append(self._hangup)

    async def create(self, ch: Channel, remote: tuple[str, int], fmt: str) -> tuple[str, int]:
        stream = RtpStream(remote, fmt)
        local = await stream.open()
        self.streams[ch.id] = stream
        return local

    def _hangup(self, ch: Channel) -> None:
        stream = self.streams.pop(ch.id, None)
        if stream is not None:
            self.packets_sent_closed += stream.sent
            stream.close()

    def _bridge_changed(self, bridge: Bridge) -> None:
        externals = [c for c in bridge.channels if c.kind == "external" and c.id in self.streams]
        sources = [c for c in bridge.channels if c.kind != "external"]
        if not externals:
            return
        if not sources:  # the call left the bridge (or hung up): its audio stops
            for ext in externals:
                self.streams[ext.id].stop()
            return
        speakers = self._speakers(sources[0])
        for ext in externals:
            stream = self.streams[ext.id]
            if stream.task is None:
                asyncio.get_running_loop().create_task(self._start(stream, speakers))

    def _speakers(self, src: Channel) -> set[str]:
        """Which dialogue turns this source carries. A snoop with spy=in hears what the snooped
        party says, spy=out what is sent to it (ARI channels/snoop)."""
        if src.kind != "snoop":
            return {"customer", "agent"}
        spy = src.variables.get("__SNOOP_SPY", "both")
        side = src.variables.get("__SNOOP_SIDE", "customer")
        other = "agent" if side == "customer" else "customer"
        return {"in": {side}, "out": {other}}.get(spy, {"customer", "agent"})

    async def _start(self, stream: RtpStream, speakers: set[str]) -> None:
        sc = self.pbx.scenario
        turns = [Turn(s, t) for s, t in sc.turns]
        stream.task = asyncio.current_task()  # claim the stream while TTS renders
        try:
            pcm, starts = await asyncio.to_thread(render_dialogue, self.tts, turns, sc.voices, sc.gap_s, speakers)
        except Exception:
            logger.exception("ExternalMedia: TTS failed; no audio for this call")
            return
        packets = packet_stream(pcm, stream.fmt, starts, self.rng)
        stream.task = None
        stream.play(packets)

    def status(self) -> dict[str, Any]:
        return {"streams": len(self.streams),
                "packets_sent": self.packets_sent_closed + sum(s.sent for s in self.streams.values())}
