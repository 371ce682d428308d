"""PbxControl on Asterisk: AMI for call control, ARI for media (snoop + ExternalMedia).

One :class:`PbxConnection` per PBX owns an :class:`AmiClient`, an optional :class:`AriClient` and a
:class:`Normalizer`; every AMI event goes through the normaliser and out to ``sink`` as call
events. :class:`AsteriskControl` spreads new calls over the connections with a
:class:`PbxSelector` and routes later commands to the PBX that holds the call.

Dialplan contract (see ``telephony/asterisk/extensions.conf``):

* customer legs are originated to ``dial_template`` (``PJSIP/{number}@trunk``) and, once answered,
  run ``[pydialer-outbound]`` ``s`` (AMD() when ``PYDIALER_AMD=1``, then wait for us);
* ``bridge_to_agent`` Redirects the customer to ``[pydialer-agents]`` extension ``<agent>``, which
  Dial()s ``PJSIP/<agent>`` (agents' phones auto-answer);
* ``play_safe_harbor`` sets ``PYDIALER_SAFE_HARBOR_AUDIO`` and Redirects to ``safeharbor``, which
  plays it and sets ``PYDIALER_SAFE_HARBOR`` (the VarSet is our proof it was played);
* ``monitor`` originates the supervisor's endpoint straight into ``ChanSpy(<channel>,<opts>)``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import events as ev
from core.clock import Clock, SystemClock
from core.config import PbxServer
from telephony.ami.client import AmiClient
from telephony.ami.message import Message
from telephony.ari.client import AriClient
from telephony.ari.models import AriEvent
from telephony.exceptions import ActionFailed, PbxUnavailable, TelephonyError, UnknownCall
from telephony.normalize import Normalizer
from telephony.ports import (
    AMD_VAR,
    CALL_ID_VAR,
    CAMPAIGN_ID_VAR,
    CHANSPY_OPTIONS,
    LEAD_ID_VAR,
    MonitorMode,
    OriginateHandle,
    OriginateRequest,
    OriginateResult,
    PbxSelector,
)

logger = logging.getLogger(__name__)

EventSink = Callable[[ev.CallEvent], None]


@dataclass(frozen=True)
class DialplanConfig:
    dial_template: str = "PJSIP/{number}@trunk"
    outbound_context: str = "pydialer-outbound"
    outbound_exten: str = "s"
    agents_context: str = "pydialer-agents"
    safe_harbor_exten: str = "safeharbor"
    recording_prefix: str = "pydialer"


@dataclass
class _Media:
    snoop_id: str
    media_id: str
    bridge_id: str


class PbxConnection:
    def __init__(self, server: PbxServer, sink: EventSink, *, clock: Clock | None = None, use_ari: bool = True,
                 **ami_options: Any) -> None:
        self.server = server
        self.name = server.name
        self.sink = sink
        self.clock = clock or SystemClock()
        self.normalizer = Normalizer(server.name)
        self.ami = AmiClient(server, on_event=self.on_ami_event, on_connected=self.resync, **ami_options)
        self.ari = AriClient(server, on_event=self.on_ari_event) if use_ari else None
        self._results: dict[str, tuple[str, asyncio.Future[OriginateResult]]] = {}
        self.media: dict[str, _Media] = {}  # call_id -> media session
        self._media_by_channel: dict[str, str] = {}
        self.resyncs = 0

    async def start(self) -> None:
        await self.ami.start()
        if self.ari is not None:
            self.ari.start_events()

    async def close(self) -> None:
        await self.ami.close()
        if self.ari is not None:
            await self.ari.close()

    def load(self) -> int:
        return self.normalizer.active_count()

    def _emit(self, events: list[ev.CallEvent]) -> None:
        for event in events:
            try:
                self.sink(event)
            except Exception:
                logger.exception("%s: event sink failed on %s", self.name, event.type)

    def on_ami_event(self, msg: Message) -> None:
        if msg.event == "OriginateResponse":
            entry = self._results.pop(msg.get("ActionID") or "", None)
            if entry is not None and not entry[1].done():
                call_id, fut = entry
                try:
                    reason = int(msg.get("Reason") or 0)
                except ValueError:
                    reason = 0
                fut.set_result(OriginateResult(call_id, (msg.get("Response") or "").lower() == "success", reason,
                                               msg.get("Channel") or "", msg.get("Uniqueid") or ""))
        self._emit(self.normalizer.feed(msg, self.clock.now()))

    def on_ari_event(self, event: AriEvent) -> None:
        # Call progress comes from AMI (it sees every channel); ARI tells us about our media legs.
        if event.type in ("ChannelDestroyed", "StasisEnd") and event.channel is not None:
            call_id = self._media_by_channel.pop(event.channel.id, None)
            media = self.media.pop(call_id, None) if call_id else None
            if call_id and media is not None:
                self._emit([ev.MediaStopped(call_id=call_id, at=self.clock.now(), pbx=self.name,
                                            media_channel=media.media_id)])

    async def resync(self) -> None:
        """After every (re)login: reconcile tracked calls with CoreShowChannels + Status."""
        snapshot = self.normalizer.seq
        try:
            live = await self.ami.live_channels()
        except TelephonyError as exc:
            logger.warning("%s: resync failed: %s", self.name, exc)
            return
        self.resyncs += 1
        self._emit(self.normalizer.resync(live, self.clock.now(), snapshot))

    # -- operations ------------------------------------------------------------------------------
    async def originate(self, req: OriginateRequest, dialplan: DialplanConfig) -> OriginateHandle:
        loop = asyncio.get_running_loop()
        variables = {f"__{CALL_ID_VAR}": req.call_id, AMD_VAR: "1" if req.amd else "0"}
        if req.campaign_id is not None:
            variables[f"__{CAMPAIGN_ID_VAR}"] = str(req.campaign_id)
        if req.lead_id is not None:
            variables[f"__{LEAD_ID_VAR}"] = str(req.lead_id)
        variables.update(req.variables)
        spec: dict[str, Any] = {
            "Action": "Originate",
            "ActionID": self.ami.new_action_id(),
            "Channel": dialplan.dial_template.format(number=req.number),
            "Timeout": str(int(req.timeout_s * 1000)),  # Originate Timeout is in ms (AMI Originate docs)
            "Async": "true",
            "ChannelId": req.call_id,  # the customer channel's Uniqueid becomes our call id
            "Variable": [f"{k}={v}" for k, v in variables.items()],
        }
        if req.caller_id:
            spec["CallerID"] = req.caller_id
        if req.application:
            spec["Application"] = req.application
            spec["Data"] = req.data or ""
        else:
            spec.update(Context=req.context or dialplan.outbound_context,
                        Exten=req.exten or dialplan.outbound_exten, Priority="1")
        self.normalizer.register_originate(req.call_id, spec["ActionID"], req.campaign_id, req.lead_id, req.number)
        result: asyncio.Future[OriginateResult] = loop.create_future()
        self._results[spec["ActionID"]] = (req.call_id, result)
        try:
            action_id, reply = self.ami.send_nowait(spec)
        except (TelephonyError, ValueError) as exc:
            self._results.pop(spec["ActionID"], None)
            self._emit(self.normalizer.originate_rejected(req.call_id, str(exc), self.clock.now()))
            raise
        queued: asyncio.Future[None] = loop.create_future()

        def acknowledged(fut: asyncio.Future[Any]) -> None:
            error: Exception | None = None
            if fut.cancelled():
                error = PbxUnavailable("originate cancelled")
            elif fut.exception() is not None:
                error = fut.exception()  # type: ignore[assignment]
            elif (fut.result().get("Response") or "").lower() != "success":
                error = ActionFailed(f"Originate refused: {fut.result().get('Message', '')}")
                self._emit(self.normalizer.originate_rejected(req.call_id, str(error), self.clock.now()))
            if error is None:
                queued.set_result(None)
                return
            queued.set_exception(error)
            queued.exception()  # mark retrieved: callers of a dial loop may never look at it
            entry = self._results.pop(action_id, None)
            if entry is not None and not entry[1].done():
                entry[1].set_exception(error)
                entry[1].exception()

        reply.add_done_callback(acknowledged)
        return OriginateHandle(req.call_id, self.name, action_id, queued, result)

    def channel(self, call_id: str) -> str:
        channel = self.normalizer.channel_of(call_id) if "/" not in call_id else call_id
        if not channel:
            raise UnknownCall(f"no live channel for call {call_id} on {self.name}")
        return channel


class AsteriskControl:
    """:class:`telephony.ports.PbxControl` over one or more Asterisk servers."""

    def __init__(self, connections: list[PbxConnection], dialplan: DialplanConfig | None = None,
                 selector: PbxSelector | None = None) -> None:
        if not connections:
            raise ValueError("AsteriskControl needs at least one PbxConnection")
        self.connections = {c.name: c for c in connections}
        self.dialplan = dialplan or DialplanConfig()
        self.selector = selector or PbxSelector(
            list(self.connections), load=lambda n: self.connections[n].load(),
            available=lambda n: self.connections[n].ami.ready)
        self._call_pbx: dict[str, str] = {}

    def _conn(self, call_id: str) -> PbxConnection:
        name = self._call_pbx.get(call_id)
        if name is not None:
            return self.connections[name]
        for conn in self.connections.values():  # adopted after a restart
            if conn.normalizer.channel_of(call_id):
                self._call_pbx[call_id] = conn.name
                return conn
        if "/" in call_id and len(self.connections) == 1:
            return next(iter(self.connections.values()))
        raise UnknownCall(f"unknown call {call_id}")

    async def originate(self, request: OriginateRequest) -> OriginateHandle:
        name = self.selector.choose(request.pbx)
        conn = self.connections[name]
        handle = await conn.originate(request, self.dialplan)
        self._call_pbx[request.call_id] = name
        if len(self._call_pbx) > 100_000:  # ended calls: keep the map bounded
            for key in [k for k in self._call_pbx if not self.connections[self._call_pbx[k]].normalizer.channel_of(k)]:
                self._call_pbx.pop(key, None)
        return handle

    async def hangup(self, call_id: str, cause: int = 16) -> None:
        conn = self._conn(call_id)
        await conn.ami.action({"Action": "Hangup", "Channel": conn.channel(call_id), "Cause": str(cause)})

    async def bridge_to_agent(self, call_id: str, agent_endpoint: str) -> None:
        conn = self._conn(call_id)
        exten = agent_endpoint.rpartition("/")[2]
        await conn.ami.action({"Action": "Redirect", "Channel": conn.channel(call_id),
                               "Context": self.dialplan.agents_context, "Exten": exten, "Priority": "1"})

    async def play_safe_harbor(self, call_id: str, audio: str) -> None:
        conn = self._conn(call_id)
        channel = conn.channel(call_id)
        await conn.ami.action({"Action": "Setvar", "Channel": channel, "Variable": "PYDIALER_SAFE_HARBOR_AUDIO",
                               "Value": audio})
        await conn.ami.action({"Action": "Redirect", "Channel": channel, "Context": self.dialplan.outbound_context,
                               "Exten": self.dialplan.safe_harbor_exten, "Priority": "1"})

    async def start_recording(self, call_id: str, filename: str | None = None) -> str:
        conn = self._conn(call_id)
        name = filename or f"{self.dialplan.recording_prefix}/{call_id}.wav"
        conn.normalizer.note_recording(call_id, name)
        await conn.ami.action({"Action": "MixMonitor", "Channel": conn.channel(call_id), "File": name})
        return name

    async def stop_recording(self, call_id: str) -> None:
        conn = self._conn(call_id)
        await conn.ami.action({"Action": "StopMixMonitor", "Channel": conn.channel(call_id)})

    async def monitor(self, call_id: str, supervisor_endpoint: str, mode: MonitorMode) -> str:
        if mode not in CHANSPY_OPTIONS:
            raise ValueError(f"monitor mode must be one of {sorted(CHANSPY_OPTIONS)}")
        conn = self._conn(call_id)
        target = conn.normalizer.spy_target(call_id) if "/" not in call_id else call_id
        if not target:
            raise UnknownCall(f"no live channel for call {call_id} on {conn.name}")
        reply = await conn.ami.action({
            "Action": "Originate", "Channel": supervisor_endpoint, "Application": "ChanSpy",
            "Data": f"{target},{CHANSPY_OPTIONS[mode]}", "CallerID": f"Monitor <{mode}>", "Async": "true",
            "Timeout": "30000",
        })
        return reply.get("ActionID") or ""

    async def start_external_media(self, call_id: str, host_port: str, format: str = "ulaw") -> str:
        conn = self._conn(call_id)
        if conn.ari is None:
            raise PbxUnavailable(f"{conn.name}: ARI is not configured")
        conn.channel(call_id)  # raises UnknownCall early
        # The customer channel runs dialplan (AMI-controlled), not Stasis, so it cannot join an ARI
        # bridge itself: snoop on it (a Stasis channel hearing both directions) and bridge the
        # snoop with an ExternalMedia channel that streams RTP to host_port (ARI docs).
        tag = uuid.uuid4().hex[:10]
        snoop = await conn.ari.snoop(call_id, spy="both", snoop_id=f"snoop-{tag}")
        try:
            media = await conn.ari.external_media(host_port, format, channel_id=f"media-{tag}")
            bridge = await conn.ari.create_bridge("mixing", bridge_id=f"media-{tag}")
            await conn.ari.add_channel(bridge.id, snoop.id, media.id)
        except TelephonyError:
            await _quietly(conn.ari.hangup(snoop.id))
            raise
        conn.media[call_id] = _Media(snoop.id, media.id, bridge.id)
        conn._media_by_channel[media.id] = call_id
        conn._emit([ev.MediaStarted(call_id=call_id, at=conn.clock.now(), pbx=conn.name, uniqueid=call_id,
                                    external_host=host_port, media_channel=media.id)])
        return media.id

    async def stop_external_media(self, call_id: str) -> None:
        conn = self._conn(call_id)
        media = conn.media.get(call_id)
        if media is None or conn.ari is None:
            return
        await _quietly(conn.ari.hangup(media.media_id))
        await _quietly(conn.ari.hangup(media.snoop_id))
        await _quietly(conn.ari.destroy_bridge(media.bridge_id))


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except TelephonyError as exc:
        logger.info("cleanup step failed (ignored): %s", exc)
