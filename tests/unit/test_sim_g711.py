"""G.711 codec of the simulator against ITU-T reference points and (where present) audioop."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from telephony.simulator.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module("audioop")
        except ImportError:
            return None


def test_ulaw_reference_points() -> None:
    # G.711 mu-law: silence is 0xFF, full-scale positive 0x80, full-scale negative 0x00.
    assert ulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00])
    assert list(ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00]))) == [0, 0, 32124, -32124]


def test_alaw_reference_points() -> None:
    # G.711 A-law: code words have even bits inverted; +0 encodes as 0xD5, -1 as 0x55.
    assert alaw_encode(np.array([0, -8], dtype=np.int16)) == bytes([0xD5, 0x55])
    assert list(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


@pytest.mark.parametrize("enc,dec", [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_round_trip_error_is_within_quantisation_step(enc, dec) -> None:
    back = dec(enc(ALL)).astype(np.int32)
    err = np.abs(back - ALL.astype(np.int32))
    # segment step is 1/16 of the segment's range: relative error <= ~1/16 plus the small-signal floor
    assert np.all(err <= np.maximum(np.abs(ALL.astype(np.int32)) / 15, 64))
    # decode(encode(decode(x))) is idempotent: every code word is a fixed point
    codes = bytes(range(256))
    assert enc(dec(codes)) == codes or np.array_equal(dec(enc(dec(codes))), dec(codes))


def test_every_code_word_is_a_fixed_point() -> None:
    codes = bytes(range(256))
    assert np.array_equal(ulaw_decode(ulaw_encode(ulaw_decode(codes))), ulaw_decode(codes))
    assert alaw_encode(alaw_decode(codes)) == codes


def test_matches_audioop_when_available() -> None:
    audioop = _audioop()
    if audioop is None:
        pytest.skip("audioop not available on this Python")
    pcm = ALL.tobytes()
    assert ulaw_encode(ALL) == audioop.lin2ulaw(pcm, 2)
    assert alaw_encode(ALL) == audioop.lin2alaw(pcm, 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes).tobytes() == audioop.alaw2lin(codes, 2)
