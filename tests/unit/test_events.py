"""The shared event vocabulary: round trips and clear errors on bad input."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import events as ev

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

SAMPLES: list[ev.Message] = [
    ev.Dialing(call_id="c1", at=T0, campaign_id=7, lead_id=42, pbx="pbx1", uniqueid="c1", number="15551230001",
               channel="PJSIP/trunk-1"),
    ev.Ringing(call_id="c1", at=T0),
    ev.Answered(call_id="c1", at=T0, channel="PJSIP/trunk-1"),
    ev.AmdHuman(call_id="c1", at=T0, amd_cause="HUMAN-300-300"),
    ev.AmdMachine(call_id="c1", at=T0, amd_cause="MAXWORDS-4-4"),
    ev.AmdNotSure(call_id="c1", at=T0, amd_cause="TOOLONG-5000"),
    ev.BridgedToAgent(call_id="c1", at=T0, agent_endpoint="PJSIP/agent01", bridge_id="b1"),
    ev.Abandoned(call_id="c1", at=T0, reason="hangup before agent"),
    ev.SafeHarborPlayed(call_id="c1", at=T0, audio="pydialer/safe-harbor"),
    ev.Hangup(call_id="c1", at=T0, cause=17, cause_txt="User busy", source="resync"),
    ev.RecordingStarted(call_id="c1", at=T0, recording="pydialer/c1.wav"),
    ev.RecordingStopped(call_id="c1", at=T0, recording="pydialer/c1.wav"),
    ev.MediaStarted(call_id="c1", at=T0, external_host="10.0.0.5:40000", media_channel="m1"),
    ev.MediaStopped(call_id="c1", at=T0, media_channel="m1"),
    ev.OriginateFailed(call_id="c1", at=T0, reason=5, reason_txt="busy"),
    ev.OriginateCommand(call_id="c1", number="15551230001", caller_id='"ACME" <100>', timeout_s=25, campaign_id=7,
                        lead_id=42, amd=True, variables={"X": "1"}, pbx="pbx2"),
    ev.HangupCommand(call_id="c1", cause=21),
    ev.BridgeCommand(call_id="c1", agent_endpoint="PJSIP/agent01"),
    ev.MonitorCommand(call_id="c1", supervisor_endpoint="PJSIP/sup01", mode="whisper"),
    ev.PlayCommand(call_id="c1", audio="pydialer/safe-harbor", safe_harbor=True),
    ev.RecordCommand(call_id="c1", action="stop"),
    ev.ExternalMediaCommand(call_id="c1", host_port="media:40000", format="slin16"),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.type)
def test_round_trip_through_json(message: ev.Message) -> None:
    wire = json.loads(json.dumps(message.to_dict()))
    assert wire["type"] == message.type and wire["v"] == ev.SCHEMA_VERSION
    assert ev.from_dict(wire) == message


def test_every_registered_type_has_a_sample() -> None:
    assert {m.type for m in SAMPLES} == set(ev.message_types())


def test_timestamps_are_normalised_to_utc() -> None:
    paris = datetime(2026, 3, 2, 16, 0, tzinfo=timezone(timedelta(hours=1)))
    data = ev.Ringing(call_id="c", at=paris).to_dict()
    assert ev.from_dict(data).at == T0 and ev.from_dict(data).at.tzinfo == UTC


@pytest.mark.parametrize(
    "data, message",
    [
        ("nope", "expected an object"),
        ({"type": "call.teleport"}, "unknown message type"),
        ({"type": "call.ringing", "v": 99, "call_id": "c", "at": T0.isoformat()}, "unsupported schema version"),
        ({"type": "call.ringing", "at": T0.isoformat()}, "missing field 'call_id'"),
        ({"type": "call.ringing", "call_id": "c", "at": T0.isoformat(), "color": "red"}, "unknown fields"),
        ({"type": "call.ringing", "call_id": "c", "at": "2026-03-02 15:00"}, "timezone"),
        ({"type": "call.ringing", "call_id": "c", "at": "yesterday"}, "not an ISO timestamp"),
        ({"type": "call.ringing", "call_id": "", "at": T0.isoformat()}, "call_id"),
        ({"type": "cmd.originate", "call_id": "c", "number": " "}, "number"),
        ({"type": "cmd.originate", "call_id": "c", "number": "1", "timeout_s": 0}, "timeout_s"),
        ({"type": "cmd.originate", "call_id": "c", "number": "1", "variables": ["x"]}, "variables"),
        ({"type": "cmd.hangup", "call_id": "c", "cause": 500}, "Q.850"),
        ({"type": "cmd.monitor", "call_id": "c", "supervisor_endpoint": "PJSIP/s", "mode": "shout"}, "mode"),
        ({"type": "cmd.record", "call_id": "c", "action": "pause"}, "action"),
        ({"type": "cmd.external_media", "call_id": "c", "host_port": "nohost"}, "host:port"),
    ],
)
def test_bad_payloads_raise_value_error_with_reason(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ev.from_dict(data)


def test_events_are_immutable() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[1].call_id = "other"  # type: ignore[misc]


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8)), max_size=6))
def test_from_dict_never_raises_anything_but_value_error(data: dict) -> None:
    for kind in (None, "call.hangup", "cmd.originate"):
        payload = dict(data) if kind is None else {**data, "type": kind}
        with contextlib.suppress(ValueError):
            ev.from_dict(payload)
