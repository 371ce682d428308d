"""Wires the simulator together: one PBX model, the AMI server, the ARI + control HTTP server."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .ami_server import AmiServer
from .ari_server import AriServer
from .audio import TtsCache
from .calls import CallEngine
from .control import RequestLog
from .control_http import add_control_routes
from .external_media import ExternalMedia
from .pbx import Pbx
from .scenario import Scenario

logger = logging.getLogger(__name__)


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    ami_port: int = 5038
    ari_port: int = 8088
    ami_user: str = "pydialer"
    ami_secret: str = "pydialer"
    ari_user: str = "pydialer"
    ari_password: str = "pydialer"
    seed: int = 0
    data_dir: Path = Path("var/simulator")
    asterisk_version: str = "20.10.0"
    ami_version: str = "9.0.0"


class Simulator:
    def __init__(self, scenario: Scenario, config: SimulatorConfig) -> None:
        self.config = config
        self.log = RequestLog()
        self.pbx = Pbx(scenario, config.seed, ami_version=config.ami_version,
                       asterisk_version=config.asterisk_version)
        self.engine = CallEngine(self.pbx)
        self.media = ExternalMedia(self.pbx, TtsCache(config.data_dir / "tts"))
        self.ami = AmiServer(self.pbx, self.engine, self.log, username=config.ami_user, secret=config.ami_secret)
        self.ari = AriServer(self.pbx, self.engine, self.media, self.log, username=config.ari_user,
                             password=config.ari_password)
        self._runner: web.AppRunner | None = None
        self.ari_port = config.ari_port
        self.lag = LagMonitor()

    async def start(self) -> None:
        self.lag.start()
        await self.ami.start(self.config.host, self.config.ami_port)
        app = web.Application(middlewares=[self.ari.middleware], client_max_size=1024 * 1024)
        self.ari.routes(app)
        add_control_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        # SO_REUSEADDR so a restarted simulator gets the same port while old sockets sit in TIME_WAIT.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.ari_port))
        self.ari_port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        logger.info("ARI + control API listening on %s:%d", self.config.host, self.ari_port)

    @property
    def ami_port(self) -> int:
        return self.ami.port

    async def stop(self) -> None:
        self.lag.stop()
        self.pbx.reset()
        await self.ami.stop()
        await self.ari.close_clients()
        if self._runner is not None:
            await self._runner.cleanup()

    def stats(self) -> dict[str, Any]:
        return {"channels": len(self.pbx.channels), "bridges": len(self.pbx.bridges),
                "ami": self.ami.status(), "ari_events_sent": self.ari.events_sent, "rtp": self.media.status(),
                "requests": len(self.log.entries), "peak_channels": self.pbx.peak_channels,
                "loop_lag_ms": self.lag.snapshot()}


class LagMonitor:
    """Event-loop lag: how late a 50 ms timer fires. The simulator's health under load."""

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.samples: list[float] = []
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.period
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.samples.append(max(0.0, now - self._due))
        if len(self.samples) > 20000:
            del self.samples[:10000]
        self._due = now + self.period
        self._handle = loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def snapshot(self) -> dict[str, float]:
        if not self.samples:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        xs = sorted(self.samples)
        return {"p50": round(xs[len(xs) // 2] * 1000, 2), "p99": round(xs[int(len(xs) * 0.99)] * 1000, 2),
                "max": round(xs[-1] * 1000, 2)}

    def reset(self) -> None:
        self.samples.clear()
