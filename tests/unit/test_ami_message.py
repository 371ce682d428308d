"""AMI wire format: strict parse / serialize pairs and the tolerant framer on garbage."""

from __future__ import annotations

import random

import pytest

from telephony.ami.message import MAX_LINE, Framer, Message, parse_transcript
from tests.unit.ami_transcripts import FIXTURES, load, raw

ALL = sorted(p.name for p in FIXTURES.glob("*.ami"))


def test_parse_and_bytes_round_trip_simple() -> None:
    msg = Message.build(("Action", "Originate"), Channel="PJSIP/1@trunk", Variable=["A=1", "B=2"], Async="true")
    data = bytes(msg)
    assert data == b"Action: Originate\r\nChannel: PJSIP/1@trunk\r\nVariable: A=1\r\nVariable: B=2\r\nAsync: true\r\n\r\n"
    again = Message.parse(data)
    assert again == msg
    assert again.get_all("variable") == ["A=1", "B=2"]
    assert again["async"] == "true" and again.kind == "action" and again.name == "Originate"


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_message_round_trips(name: str) -> None:
    banner, messages = load(name)
    assert messages, name
    for msg in messages:
        assert Message.parse(bytes(msg)) == msg
    if name.startswith("login"):
        assert banner == "9.0.0"


def test_empty_values_and_colons_in_values_survive() -> None:
    msg = Message.parse(b"Event: Newchannel\r\nAccountCode: \r\nAppData: a:b:c\r\n\r\n")
    assert msg["AccountCode"] == "" and msg["AppData"] == "a:b:c"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00binary", "NUL"),
        (b"Event: A\r\n\xc3\x28: x\r\n", "UTF-8"),
        (b"Event: Hangup\r\nno colon here\r\n", "line 2"),
        (b"Event: A\r\n\r\nEvent: B\r\n", "more than one"),
        (b": value\r\n", "line 1"),
    ],
)
def test_parse_rejects_garbage_with_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Message.parse(data)


def test_serializer_refuses_header_injection() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        Message.build(("Action", "Originate"), CallerID='"x"\r\nAction: Hangup')


def test_framer_handles_any_chunking() -> None:
    data = raw("originate_answered_agent.ami") + b"\r\n\r\n"
    whole = Framer().feed(data)
    rng = random.Random(7)
    framer, pieced = Framer(), []
    i = 0
    while i < len(data):
        step = rng.randint(1, 40)
        pieced += framer.feed(data[i : i + step])
        i += step
    assert pieced == whole and len(whole) == 26
    byte_by_byte = Framer()
    assert [m for b in data for m in byte_by_byte.feed(bytes([b]))] == whole


def test_framer_drops_bad_lines_and_keeps_the_rest() -> None:
    framer = Framer()
    junk = b"Event: Hangup\r\nUniqueid: 1.1\r\nthis line has no colon\r\n\x00\x01\x02: bin\r\nCause: 16\r\n\r\n"
    out = framer.feed(junk)
    assert len(out) == 1 and out[0]["Cause"] == "16" and "this line" not in str(out[0].headers)
    assert any("without colon" in r for r in framer.dropped)
    assert any("binary" in r for r in framer.dropped)


def test_framer_survives_random_binary_and_recovers() -> None:
    rng = random.Random(11)
    framer = Framer()
    for _ in range(50):
        framer.feed(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
    framer.feed(b"\r\n\r\n")  # end whatever half message the noise left
    out = framer.feed(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert out[-1].event == "FullyBooted"


def test_framer_drops_lines_over_64k_without_buffering_them() -> None:
    framer = Framer()
    huge = b"Value: " + b"x" * (MAX_LINE + 10)
    out = framer.feed(b"Event: VarSet\r\nVariable: BIG\r\n" + huge[: MAX_LINE // 2])
    out += framer.feed(huge[MAX_LINE // 2 :])
    assert len(framer._buf) <= MAX_LINE
    out += framer.feed(b"\r\nUniqueid: 1.2\r\n\r\n")
    assert len(out) == 1 and out[0].get("Value") is None and out[0]["Uniqueid"] == "1.2"
    assert any("longer than" in r for r in framer.dropped)
    # a complete over-long line arriving in one chunk is dropped too
    framer2 = Framer(max_line=100)
    out2 = framer2.feed(b"Event: X\r\nLong: " + b"y" * 200 + b"\r\nOk: 1\r\n\r\n")
    assert out2[0].get("Long") is None and out2[0]["Ok"] == "1"


def test_framer_half_message_waits_for_the_rest() -> None:
    framer = Framer()
    assert framer.feed(b"Response: Success\r\nActionID: 1\r\n") == []
    assert framer.feed(b"Message: Pong\r\n\r\n")[0]["Message"] == "Pong"


def test_framer_bare_lf_and_banner_and_legacy_follows_body() -> None:
    framer = Framer()
    out = framer.feed(b"Asterisk Call Manager/5.0.1\nResponse: Follows\nActionID: c1\nline one\nline: two\n--END COMMAND--\n\n")
    assert framer.banner == "5.0.1"
    assert out[0].body == "line one\nline: two"


def test_parse_transcript_flushes_last_message() -> None:
    assert parse_transcript(b"Event: A\r\nX: 1")[0]["X"] == "1"
