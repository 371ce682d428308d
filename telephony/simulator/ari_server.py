"""ARI over aiohttp: REST resources shaped like the ARI models (Channel, Bridge, Playback,
LiveRecording) and the ``/ari/events`` WebSocket. Errors are ``{"message": ...}`` with the status
codes the ARI reference gives per resource (400 bad/missing params, 404 not found, 409 wrong
state, 422 e.g. channel not in Stasis for bridge operations)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import time
from typing import Any

from aiohttp import WSMsgType, web

from .calls import CallEngine, OriginateError, OriginateRequest
from .control import RequestLog
from .external_media import ExternalMedia
from .pbx import UP, Bridge, Channel, Pbx, bridge_json, channel_json, iso_now

logger = logging.getLogger(__name__)


def err(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class AriApp:
    """One WebSocket connection subscribed to one or more Stasis application names."""

    def __init__(self, ws: web.WebSocketResponse, apps: list[str], subscribe_all: bool) -> None:
        self.ws = ws
        self.apps = apps
        self.subscribe_all = subscribe_all
        # One queue and one writer per socket keeps events in order even when a send waits to drain.
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def writer(self) -> None:
        while (text := await self.queue.get()) is not None:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class AriServer:
    def __init__(self, pbx: Pbx, engine: CallEngine, media: ExternalMedia, log: RequestLog,
                 *, username: str, password: str) -> None:
        self.pbx, self.engine, self.media, self.log = pbx, engine, media, log
        self.username, self.password = username, password
        self.clients: list[AriApp] = []
        self.subscriptions: dict[str, set[str]] = {}  # app -> channel ids (originate with app)
        self.playbacks: dict[str, dict[str, Any]] = {}
        self.recordings: dict[str, dict[str, Any]] = {}
        self.events_sent = 0
        pbx.ari_sinks.append(self._dispatch)
        pbx.on_hangup.append(self._forget)

    # -- events --------------------------------------------------------------------------------
    def _apps_for(self, msg: dict[str, Any], ch: Channel | None, bridge: Bridge | None) -> set[str]:
        if "application" in msg:
            return {msg["application"]}
        apps: set[str] = set()
        if ch is not None:
            if ch.stasis_app:
                apps.add(ch.stasis_app)
            apps.update(app for app, ids in self.subscriptions.items() if ch.id in ids)
        if bridge is not None and bridge.stasis and bridge.creator.startswith("app:"):
            apps.add(bridge.creator[4:])
        return apps

    def _dispatch(self, msg: dict[str, Any], ch: Channel | None, bridge: Bridge | None) -> None:
        if not self.clients:
            return
        targets = self._apps_for(msg, ch, bridge)
        for client in self.clients:
            for app in client.apps:
                if app in targets or client.subscribe_all:
                    if client.ws.closed:
                        continue
                    if client.queue.qsize() > 50_000:  # a consumer this far behind is cut off
                        logger.warning("ARI app %s is not reading its events; closing", app)
                        self.pbx.loop.create_task(client.ws.close())
                        continue
                    out = {**msg, "application": app, "asterisk_id": self.pbx.entity_id}
                    client.queue.put_nowait(json.dumps(out))
                    self.events_sent += 1

    def _forget(self, ch: Channel) -> None:
        for ids in self.subscriptions.values():
            ids.discard(ch.id)

    # -- plumbing ------------------------------------------------------------------------------
    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        creds = ""
        if header.lower().startswith("basic "):
            try:
                creds = base64.b64decode(header[6:]).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
        elif "api_key" in request.query:
            creds = request.query["api_key"]
        user, _, pw = creds.partition(":")
        return secrets.compare_digest(user, self.username) and secrets.compare_digest(pw, self.password)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/ari"):
            body: Any = None
            if request.body_exists:
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")[:1000]
            query = {k: v for k, v in request.query.items() if k != "api_key"}
            self.log.add("ari", method=request.method, path=request.path, query=query, body=body)
            if not self.authorized(request):
                return web.json_response({"message": "Authentication required"}, status=401,
                                         headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'})
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return err(404, "Resource not found")
            except web.HTTPMethodNotAllowed:
                return err(405, "Invalid method")
            except web.HTTPException:
                raise
            except Exception:  # a bug in one handler must not look like a dead PBX
                logger.exception("ARI %s %s failed", request.method, request.path)
                return err(500, "Internal Server Error")
        return await handler(request)

    async def params(self, request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
        """ARI takes parameters from the query string or a JSON body; ``variables`` only from the body."""
        out = {k: v for k, v in request.query.items() if k != "api_key"}
        variables: dict[str, str] = {}
        if request.body_exists:
            try:
                body = await request.json()
            except ValueError as exc:
                raise web.HTTPBadRequest(text=json.dumps({"message": "Invalid JSON body"}),
                                         content_type="application/json") from exc
            if isinstance(body, dict):
                raw_vars = body.get("variables") or {}
                if isinstance(raw_vars, dict):
                    variables = {str(k): str(v) for k, v in raw_vars.items()}
                out.update({k: str(v) for k, v in body.items() if k != "variables" and not isinstance(v, dict)})
        return out, variables

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ari/asterisk/info", self.info)
        r.add_get("/ari/applications", self.applications)
        r.add_get("/ari/channels", self.list_channels)
        r.add_post("/ari/channels", self.originate)
        r.add_post("/ari/channels/externalMedia", self.external_media)
        r.add_get("/ari/channels/{id}", self.get_channel)
        r.add_delete("/ari/channels/{id}", self.hangup)
        r.add_post("/ari/channels/{id}/answer", self.answer)
        r.add_post("/ari/channels/{id}/play", self.play)
        r.add_post("/ari/channels/{id}/record", self.record)
        r.add_post("/ari/channels/{id}/snoop", self.snoop)
        r.add_post("/ari/channels/{id}/variable", self.set_variable)
        r.add_get("/ari/channels/{id}/variable", self.get_variable)
        r.add_get("/ari/bridges", self.list_bridges)
        r.add_post("/ari/bridges", self.create_bridge)
        r.add_get("/ari/bridges/{id}", self.get_bridge)
        r.add_delete("/ari/bridges/{id}", self.destroy_bridge)
        r.add_post("/ari/bridges/{id}/addChannel", self.add_channel)
        r.add_post("/ari/bridges/{id}/removeChannel", self.remove_channel)
        r.add_get("/ari/playbacks/{id}", self.get_playback)
        r.add_delete("/ari/playbacks/{id}", self.stop_playback)
        r.add_get("/ari/recordings/live/{name}", self.get_recording)
        r.add_delete("/ari/recordings/live/{name}", self.cancel_recording)
        r.add_post("/ari/recordings/live/{name}/stop", self.stop_recording)
        r.add_get("/ari/events", self.events)

    # -- asterisk / applications ---------------------------------------------------------------
    async def info(self, request: web.Request) -> web.Response:
        pbx = self.pbx
        started = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(pbx.started))
        return web.json_response({
            "build": {"os": "Linux", "kernel": "6.1.0", "machine": "x86_64", "options": "",
                      "date": "2024-01-01 00:00:00 UTC", "user": "pydialer"},
            "system": {"version": pbx.asterisk_version, "entity_id": pbx.entity_id},
            "config": {"name": "", "default_language": "en", "setid": {"user": "asterisk", "group": "asterisk"}},
            "status": {"startup_time": started, "last_reload_time": started},
        })

    async def applications(self, request: web.Request) -> web.Response:
        names = sorted({a for c in self.clients for a in c.apps})
        return web.json_response([{"name": n, "channel_ids": sorted(self.subscriptions.get(n, set())),
                                   "bridge_ids": [], "endpoint_ids": [], "device_names": [], "events_allowed": [],
                                   "events_disallowed": []} for n in names])

    # -- channels ------------------------------------------------------------------------------
    def _chan(self, request: web.Request) -> Channel | None:
        return self.pbx.channels.get(request.match_info["id"])

    async def list_channels(self, request: web.Request) -> web.Response:
        return web.json_response([channel_json(c) for c in self.pbx.channels.values()])

    async def get_channel(self, request: web.Request) -> web.Response:
        ch = self._chan(request)
        return err(404, "Channel not found") if ch is None else web.json_response(channel_json(ch))

    async def originate(self, request: web.Request) -> web.Response:
        p, variables = await self.params(request)
        endpoint = p.get("endpoint", "")
        if not endpoint:
            return err(400, "Endpoint must be specified")
        app, exten = p.get("app", ""), p.get("extension", "")
        if not app and not exten:
            return err(400, "Application or extension must be specified")
        try:
            timeout = int(p.get("timeout", "30"))
            priority = int(p.get("priority", "1"))
        except ValueError:
            return err(400, "Invalid parameters for originating a channel")
        if p.get("channelId") and self.pbx.find(p["channelId"]):
            return err(409, "Channel with given unique ID already exists")
        name, _, num = p.get("callerId", "").partition("<")
        req = OriginateRequest(
            channel=endpoint, context=p.get("context", "default" if exten else ""), exten=exten, priority=priority,
            caller_num=num.rstrip(">").strip(), caller_name=name.strip().strip('"'),
            timeout_s=float(timeout if timeout > 0 else 10**6), variables=variables,
            channel_id=p.get("channelId") or None, other_channel_id=p.get("otherChannelId") or None,
            stasis_app=app or None, app_args=[a for a in p.get("appArgs", "").split(",") if a],
        )
        try:
            call = self.engine.originate(req)
        except OriginateError as exc:
            return err(400, f"Invalid endpoint: {exc}")
        if app:
            self.subscriptions.setdefault(app, set()).add(call.origin.id)
        return web.json_response(channel_json(call.origin))

    async def hangup(self, request: web.Request) -> web.Response:
        ch = self._chan(request)
        if ch is None:
            return err(404, "Channel not found")
        reasons = {"normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "answered_elsewhere": 26,
                   "unallocated": 1, "rejected": 21, "timeout": 19}
        reason = request.query.get("reason", "normal")
        code = request.query.get("reason_code")
        if code is not None and not code.isdigit():
            return err(400, "Invalid reason_code")
        if reason not in reasons and code is None:
            return err(400, "Invalid reason for hangup provided")
        self.pbx.hangup(ch, int(code) if code else reasons[reason], requested=True)
        return web.Response(status=204)

    def _stasis_chan(self, request: web.Request) -> tuple[Channel | None, web.Response | None]:
        ch = self._chan(request)
        if ch is None:
            return None, err(404, "Channel not found")
        if not ch.stasis_app:
            return None, err(409, "Channel not in Stasis application")
        return ch, None

    async def answer(self, request: web.Request) -> web.Response:
        ch, bad = self._stasis_chan(request)
        if bad is not None or ch is None:
            return bad or err(404, "Channel not found")
        self.pbx.set_state(ch, UP)
        return web.Response(status=204)

    async def play(self, request: web.Request) -> web.Response:
        ch, bad = self._stasis_chan(request)
        if bad is not None or ch is None:
            return bad or err(404, "Channel not found")
        p, _ = await self.params(request)
        media = p.get("media", "")
        if not media:
            return err(400, "media is required")
        pid = p.get("playbackId") or f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"
        pb = {"id": pid, "media_uri": media, "target_uri": f"channel:{ch.id}", "language": p.get("lang", "en"),
              "state": "playing"}
        self.playbacks[pid] = pb
        self.pbx.ari({"type": "PlaybackStarted", "playback": dict(pb)}, ch)
        self.pbx.later(ch, 2.0, self._playback_done, ch, pid)
        return web.json_response({**pb, "state": "queued"}, status=201)

    def _playback_done(self, ch: Channel, pid: str) -> None:
        pb = self.playbacks.pop(pid, None)
        if pb is not None:
            pb["state"] = "done"
            self.pbx.ari({"type": "PlaybackFinished", "playback": pb}, ch)

    async def get_playback(self, request: web.Request) -> web.Response:
        pb = self.playbacks.get(request.match_info["id"])
        return err(404, "Playback not found") if pb is None else web.json_response(pb)

    async def stop_playback(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        pb = self.playbacks.get(pid)
        if pb is None:
            return err(404, "Playback not found")
        ch = self.pbx.channels.get(pb["target_uri"].split(":", 1)[1])
        self._playback_done(ch, pid) if ch is not None else self.playbacks.pop(pid, None)
        return web.Response(status=204)

    async def record(self, request: web.Request) -> web.Response:
        ch, bad = self._stasis_chan(request)
        if bad is not None or ch is None:
            return bad or err(404, "Channel not found")
        p, _ = await self.params(request)
        name, fmt = p.get("name", ""), p.get("format", "")
        if not name or not fmt:
            return err(400, "name and format are required")
        if name in self.recordings:
            return err(409, "Recording with the same name already in progress")
        rec = {"name": name, "format": fmt, "target_uri": f"channel:{ch.id}", "state": "recording",
               "duration": 0, "talking_duration": 0, "silence_duration": 0, "_start": time.time()}
        self.recordings[name] = rec
        self.pbx.ari({"type": "RecordingStarted", "recording": _public(rec)}, ch)
        return web.json_response({**_public(rec), "state": "queued"}, status=201)

    async def get_recording(self, request: web.Request) -> web.Response:
        rec = self.recordings.get(request.match_info["name"])
        return err(404, "Recording not found") if rec is None else web.json_response(_public(rec))

    async def stop_recording(self, request: web.Request) -> web.Response:
        rec = self.recordings.pop(request.match_info["name"], None)
        if rec is None:
            return err(404, "Recording not found")
        rec["state"] = "done"
        rec["duration"] = int(time.time() - rec["_start"])
        ch = self.pbx.channels.get(rec["target_uri"].split(":", 1)[1])
        self.pbx.ari({"type": "RecordingFinished", "recording": _public(rec)}, ch)
        return web.Response(status=204)

    async def cancel_recording(self, request: web.Request) -> web.Response:
        if self.recordings.pop(request.match_info["name"], None) is None:
            return err(404, "Recording not found")
        return web.Response(status=204)

    async def snoop(self, request: web.Request) -> web.Response:
        target = self._chan(request)
        if target is None:
            return err(404, "Channel not found")
        p, _ = await self.params(request)
        app = p.get("app", "")
        if not app:
            return err(400, "app is required")
        spy, whisper = p.get("spy", "none"), p.get("whisper", "none")
        if spy not in ("none", "in", "out", "both") or whisper not in ("none", "in", "out", "both"):
            return err(400, "Invalid direction specified")
        if spy == "none" and whisper == "none":
            return err(400, "Direction must be specified for at least spy or whisper")
        if p.get("snoopId") and self.pbx.find(p["snoopId"]):
            return err(409, "Channel with given unique ID already exists")
        pbx = self.pbx
        ch = pbx.new_channel(f"Snoop/{target.id}-{pbx.chan_suffix()}", "snoop", uniqueid=p.get("snoopId") or None,
                             state=UP, linkedid=target.linkedid)
        ch.call = target.call
        ch.variables["__SNOOP_SPY"] = spy
        ch.variables["__SNOOP_SIDE"] = "agent" if target.kind == "agent" else "customer"
        pbx.spies.append({"via": "snoop", "spy_channel": ch.name, "spy_uniqueid": ch.id, "target": target.id,
                          "target_channel": target.name, "spy": spy, "whisper": whisper,
                          "mode": "barge" if spy != "none" and whisper != "none" else
                          "whisper" if whisper != "none" else "listen"})
        self.engine.enter_stasis(ch, app, [a for a in p.get("appArgs", "").split(",") if a])
        return web.json_response(channel_json(ch))

    async def external_media(self, request: web.Request) -> web.Response:
        p, variables = await self.params(request)
        app, host, fmt = p.get("app", ""), p.get("external_host", ""), p.get("format", "")
        if not app:
            return err(400, "app cannot be empty")
        if not host:
            return err(400, "external_host cannot be empty")
        if not fmt:
            return err(400, "format cannot be empty")
        if fmt not in ("ulaw", "alaw"):
            return err(400, f"Unsupported format {fmt} (the simulator speaks ulaw and alaw)")
        if p.get("encapsulation", "rtp") != "rtp" or p.get("transport", "udp") != "udp":
            return err(400, "Unsupported encapsulation/transport (rtp over udp only)")
        rhost, _, rport = host.rpartition(":")
        if not rhost or not rport.isdigit():
            return err(400, "external_host must be HOST:PORT")
        if p.get("channelId") and self.pbx.find(p["channelId"]):
            return err(409, "Channel with given unique ID already exists")
        pbx = self.pbx
        ch = pbx.new_channel(f"UnicastRTP/{host}-0x{secrets.randbits(40):x}", "external",
                             uniqueid=p.get("channelId") or None, state=UP)
        for k, v in variables.items():
            pbx.setvar(ch, k, v)
        local_host, local_port = await self.media.create(ch, (rhost, int(rport)), fmt)
        ch.variables["UNICASTRTP_LOCAL_ADDRESS"] = local_host
        ch.variables["UNICASTRTP_LOCAL_PORT"] = str(local_port)
        self.engine.enter_stasis(ch, app, [])
        body = channel_json(ch)
        body["channelvars"] = {"UNICASTRTP_LOCAL_ADDRESS": local_host, "UNICASTRTP_LOCAL_PORT": str(local_port)}
        return web.json_response(body)

    async def set_variable(self, request: web.Request) -> web.Response:
        ch = self._chan(request)
        if ch is None:
            return err(404, "Channel not found")
        p, _ = await self.params(request)
        if not p.get("variable"):
            return err(400, "Variable name is required")
        self.pbx.setvar(ch, p["variable"], p.get("value", ""))
        return web.Response(status=204)

    async def get_variable(self, request: web.Request) -> web.Response:
        ch = self._chan(request)
        if ch is None:
            return err(404, "Channel not found")
        var = request.query.get("variable", "")
        if not var:
            return err(400, "Variable name is required")
        if var not in ch.variables:
            return err(404, "Provided variable was not found")
        return web.json_response({"value": ch.variables[var]})

    # -- bridges -------------------------------------------------------------------------------
    async def list_bridges(self, request: web.Request) -> web.Response:
        return web.json_response([bridge_json(b) for b in self.pbx.bridges.values()])

    async def create_bridge(self, request: web.Request) -> web.Response:
        p, _ = await self.params(request)
        bid = p.get("bridgeId") or None
        if bid and bid in self.pbx.bridges:
            return err(409, "Bridge with given id already exists")
        btype = p.get("type", "mixing").split(",")[0] or "mixing"
        if btype not in ("mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single"):
            return err(400, f"Invalid bridge type {btype}")
        apps = sorted({a for c in self.clients for a in c.apps})
        bridge = self.pbx.create_bridge(stasis=True, bridge_id=bid, name=p.get("name", ""), bridge_type=btype,
                                        creator=f"app:{apps[0]}" if apps else "Stasis")
        return web.json_response(bridge_json(bridge))

    def _bridge(self, request: web.Request) -> Bridge | None:
        return self.pbx.bridges.get(request.match_info["id"])

    async def get_bridge(self, request: web.Request) -> web.Response:
        b = self._bridge(request)
        return err(404, "Bridge not found") if b is None else web.json_response(bridge_json(b))

    async def destroy_bridge(self, request: web.Request) -> web.Response:
        b = self._bridge(request)
        if b is None:
            return err(404, "Bridge not found")
        self.pbx.destroy_bridge(b)
        return web.Response(status=204)

    async def _bridge_channels(self, request: web.Request) -> tuple[Bridge | None, list[Channel], web.Response | None]:
        b = self._bridge(request)
        if b is None:
            return None, [], err(404, "Bridge not found")
        p, _ = await self.params(request)
        ids = [c for c in p.get("channel", "").split(",") if c]
        if not ids:
            return None, [], err(400, "channel is required")
        chans = []
        for cid in ids:
            ch = self.pbx.channels.get(cid)
            if ch is None:
                return None, [], err(400, "Channel not found")
            chans.append(ch)
        return b, chans, None

    async def add_channel(self, request: web.Request) -> web.Response:
        b, chans, bad = await self._bridge_channels(request)
        if bad is not None or b is None:
            return bad or err(404, "Bridge not found")
        for ch in chans:
            if not ch.stasis_app:
                return err(422, "Channel not in Stasis application")
        for ch in chans:
            self.pbx.enter_bridge(b, ch)
        return web.Response(status=204)

    async def remove_channel(self, request: web.Request) -> web.Response:
        b, chans, bad = await self._bridge_channels(request)
        if bad is not None or b is None:
            return bad or err(404, "Bridge not found")
        for ch in chans:
            if ch.bridge is not b:
                return err(422, "Channel not in this bridge")
        for ch in chans:
            self.pbx.leave_bridge(ch)
        return web.Response(status=204)

    # -- events websocket ----------------------------------------------------------------------
    async def events(self, request: web.Request) -> web.StreamResponse:
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps:
            return err(400, "Missing required parameter app")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        client = AriApp(ws, apps, request.query.get("subscribeAll", "").lower() in ("true", "1", "yes"))
        self.clients.append(client)
        writer = asyncio.get_running_loop().create_task(client.writer())
        logger.info("ARI app(s) %s connected", apps)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.remove(client)
            client.queue.put_nowait(None)
            await writer
        return ws

    async def close_clients(self) -> None:
        for client in list(self.clients):
            await client.ws.close()

    def dtmf(self, ch: Channel, digit: str, duration_ms: int = 100) -> None:
        self.pbx.ari({"type": "ChannelDtmfReceived", "digit": digit, "duration_ms": duration_ms,
                      "channel": channel_json(ch), "timestamp": iso_now()}, ch)


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if not k.startswith("_")}
