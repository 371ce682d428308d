"""The shared event vocabulary: what telephony publishes and what the dialer / analytics consume.

Every message is a frozen dataclass with a ``type`` string and a schema version ``v``. On the
wire (Redis Streams, the outbox, webhooks) it is the JSON of :func:`to_dict`; :func:`from_dict`
turns it back into the dataclass and raises ``ValueError`` on anything it does not recognise
(unknown type, newer version, missing or unknown fields, a naive timestamp) so a consumer can
dead-letter the entry instead of acting on half a message.

Two families:

* **call events** (:class:`CallEvent` subclasses) all carry our ``call_id`` (the dialer's id of a
  call attempt, also used as the Asterisk Uniqueid through Originate's ``ChannelId``), plus
  ``campaign_id``, ``lead_id``, ``pbx``, ``uniqueid`` and ``at`` (aware UTC);
* **commands** (:class:`Command` subclasses) are what the dialer / app ask telephony to do.

Adding a field with a default is backwards compatible; renaming or removing one bumps
``SCHEMA_VERSION``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

SCHEMA_VERSION = 1

Id = int | str  # campaign / lead ids: ints from PostgreSQL, strings from other sources
MonitorMode = Literal["listen", "whisper", "barge"]
MONITOR_MODES: tuple[str, ...] = ("listen", "whisper", "barge")

_REGISTRY: dict[str, type[Message]] = {}


@dataclass(frozen=True, kw_only=True)
class Message:
    type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type")
        if name:
            if name in _REGISTRY:
                raise TypeError(f"event type {name!r} registered twice")
            _REGISTRY[name] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "v": SCHEMA_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out


def from_dict(data: Any) -> Message:
    """Rebuild a message from :meth:`Message.to_dict` output; ``ValueError`` on anything else."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    raw_kind = data.get("type")
    cls = _REGISTRY.get(raw_kind) if isinstance(raw_kind, str) else None
    if cls is None:
        raise ValueError(f"unknown message type {raw_kind!r}")
    kind = cls.type
    version = data.get("v", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValueError(f"{kind}: unsupported schema version {version!r} (we speak {SCHEMA_VERSION})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields) - {"type", "v"}
    if unknown:
        raise ValueError(f"{kind}: unknown fields {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{kind}: missing field {name!r}")
            continue
        value = data[name]
        if name == "at":
            value = _parse_at(kind, value)
        elif name == "variables":
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ValueError(f"{kind}: variables must be an object of strings")
            value = {k: str(v) for k, v in value.items()}
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{kind}: {exc}") from exc


def _parse_at(kind: str, value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{kind}: 'at' is not an ISO timestamp: {value!r}") from exc
    else:
        raise ValueError(f"{kind}: 'at' must be an ISO timestamp string")
    if parsed.tzinfo is None:
        raise ValueError(f"{kind}: 'at' must carry a timezone")
    return parsed.astimezone(UTC)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


# ---------------------------------------------------------------------------------------------
# Call events
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CallEvent(Message):
    call_id: str
    at: datetime
    campaign_id: Id | None = None
    lead_id: Id | None = None
    pbx: str | None = None
    uniqueid: str | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.call_id, str) and bool(self.call_id), "call_id must be a non-empty string")
        _require(isinstance(self.at, datetime) and self.at.tzinfo is not None, "at must be an aware datetime")


@dataclass(frozen=True, kw_only=True)
class Dialing(CallEvent):
    type: ClassVar[str] = "call.dialing"
    number: str = ""
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class Ringing(CallEvent):
    type: ClassVar[str] = "call.ringing"


@dataclass(frozen=True, kw_only=True)
class Answered(CallEvent):
    type: ClassVar[str] = "call.answered"
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class AmdHuman(CallEvent):
    type: ClassVar[str] = "call.amd_human"
    amd_cause: str = ""


@dataclass(frozen=True, kw_only=True)
class AmdMachine(CallEvent):
    type: ClassVar[str] = "call.amd_machine"
    amd_cause: str = ""


@dataclass(frozen=True, kw_only=True)
class AmdNotSure(CallEvent):
    type: ClassVar[str] = "call.amd_notsure"
    amd_cause: str = ""


@dataclass(frozen=True, kw_only=True)
class BridgedToAgent(CallEvent):
    type: ClassVar[str] = "call.bridged_to_agent"
    agent_endpoint: str = ""
    bridge_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Abandoned(CallEvent):
    """The answered party hung up (or was dropped) before reaching an agent (16 CFR 310.4(b)(1)(iv))."""

    type: ClassVar[str] = "call.abandoned"
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class SafeHarborPlayed(CallEvent):
    type: ClassVar[str] = "call.safe_harbor_played"
    audio: str = ""


@dataclass(frozen=True, kw_only=True)
class Hangup(CallEvent):
    type: ClassVar[str] = "call.hangup"
    cause: int = 16
    cause_txt: str = "Normal Clearing"
    #: "pbx" when Asterisk told us, "resync" when we inferred it after a reconnect
    source: str = "pbx"


@dataclass(frozen=True, kw_only=True)
class RecordingStarted(CallEvent):
    type: ClassVar[str] = "call.recording_started"
    recording: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordingStopped(CallEvent):
    type: ClassVar[str] = "call.recording_stopped"
    recording: str = ""


@dataclass(frozen=True, kw_only=True)
class MediaStarted(CallEvent):
    type: ClassVar[str] = "call.media_started"
    external_host: str = ""
    media_channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class MediaStopped(CallEvent):
    type: ClassVar[str] = "call.media_stopped"
    media_channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class OriginateFailed(CallEvent):
    """Asterisk could not connect the call (OriginateResponse ``Response: Failure``).

    ``reason`` is the numeric ``Reason`` of OriginateResponse (Asterisk's AST_CONTROL_* value:
    0 failure, 1 hangup, 3 ring timeout / no answer, 5 busy, 8 congestion).
    """

    type: ClassVar[str] = "call.originate_failed"
    reason: int = 0
    reason_txt: str = ""


# ---------------------------------------------------------------------------------------------
# Commands (dialer / app -> telephony)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Command(Message):
    call_id: str
    pbx: str | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.call_id, str) and bool(self.call_id), "call_id must be a non-empty string")


