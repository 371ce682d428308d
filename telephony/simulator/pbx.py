"""Channel and bridge model of the simulated Asterisk, and the events it raises.

The model is protocol-neutral: it raises AMI-shaped events (name, privilege, ordered fields) and
ARI-shaped events (dicts) through sinks the servers register. Timers are ``loop.call_later``
handles (asyncio keeps them in a heap), never a task per channel, so thousands of channels cost
only their timers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .scenario import Scenario

logger = logging.getLogger(__name__)

# Asterisk's ast_channel_state values and their descriptions (AMI ChannelStateDesc, ARI state).
STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up",
              7: "Busy", 8: "Dialing Offhook", 9: "Pre-ring", 10: "Unknown"}
DOWN, RING, RINGING, UP = 0, 4, 5, 6
# Q.850 cause codes with the text Asterisk's ast_cause2str() gives them (main/channel.c).
CAUSE_TXT = {0: "Unknown", 1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy",
             18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
             31: "Normal, unspecified", 34: "Circuit/channel congestion", 38: "Network out of order"}

AmiSink = Callable[[str, str, list[tuple[str, str]]], None]
AriSink = Callable[[dict[str, Any], "Channel | None", "Bridge | None"], None]


def iso_now() -> str:
    """ARI timestamps: ``2024-05-01T10:00:00.123+0000``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass(eq=False)
class Channel:
    id: str  # Uniqueid (ARI channel id)
    name: str
    kind: str  # trunk | agent | local | spy | snoop | external
    linkedid: str
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    app: str = ""
    app_data: str = ""
    state: int = DOWN
    language: str = "en"
    accountcode: str = ""
    variables: dict[str, str] = field(default_factory=dict)  # by base name (no _ / __ prefix)
    inheritable: dict[str, str] = field(default_factory=dict)  # full "_X"/"__X" names -> value
    dp_gen: int = 0  # bumped when the channel leaves its dialplan step (Redirect, bridge, ...)
    mixmonitor: str | None = None
    created_wall: float = field(default_factory=time.time)
    created_iso: str = field(default_factory=iso_now)
    bridge: Bridge | None = None
    peer: Channel | None = None  # the other half of a Local channel pair
    call: Any = None  # calls.Call this channel belongs to (None for agents dialed alone)
    stasis_app: str | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    alive: bool = True
    dial_dest: Channel | None = None  # the channel this one is dialing (DialEnd pairs)

    @property
    def state_desc(self) -> str:
        return STATE_DESC[self.state]


@dataclass(eq=False)
class Bridge:
    id: str
    stasis: bool  # created through ARI: channels leaving it don't hang the others up
    name: str = ""
    technology: str = "simple_bridge"
    bridge_type: str = "mixing"
    creator: str = ""
    channels: list[Channel] = field(default_factory=list)
    created_iso: str = field(default_factory=iso_now)


