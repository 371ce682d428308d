"""RTP (RFC 3550) for ExternalMedia channels: packet build/parse and a real-time paced sender.

Each packet: V=2, no padding/extension/CSRC, PT 0 (PCMU) or 8 (PCMA) per RFC 3551, 20 ms of
8 kHz audio (160 samples), sequence and timestamp starting at random values (RFC 3550 §5.1),
random SSRC, marker bit on the first packet of each talk spurt (RFC 3551 §4.1).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .audio import ENCODERS, PAYLOAD_TYPES

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 160
FRAME_S = 0.020
_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes

    def __bytes__(self) -> bytes:
        return _HEADER.pack(0x80, (0x80 if self.marker else 0) | self.payload_type, self.sequence & 0xFFFF,
                            self.timestamp & 0xFFFFFFFF, self.ssrc) + self.payload

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise ValueError(f"RTP packet too short ({len(data)} bytes)")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise ValueError(f"not RTP version 2 (V={b0 >> 6})")
        offset = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:  # header extension
            if len(data) < offset + 4:
                raise ValueError("truncated RTP header extension")
            offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
        end = len(data)
        if b0 & 0x20:  # padding
            end -= data[-1]
        if end < offset:
            raise ValueError("RTP header longer than packet")
        return cls(b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, data[offset:end])


def packet_stream(pcm: np.ndarray, fmt: str, spurt_starts: list[int], rng: random.Random) -> Iterator[bytes]:
    """The call's packets, then silence for as long as the caller keeps asking (pure; the sender
    only paces them). A live channel keeps sending 20 ms frames after the talking stops, so the
    stream does too: its end is the channel leaving the bridge, not the end of the speech."""
    encode, pt = ENCODERS[fmt], PAYLOAD_TYPES[fmt]
    n = (pcm.size + FRAME_SAMPLES - 1) // FRAME_SAMPLES
    padded = np.zeros(n * FRAME_SAMPLES, dtype=np.int16)
    padded[: pcm.size] = pcm
    payload = encode(padded)
    silence = encode(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    seq, ts, ssrc = rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32)
    marks = {s // FRAME_SAMPLES for s in spurt_starts}
    for i in itertools.count():
        chunk = payload[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES] if i < n else silence
        yield bytes(RtpPacket(pt, i in marks, seq + i, ts + i * FRAME_SAMPLES, ssrc, chunk))


def packetize(pcm: np.ndarray, fmt: str, spurt_starts: list[int], rng: random.Random) -> list[bytes]:
    """Just the packets that carry ``pcm`` (no trailing silence)."""
    n = (pcm.size + FRAME_SAMPLES - 1) // FRAME_SAMPLES
    return list(itertools.islice(packet_stream(pcm, fmt, spurt_starts, rng), n))


class _Proto(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        pass  # media from the external side is accepted and discarded (direction=both)

    def error_received(self, exc: Exception) -> None:
        logger.debug("RTP socket error: %s", exc)


class RtpStream:
    """A UDP socket bound for one ExternalMedia channel; ``play`` paces packets at 20 ms."""

    def __init__(self, remote: tuple[str, int], fmt: str) -> None:
        self.remote = remote
        self.fmt = fmt
        self.transport: asyncio.DatagramTransport | None = None
        self.task: asyncio.Task[None] | None = None
        self.sent = 0

    async def open(self, host: str = "127.0.0.1") -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Proto, local_addr=(host, 0))
        self.transport = transport  # type: ignore[assignment]
        addr = transport.get_extra_info("sockname")
        return addr[0], addr[1]

    def play(self, packets: Iterable[bytes]) -> None:
        if self.task is None and self.transport is not None:
            self.task = asyncio.get_running_loop().create_task(self._send(packets))

    async def _send(self, packets: Iterable[bytes]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, pkt in enumerate(packets):
            delay = start + i * FRAME_S - loop.time()  # absolute schedule: no drift
            if delay > 0:
                await asyncio.sleep(delay)
            if self.transport is None or self.transport.is_closing():
                return
            self.transport.sendto(pkt, self.remote)
            self.sent += 1

    def stop(self) -> None:
        """Stop sending (the socket stays open; a new source may start a new stream)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
