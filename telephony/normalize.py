"""Pure translation of AMI (and ARI) traffic into our call events.

:class:`Normalizer` keeps per-call state keyed by Asterisk Uniqueid / Linkedid and maps channels to
our ``call_id``:

1. the originate we sent (``register_originate``): we set Originate's ``ChannelId`` to the call id,
   so the customer channel's Uniqueid *is* the call id, and the ActionID maps OriginateResponse;
2. a ``VarSet`` of ``PYDIALER_CALL_ID`` (we set ``__PYDIALER_CALL_ID`` on Originate; the ``__``
   makes Asterisk copy it to every channel the call spawns), which also lets us adopt calls
   after a restart;
3. the Linkedid (Asterisk: "Uniqueid of the oldest channel associated with this channel"): the
   agent leg Dial()ed after a Redirect shares the customer channel's Linkedid.

Invariants the dialer relies on: each call ends with exactly one ``hangup``; ``answered`` at most
once; ``abandoned`` precedes the ``hangup`` of a call that was answered by a person (AMD not
MACHINE) and never reached an agent (16 CFR 310.4(b)(1)(iv) counts those).

No I/O and no clock: every entry point takes ``now``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core import events as ev
from telephony.ami.message import Message
from telephony.ports import CALL_ID_VAR, CAMPAIGN_ID_VAR, LEAD_ID_VAR

logger = logging.getLogger(__name__)

SAFE_HARBOR_VAR = "PYDIALER_SAFE_HARBOR"

#: Q.850 cause texts as Asterisk prints them (ast_cause2str), for causes we synthesise.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    127: "Interworking, unspecified",
}

#: OriginateResponse ``Reason`` (an AST_CONTROL_* value) -> the Q.850 cause we report when
#: Asterisk gives us no Hangup event for the attempt (the channel never came up).
REASON_TO_CAUSE: dict[int, int] = {0: 0, 1: 16, 3: 19, 5: 17, 8: 34}
REASON_TEXT: dict[int, str] = {0: "failed", 1: "hangup", 3: "no answer", 4: "answered", 5: "busy", 8: "congestion"}

_UNKNOWN_CAP = 10_000  # channels we saw but cannot attribute yet (bounded: they are not ours)


def strip_inherit(name: str) -> str:
    """``__PYDIALER_CALL_ID`` -> ``PYDIALER_CALL_ID`` (Asterisk may report the prefixed name)."""
    return name.lstrip("_")


def endpoint_of(channel: str) -> str:
    """``PJSIP/agent01-0000002a`` -> ``PJSIP/agent01`` (strip Asterisk's per-channel suffix)."""
    base, sep, suffix = channel.rpartition("-")
    return base if sep and suffix and all(c in "0123456789abcdef;12" for c in suffix.lower()) else channel


@dataclass
class CallState:
    call_id: str
    campaign_id: ev.Id | None = None
    lead_id: ev.Id | None = None
    number: str = ""
    action_id: str | None = None
    uniqueid: str | None = None  # the customer (primary) channel
    channel: str | None = None
    linkedid: str | None = None
    legs: dict[str, str] = field(default_factory=dict)  # uniqueid -> channel name
    seen_channel: bool = False
    ringing: bool = False
    answered: bool = False
    amd_status: str | None = None
    amd_emitted: bool = False
    bridged_legs: set[str] = field(default_factory=set)
    failed: bool = False
    ended: bool = False
    recording: str | None = None
    seq: int = 0  # registration order (resync only judges calls registered before its snapshot)


@dataclass(frozen=True)
class LiveChannel:
    """One channel as reported by CoreShowChannels / Status (used by :meth:`Normalizer.resync`)."""

    uniqueid: str
    channel: str
    linkedid: str = ""
    state: int = 0
    call_id: str | None = None  # from Status ``Variable: PYDIALER_CALL_ID=...``
    campaign_id: str | None = None
    lead_id: str | None = None
    bridge_id: str = ""  # CoreShowChannel ``BridgeId``: empty when in no bridge


class Normalizer:
    def __init__(self, pbx: str) -> None:
        self.pbx = pbx
        self.calls: dict[str, CallState] = {}
        self._by_uniqueid: dict[str, str] = {}
        self._by_linkedid: dict[str, str] = {}
        self._by_action: dict[str, str] = {}
        self._bridges: dict[str, set[str]] = {}
        self._unknown: OrderedDict[str, tuple[str, str, int]] = OrderedDict()
        # Ended calls, kept a while: Asterisk may send OriginateResponse after the Hangup event.
        self._ended: OrderedDict[str, CallState] = OrderedDict()
        self.seq = 0

    # -- registration and lookup -------------------------------------------------------------
    def register_originate(
        self,
        call_id: str,
        action_id: str | None = None,
        campaign_id: ev.Id | None = None,
        lead_id: ev.Id | None = None,
        number: str = "",
    ) -> None:
        self._ended.pop(call_id, None)
        call = self.calls.get(call_id) or CallState(call_id)
        call.campaign_id, call.lead_id, call.number, call.action_id = campaign_id, lead_id, number, action_id
        call.uniqueid = call.uniqueid or call_id  # Originate ChannelId = call_id
        self.seq += 1
        call.seq = self.seq
        self.calls[call_id] = call
        self._by_uniqueid[call.uniqueid] = call_id
        if action_id:
            self._by_action[action_id] = call_id

    def originate_rejected(self, call_id: str, text: str, now: datetime) -> list[ev.CallEvent]:
        """Asterisk refused the Originate action itself (``Response: Error``): the call never started."""
        call = self.calls.get(call_id)
        if call is None or call.ended or call.seen_channel:
            return []
        call.failed = True
        return [ev.OriginateFailed(**self._common(call, now), reason=0, reason_txt=text or "rejected"),
                *self._end(call, 0, "Unknown (originate rejected)", now, source="originate")]

    def note_recording(self, call_id: str, filename: str) -> None:
        """The file a MixMonitor we asked for writes (its Start/Stop events do not name it)."""
        call = self.calls.get(call_id)
        if call is not None:
            call.recording = filename

    def spy_target(self, call_id: str) -> str | None:
        """The channel a supervisor should spy on: the agent leg when bridged, else the customer."""
        call = self.calls.get(call_id)
        if call is None or call.ended:
            return None
        for leg in call.bridged_legs:
            if leg in call.legs:
                return call.legs[leg]
        return call.channel

    def channel_of(self, call_id: str) -> str | None:
        call = self.calls.get(call_id)
        return call.channel if call and not call.ended else None

    def active_call_ids(self) -> list[str]:
        return [c.call_id for c in self.calls.values() if not c.ended]

    def active_count(self) -> int:
        """How many calls are up: ``calls`` holds live ones only (``_end`` moves a call out as it
        ends), so this is O(1), unlike ``len(active_call_ids())`` which the PBX selector paid on
        every originate (quadratic at a few thousand live calls)."""
        return len(self.calls)

    # -- AMI -----------------------------------------------------------------------------------
    def feed(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        """Translate one AMI event; anything unexpected is logged and yields nothing."""
        name = msg.event
        if name is None:
            return []
        handler = getattr(self, "_ami_" + name.lower(), None)
        if handler is None:
            return []
        try:
            return handler(msg, now)
        except (KeyError, ValueError) as exc:
            logger.warning("normaliser: ignoring malformed %s event (%s): %r", name, exc, msg.as_dict())
            return []

    def _ami_newchannel(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        return self._channel_seen(msg["Uniqueid"], (msg.get("Channel") or ""), msg.get("Linkedid") or "",
                                  int(msg.get("ChannelState") or 0), now)

    def _ami_newstate(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        uid = msg["Uniqueid"]
        out = self._channel_seen(uid, (msg.get("Channel") or ""), msg.get("Linkedid") or "", None, now)
        return out + self._state(uid, int(msg["ChannelState"]), now)

    def _ami_varset(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        return self._varset(msg["Uniqueid"], (msg.get("Channel") or ""), msg.get("Linkedid") or "",
                            strip_inherit(msg["Variable"]), (msg.get("Value") or ""), now)

    def _ami_originateresponse(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        call_id = self._by_action.pop(msg.get("ActionID") or "", None)
        if call_id is None:
            call_id = self._by_uniqueid.get(msg.get("Uniqueid") or "")
        reason = int(msg.get("Reason") or 0)
        success = (msg.get("Response") or "").lower() == "success"
        late = self._ended.get(call_id or "")
        if late is not None:
            if success or late.failed:
                return []
            late.failed = True
            return [ev.OriginateFailed(**self._common(late, now), reason=reason,
                                       reason_txt=REASON_TEXT.get(reason, "failed"))]
        call = self.calls.get(call_id or "")
        if call is None or call.ended:
            return []
        if success:
            return self._answer(call, now)
        call.failed = True
        out: list[ev.CallEvent] = [ev.OriginateFailed(**self._common(call, now), reason=reason,
                                                      reason_txt=REASON_TEXT.get(reason, "failed"))]
        if not call.seen_channel:
            # Asterisk never created (or never told us about) a channel: nothing else will end the call.
            cause = REASON_TO_CAUSE.get(reason, 0)
            out += self._end(call, cause, CAUSE_TEXT.get(cause, "Unknown"), now, source="originate")
        return out

    def _ami_bridgeenter(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        return self._bridge_enter(msg["BridgeUniqueid"], msg["Uniqueid"], now)

    def _ami_bridgeleave(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        self._bridges.get(msg["BridgeUniqueid"], set()).discard(msg["Uniqueid"])
        return []

    def _ami_bridgedestroy(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        self._bridges.pop(msg["BridgeUniqueid"], None)
        return []

    def _ami_mixmonitorstart(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        call = self._call_for(msg["Uniqueid"])
        if call is None:
            return []
        return [ev.RecordingStarted(**self._common(call, now), recording=call.recording or "")]

    def _ami_mixmonitorstop(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        call = self._call_for(msg["Uniqueid"])
        if call is None:
            return []
        return [ev.RecordingStopped(**self._common(call, now), recording=call.recording or "")]

    def _ami_hangup(self, msg: Message, now: datetime) -> list[ev.CallEvent]:
        cause = int(msg.get("Cause") or 0)
        text = msg.get("Cause-txt") or CAUSE_TEXT.get(cause, "Unknown")
        return self._hangup(msg["Uniqueid"], cause, text, now)

    # -- ARI (Stasis app events, JSON objects as documented in the ARI Events model) -------------
    def feed_ari(self, event: Mapping[str, Any], now: datetime) -> list[ev.CallEvent]:
        kind = event.get("type")
        raw_chan = event.get("channel")
        chan: Mapping[str, Any] = raw_chan if isinstance(raw_chan, Mapping) else {}
        uid, name = str(chan.get("id", "")), str(chan.get("name", ""))
        try:
            if kind in ("StasisStart", "ChannelCreated") and uid:
                return self._channel_seen(uid, name, str(chan.get("linkedid", "")), None, now)
            if kind == "ChannelStateChange" and uid:
                state = {"Ringing": 5, "Up": 6}.get(str(chan.get("state")), 0)
                return self._state(uid, state, now) if state else []
            if kind == "ChannelVarset" and uid:
                return self._varset(uid, name, str(chan.get("linkedid", "")),
                                    strip_inherit(str(event["variable"])), str(event.get("value", "")), now)
            if kind == "ChannelEnteredBridge" and uid:
                return self._bridge_enter(str(event["bridge"]["id"]), uid, now)
            if kind == "ChannelDestroyed" and uid:
                cause = int(event.get("cause", 0))
                return self._hangup(uid, cause, str(event.get("cause_txt") or CAUSE_TEXT.get(cause, "Unknown")), now)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("normaliser: ignoring malformed ARI %s event (%s)", kind, exc)
        return []

    def seed(self, call_id: str, uniqueid: str, campaign_id: ev.Id | None = None,
             lead_id: ev.Id | None = None) -> None:
        """Track a call a previous process reported as in progress; the next :meth:`resync` judges it.

        Its ``seq`` is 0 (before any snapshot): gone from the PBX's list means it ended unseen.
        """
        if call_id in self.calls:
            return
        self.calls[call_id] = CallState(call_id, campaign_id=campaign_id, lead_id=lead_id, uniqueid=uniqueid)
        self._by_uniqueid[uniqueid] = call_id

    # -- re-sync after a reconnect -----------------------------------------------------------------
    def resync(self, live: list[LiveChannel], now: datetime, snapshot_seq: int | None = None) -> list[ev.CallEvent]:
        """Reconcile with the PBX's channel list after a reconnect.

        Calls we tracked whose customer channel is gone get a synthetic ``hangup`` (source
        ``resync``: the real Hangup event was lost with the connection); live channels carrying
        our call id that we did not know are adopted. ``snapshot_seq`` is :attr:`seq` taken before the
        channel list was requested: originates registered after it may legitimately be missing.
        A still-pending originate from before the snapshot with no channel is ended too: if Asterisk
        had it, its channel would be listed (ChannelId = call id).
        """
        cutoff = self.seq if snapshot_seq is None else snapshot_seq
        by_uid = {c.uniqueid: c for c in live}
        out: list[ev.CallEvent] = []
        for call in list(self.calls.values()):
            if call.ended:
                continue
            if call.uniqueid in by_uid:
                info = by_uid[call.uniqueid]
                call.channel = info.channel
                if not call.seen_channel:
                    out += self._channel_seen(info.uniqueid, info.channel, info.linkedid, info.state, now)
                out += self._state(info.uniqueid, info.state, now)
                continue
            if call.seq > cutoff:
                continue  # originated after the snapshot: not in the list yet
            out += self._end(call, 0, "Unknown (channel gone after PBX reconnect)", now, source="resync")
        unknown: dict[str, list[LiveChannel]] = {}
        for info in live:
            if not info.call_id or info.call_id in self._ended:
                continue  # ours and over (maybe just now): a leg left behind is not a new call
            if info.call_id not in self.calls:
                unknown.setdefault(info.call_id, []).append(info)
            elif info.uniqueid not in self._by_uniqueid:  # another leg of a tracked call
                self.calls[info.call_id].legs[info.uniqueid] = info.channel
                self._by_uniqueid[info.uniqueid] = info.call_id
        for call_id, chans in unknown.items():
            # Dial() to the agent copies our inherited variable onto the agent's leg: key the call on
            # the customer channel (Originate ChannelId = call id, the root of its linkedid), whatever
            # order the PBX lists them in, or the customer's Hangup would not end it.
            info = min(chans, key=lambda c: (c.uniqueid != call_id, c.uniqueid != c.linkedid))
            logger.info("resync: adopting call %s on %s (%s)", call_id, self.pbx, info.channel)
            self._unknown[info.uniqueid] = (info.channel, info.linkedid, info.state)
            call = self.calls[call_id] = CallState(call_id, campaign_id=info.campaign_id,
                                                   lead_id=info.lead_id, uniqueid=info.uniqueid)
            out += self._varset(info.uniqueid, info.channel, info.linkedid, CALL_ID_VAR, call_id, now)
            out += self._state(info.uniqueid, info.state, now)
            for leg in chans:
                if leg is not info:
                    call.legs[leg.uniqueid] = leg.channel
                    self._by_uniqueid[leg.uniqueid] = call_id
        # Who shares a bridge now: an adopted customer already talking to an agent is bridged, not
        # an abandon in waiting (the BridgeEnter went by before this process listened).
        for info in live:
            if info.bridge_id:
                out += self._bridge_enter(info.bridge_id, info.uniqueid, now)
        return out

    # -- shared internals --------------------------------------------------------------------------
    def _common(self, call: CallState, now: datetime) -> dict[str, Any]:
        return {"call_id": call.call_id, "at": now, "campaign_id": call.campaign_id, "lead_id": call.lead_id,
                "pbx": self.pbx, "uniqueid": call.uniqueid}

    def _call_for(self, uid: str) -> CallState | None:
        call_id = self._by_uniqueid.get(uid)
        call = self.calls.get(call_id) if call_id else None
        return call if call is not None and not call.ended else None

    def _channel_seen(self, uid: str, name: str, linkedid: str, state: int | None,
                      now: datetime) -> list[ev.CallEvent]:
        call_id = self._by_uniqueid.get(uid)
        if call_id is None and linkedid and linkedid != uid:
            call_id = self._by_linkedid.get(linkedid)
            if call_id is not None and call_id in self.calls:
                self._by_uniqueid[uid] = call_id
                self.calls[call_id].legs[uid] = name
                return []
        call = self.calls.get(call_id) if call_id else None
        if call is None:
            if uid not in self._unknown:
                self._unknown[uid] = (name, linkedid, state or 0)
                while len(self._unknown) > _UNKNOWN_CAP:
                    self._unknown.popitem(last=False)
            return []
        if uid != call.uniqueid:
            if name:
                call.legs[uid] = name
            return []
        if name:
            call.channel = name
        if linkedid:
            call.linkedid = linkedid
            self._by_linkedid.setdefault(linkedid, call.call_id)
        if call.seen_channel or call.ended:
            return []
        call.seen_channel = True
        return [ev.Dialing(**self._common(call, now), number=call.number, channel=call.channel)]

    def _state(self, uid: str, state: int, now: datetime) -> list[ev.CallEvent]:
        call = self._call_for(uid)
        if call is None or uid != call.uniqueid:
            return []
        # ChannelState 5 = Ringing (remote end alerting), 6 = Up (answered): AMI Newstate docs.
        if state == 5 and not call.ringing and not call.answered:
            call.ringing = True
            return [ev.Ringing(**self._common(call, now))]
        if state == 6:
            return self._answer(call, now)
        return []

    def _answer(self, call: CallState, now: datetime) -> list[ev.CallEvent]:
        if call.answered or call.ended:
            return []
        call.answered = True
        return [ev.Answered(**self._common(call, now), channel=call.channel)]

    def _varset(self, uid: str, name: str, linkedid: str, variable: str, value: str,
                now: datetime) -> list[ev.CallEvent]:
        out: list[ev.CallEvent] = []
        if variable == CALL_ID_VAR and value and uid not in self._by_uniqueid:
            call = self.calls.get(value)
            if call is None or (call.uniqueid == uid):
                call = call or CallState(value, uniqueid=uid)
                call.uniqueid = uid
                self.calls[value] = call
                self._by_uniqueid[uid] = value
                seen = self._unknown.pop(uid, None)
                out += self._channel_seen(uid, name or (seen[0] if seen else ""), linkedid or (seen[1] if seen else ""),
                                          None, now)
                if seen and seen[2]:
                    out += self._state(uid, seen[2], now)
            else:
                self._by_uniqueid[uid] = value
                call.legs[uid] = name
            return out
        call = self._call_for(uid)
        if call is None:
            return out
        if variable == CAMPAIGN_ID_VAR and call.campaign_id is None and value:
            call.campaign_id = value
        elif variable == LEAD_ID_VAR and call.lead_id is None and value:
            call.lead_id = value
        elif variable == "AMDSTATUS" and uid == call.uniqueid:
            # app_amd sets AMDSTATUS then AMDCAUSE (Asterisk AMD() docs); emit once we have both.
            call.amd_status = value.upper()
        elif variable == "AMDCAUSE" and uid == call.uniqueid and call.amd_status and not call.amd_emitted:
            out += self._amd(call, value, now)
        elif variable == SAFE_HARBOR_VAR and value:
            out.append(ev.SafeHarborPlayed(**self._common(call, now), audio=value))
        elif variable == "MIXMONITOR_FILENAME" and value:
            call.recording = value
        return out

    def _amd(self, call: CallState, cause: str, now: datetime) -> list[ev.CallEvent]:
        call.amd_emitted = True
        kind = {"HUMAN": ev.AmdHuman, "MACHINE": ev.AmdMachine}.get(call.amd_status or "", ev.AmdNotSure)
        if call.amd_status == "HANGUP":
            return []  # the callee hung up during detection: the Hangup event says it all
        return [kind(**self._common(call, now), amd_cause=cause)]

    def _bridge_enter(self, bridge_id: str, uid: str, now: datetime) -> list[ev.CallEvent]:
        members = self._bridges.setdefault(bridge_id, set())
        members.add(uid)
        call = self._call_for(uid)
        if call is None or call.uniqueid not in members:
            return []
        out: list[ev.CallEvent] = []
        for leg in members - {call.uniqueid} - call.bridged_legs:
            if leg in call.legs:
                call.bridged_legs.add(leg)
                out.append(ev.BridgedToAgent(**self._common(call, now), agent_endpoint=endpoint_of(call.legs[leg]),
                                             bridge_id=bridge_id))
        return out

    def _hangup(self, uid: str, cause: int, text: str, now: datetime) -> list[ev.CallEvent]:
        self._unknown.pop(uid, None)
        call = self._call_for(uid)
        if call is None:
            return []
        if uid != call.uniqueid:
            call.legs.pop(uid, None)
            self._by_uniqueid.pop(uid, None)
            return []
        return self._end(call, cause, text, now)

    def _end(self, call: CallState, cause: int, text: str, now: datetime, source: str = "pbx") -> list[ev.CallEvent]:
        out: list[ev.CallEvent] = []
        if call.amd_status and not call.amd_emitted:
            out += self._amd(call, "", now)
        if call.answered and not call.bridged_legs and call.amd_status != "MACHINE" and not call.failed:
            out.append(ev.Abandoned(**self._common(call, now), reason="hangup before agent"))
        out.append(ev.Hangup(**self._common(call, now), cause=cause, cause_txt=text, source=source))
        call.ended = True
        self._forget(call)
        return out

    def _forget(self, call: CallState) -> None:
        for uid in [call.uniqueid, *call.legs]:
            if uid is not None and self._by_uniqueid.get(uid) == call.call_id:
                del self._by_uniqueid[uid]
        if call.linkedid and self._by_linkedid.get(call.linkedid) == call.call_id:
            del self._by_linkedid[call.linkedid]
        del self.calls[call.call_id]
        self._ended[call.call_id] = call
        while len(self._ended) > _UNKNOWN_CAP:
            _, old = self._ended.popitem(last=False)
            if old.action_id:
                self._by_action.pop(old.action_id, None)
