"""Typed ARI models (the subset we use), built from ARI JSON as documented in the ARI REST API
data models: Channel, Bridge, Playback, LiveRecording and the Stasis events.

``from_json`` raises ``ValueError`` when a required key is missing or has the wrong type, so a
malformed reply is caught at the edge (and turned into ``ActionFailed`` by the client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _obj(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"ARI {what}: expected an object, got {type(data).__name__}")
    return data


def _str(data: Mapping[str, Any], key: str, what: str, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"ARI {what}: {key!r} must be a string")
    return value


def _sub(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""
    linkedid: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Channel:
        d = _obj(data, "Channel")
        caller, plan, cvars = _sub(d, "caller"), _sub(d, "dialplan"), _sub(d, "channelvars")
        return cls(
            id=_str(d, "id", "Channel"), name=_str(d, "name", "Channel"), state=_str(d, "state", "Channel"),
            caller_number=str(caller.get("number") or ""), caller_name=str(caller.get("name") or ""),
            context=str(plan.get("context") or ""), exten=str(plan.get("exten") or ""),
            linkedid=str(d.get("linkedid") or ""), channelvars={str(k): str(v) for k, v in cvars.items()},
        )


@dataclass(frozen=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""
    channels: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> Bridge:
        d = _obj(data, "Bridge")
        chans = d.get("channels") or []
        if not isinstance(chans, list):
            raise ValueError("ARI Bridge: 'channels' must be a list")
        return cls(id=_str(d, "id", "Bridge"), technology=str(d.get("technology") or ""),
                   bridge_type=str(d.get("bridge_type") or ""), channels=tuple(str(c) for c in chans))


@dataclass(frozen=True)
class Playback:
    id: str
    media_uri: str
    state: str
    target_uri: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Playback:
        d = _obj(data, "Playback")
        return cls(id=_str(d, "id", "Playback"), media_uri=_str(d, "media_uri", "Playback"),
                   state=_str(d, "state", "Playback"), target_uri=str(d.get("target_uri") or ""))


@dataclass(frozen=True)
class LiveRecording:
    name: str
    format: str
    state: str
    target_uri: str = ""
    duration: int | None = None
    cause: str = ""

    @classmethod
    def from_json(cls, data: Any) -> LiveRecording:
        d = _obj(data, "LiveRecording")
        duration = d.get("duration")
        return cls(name=_str(d, "name", "LiveRecording"), format=_str(d, "format", "LiveRecording"),
                   state=_str(d, "state", "LiveRecording"), target_uri=str(d.get("target_uri") or ""),
                   duration=duration if isinstance(duration, int) else None, cause=str(d.get("cause") or ""))


@dataclass(frozen=True)
class AriEvent:
    """One message of the events WebSocket; ``raw`` keeps the JSON for the normaliser."""

    type: str
    application: str = ""
    timestamp: str = ""
    channel: Channel | None = None
    bridge: Bridge | None = None
    playback: Playback | None = None
    recording: LiveRecording | None = None
    args: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> AriEvent:
        d = _obj(data, "Event")
        kind = _str(d, "type", "Event")
        args = d.get("args") or []
        return cls(
            type=kind, application=str(d.get("application") or ""), timestamp=str(d.get("timestamp") or ""),
            channel=Channel.from_json(d["channel"]) if d.get("channel") is not None else None,
            bridge=Bridge.from_json(d["bridge"]) if d.get("bridge") is not None else None,
            playback=Playback.from_json(d["playback"]) if d.get("playback") is not None else None,
            recording=LiveRecording.from_json(d["recording"]) if d.get("recording") is not None else None,
            args=tuple(str(a) for a in args) if isinstance(args, list) else (),
            raw=dict(d),
        )
