"""dialer.leads_repo on real PostgreSQL: the SQL prefilter + pure re-check hand out exactly what the
pure rules allow, concurrent workers never get the same lead, and the originate re-check sees a
DNC entry added a moment ago."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dialer import compliance as cp
from dialer import leads_repo
from dialer.hopper import select

NOW = datetime(2026, 1, 5, 19, 0, tzinfo=UTC)  # Monday 14:00 EST, 11:00 PST, 09:00 HST
ZONE_SETS = [
    ["America/New_York"], ["America/Chicago"], ["America/Los_Angeles"], ["Pacific/Honolulu"], ["Asia/Tokyo"],
    ["America/New_York", "America/Los_Angeles"], ["America/Chicago", "Pacific/Honolulu"], [], None,
]
STATES = [None, None, "FL", "TX", "RI", "AL"]


def make_campaign(conn: sa.Connection, **values: object) -> int:
    defaults = {"name": f"c{random.random()}", "dial_statuses": ["NEW", "NA"], "max_attempts": 4}
    defaults.update(values)
    cols = ", ".join(defaults)
    binds = ", ".join(f":{k}" for k in defaults)
    return conn.execute(sa.text(f"INSERT INTO campaigns ({cols}) VALUES ({binds}) RETURNING id"), defaults).scalar_one()


def make_list(conn: sa.Connection, campaign_id: int, active: bool = True) -> int:
    return conn.execute(
        sa.text("INSERT INTO lists (campaign_id, name, active) VALUES (:c, :n, :a) RETURNING id"),
        {"c": campaign_id, "n": f"l{random.random()}", "a": active},
    ).scalar_one()


def seed(engine: sa.Engine, rng: random.Random, n: int = 400) -> tuple[int, list[int]]:
    """A campaign with two active lists and an inactive one, ``n`` varied leads, DNC and callbacks."""
    with engine.begin() as conn:
        campaign = make_campaign(conn)
        other = make_campaign(conn)
        lists = [make_list(conn, campaign), make_list(conn, campaign), make_list(conn, campaign, active=False)]
        conn.execute(sa.text("INSERT INTO campaign_recycle_rules (campaign_id, status, delay_s, max_attempts)"
                             " VALUES (:c, 'B', 3600, 3), (:c, 'NA', 600, 2)"), {"c": campaign})
        rows = []
        for _ in range(n):
            zones = rng.choice(ZONE_SETS)
            called = rng.random() < 0.4
            rows.append({
                "list_id": rng.choice(lists), "phone": f"+1212{rng.randint(2000000, 2000000 + n * 3)}",
                "status": rng.choice(["NEW", "NEW", "NA", "B", "SALE"]), "attempts": rng.choice([0, 0, 1, 2, 3, 4]),
                "tz": zones, "timezone": zones[0] if zones and len(zones) == 1 else None,
                "state": rng.choice(STATES), "priority": rng.choice([0, 0, 0, 5]),
                "last": NOW - timedelta(minutes=rng.randint(5, 3000)) if called else None,
                "next": rng.choice([None, None, None, NOW - timedelta(hours=1), NOW + timedelta(hours=1)]),
                "called": called,
            })
        # Same number twice in one list is not allowed: de-duplicate per list.
        unique = {(r["list_id"], r["phone"]): r for r in rows}
        conn.execute(sa.text(
            "INSERT INTO leads (list_id, phone_e164, status, attempts, tz_candidates, timezone, state, priority,"
            " last_called_at, next_call_at, called_since_reset) VALUES (:list_id, :phone, :status, :attempts, :tz,"
            " :timezone, :state, :priority, :last, :next, :called)"), list(unique.values()))
        leads = conn.execute(sa.text("SELECT id, phone_e164 FROM leads ORDER BY id")).all()
        for lead in rng.sample(leads, len(leads) // 8):
            scope = rng.choice(["global", "campaign", "campaign-other", "expired"])
            conn.execute(sa.text(
                "INSERT INTO dnc_entries (phone_e164, scope, campaign_id, expires_at, added_at) VALUES (:p, :s, :c, :e, :a)"
                " ON CONFLICT DO NOTHING"), {
                "p": lead.phone_e164, "s": "global" if scope in ("global", "expired") else "campaign",
                "c": None if scope in ("global", "expired") else (campaign if scope == "campaign" else other),
                "e": NOW - timedelta(minutes=1) if scope == "expired" else None, "a": NOW - timedelta(days=1),
            })
        for lead in rng.sample(leads, len(leads) // 10):
            agent = rng.random() < 0.3
            user = conn.execute(sa.text(
                "INSERT INTO users (username, password_hash, role) VALUES (:u, 'x', 'agent') RETURNING id"),
                {"u": f"a{lead.id}"}).scalar_one() if agent else None
            conn.execute(sa.text(
                "INSERT INTO callbacks (lead_id, campaign_id, agent_id, scope, due_at) VALUES (:l, :c, :a, :s, :d)"),
                {"l": lead.id, "c": campaign, "a": user, "s": "agent" if agent else "anyone",
                 "d": NOW + timedelta(minutes=rng.randint(-300, 300))})
        # Calls in flight (no ended_at; one older than compliance.MAX_CALL_S is a lost hangup) and ended ones.
        for lead in rng.sample(leads, len(leads) // 10):
            dialed = NOW - timedelta(minutes=rng.choice([1, 30, 200, 500]))
            conn.execute(sa.text(
                "INSERT INTO call_attempts (campaign_id, lead_id, pbx, phone_e164, dial_method, dialed_at, ended_at)"
                " VALUES (:c, :l, 'sim1', :p, 'predictive', :d, :e)"),
                {"c": campaign, "l": lead.id, "p": lead.phone_e164, "d": dialed,
                 "e": None if rng.random() < 0.7 else dialed + timedelta(seconds=30)})
    return campaign, [lead.id for lead in leads]


def pure_expectation(engine: sa.Engine, campaign_id: int, now: datetime) -> tuple[list[int], dict[str, int]]:
    """Every lead of the campaign through the pure rules, with every DNC row and callback."""
    with engine.connect() as conn:
        rules = leads_repo.load_rules(conn, campaign_id)
        rows = conn.execute(sa.text(f"SELECT {leads_repo.LEAD_COLUMNS} FROM leads l JOIN lists li ON li.id = l.list_id"
                                    " WHERE li.campaign_id = :c"), {"c": campaign_id}).all()
        views = [leads_repo.lead_view(r) for r in rows]
        dnc = leads_repo.fetch_dnc(conn, [v.phone_e164 for v in views], campaign_id)
        callbacks = leads_repo.fetch_callbacks(conn, [v.id for v in views])
    fill = select(views, rules, dnc, now, limit=10**6, callbacks=callbacks)
    return [lead.id for lead in fill.leads], fill.summary


@pytest.mark.parametrize("hours", [0, 3, 6, 10, 14])
def test_sql_selection_equals_the_pure_rules(db_committed: sa.Engine, hours: int) -> None:
    campaign, _ = seed(db_committed, random.Random(hours))
    now = NOW + timedelta(hours=hours)
    expected, summary = pure_expectation(db_committed, campaign, now)
    with db_committed.connect() as conn, conn.begin():
        rules = leads_repo.load_rules(conn, campaign)
        fill = leads_repo.select_candidates(conn, rules, 10**6, now)
        got = [lead.id for lead in fill.leads]
        counts = leads_repo.refusal_counts(conn, rules, now)
    assert got == expected
    assert counts["dialable"] == summary["dialable"] == len(expected)
    assert sum(counts.values()) == sum(summary.values())
    for reason in ("list_inactive", "dnc_global", "dnc_campaign", "status_not_dialable", "max_attempts",
                   "callback_not_due", "callback_other_agent", "callback_already_dialed", "call_in_flight",
                   "timezone_unknown"):
        assert counts.get(reason, 0) == summary.get(reason, 0), reason
    if hours == 0:
        assert expected, "the scenario hands some leads out"
        assert summary.get("call_in_flight") and summary.get("callback_already_dialed"), summary


def test_two_concurrent_workers_never_get_the_same_lead(db_committed: sa.Engine) -> None:
    campaign, _ = seed(db_committed, random.Random(99), n=600)
    expected, _ = pure_expectation(db_committed, campaign, NOW)
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for _ in range(40):
                claim = leads_repo.claim_for_hopper(db_committed, campaign, 7, NOW)
                claimed[index] += [lead.id for lead in claim.leads]
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    both = claimed[0] + claimed[1]
    assert len(both) == len(set(both)), "a lead was handed to both workers"
    assert set(both) == set(expected)
    assert claimed[0] and claimed[1]
    # Reserved: another refill finds nothing left.
    assert leads_repo.claim_for_hopper(db_committed, campaign, 50, NOW).leads == []


def test_recheck_at_originate_sees_new_dnc_and_refill_explains_itself(db_committed: sa.Engine) -> None:
    with db_committed.begin() as conn:
        campaign = make_campaign(conn)
        list_id = make_list(conn, campaign)
        conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, tz_candidates) VALUES"
                             " (:l, '+12125550100', '{America/New_York}'), (:l, '+12125550101', '{Asia/Tokyo}')"),
                     {"l": list_id})
    claim = leads_repo.claim_for_hopper(db_committed, campaign, 10, NOW)
    assert [lead.phone_e164 for lead in claim.leads] == ["+12125550100"]
    lead_id = claim.leads[0].id
    with db_committed.begin() as conn:
        assert leads_repo.recheck_at_originate(conn, lead_id, campaign, NOW).ok
        conn.execute(sa.text("INSERT INTO dnc_entries (phone_e164) VALUES ('+12125550100')"))
    with db_committed.connect() as conn:
        decision = leads_repo.recheck_at_originate(conn, lead_id, campaign, NOW + timedelta(seconds=1))
        assert decision.reason is cp.ReasonCode.DNC_GLOBAL
        counts = leads_repo.refusal_counts(conn, leads_repo.load_rules(conn, campaign), NOW)
    assert counts == {"dialable": 0, "dnc_global": 1, "outside_calling_hours": 1}
    empty = leads_repo.claim_for_hopper(db_committed, campaign, 10, NOW)
    assert empty.leads == [] and empty.summary == {"dialable": 0}  # nothing passed the SQL prefilter
    with pytest.raises(LookupError), db_committed.connect() as conn:
        leads_repo.load_rules(conn, 999_999)


def test_state_rules_and_holidays_from_the_tables(db_committed: sa.Engine) -> None:
    with db_committed.begin() as conn:
        campaign = make_campaign(conn)
        list_id = make_list(conn, campaign)
        conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, tz_candidates, state) VALUES"
                             " (:l, '+12125550100', '{America/New_York}', 'NY'),"
                             " (:l, '+12125550101', '{America/New_York}', 'NJ'),"
                             " (:l, '+12125550102', '{America/New_York}', 'FL')"), {"l": list_id})
        # NJ: a stricter rule in the table; NY: a state holiday today.
        conn.execute(sa.text("INSERT INTO state_calling_rules (state, windows) VALUES"
                             " ('NJ', '{\"mon\": [\"15:00\", \"20:00\"]}')"))
        conn.execute(sa.text("INSERT INTO holidays (state, day, name) VALUES ('NY', '2026-01-05', 'test day')"))
    with db_committed.connect() as conn, conn.begin():
        rules = leads_repo.load_rules(conn, campaign)
        fill = leads_repo.select_candidates(conn, rules, 10, NOW)  # 14:00 EST
        assert [lead.state for lead in fill.leads] == ["FL"]
        later = leads_repo.select_candidates(conn, rules, 10, NOW + timedelta(hours=1, minutes=30))  # 15:30
        assert sorted(lead.state for lead in later.leads) == ["FL", "NJ"]


@pytest.mark.parametrize("lead_order", ["priority", "new_first", "oldest_last_call"])
def test_a_small_limit_takes_the_head_of_the_pure_order(db_committed: sa.Engine, lead_order: str) -> None:
    """With limit < dialable, the SQL passes must already return the pure order's head."""
    campaign, _ = seed(db_committed, random.Random(5))
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE campaigns SET lead_order = :o WHERE id = :c"), {"o": lead_order, "c": campaign})
    expected, _ = pure_expectation(db_committed, campaign, NOW)
    with db_committed.connect() as conn, conn.begin():
        fill = leads_repo.select_candidates(conn, leads_repo.load_rules(conn, campaign), 15, NOW)
    assert len(expected) > 15
    assert [lead.id for lead in fill.leads] == expected[:15]


