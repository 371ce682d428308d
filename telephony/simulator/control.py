"""The record of every request the simulator received (served as ``GET /_requests``)."""

from __future__ import annotations

import time
from typing import Any

_SECRET_KEYS = {"secret", "key", "password", "authorization"}


class RequestLog:
    def __init__(self, limit: int = 100_000) -> None:
        self.entries: list[dict[str, Any]] = []
        self.limit = limit
        self._next = 0

    def add(self, proto: str, **data: Any) -> dict[str, Any]:
        entry = {"seq": self._next, "t": time.time(), "proto": proto, **data}
        self._next += 1
        self.entries.append(entry)
        if len(self.entries) > self.limit:  # bounded: a long benchmark must not eat the memory
            del self.entries[: len(self.entries) - self.limit]
        return entry

    def since(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["seq"] >= seq]

    def clear(self) -> None:
        self.entries.clear()


def mask(headers: list[tuple[str, str]]) -> list[list[str]]:
    """Headers as JSON pairs with secrets blanked: the log is served over HTTP."""
    return [[k, "***" if k.lower() in _SECRET_KEYS else v] for k, v in headers]