class Pbx:
    """All channels and bridges, the seeded RNG and the event sinks."""

    def __init__(self, scenario: Scenario, seed: int = 0, *, ami_version: str = "9.0.0",
                 asterisk_version: str = "20.10.0") -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        self._id_rng = random.Random(seed + 0x1D)
        self.ami_version = ami_version
        self.asterisk_version = asterisk_version
        self.entity_id = "02:42:ac:11:00:02"
        self.started = time.time()
        self._epoch = time.monotonic()  # scenario time 0 (reset restarts it)
        self.channels: dict[str, Channel] = {}  # by id
        self.by_name: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.globals: dict[str, str] = {}
        self.ami_sinks: list[AmiSink] = []
        self.ari_sinks: list[AriSink] = []
        self.forced: list[str] = []  # scripted outcomes for the next calls (POST /_force)
        self.spies: list[dict[str, Any]] = []  # every ChanSpy / snoop asked for
        self.recordings: list[dict[str, Any]] = []  # MixMonitor requests
        self._seq = itertools.count()
        self._chan_seq = itertools.count(1)
        self.on_hangup: list[Callable[[Channel], None]] = []
        self.on_bridge_change: list[Callable[[Bridge], None]] = []
        self.peak_channels = 0

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def later(self, ch: Channel | None, scenario_s: float, fn: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
        """Run ``fn`` after ``scenario_s`` scenario seconds (scaled by time_scale); tied to ``ch``
        so a hangup cancels it."""
        handle = self.loop.call_later(max(0.0, scenario_s) / self.scenario.time_scale, self._guard, fn, args)
        if ch is not None:
            ch.timers.append(handle)
        return handle

    def later_wall(self, ch: Channel | None, wall_s: float, fn: Callable[..., None], *args: Any) -> None:
        handle = self.loop.call_later(max(0.0, wall_s), self._guard, fn, args)
        if ch is not None:
            ch.timers.append(handle)

    @staticmethod
    def _guard(fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:  # a bug in one call's script must not stop the others
            logger.exception("simulator timer %s failed", getattr(fn, "__name__", fn))

    def ami(self, event: str, privilege: str, fields: list[tuple[str, str]]) -> None:
        for sink in list(self.ami_sinks):
            sink(event, privilege, fields)

    def ari(self, message: dict[str, Any], ch: Channel | None = None, bridge: Bridge | None = None) -> None:
        if self.ari_sinks:
            message.setdefault("timestamp", iso_now())
            for sink in list(self.ari_sinks):
                sink(message, ch, bridge)

    def scenario_time(self) -> float:
        """Seconds of scenario time since start/reset (wall time × time_scale)."""
        return (time.monotonic() - self._epoch) * self.scenario.time_scale

    def new_uniqueid(self) -> str:
        return f"{int(self.started)}.{next(self._seq)}"

    def chan_suffix(self) -> str:
        return f"{next(self._chan_seq):08x}"

    # -- channels ------------------------------------------------------------------------------
    def new_channel(self, name: str, kind: str, *, linkedid: str | None = None, state: int = DOWN,
                    uniqueid: str | None = None, **attrs: Any) -> Channel:
        uid = uniqueid or self.new_uniqueid()
        if uid in self.channels:
            raise ValueError(f"channel id {uid!r} already in use")
        ch = Channel(id=uid, name=name, kind=kind, linkedid=linkedid or uid, state=state, **attrs)
        self.channels[uid] = ch
        self.by_name[name] = ch
        if len(self.channels) > self.peak_channels:
            self.peak_channels = len(self.channels)
        self.ami("Newchannel", "call,all", chan_fields(ch))
        if kind in ("trunk", "agent", "local"):
            self.ari({"type": "ChannelCreated", "channel": channel_json(ch)}, ch)
        return ch

    @staticmethod
    def inherit(child: Channel, parent: Channel) -> None:
        """Variable inheritance (Asterisk "Channel Variables"): ``__X`` passes on forever, ``_X``
        one level (the child gets plain ``X``). No VarSet events, as in Asterisk."""
        for full, value in parent.inheritable.items():
            child.variables[full.lstrip("_")] = value
            if full.startswith("__"):
                child.inheritable[full] = value

    def find(self, name_or_id: str) -> Channel | None:
        return self.by_name.get(name_or_id) or self.channels.get(name_or_id)

    def set_state(self, ch: Channel, state: int) -> None:
        if not ch.alive or ch.state == state:
            return
        ch.state = state
        self.ami("Newstate", "call,all", chan_fields(ch))
        self.ari({"type": "ChannelStateChange", "channel": channel_json(ch)}, ch)

    def newexten(self, ch: Channel, context: str, exten: str, priority: int, app: str, data: str) -> None:
        ch.context, ch.exten, ch.priority, ch.app, ch.app_data = context, exten, priority, app, data
        self.ami("Newexten", "dialplan,all",
                 chan_fields(ch) + [("Extension", exten), ("Application", app), ("AppData", data)])

    def setvar(self, ch: Channel | None, name: str, value: str) -> None:
        if ch is None:
            self.globals[name] = value
            self.ami("VarSet", "dialplan,all", [("Variable", name), ("Value", value)])
            return
        base = name.lstrip("_")
        ch.variables[base] = value
        ch.inheritable.pop(f"_{base}", None)
        ch.inheritable.pop(f"__{base}", None)
        if name.startswith("_"):
            ch.inheritable[name] = value
        # pbx_builtin_setvar_helper publishes the name as given, underscores included.
        self.ami("VarSet", "dialplan,all", chan_fields(ch) + [("Variable", name), ("Value", value)])
        self.ari({"type": "ChannelVarset", "variable": name, "value": value, "channel": channel_json(ch)}, ch)

    def dial_begin(self, caller: Channel | None, dest: Channel, dialstring: str) -> None:
        if caller is not None:
            caller.dial_dest = dest
        fields = (chan_fields(caller) if caller else []) + chan_fields(dest, "Dest") + [("DialString", dialstring)]
        self.ami("DialBegin", "call,all", fields)

    def dial_end(self, caller: Channel | None, dest: Channel, status: str) -> None:
        if caller is not None:
            caller.dial_dest = None
        fields = (chan_fields(caller) if caller else []) + chan_fields(dest, "Dest") + [("DialStatus", status)]
        self.ami("DialEnd", "call,all", fields)

    def hangup(self, ch: Channel, cause: int = 16, *, requested: bool = False) -> None:
        """Hang ``ch`` up: HangupRequest (when asked for), BridgeLeave, Hangup, then the knock-on
        hangups a real dialplan would do (Local pair halves, the other party of a Dial bridge)."""
        if not ch.alive:
            return
        if requested:
            self.ami("HangupRequest", "call,all", chan_fields(ch) + [("Cause", str(cause))])
        ch.alive = False
        for handle in ch.timers:
            handle.cancel()
        ch.timers.clear()
        bridge = ch.bridge
        if bridge is not None:
            self.leave_bridge(ch)
        if ch.stasis_app:
            self.ari({"type": "StasisEnd", "application": ch.stasis_app, "channel": channel_json(ch)}, ch)
        self.ami("Hangup", "call,all",
                 chan_fields(ch) + [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT.get(cause, "Unknown"))])
        self.ari({"type": "ChannelDestroyed", "cause": cause, "cause_txt": CAUSE_TXT.get(cause, "Unknown"),
                  "channel": channel_json(ch)}, ch)
        self.channels.pop(ch.id, None)
        if self.by_name.get(ch.name) is ch:
            del self.by_name[ch.name]
        for cb in list(self.on_hangup):
            cb(ch)
        dest = ch.dial_dest
        if dest is not None and dest.alive:  # the caller gave up while the callee was still ringing
            self.dial_end(ch, dest, "CANCEL")
            self.hangup(dest, cause)
        if ch.peer is not None and ch.peer.alive:
            self.hangup(ch.peer, cause)
        if bridge is not None and not bridge.stasis:
            # A Dial()/Bridge-action bridge ends the call for everyone when one party leaves.
            for other in list(bridge.channels):
                self.hangup(other, cause)
            if not bridge.channels:
                self.destroy_bridge(bridge)

    # -- bridges -------------------------------------------------------------------------------
    def create_bridge(self, *, stasis: bool, bridge_id: str | None = None, name: str = "",
                      bridge_type: str = "mixing", creator: str = "") -> Bridge:
        bid = bridge_id or f"{self._id_rng.getrandbits(128):032x}"  # not self.rng: ids must not shift outcomes
        bid = f"{bid[:8]}-{bid[8:12]}-{bid[12:16]}-{bid[16:20]}-{bid[20:32]}" if bridge_id is None else bid
        bridge = Bridge(id=bid, stasis=stasis, name=name, bridge_type=bridge_type,
                        technology="simple_bridge", creator=creator or ("Stasis" if stasis else "BridgeCore"))
        self.bridges[bid] = bridge
        self.ami("BridgeCreate", "call,all", bridge_fields(bridge))
        self.ari({"type": "BridgeCreated", "bridge": bridge_json(bridge)}, None, bridge)
        return bridge

    def enter_bridge(self, bridge: Bridge, ch: Channel) -> None:
        if ch.bridge is bridge:
            return
        if ch.bridge is not None:
            old = ch.bridge
            self.leave_bridge(ch)
            if not old.stasis and not old.channels:
                self.destroy_bridge(old)
        bridge.channels.append(ch)
        ch.bridge = bridge
        self.ami("BridgeEnter", "call,all", bridge_fields(bridge) + chan_fields(ch))
        self.ari({"type": "ChannelEnteredBridge", "bridge": bridge_json(bridge), "channel": channel_json(ch)}, ch, bridge)
        for cb in list(self.on_bridge_change):
            cb(bridge)

    def leave_bridge(self, ch: Channel) -> None:
        bridge = ch.bridge
        if bridge is None:
            return
        bridge.channels.remove(ch)
        ch.bridge = None
        self.ami("BridgeLeave", "call,all", bridge_fields(bridge) + chan_fields(ch))
        self.ari({"type": "ChannelLeftBridge", "bridge": bridge_json(bridge), "channel": channel_json(ch)}, ch, bridge)
        for cb in list(self.on_bridge_change):
            cb(bridge)

    def destroy_bridge(self, bridge: Bridge) -> None:
        if self.bridges.pop(bridge.id, None) is None:
            return
        for ch in list(bridge.channels):
            self.leave_bridge(ch)
        self.ami("BridgeDestroy", "call,all", bridge_fields(bridge))
        self.ari({"type": "BridgeDestroyed", "bridge": bridge_json(bridge)}, None, bridge)

    def matches_agent(self, endpoint: str) -> bool:
        return re.match(self.scenario.agent_pattern, endpoint) is not None

    def reset(self) -> None:
        for ch in list(self.channels.values()):
            self.hangup(ch, 16)
        for bridge in list(self.bridges.values()):
            self.destroy_bridge(bridge)
        self.rng = random.Random(self.seed)
        self._id_rng = random.Random(self.seed + 0x1D)
        self._epoch = time.monotonic()
        self.forced.clear()
        self.spies.clear()
        self.recordings.clear()
        self.globals.clear()
        self.peak_channels = 0


def chan_fields(ch: Channel, prefix: str = "") -> list[tuple[str, str]]:
    """The standard channel block of Asterisk 12+ events (Newchannel, Newstate, Hangup, ...), in
    the documented order; ``prefix`` gives the ``Dest``/``Spyee`` variants."""
    return [
        (prefix + "Channel", ch.name), (prefix + "ChannelState", str(ch.state)),
        (prefix + "ChannelStateDesc", ch.state_desc), (prefix + "CallerIDNum", ch.caller_num or "<unknown>"),
        (prefix + "CallerIDName", ch.caller_name or "<unknown>"),
        (prefix + "ConnectedLineNum", ch.connected_num or "<unknown>"),
        (prefix + "ConnectedLineName", ch.connected_name or "<unknown>"),
        (prefix + "Language", ch.language), (prefix + "AccountCode", ch.accountcode),
        (prefix + "Context", ch.context), (prefix + "Exten", ch.exten), (prefix + "Priority", str(ch.priority)),
        (prefix + "Uniqueid", ch.id), (prefix + "Linkedid", ch.linkedid),
    ]


def bridge_fields(bridge: Bridge) -> list[tuple[str, str]]:
    return [("BridgeUniqueid", bridge.id), ("BridgeType", "stasis" if bridge.stasis else "basic"),
            ("BridgeTechnology", bridge.technology), ("BridgeCreator", bridge.creator),
            ("BridgeName", bridge.name), ("BridgeNumChannels", str(len(bridge.channels))),
            ("BridgeVideoSourceMode", "none")]


def channel_json(ch: Channel) -> dict[str, Any]:
    """ARI ``Channel`` model."""
    return {
        "id": ch.id, "name": ch.name, "state": ch.state_desc,
        "protocol_id": "",
        "caller": {"name": ch.caller_name, "number": ch.caller_num},
        "connected": {"name": ch.connected_name, "number": ch.connected_num},
        "accountcode": ch.accountcode,
        "dialplan": {"context": ch.context, "exten": ch.exten, "priority": ch.priority,
                     "app_name": ch.app, "app_data": ch.app_data},
        "creationtime": ch.created_iso, "language": ch.language,
    }


def bridge_json(bridge: Bridge) -> dict[str, Any]:
    """ARI ``Bridge`` model."""
    return {"id": bridge.id, "technology": bridge.technology, "bridge_type": bridge.bridge_type,
            "bridge_class": "stasis" if bridge.stasis else "base", "creator": bridge.creator,
            "name": bridge.name, "channels": [c.id for c in bridge.channels],
            "creationtime": bridge.created_iso, "video_mode": "talker"}
