"""Every recorded transcript under tests/fixtures/ami matches the shapes Asterisk 20 documents."""

from __future__ import annotations

import pytest

from telephony.ami.message import Message
from tests.unit.ami_schema import check
from tests.unit.ami_transcripts import FIXTURES, load

ALL = sorted(p.name for p in FIXTURES.glob("*.ami"))


@pytest.mark.parametrize("name", ALL)
def test_fixture_messages_have_the_documented_fields_in_order(name: str) -> None:
    problems = [f"#{i} {p}" for i, msg in enumerate(load(name)[1]) for p in check(msg)]
    assert problems == []


@pytest.mark.parametrize("name", ALL)
def test_every_server_reply_carries_the_action_id_it_answers(name: str) -> None:
    pending: set[str] = set()
    for msg in load(name)[1]:
        if msg.kind == "action":
            assert msg.headers[0][0] == "Action" and msg.action_id, msg.headers[:2]
            pending.add(msg.action_id)
        elif msg.kind == "response" or msg.event in ("OriginateResponse", "CoreShowChannel",
                                                        "CoreShowChannelsComplete"):
            assert msg.action_id in pending, (msg.name, msg.action_id)


def test_fixtures_cover_the_flows_the_dialer_depends_on() -> None:
    reasons, causes, amd, events = set(), set(), set(), set()
    for name in ALL:
        for msg in load(name)[1]:
            events.add(msg.event)
            if msg.event == "OriginateResponse":
                reasons.add(msg["Reason"])
            if msg.event == "Hangup":
                causes.add(msg["Cause"])
            if msg.event == "VarSet" and msg["Variable"] in ("AMDSTATUS", "AMDCAUSE"):
                amd.add(msg["Variable"])
    assert {"3", "4", "5", "8"} <= reasons  # no answer, answered, busy, congestion
    assert {"16", "17", "19"} <= causes
    assert amd == {"AMDSTATUS", "AMDCAUSE"}
    assert {"BridgeEnter", "BridgeLeave", "CoreShowChannel", "CoreShowChannelsComplete", "DialBegin",
            "DialEnd", "FullyBooted"} <= events


@pytest.mark.parametrize("bad, problem", [
    ("Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/x-1\r\nUniqueid: 1.1\r\nCause: 16\r\n", "missing"),
    ("Event: Newstate\r\nChannel: PJSIP/x-1\r\n", "Privilege"),
    ("Event: OriginateResponse\r\nPrivilege: call,all\r\nResponse: Success\r\nChannel: x\r\nContext: c\r\n"
     "Exten: s\r\nApplication: \r\nData: \r\nReason: 5\r\nUniqueid: 1.1\r\nCallerIDNum: 1\r\nCallerIDName: a\r\n",
     "Reason 4"),
    ("Response: Success\r\nMessage: Pong\r\nActionID: 1\r\n", "then ActionID"),
])
def test_the_schema_check_catches_unfaithful_messages(bad: str, problem: str) -> None:
    assert any(problem in p for p in check(Message.parse(bad.encode())))
