"""AMI framing on the server side: an incremental parser and the message formatter.

AMI messages are ``Key: Value`` lines ended by CRLF, a blank line ending each message
(docs.asterisk.org, "AMI v2 Specification"). Asterisk caps a message at 128 headers
(AST_MAX_MANHEADERS) and a line at a few KB; we accept lines up to 64 KB and drop, with a logged
reason, anything larger or malformed instead of failing the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)

MAX_LINE = 65536
MAX_HEADERS = 128
EOL = "\r\n"


class AmiFramer:
    """Feed bytes, get complete messages as ordered (key, value) lists."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._headers: list[tuple[str, str]] = []
        self._discarding = False  # inside a message we already decided to drop
        self.dropped: list[str] = []  # reasons, for logs and tests

    def feed(self, data: bytes) -> list[list[tuple[str, str]]]:
        self._buf += data
        out: list[list[tuple[str, str]]] = []
        start = 0
        while True:
            nl = self._buf.find(b"\n", start)
            if nl < 0:
                break
            raw = bytes(self._buf[start:nl])
            start = nl + 1
            if len(raw) > MAX_LINE:
                self._drop(f"line of {len(raw)} bytes exceeds {MAX_LINE}")
                continue
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line.strip():
                if self._headers and not self._discarding:
                    out.append(self._headers)
                self._headers = []
                self._discarding = False
                continue
            if self._discarding:
                continue
            key, colon, value = line.partition(":")
            if not colon or not key.strip() or any(ord(c) < 32 for c in key):
                self._drop(f"header line without 'Key:' ({line[:40]!r})")
                continue
            if len(self._headers) >= MAX_HEADERS:
                self._drop(f"more than {MAX_HEADERS} headers")
                continue
            self._headers.append((key.strip(), value.strip()))
        del self._buf[:start]
        if len(self._buf) > MAX_LINE:  # an endless line: throw it away, keep listening
            self._buf.clear()
            self._drop(f"unterminated line over {MAX_LINE} bytes")
        return out

    def _drop(self, reason: str) -> None:
        self._discarding = True
        self._headers = []
        self.dropped.append(reason)
        logger.warning("AMI: dropping message: %s", reason)


def format_message(fields: Iterable[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}{EOL}" for k, v in fields) + EOL


def get(headers: list[tuple[str, str]], key: str, default: str = "") -> str:
    """Header lookup, case-insensitive like manager.c's astman_get_header (first one wins)."""
    low = key.lower()
    for k, v in headers:
        if k.lower() == low:
            return v
    return default


def get_all(headers: list[tuple[str, str]], key: str) -> list[str]:
    low = key.lower()
    return [v for k, v in headers if k.lower() == low]