@dataclass(frozen=True, kw_only=True)
class OriginateCommand(Command):
    type: ClassVar[str] = "cmd.originate"
    number: str
    caller_id: str = ""
    timeout_s: float = 30.0
    campaign_id: Id | None = None
    lead_id: Id | None = None
    amd: bool = False
    context: str | None = None
    exten: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(isinstance(self.number, str) and bool(self.number.strip()), "number must be a non-empty string")
        _require(isinstance(self.timeout_s, int | float) and 0 < self.timeout_s <= 600, "timeout_s must be in (0, 600]")
        _require(isinstance(self.amd, bool), "amd must be a boolean")


@dataclass(frozen=True, kw_only=True)
class HangupCommand(Command):
    type: ClassVar[str] = "cmd.hangup"
    cause: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(isinstance(self.cause, int) and 0 <= self.cause <= 127, "cause must be a Q.850 cause 0..127")


@dataclass(frozen=True, kw_only=True)
class BridgeCommand(Command):
    type: ClassVar[str] = "cmd.bridge"
    agent_endpoint: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(isinstance(self.agent_endpoint, str) and bool(self.agent_endpoint), "agent_endpoint required")


@dataclass(frozen=True, kw_only=True)
class MonitorCommand(Command):
    type: ClassVar[str] = "cmd.monitor"
    supervisor_endpoint: str
    mode: str = "listen"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(bool(self.supervisor_endpoint), "supervisor_endpoint required")
        _require(self.mode in MONITOR_MODES, f"mode must be one of {MONITOR_MODES}")


@dataclass(frozen=True, kw_only=True)
class PlayCommand(Command):
    type: ClassVar[str] = "cmd.play"
    audio: str
    safe_harbor: bool = False


@dataclass(frozen=True, kw_only=True)
class RecordCommand(Command):
    type: ClassVar[str] = "cmd.record"
    action: str = "start"  # "start" | "stop"
    filename: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.action in ("start", "stop"), "action must be 'start' or 'stop'")


@dataclass(frozen=True, kw_only=True)
class ExternalMediaCommand(Command):
    type: ClassVar[str] = "cmd.external_media"
    host_port: str
    format: str = "ulaw"

    def __post_init__(self) -> None:
        super().__post_init__()
        host, _, port = self.host_port.rpartition(":")
        _require(bool(host) and port.isdigit() and 0 < int(port) < 65536, "host_port must be host:port")


def message_types() -> dict[str, type[Message]]:
    """All registered ``type`` strings (for docs and the dead-letter tooling)."""
    return dict(_REGISTRY)
