"""Run a simulator in a background thread for tests (any test, including other packages').

    with running_simulator({"sim": {"time_scale": 20}}, seed=1) as sim:
        sim.ami_port, sim.ari_port, sim.control("POST", "/_force", {"outcomes": ["busy"]})
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .runner import Simulator, SimulatorConfig
from .scenario import Scenario


class SimulatorThread:
    def __init__(self, scenario: dict[str, Any] | None = None, *, seed: int = 0, data_dir: Path | None = None,
                 ami_port: int = 0, ari_port: int = 0) -> None:
        self._scenario = Scenario.parse(scenario or {})
        self._config = SimulatorConfig(ami_port=ami_port, ari_port=ari_port, seed=seed,
                                       data_dir=data_dir or Path(tempfile.gettempdir()) / "pydialer-sim")
        self.loop = asyncio.new_event_loop()
        self.sim: Simulator | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="simulator", daemon=True)

    def start(self) -> SimulatorThread:
        self._thread.start()
        self.sim = Simulator(self._scenario, self._config)
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        if self.sim is not None:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the simulator's loop (its state is not thread-safe)."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    @property
    def ami_port(self) -> int:
        assert self.sim is not None
        return self.sim.ami_port

    @property
    def ari_port(self) -> int:
        assert self.sim is not None
        return self.sim.ari_port

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.ari_port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@contextmanager
def running_simulator(scenario: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[SimulatorThread]:
    thread = SimulatorThread(scenario, **kwargs).start()
    try:
        yield thread
    finally:
        thread.stop()
