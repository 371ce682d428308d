"""The tables derived from generated CDRs: agent state intervals, dial decisions, utterances.

Kept apart from :mod:`analytics.generate` (which draws the calls) so each stays short. Every
function is vectorised: the benchmark runs them on millions of calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from analytics.generate import Topology

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Byte positions of the 32 hex digits inside the 36-character canonical form (RFC 9562 s. 4).
_DIGIT_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])

PAUSE_CODES = ("LUNCH", "BREAK", "TRAIN", "MEET")
PHRASES = {
    "agent": ("Hi, this is Sam calling about your account.", "Is now a good time to talk?",
              "I can offer you a better rate today.", "Let me confirm your details.",
              "Thank you for your time.", "I understand, I'll note that."),
    "customer": ("Sure, go ahead.", "I'm not interested, thanks.", "That sounds great!",
                 "Can you call me back later?", "How much does it cost?", "Please stop calling me.",
                 "Yes, let's do it.", "I'm busy right now."),
}


def uuid_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random version-4 UUIDs as canonical strings, without a Python loop per value."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_POS] = digits
    return text.view("S36").ravel().astype(str).astype(object)


def _epoch_ms(stamps: pd.Series) -> np.ndarray:
    return stamps.dt.as_unit("ms").astype("int64").to_numpy()


def _ts(ms: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(ms, unit="ms", utc=True))


def agent_states(cdr: pd.DataFrame, topo: Topology, rng: np.random.Generator) -> pd.DataFrame:
    """Per connected call: ready (waiting for it), incall (talk), wrap; per agent-day: pauses."""
    calls = cdr[cdr["connected_at"].notna()]
    n = len(calls)
    connected = _epoch_ms(calls["connected_at"])
    talk_ms = (calls["talk_s"].to_numpy(np.float64) * 1000).round().astype(np.int64)
    wrap_ms = (calls["wrap_s"].to_numpy(np.float64) * 1000).round().astype(np.int64)
    ready_ms = (np.clip(rng.exponential(25.0, n), 0.5, 900) * 1000).round().astype(np.int64)
    starts = np.concatenate([connected - ready_ms, connected, connected + talk_ms])
    durations = np.concatenate([ready_ms, talk_ms, wrap_ms])
    states = np.repeat(np.array(["ready", "incall", "wrap"], dtype=object), n)
    agent = np.tile(calls["agent_id"].to_numpy(np.uint32), 3)
    team = np.tile(calls["team_id"].to_numpy(np.uint32), 3)
    campaign = np.tile(calls["campaign_id"].to_numpy(np.uint32), 3)
    call_ids = np.concatenate([np.full(n, None, dtype=object), calls["call_id"].to_numpy(), calls["call_id"].to_numpy()])
    codes = np.full(3 * n, "", dtype=object)

    # Pauses: each agent who took calls on a UTC day pauses 1-3 times that day.
    days = _epoch_ms(calls["connected_at"].dt.floor("D"))
    worked = pd.DataFrame({"agent": calls["agent_id"].to_numpy(), "day": days}).drop_duplicates()
    k = rng.integers(1, 4, len(worked))
    p_agent = np.repeat(worked["agent"].to_numpy(np.uint32), k)
    p_day = np.repeat(worked["day"].to_numpy(np.int64), k)
    m = len(p_agent)
    index = np.searchsorted(topo.agent_ids, p_agent)
    p_start = p_day + (rng.uniform(13, 23, m) * 3_600_000).astype(np.int64)
    p_dur = (rng.choice([300, 600, 900, 1800], m) * 1000 * rng.uniform(0.8, 1.2, m)).round().astype(np.int64)

    started = np.concatenate([starts, p_start])
    duration_ms = np.concatenate([durations, p_dur])
    total = 3 * n + m
    frame = pd.DataFrame({
        "interval_id": uuid_strings(rng, total),
        "agent_id": np.concatenate([agent, p_agent]),
        "team_id": np.concatenate([team, topo.agent_team[index]]),
        "campaign_id": np.concatenate([campaign, topo.agent_campaign[index]]),
        "session_id": "",
        "state": np.concatenate([states, np.full(m, "paused", dtype=object)]),
        "pause_code": np.concatenate([codes, np.array(PAUSE_CODES, dtype=object)[rng.integers(0, 4, m)]]),
        "started_at": _ts(started),
        "ended_at": _ts(started + duration_ms),
        "duration_s": (duration_ms / 1000).astype(np.float32),
        "call_id": np.concatenate([call_ids, np.full(m, None, dtype=object)]),
        "version": np.ones(total, dtype=np.uint64),
    })
    frame["session_id"] = "s" + frame["agent_id"].astype(str)
    return frame.sort_values(["agent_id", "started_at"], kind="stable").reset_index(drop=True)


def dial_decisions(cdr: pd.DataFrame, topo: Topology, rng: np.random.Generator) -> pd.DataFrame:
    """One pacing decision per campaign per minute with dials; calls_placed = that minute's CDRs."""
    minute = cdr["dialed_at"].dt.floor("min")
    per = (cdr.assign(minute=minute).groupby(["campaign_id", "minute"], observed=True)
           .agg(placed=("call_id", "size"), dropped=("dropped", "sum")).reset_index())
    n = len(per)
    staffed = np.bincount(topo.agent_campaign, minlength=int(topo.campaign_ids.max()) + 1)
    logged = staffed[per["campaign_id"].to_numpy()].astype(np.uint16)
    idle = np.minimum(logged, rng.binomial(logged, 0.25)).astype(np.uint16)
    level = np.round(per["placed"].to_numpy() / np.maximum(1, idle) / 2.0 + rng.uniform(1.0, 1.5, n), 3)
    est_abandon = np.clip(rng.normal(0.022, 0.008, n) + per["dropped"].to_numpy() * 0.01, 0, 0.2)
    guard = est_abandon > 0.03
    return pd.DataFrame({
        "decision_id": uuid_strings(rng, n),
        "at": per["minute"] + pd.to_timedelta(rng.uniform(0, 59, n), unit="s").round("ms"),
        "campaign_id": per["campaign_id"].to_numpy(np.uint32),
        "algorithm": "adaptive",
        "agents_logged_in": logged, "agents_idle": idle, "agents_busy": (logged - idle).astype(np.uint16),
        "calls_ringing": rng.poisson(3, n).astype(np.uint16), "calls_waiting": rng.poisson(0.2, n).astype(np.uint16),
        "dial_level": level.astype(np.float32),
        "calls_placed": per["placed"].to_numpy(np.uint16),
        "capped_by": np.where(guard, "abandon_guard", "").astype(object),
        "est_answer_rate": rng.uniform(0.15, 0.3, n).astype(np.float32),
        "est_abandon_rate": est_abandon.astype(np.float32),
        "target_abandon_rate": np.full(n, 0.03, dtype=np.float32),
        "guard_active": guard.astype(np.uint8),
        "hopper_depth": rng.integers(50, 500, n).astype(np.uint32),
        "extra": "{}",
    })