# --- the hopper stage (dialer.loop_leads): refill into Redis, pop + re-check at originate -----------------


def _hopper_campaign(engine: sa.Engine, n: int, level: int) -> tuple[int, list[int]]:
    with engine.begin() as conn:
        campaign = make_campaign(conn, hopper_level=level)
        list_id = make_list(conn, campaign)
        conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, tz_candidates, priority) VALUES"
                             " (:l, :p, '{America/New_York}', :prio)"),
                     [{"l": list_id, "p": f"+1212555{i:04d}", "prio": n - i} for i in range(n)])
        ids = conn.execute(sa.text("SELECT id FROM leads WHERE list_id = :l ORDER BY priority DESC"),
                           {"l": list_id}).scalars().all()
    return campaign, list(ids)


def test_refill_fills_to_the_hopper_level_and_reserves(db_committed: sa.Engine, redis_client) -> None:
    from dialer.loop_leads import HOPPER_HOLD, hopper_depth, refill_hopper

    campaign, ids = _hopper_campaign(db_committed, 12, level=5)
    first = refill_hopper(db_committed, redis_client, campaign, NOW)
    assert (first.added, first.depth, first.level) == (5, 5, 5) and first.summary["dialable"] == 5
    assert hopper_depth(redis_client, campaign) == 5
    assert [int(m) for m in redis_client.zrange(f"pyd:campaign:{campaign}:hopper", 0, -1)] == ids[:5], "lead order"
    with db_committed.connect() as conn:
        held = conn.execute(sa.text("SELECT id FROM leads WHERE next_call_at = :t ORDER BY id"),
                            {"t": NOW + HOPPER_HOLD}).scalars().all()
    assert sorted(held) == sorted(ids[:5]), "reserved in PostgreSQL: the next refill skips them"
    again = refill_hopper(db_committed, redis_client, campaign, NOW + timedelta(seconds=1))
    assert (again.added, again.depth) == (0, 5), "idempotent: a full hopper adds nothing"
    redis_client.zpopmin(f"pyd:campaign:{campaign}:hopper", 2)
    topped = refill_hopper(db_committed, redis_client, campaign, NOW + timedelta(seconds=2))
    assert (topped.added, topped.depth) == (2, 5)
    assert set(int(m) for m in redis_client.zrange(f"pyd:campaign:{campaign}:hopper", 0, -1)) == set(ids[2:7])


