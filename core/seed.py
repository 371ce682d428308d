"""Demo data: users, teams, two campaigns with their settings, two lists of 50,000 leads, a DNC list.

    python -m core.seed            # migrates to head first if needed, then seeds

Idempotent: everything is looked up by its natural key (username, team/campaign/list name,
disposition code, phone) and only what is missing is inserted, so running it twice changes
nothing (no second audit row either). The whole seed is one transaction, serialised by an
advisory lock, so two concurrent runs cannot half-seed or collide. Leads are generated from a
fixed RNG seed (the same 50,000 people every time) and loaded with COPY.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import itertools
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import phonenumbers
import sqlalchemy as sa
from phonenumbers import timezone as pn_timezone
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core import audit
from core.config import Settings
from core.models import (
    Campaign,
    Disposition,
    DncEntry,
    LeadList,
    PauseCode,
    RecycleRule,
    StateCallingRule,
    Team,
    User,
)
from core.passwords import hash_password
from core.seed_data import AREA_CODES, FIRST_NAMES, LAST_NAMES, STREET_NAMES, STREET_SUFFIXES, AreaCode

logger = logging.getLogger(__name__)

RNG_SEED = 20261122
LEAD_COUNT = 50_000
DNC_COUNT = 300
AGENT_COUNT = 20
_ADVISORY_LOCK_KEY = 0x5EED_D1A1  # pg_advisory_xact_lock: one seed at a time per database

TEAMS = ("Team Falcon", "Team Orca")
LIST_SHARE = 0.6  # of the leads go to the predictive campaign's list, the rest to the progressive one

# code, name, human_answered, sale, dnc, callback, selectable. VICIdial counts DROP as answered
# (VICIDIAL.md section 1), which matters for the abandonment rate.
GLOBAL_DISPOSITIONS: tuple[tuple[str, str, bool, bool, bool, bool, bool], ...] = (
    ("SALE", "Sale made", True, True, False, False, True),
    ("NI", "Not interested", True, False, False, False, True),
    ("DNC", "Do not call", True, False, True, False, True),
    ("CALLBK", "Call back", True, False, False, True, True),
    ("WN", "Wrong number", True, False, False, False, True),
    ("NP", "No pitch / hung up", True, False, False, False, True),
    ("A", "Answering machine", False, False, False, False, True),  # agents set it when AMD passed a machine
    ("B", "Busy", False, False, False, False, False),
    ("NA", "No answer", False, False, False, False, False),
    ("DC", "Disconnected number", False, False, False, False, False),
    ("DROP", "Dropped (no agent available)", True, False, False, False, False),
)
# code, name, billable, max_s
GLOBAL_PAUSE_CODES = (
    ("BRK", "Break", False, 900),
    ("LUNCH", "Lunch", False, 3600),
    ("TRAIN", "Training", True, None),
    ("MEET", "Team meeting", True, None),
    ("TECH", "Technical problem", True, 1800),
)
# status, delay_s, max_attempts (VICIdial defaults: 1800 s, 2 attempts)
RECYCLE_RULES = (("B", 600, 3), ("NA", 3600, 3), ("A", 7200, 2), ("DROP", 1800, 2))

# Stricter state telemarketing windows than the TCPA's 8am-9pm. Demo data to show the feature:
# verify current statutes with counsel before relying on them.
STATE_RULES: tuple[tuple[str, dict[str, list[str]], str], ...] = (
    ("FL", {d: ["08:00", "20:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
     "Florida Telephone Solicitation Act, Fla. Stat. 501.616(6): 8 a.m. to 8 p.m."),
    ("OK", {d: ["08:00", "20:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
     "Oklahoma Telephone Solicitation Act, 15 O.S. 775C.4: 8 a.m. to 8 p.m."),
    ("TX", {**{d: ["09:00", "21:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}, "sun": ["12:00", "21:00"]},
     "Tex. Bus. & Com. Code 301.051: 9 a.m.-9 p.m., Sunday noon-9 p.m."),
)


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    list_name: str
    values: dict[str, Any]


CAMPAIGNS = (
    CampaignSpec(
        "Solar Outreach",
        "Solar leads 2026-Q4",
        {
            "description": "Residential solar: predictive, AMD on, every call recorded.",
            "dial_method": "predictive", "dial_level": 2.0, "min_dial_level": 1.0, "max_dial_level": 4.0,
            "target_abandon_rate": 0.025, "drop_action": "message", "safe_harbor_audio": "safe-harbor-solar",
            "caller_id": "+12122345000", "amd_enabled": True, "recording_policy": "all",
            "dial_statuses": ["NEW", "CALLBK", "NA", "B", "A"], "lead_order": "tz_east_to_west", "hopper_level": 200,
            "script_template": "Hi {first_name}, this is {agent_name} from Sunrise Solar in {city} ...",
        },
    ),
    CampaignSpec(
        "Insurance Renewals",
        "Renewals November",
        {
            "description": "Policy renewals: progressive, one line per ready agent.",
            "dial_method": "progressive", "dial_level": 1.0, "min_dial_level": 1.0, "max_dial_level": 1.0,
            "target_abandon_rate": 0.01, "drop_action": "hangup", "caller_id": "+13122345000",
            "recording_policy": "on_demand", "dial_statuses": ["NEW", "CALLBK", "NA"], "lead_order": "priority",
            "wrap_up_s": 20, "script_template": "Hello {first_name} {last_name}, I'm calling about your policy renewal.",
        },
    ),
)


# --- deterministic lead generation (pure) ---------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _exchange_info(npa: str, exchange: int) -> tuple[bool, str | None, tuple[str, ...] | None]:
    """(valid, timezone, tz_candidates) for an NPA-NXX. libphonenumber's NANP validity and time
    zone data are keyed by prefixes no longer than NPA-NXX, so one lookup per exchange is enough
    (the seed test re-validates every generated number in full)."""
    number = phonenumbers.parse(f"+1{npa}{exchange}0100")
    if not phonenumbers.is_valid_number(number):
        return False, None, None
    zones = sorted(z for z in pn_timezone.time_zones_for_number(number) if z != pn_timezone.UNKNOWN_TIMEZONE)
    if len(zones) == 1:
        return True, zones[0], None
    return True, None, tuple(zones) or None


def random_us_number(rng: random.Random, area: AreaCode) -> tuple[str, str | None, list[str] | None]:
    """(E.164, timezone, tz_candidates) of a valid number in ``area``: NXX 2xx-9xx, never N11 or 555.

    ``timezone`` is the IANA zone when phonenumbers gives exactly one; otherwise NULL and every
    candidate in ``tz_candidates`` (the hopper then needs all of them inside the window)."""
    while True:
        exchange = rng.randint(200, 999)
        if exchange % 100 == 11 or exchange == 555:
            continue
        valid, tz, candidates = _exchange_info(area.npa, exchange)
        if valid:
            return f"+1{area.npa}{exchange}{rng.randint(0, 9999):04d}", tz, list(candidates) if candidates else None


LEAD_COLUMNS = (
    "list_id", "phone_e164", "first_name", "last_name", "email", "address", "city", "state", "postal_code",
    "country", "timezone", "tz_candidates", "priority", "vendor_lead_code", "custom_fields",
    "consent_call", "consent_sms", "consent_source",
)


def generate_leads(count: int, list_ids: Sequence[int], seed: int = RNG_SEED) -> list[tuple[Any, ...]]:
    """``count`` deterministic leads as rows in :data:`LEAD_COLUMNS` order, unique phones."""
    rng = random.Random(seed)
    areas = list(AREA_CODES)
    cumulative = list(itertools.accumulate(a.weight for a in areas))
    total = cumulative[-1]
    seen: set[str] = set()
    rows: list[tuple[Any, ...]] = []
    first_list_count = int(count * LIST_SHARE) if len(list_ids) > 1 else count
    for i in range(count):
        area = areas[bisect.bisect(cumulative, rng.random() * total)]
        e164, tz, candidates = random_us_number(rng, area)
        while e164 in seen:
            e164, tz, candidates = random_us_number(rng, area)
        seen.add(e164)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{rng.randint(1, 999)}@example.com".lower().replace("'", "") if rng.random() < 0.6 else None
        consent = rng.random() < 0.7
        rows.append(
            (
                list_ids[0] if i < first_list_count else list_ids[1],
                e164,
                first,
                last,
                email,
                f"{rng.randint(1, 9999)} {rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}",
                area.city,
                area.state,
                f"{area.zip_prefix}{rng.randint(0, 99):02d}",
                "US",
                tz,
                candidates,
                10 if rng.random() < 0.05 else 0,
                f"V{i:06d}",
                {"segment": rng.choice("ABC"), "source": "demo"},
                consent,
                consent and rng.random() < 0.5,
                "demo web form" if consent else None,
            )
        )
    return rows


def _csv(rows: Sequence[tuple[Any, ...]]) -> io.StringIO:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        out = []
        for value in row:
            if value is None:
                out.append("")  # unquoted empty field = NULL in COPY ... CSV
            elif isinstance(value, list):
                out.append("{" + ",".join(value) + "}")
            elif isinstance(value, dict):
                out.append(json.dumps(value))
            elif isinstance(value, bool):
                out.append("t" if value else "f")
            else:
                out.append(value)
        writer.writerow(out)
    buf.seek(0)
    return buf


# --- database side --------------------------------------------------------------------------------


def _get_or_create(session: Session, model: type, created: dict[str, int], key: dict[str, Any], **values: Any) -> Any:
    obj = session.scalars(sa.select(model).filter_by(**key)).one_or_none()
    if obj is None:
        obj = model(**key, **values)
        session.add(obj)
        session.flush()
        table = obj.__table__.name
        created[table] = created.get(table, 0) + 1
    return obj


def _seed_users(
    session: Session, settings: Settings, teams: list[Team], created: dict[str, int], hasher: Callable[[str], str]
) -> list[str]:
    wanted: list[tuple[str, str, str, Team | None]] = [
        ("admin", "Ada Admin", "admin", None),
        ("manager", "Morgan Manager", "manager", None),
        ("supervisor", "Sam Supervisor", "supervisor", teams[0]),
    ]
    rng = random.Random(RNG_SEED + 1)
    for n in range(1, AGENT_COUNT + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        wanted.append((f"agent{n:02d}", name, "agent", teams[0] if n <= AGENT_COUNT // 2 else teams[1]))
    existing = set(session.scalars(sa.select(User.username).where(User.username.in_([w[0] for w in wanted]))))
    missing = [w for w in wanted if w[0] not in existing]
    # Argon2 is deliberately slow (~0.1-0.3 s per hash); argon2-cffi releases the GIL.
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = list(pool.map(lambda _w: hasher(settings.demo_password), missing))
    for (username, full_name, role, team), pw_hash in zip(missing, hashes, strict=True):
        session.add(User(username=username, full_name=full_name, role=role, team=team, password_hash=pw_hash))
    session.flush()
    if missing:
        created["users"] = len(missing)
    return [w[0] for w in wanted]


def _seed_campaign_settings(session: Session, created: dict[str, int]) -> list[LeadList]:
    for code, name, human, sale, dnc, callback, selectable in GLOBAL_DISPOSITIONS:
        _get_or_create(session, Disposition, created, {"campaign_id": None, "code": code}, name=name,
                       human_answered=human, sale=sale, dnc=dnc, callback=callback, selectable=selectable)
    for code, name, billable, max_s in GLOBAL_PAUSE_CODES:
        _get_or_create(session, PauseCode, created, {"campaign_id": None, "code": code}, name=name,
                       billable=billable, max_s=max_s)
    lists = []
    for spec in CAMPAIGNS:
        campaign = _get_or_create(session, Campaign, created, {"name": spec.name}, **spec.values)
        for status, delay_s, max_attempts in RECYCLE_RULES:
            _get_or_create(session, RecycleRule, created, {"campaign_id": campaign.id, "status": status},
                           delay_s=delay_s, max_attempts=max_attempts)
        lists.append(_get_or_create(session, LeadList, created, {"campaign_id": campaign.id, "name": spec.list_name}))
    solar = session.scalars(sa.select(Campaign).filter_by(name=CAMPAIGNS[0].name)).one()
    _get_or_create(session, Disposition, created, {"campaign_id": solar.id, "code": "APPT"},
                   name="Site survey booked", human_answered=True, sale=True)
    for state, windows, note in STATE_RULES:
        _get_or_create(session, StateCallingRule, created, {"country": "US", "state": state}, windows=windows, note=note)
    return lists


def _copy_leads(session: Session, rows: list[tuple[Any, ...]]) -> int:
    """COPY into a temp table, then insert what is missing: re-runs and partial lists are safe."""
    cols = ", ".join(LEAD_COLUMNS)
    session.execute(sa.text("CREATE TEMP TABLE seed_leads (LIKE leads INCLUDING DEFAULTS) ON COMMIT DROP"))
    dbapi_conn = session.connection().connection.dbapi_connection
    assert dbapi_conn is not None
    cur = dbapi_conn.cursor()
    try:
        cur.copy_expert(f"COPY seed_leads ({cols}) FROM STDIN WITH (FORMAT csv)", _csv(rows))  # psycopg2
    finally:
        cur.close()
    result = session.execute(
        sa.text(f"INSERT INTO leads ({cols}) SELECT {cols} FROM seed_leads ON CONFLICT (list_id, phone_e164) DO NOTHING")
    )
    session.execute(sa.text("DROP TABLE seed_leads"))
    # Fresh planner statistics, or the hopper's first queries plan for an empty table.
    session.execute(sa.text("ANALYZE leads"))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _seed_dnc(session: Session, rows: list[tuple[Any, ...]], campaign_id: int, count: int) -> int:
    """``count`` DNC entries: 40% global on lead numbers, 10% campaign-scoped on lead numbers,
    50% global on numbers that are not leads."""
    rng = random.Random(RNG_SEED + 2)
    phones = [r[1] for r in rows]
    lead_hits = rng.sample(phones, min(len(phones), int(count * 0.5)))
    n_global = int(count * 0.4)
    entries: list[tuple[str, str, int | None, str, str]] = [
        (p, "global", None, "import", "demo national DNC extract") for p in lead_hits[:n_global]
    ]
    entries += [(p, "campaign", campaign_id, "disposition", "asked not to be called") for p in lead_hits[n_global:]]
    lead_phones = set(phones)
    while len(entries) < count:
        p = random_us_number(rng, rng.choice(AREA_CODES))[0]
        if p not in lead_phones:
            lead_phones.add(p)
            entries.append((p, "global", None, "import", "demo national DNC extract"))
    stmt = pg_insert(DncEntry).on_conflict_do_nothing(constraint="uq_dnc_entries_phone_e164_campaign_id")
    keys = ("phone_e164", "scope", "campaign_id", "source", "reason")
    before = _count(session, "dnc_entries")
    session.connection().execute(stmt, [dict(zip(keys, e, strict=True)) for e in entries])
    return _count(session, "dnc_entries") - before


def _count(session: Session, table: str) -> int:
    return int(session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # our own table names


def seed(
    engine: sa.Engine,
    settings: Settings,
    *,
    lead_count: int = LEAD_COUNT,
    dnc_count: int = DNC_COUNT,
    hasher: Callable[[str], str] = hash_password,
) -> dict[str, Any]:
    """Seed the demo data (idempotently) and return a summary: what was created, totals, logins.

    ``hasher`` exists for tests that seed often: Argon2 with production parameters costs ~0.3 s
    per user. Hashes from any Argon2 parameters verify with :func:`core.passwords.verify_password`.
    """
    started = time.monotonic()
    created: dict[str, int] = {}
    timings: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        timings[name] = round(now - mark, 3)
        mark = now

    with Session(engine) as session, session.begin():
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        teams = [_get_or_create(session, Team, created, {"name": name}) for name in TEAMS]
        usernames = _seed_users(session, settings, teams, created, hasher)
        lap("users_s")
        lists = _seed_campaign_settings(session, created)
        list_ids = [lst.id for lst in lists]
        have = int(session.execute(sa.text("SELECT count(*) FROM leads WHERE list_id = ANY(:ids)"), {"ids": list_ids}).scalar_one())
        need_dnc = dnc_count > 0 and _count(session, "dnc_entries") < dnc_count
        # Generating 50,000 leads takes seconds: skip it when a re-run has nothing to add.
        rows = generate_leads(lead_count, list_ids) if have < lead_count or need_dnc else []
        lap("generate_leads_s")
        if have < lead_count:
            created["leads"] = _copy_leads(session, rows)
        lap("copy_leads_s")
        if need_dnc:
            created["dnc_entries"] = _seed_dnc(session, rows, lists[0].campaign_id, dnc_count)
        created = {k: v for k, v in created.items() if v}
        if created:
            audit.record(session, actor=None, action="seed.run", object_type="system", object_id=None, after=created)
        totals = {t: _count(session, t) for t in ("users", "teams", "campaigns", "lists", "leads", "dnc_entries",
                                                   "dispositions", "pause_codes", "campaign_recycle_rules")}
    summary = {
        "created": created,
        "totals": totals,
        "logins": usernames,
        "timings": timings,
        "elapsed_s": round(time.monotonic() - started, 2),
    }
    logger.info("seed done in %.1fs: created %s", summary["elapsed_s"], created or "nothing (already seeded)")
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core import migrate
    from core.db import make_engine
    from core.engines import postgres_url

    parser = argparse.ArgumentParser(prog="python -m core.seed", description="Seed the PyDialer demo data.")
    parser.add_argument("--leads", type=int, default=LEAD_COUNT, help="number of demo leads (default 50000)")
    args = parser.parse_args(argv)
    if args.leads < 1:
        parser.error("--leads must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    url = postgres_url(settings)
    if not migrate.is_at_head(url):
        migrate.upgrade(url)
    engine = make_engine(url)
    try:
        summary = seed(engine, settings, lead_count=args.leads)
    finally:
        engine.dispose()
    print(json.dumps({k: v for k, v in summary.items() if k != "logins"}, indent=2))
    print(f"\nLogins (password: the DEMO_PASSWORD setting, default {Settings.demo_password!r}):")
    print(f"  admin, manager, supervisor, agent01 .. agent{AGENT_COUNT:02d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
