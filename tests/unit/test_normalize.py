"""Recorded AMI transcripts replayed through the parser and the normaliser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import events as ev
from telephony.ami.message import Message
from telephony.normalize import LiveChannel, Normalizer, endpoint_of
from tests.unit.ami_transcripts import load

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def replay(name: str, norm: Normalizer | None = None, register: bool = True) -> tuple[Normalizer, list[ev.CallEvent]]:
    norm = norm or Normalizer("pbx1")
    out: list[ev.CallEvent] = []
    for i, msg in enumerate(load(name)[1]):
        if msg.kind == "action":
            if register and msg.name == "Originate":
                norm.register_originate(msg["ChannelId"], msg["ActionID"], campaign_id=7, lead_id=4242,
                                        number=msg["Channel"].split("/")[1].split("@")[0])
            continue
        out += norm.feed(msg, T0 + timedelta(seconds=i))
    return norm, out


def kinds(events: list[ev.CallEvent]) -> list[str]:
    return [e.type.removeprefix("call.") for e in events]


def test_answered_human_redirected_to_agent() -> None:
    norm, out = replay("originate_answered_agent.ami")
    assert kinds(out) == ["dialing", "ringing", "answered", "amd_human", "bridged_to_agent", "hangup"]
    assert {e.call_id for e in out} == {"call-0001"}
    assert all(e.pbx == "pbx1" and e.campaign_id == 7 and e.lead_id == 4242 for e in out)
    dialing, bridged, hangup = out[0], out[4], out[5]
    assert isinstance(dialing, ev.Dialing) and dialing.number == "15551230001"
    assert dialing.channel == "PJSIP/trunk-00000001"
    assert isinstance(bridged, ev.BridgedToAgent) and bridged.agent_endpoint == "PJSIP/agent01"
    assert bridged.bridge_id == "5d1f3e1a-8f0b-4c84-9d58-0b9c1f8a0a11"
    assert isinstance(out[3], ev.AmdHuman) and out[3].amd_cause == "HUMAN-300-300"
    assert isinstance(hangup, ev.Hangup) and (hangup.cause, hangup.cause_txt) == (16, "Normal Clearing")
    assert out[0].at < out[-1].at
    assert norm.active_call_ids() == []


def test_busy_gives_hangup_17_then_originate_failed() -> None:
    _, out = replay("originate_busy.ami")
    assert kinds(out) == ["dialing", "hangup", "originate_failed"]
    assert (out[1].cause, out[1].cause_txt) == (17, "User busy")
    assert isinstance(out[2], ev.OriginateFailed) and out[2].reason == 5 and out[2].reason_txt == "busy"


def test_no_answer() -> None:
    _, out = replay("originate_noanswer.ami")
    assert kinds(out) == ["dialing", "ringing", "hangup", "originate_failed"]
    assert out[2].cause == 19 and out[3].reason == 3


def test_machine_via_amd_is_not_an_abandon() -> None:
    _, out = replay("originate_machine.ami")
    assert kinds(out) == ["dialing", "answered", "amd_machine", "hangup"]
    assert out[2].amd_cause == "MAXWORDS-4-4"


def test_congestion_without_channel_still_ends_with_one_hangup() -> None:
    _, out = replay("originate_congestion.ami")
    assert kinds(out) == ["originate_failed", "hangup"]
    assert out[0].reason == 8 and out[1].cause == 34 and out[1].source == "originate"


def test_safe_harbor_then_abandon() -> None:
    _, out = replay("abandoned_safe_harbor.ami")
    assert kinds(out) == ["dialing", "answered", "safe_harbor_played", "abandoned", "hangup"]
    assert out[2].audio == "pydialer/safe-harbor"


def test_calls_are_adopted_from_varset_without_registration() -> None:
    # A restarted service: it did not send the Originate but the channel carries our variable.
    _, out = replay("originate_answered_agent.ami", register=False)
    assert kinds(out) == ["dialing", "ringing", "answered", "amd_human", "bridged_to_agent", "hangup"]
    # the campaign id arrives in a later VarSet (as a string): events from then on carry it
    assert out[0].campaign_id is None and out[-1].campaign_id == "7"
    assert out[-1].lead_id is None


def test_interleaved_calls_are_kept_apart() -> None:
    norm = Normalizer("pbx1")
    a = [m for m in load("originate_answered_agent.ami")[1] if m.kind != "action"]
    b = [m for m in load("originate_busy.ami")[1] if m.kind != "action"]
    norm.register_originate("call-0001", "a-orig-1")
    norm.register_originate("call-0002", "a-orig-2")
    out = []
    for i in range(max(len(a), len(b))):
        for seq in (a, b):
            if i < len(seq):
                out += norm.feed(seq[i], T0)
    per_call: dict[str, list[str]] = {}
    for e in out:
        per_call.setdefault(e.call_id, []).append(e.type)
    assert per_call["call-0001"][-1] == "call.hangup" and "call.bridged_to_agent" in per_call["call-0001"]
    assert per_call["call-0002"] == ["call.dialing", "call.hangup", "call.originate_failed"]


@pytest.mark.parametrize(
    "cause, text",
    [(1, "Unallocated (unassigned) number"), (21, "Call Rejected"), (34, "Circuit/channel congestion"), (127, None)],
)
def test_hangup_causes_are_passed_through(cause: int, text: str | None) -> None:
    norm = Normalizer("pbx1")
    norm.register_originate("c9", "a9")
    norm.feed(Message.build(("Event", "Newchannel"), Channel="PJSIP/trunk-9", Uniqueid="c9", Linkedid="c9",
                            ChannelState="0"), T0)
    headers = {"Channel": "PJSIP/trunk-9", "Uniqueid": "c9", "Cause": str(cause)}
    if text:
        headers["Cause-txt"] = text
    out = norm.feed(Message.build(("Event", "Hangup"), **headers), T0)
    assert out[-1].cause == cause
    assert out[-1].cause_txt == (text or "Interworking, unspecified")


def test_malformed_events_are_ignored_not_raised() -> None:
    norm = Normalizer("pbx1")
    norm.register_originate("c1", "a1")
    assert norm.feed(Message.build(("Event", "Newstate"), Uniqueid="c1", ChannelState="abc"), T0) == []
    assert norm.feed(Message.build(("Event", "Hangup"), Channel="x"), T0) == []  # no Uniqueid
    assert norm.feed(Message.build(("Response", "Success")), T0) == []
    assert norm.active_call_ids() == ["c1"]


def test_resync_hangs_up_lost_calls_and_adopts_unknown_ones() -> None:
    norm = Normalizer("pbx1")
    msgs = [m for m in load("originate_answered_agent.ami")[1] if m.kind != "action"]
    norm.register_originate("call-0001", "a-orig-1")
    for m in msgs[:6]:  # up to the OriginateResponse: call answered
        norm.feed(m, T0)
    norm.register_originate("call-lost", "a-lost")
    norm.feed(Message.build(("Event", "Newchannel"), Channel="PJSIP/trunk-77", Uniqueid="call-lost",
                            Linkedid="call-lost", ChannelState="0"), T0)
    live = [
        LiveChannel("call-0001", "PJSIP/trunk-00000001", "call-0001", 6),
        LiveChannel("1763.5", "PJSIP/trunk-00000009", "1763.5", 6, call_id="call-adopted"),
        LiveChannel("1763.6", "PJSIP/alice-0000000a", "1763.6", 6),
    ]
    out = norm.resync(live, T0 + timedelta(seconds=60))
    by_call = {(e.call_id, e.type) for e in out}
    assert ("call-lost", "call.hangup") in by_call
    lost = next(e for e in out if e.call_id == "call-lost")
    assert lost.source == "resync"
    assert ("call-adopted", "call.dialing") in by_call and ("call-adopted", "call.answered") in by_call
    assert not any(e.call_id == "call-0001" for e in out)  # still up, nothing new to say
    assert sorted(norm.active_call_ids()) == ["call-0001", "call-adopted"]
    # a second resync with the same list is a no-op
    assert norm.resync(live, T0 + timedelta(seconds=61)) == []


def test_resync_keys_an_adopted_call_on_the_customer_leg_whatever_the_listing_order() -> None:
    # Dial() to the agent copies the inherited call id onto the agent's leg; it is listed first here.
    live = [
        LiveChannel("1763.8", "PJSIP/agent07-00000008", "call-b", 6, call_id="call-b", campaign_id="9",
                    bridge_id="br-1"),
        LiveChannel("call-b", "PJSIP/trunk-00000007", "call-b", 6, call_id="call-b", campaign_id="9",
                    bridge_id="br-1"),
    ]
    norm = Normalizer("pbx1")
    out = norm.resync(live, T0)
    assert kinds(out) == ["dialing", "answered", "bridged_to_agent"]
    assert out[2].agent_endpoint == "PJSIP/agent07"
    call = norm.calls["call-b"]
    assert call.uniqueid == "call-b" and call.legs == {"1763.8": "PJSIP/agent07-00000008"}
    # the agent leg hanging up first ends nothing; the customer's Hangup ends the call
    assert norm.feed(Message.build(("Event", "Hangup"), Channel="PJSIP/agent07-00000008", Uniqueid="1763.8",
                                   Linkedid="call-b", Cause="16"), T0) == []
    out = norm.feed(Message.build(("Event", "Hangup"), Channel="PJSIP/trunk-00000007", Uniqueid="call-b",
                                  Linkedid="call-b", Cause="16"), T0 + timedelta(seconds=1))
    assert kinds(out) == ["hangup"] and out[0].source == "pbx" and out[0].campaign_id == "9"  # no abandon
    assert norm.active_call_ids() == []
    # the same pair outside any bridge: an answered person nobody talks to is an abandon when they go
    norm = Normalizer("pbx1")
    norm.resync([LiveChannel("call-c", "PJSIP/trunk-0000000c", "call-c", 6, call_id="call-c")], T0)
    out = norm.feed(Message.build(("Event", "Hangup"), Channel="PJSIP/trunk-0000000c", Uniqueid="call-c",
                                  Linkedid="call-c", Cause="16"), T0)
    assert kinds(out) == ["abandoned", "hangup"]


def test_seeded_calls_from_a_previous_process_are_ended_or_kept_by_the_resync() -> None:
    """After a kill -9 the new process is seeded with the calls in progress: one ended unseen, one lives."""
    norm = Normalizer("pbx1")
    norm.seed("call-gone", uniqueid="call-gone", campaign_id="9", lead_id="41")
    norm.seed("call-up", uniqueid="call-up", campaign_id="9", lead_id="42")
    norm.seed("call-up", uniqueid="other", campaign_id="1")  # a second seed of a known call changes nothing
    live = [LiveChannel("call-up", "PJSIP/trunk-00000002", "call-up", 6, call_id="call-up"),
            LiveChannel("1763.9", "PJSIP/agent02-00000009", "call-up", 6, call_id="call-up"),
            # a leftover leg of the call that just ended is not adopted as a new call
            LiveChannel("1763.10", "PJSIP/agent01-0000000a", "call-gone", 6, call_id="call-gone")]
    out = norm.resync(live, T0, snapshot_seq=norm.seq)
    gone = [e for e in out if e.call_id == "call-gone"]
    assert kinds(gone) == ["hangup"] and gone[0].source == "resync"
    assert (gone[0].campaign_id, gone[0].lead_id) == ("9", "41")
    assert kinds([e for e in out if e.call_id == "call-up"]) == ["dialing", "answered"]
    assert norm.active_call_ids() == ["call-up"] and norm.calls["call-up"].uniqueid == "call-up"
    assert norm.calls["call-up"].legs == {"1763.9": "PJSIP/agent02-00000009"}
    assert norm.resync(live, T0, snapshot_seq=norm.seq) == []  # nothing new the second time


def test_resync_judges_only_originates_registered_before_the_snapshot() -> None:
    norm = Normalizer("pbx1")
    norm.register_originate("call-old", "a-o")
    snapshot = norm.seq
    norm.register_originate("call-new", "a-n")  # sent while CoreShowChannels was in flight
    out = norm.resync([], T0, snapshot)
    assert [(e.call_id, e.type) for e in out] == [("call-old", "call.hangup")]
    assert norm.active_call_ids() == ["call-new"]


def test_originate_rejected_ends_the_call() -> None:
    norm = Normalizer("pbx1")
    norm.register_originate("c-r", "a-r")
    out = norm.originate_rejected("c-r", "Originate failed", T0)
    assert kinds(out) == ["originate_failed", "hangup"] and out[1].source == "originate"
    assert norm.originate_rejected("c-r", "again", T0) == []


def test_ari_events_feed_the_same_state() -> None:
    norm = Normalizer("pbx1")
    norm.register_originate("c-ari", None, number="100")
    chan = {"id": "c-ari", "name": "PJSIP/trunk-1", "state": "Ring", "linkedid": "c-ari"}
    out = norm.feed_ari({"type": "StasisStart", "channel": chan}, T0)
    out += norm.feed_ari({"type": "ChannelStateChange", "channel": {**chan, "state": "Up"}}, T0)
    out += norm.feed_ari({"type": "ChannelVarset", "channel": chan, "variable": "AMDSTATUS", "value": "HUMAN"}, T0)
    out += norm.feed_ari({"type": "ChannelVarset", "channel": chan, "variable": "AMDCAUSE", "value": "HUMAN-1-1"}, T0)
    out += norm.feed_ari({"type": "ChannelDestroyed", "channel": chan, "cause": 17, "cause_txt": "User busy"}, T0)
    out += norm.feed_ari({"type": "ChannelDestroyed", "channel": "garbage"}, T0)
    assert kinds(out) == ["dialing", "answered", "amd_human", "abandoned", "hangup"]
    assert out[-1].cause == 17


def test_endpoint_of() -> None:
    assert endpoint_of("PJSIP/agent01-0000002a") == "PJSIP/agent01"
    assert endpoint_of("Local/100@ctx-00000001;2") == "Local/100@ctx"
    assert endpoint_of("PJSIP/agent-x") == "PJSIP/agent-x"


def test_unallocated_number_gives_cause_1_then_originate_failed_reason_1() -> None:
    _, out = replay("originate_unallocated.ami")
    assert kinds(out) == ["dialing", "hangup", "originate_failed"]
    assert (out[1].cause, out[1].cause_txt) == (1, "Unallocated (unassigned) number")
    assert isinstance(out[2], ev.OriginateFailed) and out[2].reason == 1 and out[2].reason_txt == "hangup"


def test_amd_notsure_then_customer_hangs_up_on_hold_is_an_abandon() -> None:
    _, out = replay("originate_amd_notsure_abandoned.ami")
    assert kinds(out) == ["dialing", "ringing", "answered", "amd_notsure", "abandoned", "hangup"]
    assert isinstance(out[3], ev.AmdNotSure) and out[3].amd_cause == "TOOLONG-5000"
    assert (out[-1].cause, out[-1].cause_txt) == (16, "Normal Clearing")


def test_core_show_channels_transcript_becomes_live_channels() -> None:
    listed = [m for m in load("core_show_channels.ami")[1] if m.event == "CoreShowChannel"]
    assert [(m["Uniqueid"], m["Linkedid"], m["ChannelState"], m["BridgeId"] != "") for m in listed] == [
        ("call-0001", "call-0001", "6", True), ("1763848100.10", "1763848100.10", "6", False)]
