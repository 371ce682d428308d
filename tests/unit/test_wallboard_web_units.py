"""Pure pieces of the wallboard's web side: SSE framing, the hub's hand-off, monitor parsing,
path templates."""

from __future__ import annotations

import threading
import time

import pytest

from app.push import PushHub, sse_message
from app.registry import template_matches
from app.wallboard.monitor import MonitorRequest, default_endpoint
from core.exceptions import ValidationError


def test_sse_message_framing() -> None:
    assert sse_message('{"a":1}', 7) == b'id: 7\ndata: {"a":1}\n\n'
    # a newline inside data would end the event early (WHATWG HTML §9.2.6): never emitted
    assert sse_message("x\ny\r", None) == b"data: x y\n\n"


def test_hub_hands_the_latest_snapshot_to_waiters_without_queues() -> None:
    hub = PushHub(redis_factory=lambda: None)
    assert hub.wait_newer(0, 0.01) == (0, None)
    hub.offer("one")
    hub.offer("two")  # a slow client skips "one": no per-client backlog
    seq, message = hub.wait_newer(0, 0.01)
    assert seq == 2 and message is not None and b"data: two" in message
    got: list[bytes | None] = []
    waiter = threading.Thread(target=lambda: got.append(hub.wait_newer(2, 5)[1]))
    waiter.start()
    time.sleep(0.05)
    hub.offer("three")
    waiter.join(2)
    assert got and got[0] is not None and b"three" in got[0]


def test_monitor_request_parsing() -> None:
    req = MonitorRequest.parse({"agent_id": "12", "mode": "barge", "endpoint": " PJSIP/sup3 "}, 3)
    assert req == MonitorRequest(12, "barge", "PJSIP/sup3")
    assert MonitorRequest.parse({"agent_id": 1, "mode": "listen"}, 9).endpoint == default_endpoint(9) == "PJSIP/sup9"
    for bad in ({"agent_id": None, "mode": "listen"}, {"agent_id": 1, "mode": "spy"}, [1],
                {"agent_id": 1, "mode": "listen", "endpoint": "PJSIP/x,ChanSpy(all)"},
                {"agent_id": 1, "mode": "listen", "endpoint": "Console/dsp"}):
        with pytest.raises(ValidationError):
            MonitorRequest.parse(bad, 1)


@pytest.mark.parametrize(("path", "ok"), [("/wallboard/3", True), ("/wallboard/tv", True), ("/wallboard", False),
                                          ("/wallboard/3/x", False), ("/other/3", False), ("/wallboard/", False)])
def test_path_templates(path: str, ok: bool) -> None:
    assert template_matches("/wallboard/<campaign>", path) is ok


@pytest.mark.parametrize(("text", "seconds"), [(None, None), ("", None), ("abc", None), ("nan", None),
                                                ("5", 5.0), ("0.01", 1.0), ("99999", 600.0)])
def test_tv_rotation_query_is_clamped(text: str | None, seconds: float | None) -> None:
    from app.wallboard.layout import rotate_seconds

    assert rotate_seconds(text) == seconds
