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


def test_framer_drops_a_message_with_a_bad_line_and_keeps_its_neighbours() -> None:
    framer = Framer()
    before = b"Event: Newchannel\r\nUniqueid: 1.0\r\n\r\n"
    junk = b"Event: Hangup\r\nUniqueid: 1.1\r\nthis line has no colon\r\n\x00\x01\x02: bin\r\nCause: 16\r\n\r\n"
    after = b"Event: Hangup\r\nUniqueid: 1.2\r\nCause: 17\r\n\r\n"
    out = framer.feed(before + junk + after)
    # the garbled Hangup is not half-delivered (it would end a call on what is left of it)
    assert [(m.event, m["Uniqueid"]) for m in out] == [("Newchannel", "1.0"), ("Hangup", "1.2")]
    assert out[1]["Cause"] == "17"
    assert framer.dropped == ["header without colon 'this line has no colon'"]  # one reason per message
    assert framer.dropped_count == 1


def test_framer_drops_a_binary_message() -> None:
    framer = Framer()
    out = framer.feed(b"Event: VarSet\r\nValue: a\x00b\r\n\r\nEvent: FullyBooted\r\n\r\n")
    assert [m.event for m in out] == ["FullyBooted"]
    assert framer.dropped[0].startswith("binary line")


def test_framer_keeps_non_utf8_text() -> None:
    # a latin-1 caller name is real traffic, not garbage
    out = Framer().feed(b"Event: Newchannel\r\nCallerIDName: Jos\xe9\r\n\r\n")
    assert out[0]["CallerIDName"] == "Jos\ufffd"


def test_framer_survives_random_binary_and_recovers() -> None:
    rng = random.Random(11)
    framer = Framer()
    for _ in range(50):
        framer.feed(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
    framer.feed(b"\r\n\r\n")  # end whatever half message the noise left
    out = framer.feed(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert out[-1].event == "FullyBooted"
    assert framer.dropped_count > 0


def test_framer_drops_a_message_with_a_line_over_64k_without_buffering_it() -> None:
    framer = Framer()
    huge = b"Value: " + b"x" * (MAX_LINE + 10)
    out = framer.feed(b"Event: VarSet\r\nVariable: BIG\r\n" + huge[: MAX_LINE // 2])
    out += framer.feed(huge[MAX_LINE // 2 :])
    assert framer.buffered_bytes <= MAX_LINE
    out += framer.feed(b"\r\nUniqueid: 1.2\r\n\r\nEvent: Hangup\r\nUniqueid: 1.3\r\n\r\n")
    assert [(m.event, m["Uniqueid"]) for m in out] == [("Hangup", "1.3")]
    assert framer.dropped == [f"line longer than {MAX_LINE} bytes"]
    # a complete over-long line arriving in one chunk is dropped too
    framer2 = Framer(max_line=100)
    out2 = framer2.feed(b"Event: X\r\nLong: " + b"y" * 200 + b"\r\nOk: 1\r\n\r\nEvent: Y\r\n\r\n")
    assert [m.event for m in out2] == ["Y"]


@pytest.mark.parametrize("junk, reason", [
    (b"Event: X\r\nLong: " + b"y" * 200 + b"\r\nOk: 1\r\n\r\n", "line longer than 100 bytes"),
    (b"Event: X\r\nno colon\r\n\r\n", "header without colon"),
    (b"Event: X\r\nV: a\x01b\r\n\r\n", "binary line"),
    (b"Event: X\r\nV: a\rb\r\n\r\n", "binary line"),
])
def test_framer_fast_path_hands_odd_blocks_to_the_careful_one(junk: bytes, reason: str) -> None:
    # after the banner, whole CRLF blocks take the fast path: it must drop exactly what the line
    # machine drops, and pick up again after it
    framer = Framer(max_line=100)
    framer.feed(b"Asterisk Call Manager/9.0.0\r\n")
    ok = b"Event: A\r\nN: 1\r\n\r\n"
    out = framer.feed(ok + junk + ok + ok)
    assert [m.event for m in out] == ["A", "A", "A"]
    assert len(framer.dropped) == 1 and framer.dropped[0].startswith(reason)
    assert framer.feed(ok) == [Message.parse(ok)]


def test_framer_fast_and_careful_paths_agree_on_every_fixture() -> None:
    data = b"".join(raw(name).removeprefix(b"Asterisk Call Manager/9.0.0\r\n") + b"\r\n\r\n" for name in ALL)
    fast = Framer()
    fast.feed(b"Asterisk Call Manager/9.0.0\r\n")
    careful = Framer()
    careful.feed(b"Asterisk Call Manager/9.0.0\r\n")
    careful._fast_path = lambda out: None  # type: ignore[method-assign]  # the line machine only
    fast_out, careful_out = fast.feed(data), careful.feed(data)
    assert len(fast_out) > 80 and fast_out == careful_out
    assert fast.dropped == careful.dropped == []


def test_framer_bounds_an_endless_message() -> None:
    framer = Framer(max_message=10_000)
    out = framer.feed(b"Event: VarSet\r\n")
    peak = 0
    for i in range(20_000):  # ~500 KB of valid-looking headers, never a blank line
        out += framer.feed(b"Variable: V%d=padding-padding\r\n" % i)
        peak = max(peak, framer.buffered_bytes)
    assert peak <= 10_000 and framer.dropped == ["message longer than 10000 bytes"]
    out += framer.feed(b"\r\nEvent: FullyBooted\r\n\r\n")
    assert [m.event for m in out] == ["FullyBooted"]


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
