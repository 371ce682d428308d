"""Where each role lands after signing in: supervisors and managers on live data (the wallboard),
admins and agents on the start page; an explicit ``next`` always wins."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from app.push import hub
from dialer.aggregator import Aggregator
from tests.conftest import WEB_USERS, web_login
from tests.integration.wallboard_fixtures import live_floor, make_floor


@pytest.mark.parametrize("next_url", [None, "/"])  # "/" is what the guard sends for a bare http://host:port
def test_supervisor_without_next_lands_on_the_wallboard_with_live_data(
    web_app, web_redis, db_committed: sa.Engine, next_url: str | None
) -> None:
    floor = make_floor(db_committed)
    live_floor(web_redis, floor)
    agg = Aggregator(db_committed, web_redis)  # what `python -m dialer.aggregator` does every second
    agg.refresh_slow(time.time(), force=True)
    agg.publish(time.time())

    client = web_app.test_client()
    response = web_login(client, WEB_USERS["supervisor"], next_url=next_url)
    assert response.status_code == 302 and response.headers["Location"] == "/wallboard"
    assert client.get("/wallboard").status_code == 200

    # The page's one EventSource: the first snapshot shows the floor (3 agents, Ann in a call).
    stream = client.get("/api/push/wallboard", buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    chunks = iter(stream.response)
    next(chunks)  # "retry: ..."
    event = next(chunks).decode()
    data = json.loads("".join(line[len("data: "):] for line in event.splitlines() if line.startswith("data: ")))
    campaign = next(c for c in data["campaigns"] if c["id"] == floor.campaign_id)
    assert campaign["agents"]["logged_in"] == 3 and campaign["calls"]["in_progress"] == 1
    assert {a["id"] for a in data["agents"]} >= set(floor.agent_ids)
    stream.close()
    hub(web_app).stop()


@pytest.mark.parametrize("role, landing", [("manager", "/wallboard"), ("admin", "/"), ("agent", "/")])
def test_other_roles_land_where_they_work(web_app, role: str, landing: str) -> None:
    client = web_app.test_client()
    response = web_login(client, WEB_USERS[role])
    assert response.status_code == 302 and response.headers["Location"] == landing
    assert client.get(landing).status_code == 200  # never a landing page the role may not open


def test_an_explicit_next_wins_over_the_landing_page(web_app) -> None:
    client = web_app.test_client()
    assert web_login(client, WEB_USERS["supervisor"], next_url="/live").headers["Location"] == "/live"
    other = web_app.test_client()
    assert web_login(other, WEB_USERS["supervisor"], next_url="//evil.example").headers["Location"] == "/wallboard"


def test_a_signed_in_supervisor_opening_login_goes_to_the_landing_page(web_app) -> None:
    client = web_app.test_client()
    web_login(client, WEB_USERS["supervisor"])
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/wallboard"