def test_checked_again_at_originate_dnc_added_after_hoppering(db_committed: sa.Engine, redis_client) -> None:
    from dialer.loop_leads import claim_leads, hopper_depth, refill_hopper

    campaign, ids = _hopper_campaign(db_committed, 6, level=6)
    refill_hopper(db_committed, redis_client, campaign, NOW)
    with db_committed.begin() as conn:  # a DNC entry a second after the lead entered the hopper
        phone = conn.execute(sa.text("SELECT phone_e164 FROM leads WHERE id = :id"), {"id": ids[0]}).scalar_one()
        conn.execute(sa.text("INSERT INTO dnc_entries (phone_e164) VALUES (:p)"), {"p": phone})
    claims, summary = claim_leads(db_committed, redis_client, campaign, 3, NOW + timedelta(seconds=1), pbx="sim1",
                                  dial_method="predictive")
    assert [c.lead_id for c in claims] == ids[1:3], "the DNC'd lead is refused at originate, never dialled"
    assert summary["originate_dnc_global"] == 1
    assert hopper_depth(redis_client, campaign) == 3
    with db_committed.connect() as conn:
        dialled = conn.execute(sa.text("SELECT lead_id FROM call_attempts ORDER BY lead_id")).scalars().all()
    assert dialled == sorted(ids[1:3])


