"""The wallboard's server side through Flask's test client: roles on the page, the SSE push
endpoint and the monitor callback (MonitorCommand on the telephony stream + audit row)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from app.push import hub
from core import events as ev
from dialer.aggregator import CHANNEL, SNAPSHOT_KEY
from telephony.streams import COMMANDS_STREAM, decode
from tests.integration.test_security_guard import callback_body, post_callback, signed_in
from tests.integration.wallboard_fixtures import live_floor, make_floor

MONITOR_OUTPUT = "wallboard-monitor-result.children"


def result_text(response) -> str:
    return str(response.get_json()["response"]["wallboard-monitor-result"]["children"])


def monitor_body(request: object) -> dict:
    body = callback_body(MONITOR_OUTPUT, [])
    body["inputs"] = [{"id": "wallboard-monitor-request", "property": "data", "value": request}]
    body["changedPropIds"] = ["wallboard-monitor-request.data"]
    return body


@pytest.mark.parametrize("path", ["/wallboard", "/wallboard/7", "/wallboard/tv"])
def test_page_roles(web_app, path: str) -> None:
    assert web_app.test_client().get(path).status_code == 302  # to the login page
    assert signed_in(web_app, "agent").get(path).status_code == 403
    for role in ("supervisor", "manager", "admin"):
        assert signed_in(web_app, role).get(path).status_code == 200
    assert signed_in(web_app, "admin").get("/wallboard/7/extra").status_code == 404


def test_push_endpoint_refuses_anonymous_and_agents(web_app) -> None:
    anon = web_app.test_client().get("/api/push/wallboard")
    assert anon.status_code == 401 and anon.get_json()["error"]
    agent = signed_in(web_app, "agent").get("/api/push/wallboard")
    assert agent.status_code == 403 and b"data:" not in agent.get_data()


def test_push_endpoint_streams_the_stored_then_published_snapshots(web_app, web_redis) -> None:
    web_redis.set(SNAPSHOT_KEY, json.dumps({"seq": 1, "campaigns": []}))
    client = signed_in(web_app, "supervisor")
    response = client.get("/api/push/wallboard", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry: ")
    first = next(chunks)
    assert first.startswith(b"id: ") and b'data: {"seq": 1' in first

    def publish_later() -> None:
        time.sleep(0.3)
        web_redis.publish(CHANNEL, json.dumps({"seq": 2, "campaigns": []}))

    threading.Thread(target=publish_later, daemon=True).start()
    second = next(chunks)
    assert b'"seq": 2' in second
    assert hub(web_app).clients == 1
    response.close()
    assert hub(web_app).clients == 0  # the generator ended: nothing kept per gone client
    hub(web_app).stop()


def test_monitor_callback_is_refused_to_agents(web_app, web_redis) -> None:
    agent = signed_in(web_app, "agent")
    response = post_callback(agent, monitor_body({"agent_id": 1, "mode": "listen"}))
    assert response.status_code == 403
    assert web_redis.xlen(COMMANDS_STREAM) == 0


@pytest.mark.parametrize("mode, options", [("listen", "q"), ("whisper", "qw"), ("barge", "qB")])
def test_monitor_sends_the_command_and_audits(web_app, web_redis, db_committed: sa.Engine, web_users,
                                              mode: str, options: str) -> None:
    from telephony.ports import CHANSPY_OPTIONS

    floor = make_floor(db_committed)
    live_floor(web_redis, floor)
    supervisor = signed_in(web_app, "supervisor")
    response = post_callback(supervisor, monitor_body({"agent_id": floor.agent_ids[0], "mode": mode,
                                                       "endpoint": "PJSIP/sup77", "nonce": 1}))
    assert response.status_code == 200, response.get_data()[:300]
    assert "calling PJSIP/sup77" in result_text(response)
    entries = web_redis.xrange(COMMANDS_STREAM)
    assert len(entries) == 1
    command = decode(entries[0][1])
    assert isinstance(command, ev.MonitorCommand)
    assert (command.call_id, command.supervisor_endpoint, command.mode, command.pbx) == ("c-ann", "PJSIP/sup77", mode,
                                                                                        "sim1")
    assert CHANSPY_OPTIONS[command.mode] == options  # what telephony hands ChanSpy (tested there)
    with db_committed.connect() as conn:
        row = conn.execute(sa.text("SELECT actor_id, action, object_type, object_id, after FROM audit_log"
                                   " WHERE action LIKE 'monitor.%'")).one()
    assert row.actor_id == web_users["supervisor"] and row.action == f"monitor.{mode}"
    assert row.object_id == str(floor.agent_ids[0]) and row.after["call_id"] == "c-ann"


@pytest.mark.parametrize(
    "request_, fragment",
    [
        ({"agent_id": "x", "mode": "listen"}, "agent_id must be an integer"),
        ({"agent_id": 1, "mode": "shout"}, "mode must be one of"),
        ({"agent_id": 1, "mode": "listen", "endpoint": "PJSIP/a,b)|System(rm"}, "endpoint must look like"),
        ({"agent_id": 999999, "mode": "listen"}, "not logged in"),
        ("garbage", "must be an object"),
    ],
)
def test_bad_monitor_requests_get_a_clear_message(web_app, web_redis, request_: object, fragment: str) -> None:
    response = post_callback(signed_in(web_app, "admin"), monitor_body(request_))
    assert response.status_code == 200 and fragment in result_text(response)
    assert web_redis.xlen(COMMANDS_STREAM) == 0


def test_monitor_of_an_agent_not_on_a_call(web_app, web_redis, db_committed: sa.Engine) -> None:
    floor = make_floor(db_committed)
    live_floor(web_redis, floor)
    response = post_callback(signed_in(web_app, "manager"), monitor_body({"agent_id": floor.agent_ids[1],
                                                                          "mode": "barge"}))
    assert "not on a call" in result_text(response)
    assert web_redis.xlen(COMMANDS_STREAM) == 0
