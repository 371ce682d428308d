"""An AMI session over panoramisk that survives PBX restarts.

panoramisk does the framing and ActionID bookkeeping; this module owns the connection lifecycle,
because panoramisk's own has traps for a dialer:

* ``Manager.connect()`` returns before the Login response: we await the login future and fail
  with :class:`PbxAuthError` on ``Response: Error``.
* its reconnect is a fixed-interval retry, and after a reconnect it *re-sends* every action that
  had no answer yet (``awaiting_actions``, replayed on FullyBooted). Re-sending an Originate that
  Asterisk may already have executed would dial the customer twice, so we fail those actions with
  :class:`PbxUnavailable` instead and reconnect with exponential backoff and full jitter.
* an ``Originate`` without an ``Async`` header crashes its response matcher (``Action.multi``
  reads ``self['async']``), and with ``Async: true`` its future only resolves on the
  OriginateResponse event, seconds later. :meth:`AmiClient.send_nowait` sends with
  ``as_list=False`` so the future resolves on the immediate "successfully queued" response and the
  later OriginateResponse (same ActionID, no longer pending) reaches the event handlers.
* events carrying the ActionID of a *pending* action are swallowed into that action's result
  (e.g. ``CoreShowChannel``): list actions are collected with :meth:`AmiClient.action_list`.

After every (re)login ``on_connected`` runs (the service re-syncs there: CoreShowChannels +
Status, see :meth:`AmiClient.live_channels`).

Reading the socket is ours too (:class:`FramedAMIProtocol`): panoramisk's parser keeps an
unterminated message in memory without limit and hands over whatever it got (a 200 KB header line,
a message with junk lines), so bytes go through :class:`telephony.ami.message.Framer` (64 KB lines,
256 KB messages, bad messages dropped with a logged reason) and only then into panoramisk's own
response matching and event dispatch. panoramisk itself is unmodified; it still logs in, matches
every response and list event to its action, and handles Shutdown. Events no action waits for
(nearly all traffic) skip its dict building and ``*`` pattern dispatch and reach our handler
directly: same handler, same order (with the framer's fast path, service CPU per AMI event fell
from 0.186 to 0.121-0.141 ms in bench/telephony.py; telephony/simulator/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message as PanoramiskMessage

from core.config import PbxServer
from telephony.ami.message import Framer, Message
from telephony.exceptions import ActionFailed, ChannelNotFound, PbxAuthError, PbxTimeout, PbxUnavailable
from telephony.normalize import LiveChannel
from telephony.ports import CALL_ID_VAR, CAMPAIGN_ID_VAR, LEAD_ID_VAR

logger = logging.getLogger(__name__)

EventHandler = Callable[[Message], None]
ActionSpec = Mapping[str, str | int | list[str]]


def to_panoramisk(msg: Message) -> PanoramiskMessage | None:
    """Our framed message as panoramisk's (repeated headers as lists, as its own parser builds
    them); ``None`` for anything that is neither an Event nor a Response (panoramisk ignores those).

    The original rides along as ``.framed`` so :meth:`AmiClient._dispatch` keeps header order and
    repeats exactly as sent instead of rebuilding them from the dict.
    """
    if msg.kind not in ("event", "response"):
        return None
    headers: dict[str, Any] = {}
    for key, value in msg.headers:
        if key.lower() in PanoramiskMessage.quoted_keys:
            value = unquote(value).strip()
        if key in headers:
            previous = headers[key]
            headers[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            headers[key] = value
    converted = PanoramiskMessage(headers, msg.body)
    converted.framed = msg
    return converted


def from_panoramisk(message: Any) -> Message:
    """Back to ours: the framed original when there is one (order and repeats as sent)."""
    framed = message.__dict__.get("framed")  # set by to_panoramisk (getattr would answer "")
    return framed if isinstance(framed, Message) else Message.from_mapping(message)


class FramedAMIProtocol(AMIProtocol):
    """panoramisk's AMI protocol reading through our :class:`Framer` (module doc).

    ``data_received`` never raises: an exception escaping it would make asyncio close the
    transport, so one message that breaks panoramisk's matcher must cost that message only.
    """

    direct: Callable[[Message], None] | None = None  # set by AmiClient once logged in

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.framer = Framer()

    def data_received(self, data: bytes) -> None:
        messages = self.framer.feed(data)
        if getattr(self, "version", None) is None and self.framer.banner is not None:
            self.version = self.framer.banner
        for msg in messages:
            # Most traffic is events no action is waiting for: panoramisk would build its dict,
            # find no pending ActionID, fnmatch "*" and call our handler; hand them over directly.
            # Anything an action may be waiting for (responses, list events with a pending
            # ActionID), Shutdown (panoramisk closes on it) and events before login go through it.
            if (msg.kind == "event" and self.direct is not None and msg.name != "Shutdown"
                    and self.responses.get(msg.get("ActionID") or "") is None and msg.get("CommandID") is None):
                self.direct(msg)
                continue
            converted = to_panoramisk(msg)
            if converted is None:
                logger.warning("AMI: dropped a message that is neither an Event nor a Response (%s: %s)",
                               msg.headers[0][0], msg.headers[0][1][:60])
                continue
            try:
                self.handle_message(converted)
            except Exception:
                logger.exception("AMI: dropped %s: %s, handling it failed", msg.headers[0][0], msg.headers[0][1][:60])


class _Manager(Manager):
    """panoramisk's Manager minus its own reconnect and action replay (see module doc)."""

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        pinger = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        while self.awaiting_actions:
            action = self.awaiting_actions.popleft()
            if not action.future.done():
                action.future.set_exception(PbxUnavailable(f"AMI connection lost before {action['action']} answered"))
        self.on_disconnect(self, exc)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "full jitter" (AWS architecture blog): uniform in [0, min(cap, base*2^n)]."""
    return rng.uniform(0, min(cap, base * (2**attempt)))


class AmiClient:
    def __init__(
        self,
        server: PbxServer,
        on_event: EventHandler | None = None,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        *,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        ping_interval: float = 15.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.server = server
        self.on_event = on_event
        self.on_connected = on_connected
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._session = uuid.uuid4().hex[:8]
        self._manager: _Manager | None = None
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self.connects = 0  # successful logins so far (metrics, tests)
        self.banner: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background (returns at once; see :meth:`wait_ready`)."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=f"ami-{self.server.name}")

    async def wait_ready(self, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError as exc:
            raise PbxUnavailable(f"{self.server.name}: AMI not logged in after {timeout}s") from exc

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def close(self) -> None:
        self._closing = True
        self._drop_connection()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down
                await self._task
            self._task = None

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._connect_once()
            except PbxAuthError as exc:
                logger.error("%s: %s (will retry)", self.server.name, exc)
            except (OSError, PbxTimeout, PbxUnavailable) as exc:
                logger.warning("%s: AMI connect failed: %s", self.server.name, exc)
            else:
                attempt = 0
                self.connects += 1
                self._ready.set()
                logger.info("%s: AMI logged in (%s)", self.server.name, self.banner)
                heartbeat = asyncio.create_task(self._heartbeat())
                try:
                    if self.on_connected is not None:
                        try:
                            await self.on_connected()
                        except Exception:
                            logger.exception("%s: on_connected failed", self.server.name)
                    await self._lost.wait()
                finally:
                    heartbeat.cancel()
                    self._ready.clear()
                logger.warning("%s: AMI connection lost", self.server.name)
            if self._closing:
                break
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()
        manager = _Manager(
            host=self.server.ami_host, port=self.server.ami_port, username=self.server.ami_username,
            secret=self.server.ami_secret, events="on", loop=loop, ping_delay=10**6,
            on_disconnect=self._on_disconnect, protocol_factory=FramedAMIProtocol,
        )
        manager.register_event("*", self._dispatch)
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(manager.config["protocol_factory"], self.server.ami_host, self.server.ami_port), self.connect_timeout)
        except TimeoutError as exc:
            raise PbxTimeout(f"connect to {self.server.ami_host}:{self.server.ami_port} timed out") from exc
        done: asyncio.Future[tuple[Any, Any]] = loop.create_future()
        done.set_result((transport, protocol))
        self._manager = manager
        manager.connection_made(done)  # sends Login; panoramisk returns before its answer
        login = manager.authenticated_future
        self._inflight.add(login)
        try:
            reply = await asyncio.wait_for(asyncio.shield(login), self.connect_timeout)
        except TimeoutError as exc:
            self._drop_connection()
            raise PbxTimeout("no answer to AMI Login") from exc
        finally:
            self._inflight.discard(login)
        self.banner = getattr(protocol, "version", None)
        if not reply.success:
            self._drop_connection()
            raise PbxAuthError(f"AMI login refused for {self.server.ami_username!r}: {reply.get('Message', '')}")
        if isinstance(protocol, FramedAMIProtocol):
            protocol.direct = self._deliver

    def _on_disconnect(self, _manager: Manager, exc: Exception | None) -> None:
        self._ready.clear()
        for fut in list(self._inflight):
            if not fut.done():
                fut.set_exception(PbxUnavailable(f"{self.server.name}: AMI connection lost"))
        self._inflight.clear()
        self._lost.set()

    def _drop_connection(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.close()  # panoramisk's close does not report connection_lost: do it ourselves
            self._on_disconnect(manager, None)

    async def _heartbeat(self) -> None:
        """Ping; if Asterisk stops answering, abort the socket so the reconnect loop takes over."""
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action({"Action": "Ping"}, timeout=self.ping_interval)
            except (PbxTimeout, PbxUnavailable):
                logger.warning("%s: AMI ping unanswered, dropping the connection", self.server.name)
                manager = self._manager
                if manager is not None and manager.protocol is not None:
                    manager.protocol.transport.abort()
                return

    def _dispatch(self, _manager: Manager, event: Any) -> None:
        try:
            msg = from_panoramisk(event)
        except ValueError as exc:
            logger.warning("%s: dropped unparseable AMI event: %s", self.server.name, exc)
            return
        self._deliver(msg)

    def _deliver(self, msg: Message) -> None:
        if self.on_event is not None:
            try:
                self.on_event(msg)
            except Exception:
                logger.exception("%s: event handler failed on %s", self.server.name, msg.event)

    # -- actions -----------------------------------------------------------------------------
    def new_action_id(self) -> str:
        return f"pyd-{self._session}-{next(self._ids)}"

    def _prepare(self, spec: ActionSpec, as_list: bool | None) -> Action:
        manager = self._manager
        if manager is None or not self._ready.is_set():
            raise PbxUnavailable(f"{self.server.name}: AMI not connected")
        headers = {k: (list(v) if isinstance(v, list | tuple) else str(v)) for k, v in spec.items()}
        headers.setdefault("ActionID", self.new_action_id())
        # Validate through our serializer: refuses CR/LF in values (header injection).
        first = next(iter(headers.items()))
        Message.build((first[0], str(first[1])), **{k: v for k, v in list(headers.items())[1:]})
        if str(headers.get("Action", "")).lower() == "originate":
            headers.setdefault("Async", "true")  # panoramisk's matcher needs it (module doc)
        return Action(headers, as_list=as_list)

    def send_nowait(self, spec: ActionSpec) -> tuple[str, asyncio.Future[Any]]:
        """Write an action and return (ActionID, future of its first response) without waiting."""
        action = self._prepare(spec, as_list=False)
        assert self._manager is not None
        future = self._manager.send_action(action, as_list=False)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        return action.action_id, future

    async def action(self, spec: ActionSpec, timeout: float | None = None) -> Message:
        """Send an action and return its response; ``ActionFailed`` on ``Response: Error``."""
        action_id, future = self.send_nowait(spec)
        reply = await self._await(action_id, future, timeout, spec)
        msg = from_panoramisk(reply)
        if (msg.get("Response") or "").lower() in ("error", "failure", "fail"):
            text = msg.get("Message") or ""
            cls = ChannelNotFound if "no such channel" in text.lower() or "not found" in text.lower() else ActionFailed
            raise cls(f"{spec.get('Action')}: {text}", details=msg.as_dict())
        return msg

    async def action_list(self, spec: ActionSpec, timeout: float | None = None) -> list[Message]:
        """An EventList action (CoreShowChannels, Status ...): the listed events, in order."""
        action = self._prepare(spec, as_list=None)
        assert self._manager is not None
        future = self._manager.send_action(action)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        replies = await self._await(action.action_id, future, timeout, spec)
        if not isinstance(replies, list):
            replies = [replies]
        messages = [from_panoramisk(r) for r in replies]
        head = messages[0] if messages else None
        if head is not None and (head.get("Response") or "").lower() == "error":
            raise ActionFailed(f"{spec.get('Action')}: {head.get('Message')}", details=head.as_dict())
        return [m for m in messages if m.event and not m.event.endswith("Complete")]

    async def _await(self, action_id: str, future: asyncio.Future[Any], timeout: float | None,
                     spec: ActionSpec) -> Any:
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout or self.action_timeout)
        except TimeoutError as exc:
            manager = self._manager
            if manager is not None and manager.protocol is not None:
                manager.protocol.responses.pop(action_id, None)
            raise PbxTimeout(f"{self.server.name}: no answer to {spec.get('Action')} ({action_id})") from exc

    async def live_channels(self) -> list[LiveChannel]:
        """CoreShowChannels for the channel list, then Status for our call-id variable on each."""
        listed = await self.action_list({"Action": "CoreShowChannels"})
        # Real Asterisk matches the name without the inheritance prefix (ast_var_name); ask for both
        # spellings so a PBX that stores "__PYDIALER_CALL_ID" verbatim answers too.
        wanted = [CALL_ID_VAR, CAMPAIGN_ID_VAR, LEAD_ID_VAR]
        names = ",".join(wanted + [f"__{v}" for v in wanted])
        status = await self.action_list({"Action": "Status", "Variables": names})
        found: dict[str, dict[str, str]] = {}
        for st in status:
            for raw in st.get_all("Variable") + st.get_all("ChanVariable"):
                name, _, value = raw.partition("=")
                if name.lstrip("_") in wanted and value:
                    found.setdefault(st.get("Uniqueid") or "", {})[name.lstrip("_")] = value
        out = []
        for ch in listed:
            uid = ch.get("Uniqueid") or ""
            try:
                state = int(ch.get("ChannelState") or 0)
            except ValueError:
                state = 0
            vars_ = found.get(uid, {})
            out.append(LiveChannel(uid, ch.get("Channel") or "", ch.get("Linkedid") or "", state,
                                   vars_.get(CALL_ID_VAR), vars_.get(CAMPAIGN_ID_VAR), vars_.get(LEAD_ID_VAR),
                                   ch.get("BridgeId") or ""))
        return out
