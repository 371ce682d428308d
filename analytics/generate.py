"""Seeded synthetic contact-centre data: CDRs, agent state intervals, dial decisions, utterances.

Vectorised with numpy so the benchmark can produce 10M CDRs in chunks, and small enough for a
test to build one day and compute KPIs from the DataFrames independently of ClickHouse.

Distributions (chosen to look like an outbound B2C floor, not measured from one):

* calls are placed in the lead's LOCAL 08:00-21:00 (TCPA 47 CFR 64.1200(c)(1)), more on weekdays;
* P(person answers) varies by local hour (evening peak, early-afternoon trough), weekday
  (Saturday best, Sunday worst) and attempt number (each retry answers less often);
* answering machines ~18%, busy ~4%, failed/congestion ~1.5%, the rest ring out;
* 2-3% of the people who answer are dropped (abandoned) with a safe-harbor message;
* talk time lognormal (median ~75 s), wrap-up lognormal (median ~15 s);
* dispositions by outcome (SALE ~9% of connected calls, NI, CALLBK, DNC, ...).

``generate(spec)`` returns a :class:`Dataset`; ``generate_chunks(spec, days_per_chunk)`` yields
one per slice of days with the same topology (campaigns, lists, agents, teams).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics.cdr import insert_cdrs
from analytics.generate_extra import agent_states, dial_decisions, utterances, uuid_strings

logger = logging.getLogger(__name__)

TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
             "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu")
TZ_WEIGHTS = np.array([0.46, 0.29, 0.06, 0.03, 0.14, 0.01, 0.01])
TZ_STATES = {"America/New_York": "NY", "America/Chicago": "IL", "America/Denver": "CO", "America/Phoenix": "AZ",
             "America/Los_Angeles": "CA", "America/Anchorage": "AK", "Pacific/Honolulu": "HI"}
LOCAL_HOURS = np.arange(8, 21)
# Share of dials per local hour (dialers run flat out in the morning and the evening).
HOUR_VOLUME = np.array([0.6, 1.0, 1.0, 1.0, 0.9, 0.8, 0.8, 0.9, 1.0, 1.1, 1.1, 0.9, 0.6])
# Relative P(person answers) per local hour 08..20 and weekday Mon..Sun.
HOUR_ANSWER = np.array([0.75, 0.85, 0.9, 0.85, 0.75, 0.65, 0.65, 0.75, 0.95, 1.15, 1.3, 1.25, 1.0])
WEEKDAY_VOLUME = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.45, 0.15])
WEEKDAY_ANSWER = np.array([0.95, 1.0, 1.0, 0.95, 0.85, 1.2, 0.8])
CONNECTED_DISPOSITIONS = ("SALE", "NI", "CALLBK", "DNC", "NQ", "HU", "DEC", "XFER")
CONNECTED_WEIGHTS = np.array([0.09, 0.38, 0.11, 0.03, 0.1, 0.14, 0.12, 0.03])
OUTCOME_DISPOSITION = {"machine": "A", "busy": "B", "no_answer": "NA", "failed": "DC", "congestion": "CONG",
                       "abandoned": "DROP", "cancelled": "CANC"}
HANGUP = {"human": (16, "NORMAL_CLEARING"), "machine": (16, "NORMAL_CLEARING"), "abandoned": (16, "NORMAL_CLEARING"),
          "busy": (17, "USER_BUSY"), "no_answer": (19, "NO_ANSWER"), "failed": (1, "UNALLOCATED_NUMBER"),
          "congestion": (34, "NORMAL_CIRCUIT_CONGESTION"), "cancelled": (16, "NORMAL_CLEARING")}


@dataclass(frozen=True)
class GenSpec:
    start: date
    days: int = 1
    calls: int = 5_000
    campaigns: int = 3
    lists_per_campaign: int = 3
    teams: int = 3
    agents: int = 24
    seed: int = 7
    transcribed_share: float = 0.2
    pbx: str = "pbx1"
    # Real users.id values to use as agent ids (len == agents), e.g. a seeded demo database's
    # agents, so names resolve on the pages; empty: 101, 102, ...
    agent_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Topology:
    """Who works what: stable across chunks of one spec (it depends on the seed only)."""

    campaign_ids: np.ndarray  # campaign ids 1..C
    campaign_weights: np.ndarray
    campaign_answer: np.ndarray  # base P(person answers) per campaign
    campaign_abandon: np.ndarray  # P(dropped | person answers)
    agent_ids: np.ndarray
    agent_team: np.ndarray
    agent_campaign: np.ndarray  # each agent works one campaign

    @classmethod
    def build(cls, spec: GenSpec) -> Topology:
        if spec.campaigns < 1 or spec.agents < spec.campaigns or spec.teams < 1:
            raise ValueError("need at least one campaign, one team and one agent per campaign")
        rng = np.random.default_rng([spec.seed, 0])
        if spec.agent_ids and len(spec.agent_ids) != spec.agents:
            raise ValueError(f"agent_ids has {len(spec.agent_ids)} ids for {spec.agents} agents")
        agent_ids = (np.array(spec.agent_ids, dtype=np.uint32) if spec.agent_ids
                     else np.arange(101, 101 + spec.agents, dtype=np.uint32))
        return cls(
            campaign_ids=np.arange(1, spec.campaigns + 1, dtype=np.uint32),
            campaign_weights=rng.dirichlet(np.full(spec.campaigns, 4.0)),
            campaign_answer=rng.uniform(0.16, 0.26, spec.campaigns),
            campaign_abandon=rng.uniform(0.015, 0.035, spec.campaigns),
            agent_ids=agent_ids,
            agent_team=(np.arange(spec.agents) % spec.teams + 1).astype(np.uint32),
            agent_campaign=(np.arange(spec.agents) % spec.campaigns + 1).astype(np.uint32),
        )


@dataclass
class Dataset:
    cdr: pd.DataFrame
    agent_states: pd.DataFrame
    dial_decisions: pd.DataFrame
    utterances: pd.DataFrame


def _local_to_utc(day: np.ndarray, seconds: np.ndarray, tz_idx: np.ndarray, start: date) -> np.ndarray:
    """Naive local (day offset, second of day) per lead time zone -> UTC epoch milliseconds."""
    base = np.datetime64(start, "ms")
    local = base + day.astype("timedelta64[D]") + (seconds * 1000).astype("timedelta64[ms]")
    out = np.empty(len(day), dtype=np.int64)
    for i, tz in enumerate(TIMEZONES):
        mask = tz_idx == i
        if not mask.any():
            continue
        stamps = pd.DatetimeIndex(local[mask]).tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
        out[mask] = stamps.as_unit("ms").asi8  # epoch milliseconds (UTC) of the aware stamps
    return out


def _pick_days(rng: np.random.Generator, spec: GenSpec, n: int) -> np.ndarray:
    weekdays = np.array([(spec.start + timedelta(days=d)).weekday() for d in range(spec.days)])
    weights = WEEKDAY_VOLUME[weekdays]
    return rng.choice(spec.days, size=n, p=weights / weights.sum())


def _cdr(spec: GenSpec, topo: Topology, rng: np.random.Generator) -> pd.DataFrame:
    n = spec.calls
    camp_idx = rng.choice(len(topo.campaign_ids), size=n, p=topo.campaign_weights)
    campaign = topo.campaign_ids[camp_idx]
    list_id = campaign * 100 + rng.integers(1, spec.lists_per_campaign + 1, n).astype(np.uint32)
    tz_idx = rng.choice(len(TIMEZONES), size=n, p=TZ_WEIGHTS / TZ_WEIGHTS.sum())
    day = _pick_days(rng, spec, n)
    hour_idx = rng.choice(len(LOCAL_HOURS), size=n, p=HOUR_VOLUME / HOUR_VOLUME.sum())
    seconds = LOCAL_HOURS[hour_idx] * 3600 + rng.uniform(0, 3600, n)
    dialed_ms = _local_to_utc(day, seconds, tz_idx, spec.start)
    local_weekday = (np.array([d.weekday() for d in pd.date_range(spec.start, periods=spec.days)]))[day]
    attempt = np.minimum(rng.geometric(0.45, n), 12).astype(np.uint16)

    p_person = (topo.campaign_answer[camp_idx] * HOUR_ANSWER[hour_idx] * WEEKDAY_ANSWER[local_weekday]
                * 0.88 ** (attempt - 1))
    p_machine = np.full(n, 0.18)
    p_busy, p_failed, p_cong, p_cancel = 0.04, 0.01, 0.005, 0.002
    u = rng.uniform(size=n)
    cuts = np.cumsum(np.stack([p_person, p_machine, np.full(n, p_busy), np.full(n, p_failed), np.full(n, p_cong),
                               np.full(n, p_cancel)]), axis=0)
    kind = (u[None, :] >= cuts).sum(axis=0)  # 0 person, 1 machine, 2 busy, 3 failed, 4 cong, 5 cancel, 6 no answer
    person = kind == 0
    dropped = person & (rng.uniform(size=n) < topo.campaign_abandon[camp_idx])
    human = person & ~dropped
    names = np.array(["human", "machine", "busy", "failed", "congestion", "cancelled", "no_answer"], dtype=object)
    outcome = names[kind]
    outcome[dropped] = "abandoned"

    ring_start = rng.uniform(0.4, 2.5, n)
    answered = person | (kind == 1)
    ring_s = np.where(answered, rng.lognormal(np.log(9), 0.5, n),
                      np.where(kind == 6, rng.uniform(24, 32, n), rng.uniform(0.2, 3.0, n)))
    wait_s = np.where(human, np.clip(rng.lognormal(np.log(0.6), 0.6, n), 0.05, 1.95),
                      np.where(dropped, rng.uniform(2.0, 2.6, n), 0.0))
    talk_s = np.where(human, np.clip(rng.lognormal(np.log(75), 0.9, n), 3, 3600), 0.0)
    wrap_s = np.where(human, np.clip(rng.lognormal(np.log(15), 0.6, n), 2, 600), 0.0)
    tail_s = np.where(dropped, rng.uniform(6, 9, n), np.where(kind == 1, rng.lognormal(np.log(4), 0.4, n), 0.0))
    ring_s, wait_s, talk_s, wrap_s = (np.round(x, 3).astype(np.float32) for x in (ring_s, wait_s, talk_s, wrap_s))

    # Agents: each connected call goes to an agent of its campaign.
    agent = np.zeros(n, dtype=np.uint32)
    team = np.zeros(n, dtype=np.uint32)
    for ci, cid in enumerate(topo.campaign_ids):
        pool = np.flatnonzero(topo.agent_campaign == cid)
        mask = human & (camp_idx == ci)
        pick = pool[rng.integers(0, len(pool), mask.sum())]
        agent[mask], team[mask] = topo.agent_ids[pick], topo.agent_team[pick]

    disp = np.array([OUTCOME_DISPOSITION.get(o, "") for o in names], dtype=object)[kind]
    disp[dropped] = "DROP"
    disp[human] = np.array(CONNECTED_DISPOSITIONS, dtype=object)[
        rng.choice(len(CONNECTED_DISPOSITIONS), size=human.sum(), p=CONNECTED_WEIGHTS)]

    ms = lambda s: (np.asarray(s, dtype=np.float64) * 1000).round().astype(np.int64)  # noqa: E731
    dialed = dialed_ms
    ringing = dialed + ms(ring_start)
    answered_ms = ringing + ms(ring_s)
    connected_ms = answered_ms + ms(wait_s)
    ended_ms = np.where(human, connected_ms + ms(talk_s),
                        np.where(dropped, answered_ms + ms(wait_s) + ms(tail_s),
                                 np.where(kind == 1, answered_ms + ms(tail_s), ringing + ms(ring_s))))
    to_ts = lambda a: pd.to_datetime(a, unit="ms", utc=True)  # noqa: E731
    nat = pd.NaT
    lead_id = (list_id.astype(np.uint64) * 1_000_000 + rng.integers(0, 400_000, n).astype(np.uint64))
    cause_code = np.array([HANGUP[o][0] for o in names], dtype=np.uint16)[kind]
    cause_txt = np.array([HANGUP[o][1] for o in names], dtype=object)[kind]
    frame = pd.DataFrame({
        "call_id": uuid_strings(rng, n),
        "campaign_id": campaign, "list_id": list_id, "lead_id": lead_id, "agent_id": agent, "team_id": team,
        "pbx": spec.pbx,
        "uniqueid": pd.Series(dialed // 1000).astype(str) + "." + pd.Series(np.arange(n) % 100_000).astype(str),
        "phone_e164": "+1" + pd.Series(2_000_000_000 + (lead_id % 7_999_999_999)).astype(str),
        "lead_timezone": np.array(TIMEZONES, dtype=object)[tz_idx],
        "lead_state": np.array([TZ_STATES[t] for t in TIMEZONES], dtype=object)[tz_idx],
        "dial_method": "predictive", "attempt_no": attempt,
        "dialed_at": to_ts(dialed), "ringing_at": to_ts(ringing),
        "answered_at": to_ts(answered_ms).where(answered, nat),
        "amd_at": to_ts(answered_ms + 1500).where(answered, nat),
        "connected_at": to_ts(connected_ms).where(human, nat),
        "ended_at": to_ts(ended_ms),
        "wrap_ended_at": to_ts(ended_ms + ms(wrap_s)).where(human, nat),
        "ring_s": ring_s, "wait_s": wait_s, "talk_s": talk_s, "wrap_s": wrap_s,
        "outcome": outcome,
        "amd_verdict": np.where(kind == 1, "machine", np.where(person, "human", "")).astype(object),
        "hangup_cause": cause_code, "hangup_cause_txt": cause_txt,
        "dropped": dropped.astype(np.uint8),
        "safe_harbor_played": (dropped & (rng.uniform(size=n) < 0.97)).astype(np.uint8),
        "disposition_code": disp,
        "is_contact": person.astype(np.uint8),
        "is_sale": (disp == "SALE").astype(np.uint8),
        "is_dnc": (disp == "DNC").astype(np.uint8),
        "recording_id": np.where(human, "rec-" + pd.Series(dialed).astype(str), "").astype(object),
        "version": np.ones(n, dtype=np.uint64), "sign": np.ones(n, dtype=np.int8),
    })
    return frame.sort_values("dialed_at", kind="stable").reset_index(drop=True)


def generate(spec: GenSpec, topology: Topology | None = None) -> Dataset:
    """One seeded dataset for ``spec`` (same spec -> same data)."""
    if spec.days < 1 or spec.calls < 1:
        raise ValueError("days and calls must be positive")
    topo = topology or Topology.build(spec)
    rng = np.random.default_rng([spec.seed, spec.start.toordinal(), spec.days, spec.calls])
    cdr = _cdr(spec, topo, rng)
    return Dataset(
        cdr=cdr,
        agent_states=agent_states(cdr, topo, rng),
        dial_decisions=dial_decisions(cdr, topo, rng),
        utterances=utterances(cdr, rng, spec.transcribed_share),
    )


def generate_chunks(spec: GenSpec, days_per_chunk: int) -> Iterator[Dataset]:
    """``spec`` in slices of ``days_per_chunk`` days (calls split pro rata), same topology throughout."""
    topo = Topology.build(spec)
    done = 0
    for first in range(0, spec.days, days_per_chunk):
        days = min(days_per_chunk, spec.days - first)
        calls = round(spec.calls * (first + days) / spec.days) - done
        done += calls
        yield generate(replace(spec, start=spec.start + timedelta(days=first), days=days, calls=calls), topo)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """DataFrame rows as plain dicts: NaT/None -> None, Timestamps -> aware datetimes, numpy -> Python."""
    columns: dict[str, list[object]] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series):
            columns[name] = [None if pd.isna(v) else v.to_pydatetime() for v in series]
        elif not pd.api.types.is_numeric_dtype(series):  # object or pandas' str dtype (NaN for missing)
            columns[name] = [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
                             for v in series]
        else:
            columns[name] = series.tolist()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def insert_dataset(client: Client, data: Dataset) -> None:
    """Write a dataset the way production does: CDRs through ``insert_cdrs`` (idempotent), the
    other tables as plain inserts (they are ReplacingMergeTree: duplicates fold under FINAL)."""
    insert_cdrs(client, _records(data.cdr))
    for table, frame in (("agent_states", data.agent_states), ("dial_decisions", data.dial_decisions),
                         ("utterances", data.utterances)):
        if not frame.empty:
            client.insert(table, [list(r.values()) for r in _records(frame)], column_names=list(frame.columns))
