"""Loading the recorded AMI transcripts under tests/fixtures/ami (shared by unit and integration tests)."""

from __future__ import annotations

from pathlib import Path

from telephony.ami.message import Framer, Message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def raw(name: str) -> bytes:
    """The transcript with comment lines removed and CRLF line endings, as Asterisk sends it."""
    lines = [ln for ln in (FIXTURES / name).read_text().split("\n") if not ln.startswith("#")]
    return "\r\n".join(lines).encode()


def load(name: str) -> tuple[str | None, list[Message]]:
    framer = Framer()
    messages = framer.feed(raw(name) + b"\r\n\r\n")
    assert not framer.dropped, framer.dropped
    return framer.banner, messages


def server_messages(name: str) -> list[Message]:
    return [m for m in load(name)[1] if m.kind != "action"]
