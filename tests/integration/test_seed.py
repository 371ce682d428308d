"""The demo seed on a freshly migrated database: content, validity, idempotence."""

from __future__ import annotations

import collections

import phonenumbers
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from phonenumbers import timezone as pn_timezone

from core import migrate
from core.config import Settings
from core.db import make_engine
from core.passwords import needs_rehash, verify_password
from core.seed import LEAD_COUNT, generate_leads, seed

CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TABLES = (
    "users", "teams", "campaigns", "lists", "leads", "dnc_entries", "dispositions", "pause_codes",
    "campaign_recycle_rules", "state_calling_rules", "audit_log",
)


def _snapshot(engine: sa.Engine) -> dict[str, object]:
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        # A content fingerprint, not only counts: a re-run must not rewrite rows either.
        digest = conn.execute(
            sa.text("SELECT md5(string_agg(phone_e164 || status || attempts::text || updated_at::text, ',' ORDER BY id)) FROM leads")
        ).scalar_one()
        users = conn.execute(sa.text("SELECT string_agg(username || password_hash, ',' ORDER BY id) FROM users")).scalar_one()
    return {"counts": counts, "leads": digest, "users": users}


@pytest.mark.slow
def test_full_seed_twice_changes_nothing(empty_pg_url: str, base_settings: Settings) -> None:
    migrate.upgrade(empty_pg_url)
    engine = make_engine(empty_pg_url)
    try:
        first = seed(engine, base_settings)
        assert first["created"]["leads"] == LEAD_COUNT
        assert first["created"]["users"] == 23 and first["created"]["dnc_entries"] == 300
        after_first = _snapshot(engine)

        second = seed(engine, base_settings)
        assert second["created"] == {}
        assert second["totals"] == first["totals"]
        assert _snapshot(engine) == after_first  # includes audit_log: no second "seed.run" row

        with engine.connect() as conn:
            users = dict(conn.execute(sa.text("SELECT username, password_hash FROM users")).all())
            roles = collections.Counter(conn.execute(sa.text("SELECT role FROM users")).scalars())
            methods = set(conn.execute(sa.text("SELECT dial_method FROM campaigns")).scalars())
            dnc_on_leads = conn.execute(
                sa.text("SELECT count(DISTINCT d.phone_e164) FROM dnc_entries d JOIN leads l USING (phone_e164)")
            ).scalar_one()
            per_zone = dict(conn.execute(sa.text("SELECT timezone, count(*) FROM leads GROUP BY 1")).all())
            sample = conn.execute(
                sa.text("SELECT phone_e164, timezone, tz_candidates FROM leads ORDER BY random() LIMIT 2000")
            ).all()
            sale = conn.execute(sa.text("SELECT sale, human_answered FROM dispositions WHERE code = 'SALE'")).one()
        assert roles == {"admin": 1, "manager": 1, "supervisor": 1, "agent": 20}
        assert set(users) >= {"admin", "manager", "supervisor", "agent01", "agent20"}
        for name in ("admin", "manager", "supervisor", "agent01", "agent20"):
            assert verify_password(users[name], base_settings.demo_password), name
        assert not verify_password(users["admin"], "wrong-password")
        assert len(set(users.values())) == len(users)  # every hash has its own salt
        assert methods == {"predictive", "progressive"}
        assert tuple(sale) == (True, True)
        assert 0 < dnc_on_leads < 300
        # Spread over the four mainland zones (and some ambiguous Alaska numbers).
        for zone in ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"):
            assert per_zone.get(zone, 0) > 1000, per_zone
        assert per_zone.get(None, 0) > 0
        for phone, tz, candidates in sample:
            number = phonenumbers.parse(phone)
            assert phonenumbers.is_valid_number(number), phone
            zones = tuple(sorted(pn_timezone.time_zones_for_number(number)))
            assert (tz,) == zones if tz else tuple(candidates) == zones
    finally:
        engine.dispose()


def test_small_seed_is_a_prefix_of_the_full_one(empty_pg_url: str, base_settings: Settings) -> None:
    """A smaller seed (as tests of other parts may use): the leads are a prefix of the full set."""
    migrate.upgrade(empty_pg_url)
    engine = make_engine(empty_pg_url)
    try:
        summary = seed(engine, base_settings, lead_count=500, dnc_count=20, hasher=CHEAP_ARGON2.hash)
        assert summary["totals"]["leads"] == 500 and summary["totals"]["dnc_entries"] == 20
        with engine.connect() as conn:
            phones = conn.execute(sa.text("SELECT phone_e164 FROM leads ORDER BY id")).scalars().all()
        assert phones == [row[1] for row in generate_leads(500, [1, 2])]
        with engine.connect() as conn:
            agent_hash = conn.execute(sa.text("SELECT password_hash FROM users WHERE username = 'agent07'")).scalar_one()
        assert verify_password(agent_hash, base_settings.demo_password)
        assert needs_rehash(agent_hash)  # the web login upgrades it to production parameters
    finally:
        engine.dispose()


def test_generate_leads_is_deterministic_and_valid() -> None:
    a = generate_leads(3000, [1, 2])
    assert a == generate_leads(3000, [1, 2])
    assert a != generate_leads(3000, [1, 2], seed=7)
    phones = [row[1] for row in a]
    assert len(set(phones)) == len(phones)
    assert collections.Counter(row[0] for row in a) == {1: 1800, 2: 1200}
    for phone in phones:
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number), phone
        assert phone[5:8] != "555"


def test_seed_refuses_unmigrated_database(empty_pg_url: str, base_settings: Settings) -> None:
    engine = make_engine(empty_pg_url)
    try:
        with pytest.raises(sa.exc.ProgrammingError):
            seed(engine, base_settings, lead_count=10, dnc_count=0)
    finally:
        engine.dispose()