def utterances(cdr: pd.DataFrame, rng: np.random.Generator, share: float) -> pd.DataFrame:
    """A transcript for ``share`` of connected calls: 4-12 alternating utterances with sentiment."""
    calls = cdr[cdr["connected_at"].notna()]
    calls = calls[rng.uniform(size=len(calls)) < share]
    k = rng.integers(4, 13, len(calls))
    rows = np.repeat(np.arange(len(calls)), k)
    seq = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
    talk = calls["talk_s"].to_numpy(np.float64)[rows]
    step = talk / np.repeat(k, k)
    started = seq * step
    speaker = np.where(seq % 2 == 0, "agent", "customer").astype(object)
    sale = calls["is_sale"].to_numpy()[rows] == 1
    refused = calls["disposition_code"].isin(["NI", "DNC", "HU"]).to_numpy()[rows]
    mood = np.where(sale, 0.45, np.where(refused, -0.3, 0.05))
    sentiment = np.clip(rng.normal(mood, 0.25), -1, 1).astype(np.float32)
    text = np.where(speaker == "agent",
                    np.array(PHRASES["agent"], dtype=object)[rng.integers(0, len(PHRASES["agent"]), len(rows))],
                    np.array(PHRASES["customer"], dtype=object)[rng.integers(0, len(PHRASES["customer"]), len(rows))])
    connected = _epoch_ms(calls["connected_at"])[rows]
    return pd.DataFrame({
        "call_id": calls["call_id"].to_numpy()[rows],
        "seq": seq.astype(np.uint32),
        "speaker": speaker,
        "started_s": started.astype(np.float32),
        "ended_s": (started + step * 0.9).astype(np.float32),
        "text": text,
        "sentiment": sentiment,
        "redacted": np.zeros(len(rows), dtype=np.uint8),
        "campaign_id": calls["campaign_id"].to_numpy(np.uint32)[rows],
        "agent_id": calls["agent_id"].to_numpy(np.uint32)[rows],
        "at": _ts(connected + (started * 1000).round().astype(np.int64)),
        "version": np.ones(len(rows), dtype=np.uint64),
    })
