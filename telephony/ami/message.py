"""AMI wire format: a pure parser / serializer pair and a tolerant incremental framer.

An AMI message is a block of ``Key: Value`` lines ended by an empty line, CRLF line endings
(Asterisk docs, "AMI v2 Specification"). Header names repeat (``Variable:`` on Originate,
``ChanVariable:`` on events), so a message keeps an ordered tuple of pairs, not a dict.

* :meth:`Message.parse` is strict: one message, every line ``Key: Value``; anything else is a
  ``ValueError`` (fixtures and tests use it; nothing half-parsed escapes).
* :meth:`Message.__bytes__` refuses CR / LF inside names or values: an unchecked caller-id such as
  ``"x\\r\\nAction: Hangup"`` would otherwise inject a second action into the manager session.
* :class:`Framer` is what reads a live socket: it accepts any byte chunking (half messages,
  single bytes), bare ``\\n`` endings, the one-line ``Asterisk Call Manager/x.y`` banner, and
  drops (with a logged reason) lines without a colon, binary junk and lines over
  ``max_line`` bytes, without ever raising or growing its buffer without bound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

EOL = b"\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"
MAX_LINE = 64 * 1024
_END_COMMAND = "--END COMMAND--"


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

    # -- access ----------------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

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
    """Incremental AMI framing for a byte stream; never raises on input."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.banner: str | None = None
        self.dropped: list[str] = []  # reasons, for tests and metrics (bounded)
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: discard until its newline
        self._pairs: list[tuple[str, str]] = []
        self._body: list[str] = []
        self._first_line = True

    def feed(self, data: bytes) -> list[Message]:
        self._buf.extend(data)
        out: list[Message] = []
        last = self._buf.rfind(b"\n")
        if last < 0:
            if len(self._buf) > self.max_line:
                self._drop(f"line longer than {self.max_line} bytes")
                self._buf.clear()
                self._skipping = True
            return out
        lines = bytes(self._buf[:last]).split(b"\n")
        del self._buf[: last + 1]
        for raw in lines:
            if self._skipping:
                self._skipping = False  # the tail of an over-long line
                continue
            if len(raw) > self.max_line:
                self._drop(f"line longer than {self.max_line} bytes")
                continue
            message = self._line(raw.rstrip(b"\r"))
            if message is not None:
                out.append(message)
        if len(self._buf) > self.max_line:
            self._drop(f"line longer than {self.max_line} bytes")
            self._buf.clear()
            self._skipping = True
        return out

    def _line(self, raw: bytes) -> Message | None:
        text = raw.decode("utf-8", errors="replace")
        if self._first_line:
            self._first_line = False
            if not self._pairs and text.startswith(BANNER_PREFIX):
                self.banner = text[len(BANNER_PREFIX) :].strip()
                return None
        if not text or text.isspace():
            return self._finish()
        if "\x00" in text:
            self._drop(f"binary line {text[:40]!r}")
            return None
        pairs = self._pairs
        in_follows = bool(pairs) and pairs[0] == ("Response", "Follows")
        pair = None if (in_follows and self._body) else split_header(text)
        if pair is None:
            if in_follows:
                if text != _END_COMMAND:
                    self._body.append(text)
                return None
            self._drop(f"header without colon {text[:60]!r}")
            return None
        pairs.append(pair)
        return None

    def _finish(self) -> Message | None:
        pairs, body = self._pairs, self._body
        self._pairs, self._body = [], []
        if not pairs:
            return None
        try:
            return Message(tuple(pairs), "\n".join(body))
        except ValueError as exc:
            self._drop(f"malformed message: {exc}")
            return None

    def _drop(self, reason: str) -> None:
        logger.warning("AMI framing: dropped %s", reason)
        if len(self.dropped) < 1000:
            self.dropped.append(reason)


def parse_transcript(data: bytes) -> list[Message]:
    """All messages of a recorded transcript (tolerant framing, like a live socket)."""
    framer = Framer()
    messages = framer.feed(data)
    messages.extend(framer.feed(b"\r\n\r\n"))  # flush a final message without its blank line
    return messages