def test_a_callback_due_later_overtakes_the_hoppered_leads(db_committed: sa.Engine, redis_client) -> None:
    from dialer.loop_leads import STALE_REFILL_S, claim_leads, refill_hopper

    campaign, ids = _hopper_campaign(db_committed, 8, level=4)
    refill_hopper(db_committed, redis_client, campaign, NOW)
    late = ids[-1]  # not in the hopper
    with db_committed.begin() as conn:
        conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, due_at) VALUES (:l, :c, :d)"),
                     {"l": late, "c": campaign, "d": NOW + timedelta(seconds=2)})
    at = NOW + timedelta(seconds=STALE_REFILL_S)
    claims, _ = claim_leads(db_committed, redis_client, campaign, 1, at, pbx="sim1", dial_method="predictive")
    assert [(c.lead_id, c.callback) for c in claims] == [(late, True)]


def test_a_higher_priority_lead_hoppered_later_goes_first(db_committed: sa.Engine, redis_client) -> None:
    from dialer.loop_leads import refill_hopper

    campaign, ids = _hopper_campaign(db_committed, 3, level=3)  # priorities 3, 2, 1
    refill_hopper(db_committed, redis_client, campaign, NOW)
    with db_committed.begin() as conn:
        list_id = conn.execute(sa.text("SELECT list_id FROM leads WHERE id = :id"), {"id": ids[0]}).scalar_one()
        urgent = conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, tz_candidates, priority) VALUES"
                                      " (:l, '+12125559999', '{America/New_York}', 50) RETURNING id"),
                              {"l": list_id}).scalar_one()
    redis_client.zpopmin(f"pyd:campaign:{campaign}:hopper", 1)  # one dialled: room for one more
    refill_hopper(db_committed, redis_client, campaign, NOW + timedelta(seconds=1))
    assert [int(m) for m in redis_client.zrange(f"pyd:campaign:{campaign}:hopper", 0, -1)] == [urgent, *ids[1:]]


