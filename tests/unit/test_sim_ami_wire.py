"""The simulator's AMI framer: split at blank lines, survive garbage, bound line length."""

from __future__ import annotations

from telephony.simulator.ami_wire import MAX_LINE, AmiFramer, format_message, get, get_all


def test_messages_split_across_reads_and_case_insensitive_lookup() -> None:
    f = AmiFramer()
    assert f.feed(b"Action: Ping\r\nActionID: 1\r") == []
    msgs = f.feed(b"\n\r\nAction: Originate\r\nVariable: A=1\r\nvariable: B=2\r\n\r\n")
    assert msgs[0] == [("Action", "Ping"), ("ActionID", "1")]
    assert get(msgs[1], "ACTION") == "Originate"
    assert get_all(msgs[1], "Variable") == ["A=1", "B=2"]


def test_garbage_is_dropped_and_the_next_message_still_parses() -> None:
    f = AmiFramer()
    assert f.feed(b"\x00\xff\xfe binary junk\r\n\r\n") == []
    assert f.dropped and "without 'Key:'" in f.dropped[0]
    assert f.feed(b"Action: Ping\r\n\r\n") == [[("Action", "Ping")]]


def test_overlong_lines_are_dropped_without_unbounded_buffering() -> None:
    f = AmiFramer()
    assert f.feed(b"Action: Ping\r\nX: " + b"a" * (MAX_LINE + 10)) == []
    assert len(f._buf) == 0  # the endless line was thrown away
    f.feed(b"more" * 10 + b"\r\n\r\n")
    assert f.feed(b"Action: Ping\r\nActionID: 2\r\n\r\n") == [[("Action", "Ping"), ("ActionID", "2")]]


def test_format_message_round_trips() -> None:
    text = format_message([("Response", "Success"), ("Ping", "Pong")])
    assert text == "Response: Success\r\nPing: Pong\r\n\r\n"
    assert AmiFramer().feed(text.encode()) == [[("Response", "Success"), ("Ping", "Pong")]]
