"""Rows the dialer runtime tests need (a campaign, agents, call attempts)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from core.models import Campaign, User
from dialer import cdr


def make_campaign(engine: sa.Engine, **settings: object) -> int:
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(Campaign).values(name=f"c-{uuid.uuid4().hex[:8]}", **settings).returning(Campaign.id)
        ).scalar_one()


def make_agents(engine: sa.Engine, n: int) -> list[int]:
    with engine.begin() as conn:
        return [
            conn.execute(sa.insert(User).values(username=f"agent{uuid.uuid4().hex[:8]}", password_hash="x",
                                                role="agent").returning(User.id)).scalar_one()
            for _ in range(n)
        ]


def make_attempt(engine: sa.Engine, campaign_id: int, phone: str = "+12025550100") -> str:
    call_id = str(uuid.uuid4())
    with engine.begin() as conn:
        cdr.create_attempt(conn, call_id=call_id, campaign_id=campaign_id, phone_e164=phone, pbx="sim1",
                           dial_method="predictive")
    return call_id


_ZONES = ("Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
          "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London", "Europe/Berlin",
          "Europe/Athens", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok",
          "Asia/Shanghai", "Asia/Tokyo", "Australia/Brisbane", "Pacific/Noumea", "Pacific/Auckland")


def open_zone() -> str:
    """A zone where it is now mid-day, so calling-hour rules never make a test depend on the hour."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC)
    return next(z for z in _ZONES if 10 <= now.astimezone(ZoneInfo(z)).hour <= 18)


def make_leads(engine: sa.Engine, campaign_id: int, n: int, *, first: int = 100) -> list[int]:
    from core.models import Lead, LeadList

    zone = open_zone()
    with engine.begin() as conn:
        list_id = conn.execute(sa.insert(LeadList).values(campaign_id=campaign_id, name=f"l-{uuid.uuid4().hex[:6]}")
                               .returning(LeadList.id)).scalar_one()
        return [
            conn.execute(sa.insert(Lead).values(list_id=list_id, phone_e164=f"+1202555{first + i:04d}", timezone=zone)
                         .returning(Lead.id)).scalar_one()
            for i in range(n)
        ]


# A simulator scenario at 10x speed for the end-to-end dialing tests: mostly answered calls with
# some machines and failures, AMD off (the virtual agents take the humans).
SIM_SCENARIO: dict[str, Any] = {
    "outcomes": {"answer_prob": 0.6, "machine_prob": 0.15, "fail_prob": 0.15},
    "timing": {"ring_live_s": {"dist": "uniform", "lo": 5, "hi": 20}, "ring_machine_s": 10.0,
               "fail_detect_s": 5.0, "no_answer_timeout_s": 40.0,
               "talk_s": {"dist": "uniform", "lo": 20, "hi": 60}},
    "amd": {"enabled": False},
    "sim": {"time_scale": 10, "patience_s": 600, "agent_answer_s": 0.2},
}