def test_list_zones_follow_inserts_copy_and_updates(db_committed: sa.Engine) -> None:
    """The prefilter lists only the zones of the campaign's lists (``list_zones``, kept by statement
    triggers): a zone that reaches ``leads`` by INSERT, COPY or UPDATE must be there at once, or its
    leads would silently never be selected."""
    with db_committed.begin() as conn:
        campaign = make_campaign(conn)
        list_id = make_list(conn, campaign)
        conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, tz_candidates) VALUES"
                             " (:l, '+12125550100', '{America/New_York}'), (:l, '+12125550101', NULL)"), {"l": list_id})
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert("COPY leads (list_id, phone_e164, timezone, tz_candidates) FROM STDIN",
                           __import__("io").StringIO(f"{list_id}\t+13125550102\tAmerica/Chicago\t\\N\n"
                                                     f"{list_id}\t+18085550103\t\\N\t{{Pacific/Honolulu,America/Adak}}\n"))
        cursor.close()
    with db_committed.connect() as conn:
        assert sorted(leads_repo.list_zones(conn, [list_id])) == [
            "America/Adak", "America/Chicago", "America/New_York", "Pacific/Honolulu"]
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE leads SET tz_candidates = '{America/Los_Angeles}'"
                             " WHERE phone_e164 = '+12125550101'"))
    with db_committed.connect() as conn, conn.begin():
        assert "America/Los_Angeles" in leads_repo.list_zones(conn, [list_id])
        rules = leads_repo.load_rules(conn, campaign)
        phones = {lead.phone_e164 for lead in leads_repo.select_candidates(conn, rules, 100, NOW).leads}
    # 14:00 New York, 13:00 Chicago, 11:00 Los Angeles, 09:00 Honolulu / 10:00 Adak: all open.
    assert phones == {"+12125550100", "+12125550101", "+13125550102", "+18085550103"}
    open_here = leads_repo.open_zones(rules.calling, NOW, ["America/New_York", "Asia/Tokyo"])
    assert open_here.generic == ["America/New_York"]  # only the domain is listed; Tokyo is at 04:00
