"""ARI over aiohttp: the REST resources we use and the Stasis events WebSocket.

HTTP errors are translated once, here (``_request``): 404 -> :class:`ChannelNotFound`, other 4xx /
5xx -> :class:`ActionFailed` carrying ARI's ``message``; connection errors -> :class:`PbxUnavailable`,
timeouts -> :class:`PbxTimeout`. Paths and parameters follow the ARI REST API reference
(``/ari/channels``, ``/ari/bridges``, ``/ari/playbacks``, ``/ari/recordings``,
``/ari/events?app=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from core.config import PbxServer
from telephony.ami.client import backoff_delay
from telephony.ari.models import AriEvent, Bridge, Channel, LiveRecording, Playback
from telephony.exceptions import ActionFailed, ChannelNotFound, PbxAuthError, PbxTimeout, PbxUnavailable

logger = logging.getLogger(__name__)

Params = Mapping[str, str | int | float | bool | None]


def _clean(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class AriClient:
    def __init__(
        self,
        server: PbxServer,
        on_event: Callable[[AriEvent], None] | None = None,
        *,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.server = server
        self.app = server.ari_app
        self.base = server.ari_url.rstrip("/") + "/ari"
        self.on_event = on_event
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        self._headers = {"Authorization": aiohttp.encode_basic_auth(server.ari_username, server.ari_password)}
        self._session: aiohttp.ClientSession | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self.ws_connected = asyncio.Event()
        self.ws_connects = 0

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._ws_task is not None:
            self._ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down
                await self._ws_task
            self._ws_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- REST core ----------------------------------------------------------------------------
    async def _request(self, method: str, path: str, params: Params | None = None,
                       body: Mapping[str, Any] | None = None) -> Any:
        url = self.base + path
        try:
            async with self._http().request(method, url, params=_clean(params), json=body) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    try:
                        message = json.loads(text).get("message", text)
                    except (ValueError, AttributeError):
                        message = text
                    details = {"status": resp.status, "method": method, "path": path, "message": message}
                    if resp.status == 401:
                        raise PbxAuthError(f"ARI refused credentials for {self.server.ari_username!r}", details)
                    cls = ChannelNotFound if resp.status == 404 else ActionFailed
                    raise cls(f"ARI {method} {path}: {resp.status} {message}", details)
                if not text:
                    return None
                try:
                    return json.loads(text)
                except ValueError as exc:
                    raise ActionFailed(f"ARI {method} {path}: reply is not JSON", {"body": text[:200]}) from exc
        except TimeoutError as exc:
            raise PbxTimeout(f"ARI {method} {path}: no answer in {self.timeout}s") from exc
        except aiohttp.ClientError as exc:
            raise PbxUnavailable(f"ARI {method} {path}: {exc}") from exc

    async def _model(self, cls: Any, method: str, path: str, params: Params | None = None,
                     body: Mapping[str, Any] | None = None) -> Any:
        data = await self._request(method, path, params, body)
        try:
            return cls.from_json(data)
        except ValueError as exc:
            raise ActionFailed(f"ARI {method} {path}: unexpected reply ({exc})") from exc

    # -- channels --------------------------------------------------------------------------------
    async def list_channels(self) -> list[Channel]:
        data = await self._request("GET", "/channels")
        return [Channel.from_json(c) for c in (data or [])]

    async def get_channel(self, channel_id: str) -> Channel:
        return await self._model(Channel, "GET", f"/channels/{channel_id}")

    async def originate(self, endpoint: str, *, channel_id: str | None = None, app: str | None = None,
                        app_args: str | None = None, context: str | None = None, extension: str | None = None,
                        priority: int | None = None, caller_id: str | None = None, timeout_s: int | None = None,
                        variables: Mapping[str, str] | None = None) -> Channel:
        params = {"endpoint": endpoint, "channelId": channel_id, "app": app, "appArgs": app_args,
                  "context": context, "extension": extension, "priority": priority, "callerId": caller_id,
                  "timeout": timeout_s}
        body = {"variables": dict(variables)} if variables else None
        return await self._model(Channel, "POST", "/channels", params, body)

    async def hangup(self, channel_id: str, reason_code: int | None = None) -> None:
        await self._request("DELETE", f"/channels/{channel_id}", {"reason_code": reason_code})

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{channel_id}/answer")

    async def play(self, channel_id: str, media: str, playback_id: str | None = None) -> Playback:
        return await self._model(Playback, "POST", f"/channels/{channel_id}/play",
                                 {"media": media, "playbackId": playback_id})

    async def record(self, channel_id: str, name: str, fmt: str = "wav", if_exists: str = "overwrite") -> LiveRecording:
        return await self._model(LiveRecording, "POST", f"/channels/{channel_id}/record",
                                 {"name": name, "format": fmt, "ifExists": if_exists})

    async def snoop(self, channel_id: str, *, app: str | None = None, spy: str = "both", whisper: str = "none",
                    snoop_id: str | None = None) -> Channel:
        return await self._model(Channel, "POST", f"/channels/{channel_id}/snoop",
                                 {"app": app or self.app, "spy": spy, "whisper": whisper, "snoopId": snoop_id})

    async def external_media(self, external_host: str, fmt: str = "ulaw", *, app: str | None = None,
                             channel_id: str | None = None, direction: str = "both") -> Channel:
        return await self._model(Channel, "POST", "/channels/externalMedia",
                                 {"app": app or self.app, "external_host": external_host, "format": fmt,
                                  "channelId": channel_id, "encapsulation": "rtp", "transport": "udp",
                                  "direction": direction})

    # -- bridges ---------------------------------------------------------------------------------
    async def create_bridge(self, bridge_type: str = "mixing", bridge_id: str | None = None,
                            name: str | None = None) -> Bridge:
        return await self._model(Bridge, "POST", "/bridges", {"type": bridge_type, "bridgeId": bridge_id, "name": name})

    async def add_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self._request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": ",".join(channel_ids)})

    async def remove_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self._request("POST", f"/bridges/{bridge_id}/removeChannel", {"channel": ",".join(channel_ids)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{bridge_id}")

    # -- playbacks and recordings ----------------------------------------------------------------
    async def get_playback(self, playback_id: str) -> Playback:
        return await self._model(Playback, "GET", f"/playbacks/{playback_id}")

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", f"/playbacks/{playback_id}")

    async def get_live_recording(self, name: str) -> LiveRecording:
        return await self._model(LiveRecording, "GET", f"/recordings/live/{name}")

    async def stop_recording(self, name: str) -> None:
        await self._request("POST", f"/recordings/live/{name}/stop")

    # -- events WebSocket ------------------------------------------------------------------------
    def start_events(self) -> None:
        if self._ws_task is None:
            self._ws_task = asyncio.create_task(self._events_loop(), name=f"ari-ws-{self.server.name}")

    async def _events_loop(self) -> None:
        ws_url = self.base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/events"
        attempt = 0
        while True:
            try:
                async with self._http().ws_connect(ws_url, params={"app": self.app}, heartbeat=20,
                                                   timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                    attempt = 0
                    self.ws_connects += 1
                    self.ws_connected.set()
                    logger.info("%s: ARI events connected (app %s)", self.server.name, self.app)
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._dispatch(msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                logger.warning("%s: ARI events connection failed: %s", self.server.name, exc)
            self.ws_connected.clear()
            await asyncio.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng))
            attempt += 1

    def _dispatch(self, text: str) -> None:
        try:
            event = AriEvent.from_json(json.loads(text))
        except ValueError as exc:
            logger.warning("%s: dropped malformed ARI event: %s", self.server.name, exc)
            return
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("%s: ARI event handler failed on %s", self.server.name, event.type)
