"""The AMI TCP server: sessions, authentication and actions, answering like Asterisk 20/22's
manager.c (response texts are Asterisk's own: "Authentication accepted", "Permission denied",
"Invalid/unknown command", "Originate successfully queued", ...)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from .ami_wire import AmiFramer, format_message, get, get_all
from .calls import CallEngine, OriginateError, OriginateRequest, parse_variables
from .control import RequestLog, mask
from .pbx import Channel, Pbx, chan_fields

logger = logging.getLogger(__name__)

MAX_OUTPUT = 32 * 1024 * 1024  # a client this far behind is cut off, as Asterisk's writetimeout does
_TRUE = {"yes", "true", "y", "t", "1", "on"}


def _cli_duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class AmiSession(asyncio.Protocol):
    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.framer = AmiFramer()
        self.transport: asyncio.Transport | None = None
        self.authenticated = False
        self.events = True
        self.challenge = ""
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = str(transport.get_extra_info("peername"))
        transport.write(f"Asterisk Call Manager/{self.server.pbx.ami_version}\r\n".encode())
        self.server.sessions.add(self)
        # manager.conf authtimeout (default 30 s): a session that never logs in is closed.
        self._auth_timer = asyncio.get_running_loop().call_later(self.server.auth_timeout, self._auth_expired)

    def _auth_expired(self) -> None:
        if not self.authenticated and self.transport is not None:
            logger.info("AMI: %s did not log in within %ss; closing", self.peer, self.server.auth_timeout)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._auth_timer.cancel()
        self.server.sessions.discard(self)

    def data_received(self, data: bytes) -> None:
        for headers in self.framer.feed(data):
            try:
                self.handle(headers)
            except Exception:  # one bad action must never take the server down
                logger.exception("AMI action failed: %r", headers[:4])
                self.respond(headers, "Error", "Internal error")
            if self.transport is None or self.transport.is_closing():
                return

    # -- output --------------------------------------------------------------------------------
    def write(self, text: str) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if t.get_write_buffer_size() > MAX_OUTPUT:
            logger.warning("AMI client %s is not reading; disconnecting", self.peer)
            t.abort()
            return
        t.write(text.encode())

    def respond(self, headers: list[tuple[str, str]], response: str, message: str | None = None,
                extra: list[tuple[str, str]] | None = None) -> None:
        fields = [("Response", response)]
        action_id = get(headers, "ActionID")
        if action_id:
            fields.append(("ActionID", action_id))
        if message is not None:
            fields.append(("Message", message))
        fields += extra or []
        self.write(format_message(fields))

    def send_event(self, event: str, fields: list[tuple[str, str]], action_id: str = "") -> None:
        head = [("Event", event)] + ([("ActionID", action_id)] if action_id else [])
        self.write(format_message(head + fields))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, headers: list[tuple[str, str]]) -> None:
        action = get(headers, "Action")
        self.server.log.add("ami", action=action, headers=mask(headers), peer=self.peer)
        if not action:
            self.respond(headers, "Error", "Missing action in request")
            return
        low = action.lower()
        if not self.authenticated and low not in ("login", "logoff", "challenge"):
            self.respond(headers, "Error", "Permission denied")
            return
        handler: Callable[[list[tuple[str, str]]], None] | None = getattr(self, f"do_{low}", None)
        if handler is None:
            self.respond(headers, "Error", "Invalid/unknown command")
            return
        handler(headers)

    def do_challenge(self, h: list[tuple[str, str]]) -> None:
        if get(h, "AuthType").lower() != "md5":
            self.respond(h, "Error", "Must specify AuthType")
            return
        self.challenge = f"{secrets.randbelow(10**9):09d}"
        self.respond(h, "Success", extra=[("Challenge", self.challenge)])

    def do_login(self, h: list[tuple[str, str]]) -> None:
        srv = self.server
        user, secret = get(h, "Username"), get(h, "Secret")
        ok = user == srv.username
        if ok and get(h, "AuthType").lower() == "md5" and self.challenge:
            ok = get(h, "Key").lower() == hashlib.md5((self.challenge + srv.secret).encode()).hexdigest()
        else:
            ok = ok and secrets.compare_digest(secret, srv.secret)
        if not ok:
            logger.info("AMI: authentication failed for %r from %s", user, self.peer)
            self.respond(h, "Error", "Authentication failed")
            self.close()  # manager.c ends the session after a failed login
            return
        self.authenticated = True
        events = get(h, "Events", "on").lower()
        self.events = events not in ("off", "no", "false", "0")
        self.respond(h, "Success", "Authentication accepted")
        pbx = srv.pbx
        if self.events:
            self.send_event("FullyBooted", [("Privilege", "system,all"),
                                            ("Uptime", str(int(time.time() - pbx.started))),
                                            ("LastReload", str(int(time.time() - pbx.started))),
                                            ("Status", "Fully Booted")])

    def do_logoff(self, h: list[tuple[str, str]]) -> None:
        self.respond(h, "Goodbye", "Thanks for all the fish.")
        self.close()

    def do_ping(self, h: list[tuple[str, str]]) -> None:
        self.respond(h, "Success", extra=[("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")])

    def do_events(self, h: list[tuple[str, str]]) -> None:
        mask_ = get(h, "EventMask", "on").lower()
        self.events = mask_ not in ("off", "no", "false", "0")
        self.respond(h, "Success", extra=[("Events", "On" if self.events else "Off")])

    def _channel(self, h: list[tuple[str, str]], key: str = "Channel") -> Channel | None:
        name = get(h, key)
        if not name:
            return None
        return self.server.pbx.find(name)

    def do_originate(self, h: list[tuple[str, str]]) -> None:
        channel = get(h, "Channel")
        if not channel:
            self.respond(h, "Error", "Channel not specified")
            return
        if "/" not in channel:  # manager.c rejects a channel without Tech/ before queueing anything
            self.respond(h, "Error", "Invalid channel")
            return
        try:
            priority = int(get(h, "Priority", "1") or "1")
        except ValueError:
            self.respond(h, "Error", "Invalid priority")
            return
        try:
            timeout_ms = int(get(h, "Timeout", "30000") or "30000")
        except ValueError:
            self.respond(h, "Error", "Invalid timeout")
            return
        name, num = _split_callerid(get(h, "CallerID"))
        req = OriginateRequest(
            channel=channel, context=get(h, "Context"), exten=get(h, "Exten"), priority=priority,
            application=get(h, "Application"), data=get(h, "Data"), caller_num=num, caller_name=name,
            timeout_s=max(timeout_ms, 0) / 1000, variables=parse_variables(get_all(h, "Variable")),
            action_id=get(h, "ActionID") or None, async_=get(h, "Async").lower() in _TRUE,
            channel_id=get(h, "ChannelId") or None, other_channel_id=get(h, "OtherChannelId") or None,
            account=get(h, "Account"),
        )
        if req.channel_id and self.server.pbx.find(req.channel_id):
            self.respond(h, "Error", "Uniqueid already in use")
            return
        try:
            call = self.server.engine.originate(req)
        except OriginateError as exc:
            logger.info("AMI originate of %r failed: %s", channel, exc)
            if req.async_:
                self.respond(h, "Success", "Originate successfully queued")
                self.server.engine_report_failure(req)
            else:
                self.respond(h, "Error", "Originate failed")
            return
        if req.async_:
            self.respond(h, "Success", "Originate successfully queued")
            return
        assert call.result_future is not None
        call.result_future.add_done_callback(
            lambda fut: self.respond(h, "Success", "Originate successfully queued") if fut.result()[0]
            else self.respond(h, "Error", "Originate failed"))

    def do_hangup(self, h: list[tuple[str, str]]) -> None:
        pbx = self.server.pbx
        name = get(h, "Channel")
        if not name:
            self.respond(h, "Error", "No channel specified")
            return
        try:
            cause = int(get(h, "Cause", "16") or "16")
        except ValueError:
            cause = 16
        if len(name) > 2 and name.startswith("/") and name.endswith("/"):  # regex form (Asterisk 13.3+)
            try:
                rx = re.compile(name[1:-1])
            except re.error:
                self.respond(h, "Error", "Invalid regex")
                return
            chans = [c for c in list(pbx.channels.values()) if rx.search(c.name)]
            for match in chans:
                pbx.hangup(match, cause, requested=True)
            self.respond(h, "Success", f"{len(chans)} channels hung up")
            return
        ch = pbx.find(name)
        if ch is None:
            self.respond(h, "Error", "No such channel")
            return
        pbx.hangup(ch, cause, requested=True)
        self.respond(h, "Success", "Channel Hungup")

    def do_redirect(self, h: list[tuple[str, str]]) -> None:
        if not get(h, "Channel"):
            self.respond(h, "Error", "Channel not specified")
            return
        ch = self._channel(h)
        if ch is None:
            self.respond(h, "Error", "Channel does not exist: " + get(h, "Channel"))
            return
        extra = self._channel(h, "ExtraChannel")
        if get(h, "ExtraChannel") and extra is None:
            self.respond(h, "Error", "ExtraChannel does not exist: " + get(h, "ExtraChannel"))
            return
        exten, context = get(h, "Exten"), get(h, "Context") or ch.context
        try:
            priority = int(get(h, "Priority", "1") or "1")
        except ValueError:
            self.respond(h, "Error", "Invalid priority")
            return
        if not exten:
            self.respond(h, "Error", "Exten not specified")
            return
        eng = self.server.engine
        if extra is not None:
            # Both legs leave their bridge together, so neither is hung up by the other leaving.
            for c in (ch, extra):
                if c.bridge is not None:
                    old = c.bridge
                    self.server.pbx.leave_bridge(c)
                    if not old.stasis and not old.channels:
                        self.server.pbx.destroy_bridge(old)
            eng.redirect(extra, get(h, "ExtraContext") or context, get(h, "ExtraExten") or exten, priority)
        eng.redirect(ch, context, exten, priority)
        self.respond(h, "Success", "Dual Redirect successful" if extra is not None else "Redirect successful")

    def do_bridge(self, h: list[tuple[str, str]]) -> None:
        a, b = self._channel(h, "Channel1"), self._channel(h, "Channel2")
        if a is None:
            self.respond(h, "Error", f"Channel1 does not exist: {get(h, 'Channel1')}")
            return
        if b is None:
            self.respond(h, "Error", f"Channel2 does not exist: {get(h, 'Channel2')}")
            return
        self.server.engine.bridge(a, b)
        self.respond(h, "Success", "Channels have been bridged")

    def do_coreshowchannels(self, h: list[tuple[str, str]]) -> None:
        action_id = get(h, "ActionID")
        chans = list(self.server.pbx.channels.values())
        self.respond(h, "Success", "Channels will follow", extra=[("EventList", "start")])
        now = time.time()
        for ch in chans:
            self.send_event("CoreShowChannel", chan_fields(ch) + [
                ("BridgeId", ch.bridge.id if ch.bridge else ""), ("Application", ch.app),
                ("ApplicationData", ch.app_data), ("Duration", _cli_duration(now - ch.created_wall))], action_id)
        self.send_event("CoreShowChannelsComplete", [("EventList", "Complete"), ("ListItems", str(len(chans)))],
                        action_id)

    def do_status(self, h: list[tuple[str, str]]) -> None:
        action_id = get(h, "ActionID")
        if get(h, "Channel"):
            ch = self._channel(h)
            if ch is None:
                self.respond(h, "Error", "No such channel")
                return
            chans = [ch]
        else:
            chans = list(self.server.pbx.channels.values())
        self.respond(h, "Success", "Channel status will follow", extra=[("EventList", "start")])
        now = time.time()
        wanted = [v.strip() for v in get(h, "Variables").split(",") if v.strip()]
        for ch in chans:
            fields = chan_fields(ch) + [
                ("Type", ch.name.split("/", 1)[0]), ("DNID", ""), ("EffectiveConnectedLineNum", ch.connected_num),
                ("EffectiveConnectedLineName", ch.connected_name), ("TimeToHangup", "0"),
                ("BridgeID", ch.bridge.id if ch.bridge else ""), ("Application", ch.app), ("Data", ch.app_data),
                ("Nativeformats", "(ulaw)"), ("Readformat", "ulaw"), ("Readtrans", ""), ("Writeformat", "ulaw"),
                ("Writetrans", ""), ("Callgroup", "0"), ("Pickupgroup", "0"), ("Seconds", str(int(now - ch.created_wall)))]
            fields += [("Variable", f"{v}={ch.variables.get(v, '')}") for v in wanted]
            self.send_event("Status", fields, action_id)
        self.send_event("StatusComplete", [("EventList", "Complete"), ("ListItems", str(len(chans))),
                                           ("Items", str(len(chans)))], action_id)

    def do_command(self, h: list[tuple[str, str]]) -> None:
        # Since Asterisk 14 the CLI output comes back as Output: lines of a Success response.
        cmd = " ".join(get(h, "Command").split()).lower()
        pbx = self.server.pbx
        if cmd == "core show version":
            lines = [f"Asterisk {pbx.asterisk_version} built by pydialer-simulator on a x86_64 running Linux"]
        elif cmd == "core show channels":
            n = len(pbx.channels)
            lines = ["Channel              Location             State   Application(Data)"]
            lines += [f"{c.name:<20} {c.exten}@{c.context:<12} {c.state_desc:<7} {c.app}({c.app_data})"
                      for c in pbx.channels.values()]
            lines += [f"{n} active channel{'s' if n != 1 else ''}", f"{n} active call{'s' if n != 1 else ''}"]
        elif cmd == "core show uptime":
            lines = [f"System uptime: {int(time.time() - pbx.started)} seconds"]
        else:
            lines = [f"No such command '{get(h, 'Command')}' (type 'core show help {get(h, 'Command')}' for other "
                     "possible commands)"]
        self.respond(h, "Success", "Command output follows", extra=[("Output", line) for line in lines])

    def do_mixmonitor(self, h: list[tuple[str, str]]) -> None:
        if not get(h, "Channel"):
            self.respond(h, "Error", "No channel specified")
            return
        ch = self._channel(h)
        if ch is None:
            self.respond(h, "Error", "No such channel")
            return
        ch.mixmonitor = get(h, "File") or f"{ch.id}.wav"
        self.server.pbx.recordings.append({"channel": ch.name, "uniqueid": ch.id, "file": ch.mixmonitor,
                                           "options": get(h, "Options"), "started": time.time()})
        monitor_id = f"0x{secrets.randbits(48):x}"
        self.respond(h, "Success", extra=[("MixMonitorID", monitor_id)])
        self.server.pbx.ami("MixMonitorStart", "call,all", chan_fields(ch))

    def do_stopmixmonitor(self, h: list[tuple[str, str]]) -> None:
        if not get(h, "Channel"):
            self.respond(h, "Error", "No channel specified")
            return
        ch = self._channel(h)
        if ch is None:
            self.respond(h, "Error", "No such channel")
            return
        if ch.mixmonitor is None:
            self.respond(h, "Error", "Could not stop monitor")
            return
        ch.mixmonitor = None
        self.respond(h, "Success")
        self.server.pbx.ami("MixMonitorStop", "call,all", chan_fields(ch))

    def do_setvar(self, h: list[tuple[str, str]]) -> None:
        var = get(h, "Variable")
        if not var:
            self.respond(h, "Error", "No variable specified")
            return
        ch = None
        if get(h, "Channel"):
            ch = self._channel(h)
            if ch is None:
                self.respond(h, "Error", "No such channel")
                return
        self.server.pbx.setvar(ch, var, get(h, "Value"))
        self.respond(h, "Success", "Variable Set")

    def do_getvar(self, h: list[tuple[str, str]]) -> None:
        var = get(h, "Variable")
        if not var:
            self.respond(h, "Error", "No variable specified")
            return
        if get(h, "Channel"):
            ch = self._channel(h)
            if ch is None:
                self.respond(h, "Error", "No such channel")
                return
            value = ch.variables.get(var, "")
        else:
            value = self.server.pbx.globals.get(var, "")
        self.respond(h, "Success", extra=[("Variable", var), ("Value", value)])


def _split_callerid(value: str) -> tuple[str, str]:
    """``"Name" <number>`` -> (name, number), as ast_callerid_split does."""
    m = re.match(r'\s*"?([^"<]*)"?\s*<([^>]*)>', value)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    value = value.strip()
    if re.fullmatch(r"[0-9+*#]+", value):
        return "", value
    return value, ""


class AmiServer:
    def __init__(self, pbx: Pbx, engine: CallEngine, log: RequestLog, *, username: str, secret: str) -> None:
        self.pbx = pbx
        self.engine = engine
        self.log = log
        self.username = username
        self.secret = secret
        self.sessions: set[AmiSession] = set()
        self.server: asyncio.Server | None = None
        self.events_sent = 0
        self.auth_timeout = 30.0
        pbx.ami_sinks.append(self._broadcast)

    def _broadcast(self, event: str, privilege: str, fields: list[tuple[str, str]]) -> None:
        if not self.sessions:
            return
        text = format_message([("Event", event), ("Privilege", privilege), *fields])
        for session in self.sessions:
            if session.authenticated and session.events:
                session.write(text)
                self.events_sent += 1

    def engine_report_failure(self, req: OriginateRequest) -> None:
        """OriginateResponse for a channel string nothing could dial (Reason 0)."""
        fields: list[tuple[str, str]] = [] if req.action_id is None else [("ActionID", req.action_id)]
        fields += [("Response", "Failure"), ("Channel", req.channel), ("Context", req.context), ("Exten", req.exten),
                   ("Application", req.application), ("Data", req.data), ("Reason", "0"), ("Uniqueid", "<null>"),
                   ("CallerIDNum", req.caller_num or "<unknown>"), ("CallerIDName", req.caller_name or "<unknown>")]
        asyncio.get_running_loop().call_soon(self.pbx.ami, "OriginateResponse", "call,all", fields)

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: AmiSession(self), host, port, reuse_address=True)
        logger.info("AMI listening on %s:%d", host, port)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for s in list(self.sessions):
                if s.transport is not None:
                    s.transport.abort()
            await self.server.wait_closed()

    def status(self) -> dict[str, Any]:
        return {"sessions": len(self.sessions), "events_sent": self.events_sent}
