"""AMI wire format: a pure parser / serializer pair and a tolerant incremental framer.

An AMI message is a block of ``Key: Value`` lines ended by an empty line, CRLF line endings
(Asterisk docs, "AMI v2 Specification"). Header names repeat (``Variable:`` on Originate,
``ChanVariable:`` on events), so a message keeps an ordered tuple of pairs, not a dict.

* :meth:`Message.parse` is strict: one message, every line ``Key: Value``; anything else is a
  ``ValueError`` (fixtures and tests use it; nothing half-parsed escapes).
* :meth:`Message.__bytes__` refuses CR / LF inside names or values: an unchecked caller-id such as
  ``"x\\r\\nAction: Hangup"`` would otherwise inject a second action into the manager session.
* :class:`Framer` is what reads a live socket (the client's panoramisk protocol feeds it, see
  ``telephony.ami.client``): it accepts any byte chunking (half messages, single bytes), bare
  ``\\n`` endings, the one-line ``Asterisk Call Manager/x.y`` banner, and drops (with a logged
  reason) every message holding a line without a colon, binary junk, a line over ``max_line``
  bytes, or more than ``max_message`` bytes in all, without ever raising or growing its buffers
  without bound.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

logger = logging.getLogger(__name__)

EOL = b"\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"
MAX_LINE = 64 * 1024
#: one message, all lines: a Status or CoreShowChannel with every channel variable is a few KB;
#: 256 KB is generous and still bounds what an endless, never-terminated message can hold.
MAX_MESSAGE = 256 * 1024
_END_COMMAND = "--END COMMAND--"
_BANNER_BYTES = BANNER_PREFIX.encode()
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # C0 controls but tab (CR/LF are stripped)


def _check(text: str, what: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError(f"AMI {what} must not contain CR or LF: {text[:60]!r}")


@dataclass(frozen=True)
class Message:
    headers: tuple[tuple[str, str], ...]
    body: str = field(default="")  # only for legacy "Response: Follows" command output

    def __post_init__(self) -> None:
        if not self.headers:
            raise ValueError("an AMI message needs at least one header")
        for key, value in self.headers:
            if not key or ":" in key or key != key.strip():
                raise ValueError(f"bad AMI header name {key!r}")
            _check(key, "header name")
            _check(value, "header value")

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def build(cls, first: tuple[str, str], **headers: str | int | Iterable[str]) -> Message:
        """``Message.build(("Action", "Originate"), Channel="PJSIP/x", Variable=["A=1", "B=2"])``."""
        pairs = [first]
        for key, value in headers.items():
            if isinstance(value, str | int):
                pairs.append((key, str(value)))
            else:
                pairs.extend((key, str(v)) for v in value)
        return cls(tuple(pairs))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Message:
        """From a dict-like message (panoramisk's); list values become repeated headers."""
        pairs: list[tuple[str, str]] = []
        for key, value in data.items():
            if key == "content":
                continue
            if isinstance(value, list | tuple):
                pairs.extend((str(key), str(v)) for v in value)
            else:
                pairs.append((str(key), "" if value is None else str(value)))
        return cls(tuple(pairs))

    @classmethod
    def parse(cls, data: bytes) -> Message:
        """Parse exactly one message (trailing blank line optional); ``ValueError`` on garbage."""
        if not isinstance(data, bytes | bytearray):
            raise ValueError("AMI data must be bytes")
        if b"\x00" in data:
            raise ValueError("AMI message contains NUL bytes")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"AMI message is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
        text = text.replace("\r\n", "\n").rstrip("\n")
        if not text:
            raise ValueError("empty AMI message")
        if "\n\n" in text:
            raise ValueError("more than one AMI message (blank line inside)")
        pairs = []
        for number, line in enumerate(text.split("\n"), 1):
            pair = split_header(line)
            if pair is None:
                raise ValueError(f"line {number} is not 'Key: Value': {line[:60]!r}")
            pairs.append(pair)
        return cls(tuple(pairs))

    def __bytes__(self) -> bytes:
        out = [f"{k}: {v}".encode() for k, v in self.headers]
        if self.body:
            out.extend(line.encode() for line in self.body.split("\n"))
            out.append(_END_COMMAND.encode())
        return EOL.join(out) + EOL + EOL

    @classmethod
    def _trusted(cls, headers: tuple[tuple[str, str], ...]) -> Message:
        """For the framer's fast path, which has already checked what ``__post_init__`` checks."""
        msg = object.__new__(cls)
        object.__setattr__(msg, "headers", headers)
        object.__setattr__(msg, "body", "")
        return msg

    # -- access ----------------------------------------------------------------------------
    @cached_property
    def _index(self) -> dict[str, str]:
        # first value per lower-cased name (reversed: the first occurrence is written last);
        # the normaliser reads ~7 headers of every event
        return {key.lower(): value for key, value in reversed(self.headers)}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._index.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def kind(self) -> str:
        return self.headers[0][0].lower()  # "event", "response" or "action"

    @property
    def name(self) -> str:
        return self.headers[0][1]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value per header (case preserved as sent)."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, value)
        return out


def split_header(line: str) -> tuple[str, str] | None:
    key, sep, value = line.partition(":")
    key = key.strip()
    if not sep or not key or " " in key:
        return None
    return key, value[1:] if value.startswith(" ") else value


class Framer:
    """Incremental AMI framing for a byte stream; never raises on input.

    A bad line (no colon, control bytes, longer than ``max_line``) or a message growing past
    ``max_message`` bytes *poisons* the message it is in: the reason is logged once, the lines read
    so far are freed, and everything up to that message's blank line is discarded. Delivering the
    rest of such a message would be worse than losing it: a Hangup whose ``Uniqueid`` line was
    garbled would end the wrong call, or none. Memory held is at most ``max_line`` (the partial
    line) plus ``max_message`` (the message being read), whatever the peer sends.
    """

    def __init__(self, max_line: int = MAX_LINE, max_message: int = MAX_MESSAGE) -> None:
        self.max_line = max_line
        self.max_message = max_message
        self.banner: str | None = None
        self.dropped: list[str] = []  # reasons, for tests and metrics (first 1000)
        self.dropped_count = 0
        self.peak_buffered = 0  # the most :attr:`buffered_bytes` ever held between two reads
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: discard until its newline
        self._pairs: list[tuple[str, str]] = []
        self._body: list[str] = []
        self._size = 0  # bytes of the message being read
        self._poison: str | None = None  # why the message being read will be dropped
        self._first_line = True

    @property
    def buffered_bytes(self) -> int:
        """What the framer holds right now (the partial line + the message being read)."""
        return len(self._buf) + self._size

    def feed(self, data: bytes) -> list[Message]:
        out: list[Message] = []
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return out  # still inside the over-long line: nothing is kept
            self._skipping = False
            data = data[newline + 1 :]
        self._buf.extend(data)
        if not self._pairs and self._poison is None and not self._first_line:
            self._fast_path(out)
            rest = self._buf
            if len(rest) <= self.max_message and b"\r\n\r\n" not in rest and b"\n\n" not in rest:
                return out  # only the start of the next message is left: it waits for its end here
        last = self._buf.rfind(b"\n")
        if last >= 0:
            lines = bytes(self._buf[:last]).split(b"\n")
            del self._buf[: last + 1]
            for raw in lines:
                if len(raw) > self.max_line:
                    self._spoil(f"line longer than {self.max_line} bytes")
                    continue
                message = self._line(raw[:-1] if raw.endswith(b"\r") else raw)
                if message is not None:
                    out.append(message)
        if len(self._buf) > self.max_line:
            self._spoil(f"line longer than {self.max_line} bytes")
            self._buf.clear()
            self._skipping = True
        held = len(self._buf) + self._size
        if held > self.peak_buffered:
            self.peak_buffered = held
        return out

    def _fast_path(self, out: list[Message]) -> None:
        """Whole ``\\r\\n``-framed messages between clean boundaries, without the per-line machine.

        Live traffic is almost all plain messages; the first block that is anything else (bare LF,
        control bytes, a colon-less line, a Follows body, an over-long block) stops the fast path
        and the line machine below takes it from there, so both paths give the same result.
        """
        data = bytes(self._buf)
        pos = 0
        while True:
            while data.startswith(b"\r\n", pos):
                pos += 2  # stray blank lines between messages end nothing (as in the line machine)
            end = data.find(b"\r\n\r\n", pos)
            if end < 0 or end - pos > self.max_message:
                break
            msg = _fast_message(data[pos:end], self.max_line)
            if msg is _NOT_FAST:
                break
            if msg is not None:
                out.append(msg)  # type: ignore[arg-type]
            pos = end + 4
        if pos:
            del self._buf[:pos]

    def _line(self, raw: bytes) -> Message | None:
        if not raw or raw.isspace():
            return self._finish()
        if self._first_line:
            self._first_line = False
            if not self._pairs and raw.startswith(_BANNER_BYTES):
                self.banner = raw[len(_BANNER_BYTES) :].decode("utf-8", errors="replace").strip()
                return None
        if self._poison is not None:
            return None  # the rest of a message already being dropped
        self._size += len(raw) + 2
        if self._size > self.max_message:
            self._spoil(f"message longer than {self.max_message} bytes")
            return None
        # Not UTF-8 is not garbage (a latin-1 CallerIDName is real traffic): decode with
        # replacement. Control bytes are: text protocols never carry them.
        text = raw.decode("utf-8", errors="replace")
        if _CONTROL.search(text):
            self._spoil(f"binary line {text[:40]!r}")
            return None
        pairs = self._pairs
        in_follows = bool(pairs) and pairs[0] == ("Response", "Follows")
        pair = None if (in_follows and self._body) else split_header(text)
        if pair is None:
            if in_follows:
                if text != _END_COMMAND:
                    self._body.append(text)
                return None
            self._spoil(f"header without colon {text[:60]!r}")
            return None
        pairs.append(pair)
        return None

    def _finish(self) -> Message | None:
        pairs, body, poisoned = self._pairs, self._body, self._poison
        self._pairs, self._body, self._size, self._poison = [], [], 0, None
        if not pairs or poisoned is not None:
            return None
        try:
            return Message(tuple(pairs), "\n".join(body))
        except ValueError as exc:
            self._spoil(f"malformed message: {exc}")
            self._poison = None  # already ended
            return None

    def _spoil(self, reason: str) -> None:
        """Drop the message being read (once: later bad lines of the same message add nothing)."""
        if self._poison is not None:
            return
        first = f"{self._pairs[0][0]}: {self._pairs[0][1]}"[:60] if self._pairs else "no header yet"
        self._poison = reason
        self._pairs, self._body = [], []
        self._size = 0
        self.dropped_count += 1
        logger.warning("AMI framing: dropped a message (%s): %s", first, reason)
        if len(self.dropped) < 1000:
            self.dropped.append(reason)


_NOT_FAST = object()
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FOLLOWS = b"Response: Follows"
# A header line as split_header reads it: key without blanks or colon, one optional space.
_HEADER_LINE = re.compile(r"^([^:\s]+): ?(.*)$", re.MULTILINE)


def _fast_message(block: bytes, max_line: int) -> Message | None | object:
    """One CRLF-framed block as a message, or ``_NOT_FAST`` if it needs the careful path.

    One regex pass in C over the block: every line must be ``Key: Value`` with a key free of
    blanks and colons (what :func:`split_header` accepts), otherwise the match count falls short
    of the line count and the careful path decides.
    """
    if not block:
        return None
    crlf = block.count(b"\r\n")
    if (block.count(b"\n") != crlf or block.count(b"\r") != crlf or _CONTROL_BYTES.search(block)
            or block.startswith(_FOLLOWS)):
        return _NOT_FAST
    if len(block) > max_line and any(len(raw) > max_line for raw in block.split(b"\r\n")):
        return _NOT_FAST
    pairs = _HEADER_LINE.findall(block.decode("utf-8", errors="replace").replace("\r\n", "\n"))
    if len(pairs) != crlf + 1:
        return _NOT_FAST
    return Message._trusted(tuple(pairs))


def parse_transcript(data: bytes) -> list[Message]:
    """All messages of a recorded transcript (tolerant framing, like a live socket)."""
    framer = Framer()
    messages = framer.feed(data)
    messages.extend(framer.feed(b"\r\n\r\n"))  # flush a final message without its blank line
    return messages
