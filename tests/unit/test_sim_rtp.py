"""RTP packets of the simulator (RFC 3550 header, RFC 3551 payload types, 20 ms framing)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from telephony.simulator.audio import ulaw_decode
from telephony.simulator.rtp import RtpPacket, packetize


def test_packet_round_trip_and_header_bits() -> None:
    pkt = RtpPacket(8, True, 65535, 2**32 - 1, 0xDEADBEEF, b"\x55" * 160)
    raw = bytes(pkt)
    assert raw[0] == 0x80 and raw[1] == 0x88 and len(raw) == 172
    assert RtpPacket.parse(raw) == pkt


@pytest.mark.parametrize("raw", [b"", b"\x80" * 11, b"\x40" + b"\x00" * 20])
def test_parse_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(ValueError):
        RtpPacket.parse(raw)


def test_packetize_sequence_timestamp_marker() -> None:
    pcm = (np.sin(np.arange(8000) / 8) * 8000).astype(np.int16)
    packets = [RtpPacket.parse(p) for p in packetize(pcm, "ulaw", [0, 4000], random.Random(1))]
    assert len(packets) == 50
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in zip(packets, packets[1:], strict=False))
    assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in zip(packets, packets[1:], strict=False))
    assert [i for i, p in enumerate(packets) if p.marker] == [0, 25]
    assert len({p.ssrc for p in packets}) == 1
    decoded = np.concatenate([ulaw_decode(p.payload) for p in packets])
    assert np.corrcoef(decoded.astype(float), pcm.astype(float))[0, 1] > 0.999


def test_stream_continues_with_silence_after_the_speech() -> None:
    from itertools import islice

    from telephony.simulator.audio import alaw_decode
    from telephony.simulator.rtp import packet_stream

    pcm = np.full(400, 5000, dtype=np.int16)  # 2.5 frames of speech
    packets = [RtpPacket.parse(p) for p in islice(packet_stream(pcm, "alaw", [0], random.Random(2)), 6)]
    assert [p.payload_type for p in packets] == [8] * 6 and [p.marker for p in packets] == [True] + [False] * 5
    assert all(np.abs(alaw_decode(p.payload)).max() <= 8 for p in packets[3:])  # A-law's smallest step
    assert np.abs(alaw_decode(packets[1].payload)).min() > 4000
    assert [(p.sequence - packets[0].sequence) % 65536 for p in packets] == [0, 1, 2, 3, 4, 5]
