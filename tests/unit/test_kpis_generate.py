"""The synthetic data generator: seeded, self-consistent, realistic ranges."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.cdr import cdr_row
from analytics.generate import GenSpec, generate, generate_chunks

SPEC = GenSpec(start=date(2026, 5, 4), days=7, calls=20_000, campaigns=4, agents=40, seed=11)


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return generate(SPEC)


def test_same_seed_same_data_other_seed_other_data(data) -> None:  # type: ignore[no-untyped-def]
    again = generate(SPEC)
    pd.testing.assert_frame_equal(data.cdr, again.cdr)
    pd.testing.assert_frame_equal(data.agent_states, again.agent_states)
    other = generate(GenSpec(start=SPEC.start, days=7, calls=20_000, campaigns=4, agents=40, seed=12))
    assert not other.cdr["talk_s"].equals(data.cdr["talk_s"])


def test_calls_are_placed_in_the_leads_local_calling_hours(data) -> None:  # type: ignore[no-untyped-def]
    cdr = data.cdr
    for tz, rows in cdr.groupby("lead_timezone"):
        local = rows["dialed_at"].dt.tz_convert(tz)
        assert local.dt.hour.between(8, 20).all(), tz
    assert cdr["call_id"].is_unique and len(cdr) == SPEC.calls


def test_rates_look_like_an_outbound_floor(data) -> None:  # type: ignore[no-untyped-def]
    cdr = data.cdr
    contacts = cdr["is_contact"].sum()
    assert 0.12 < contacts / len(cdr) < 0.25
    assert 0.015 < cdr["dropped"].sum() / contacts < 0.035  # abandons ~2-3% of live answers
    talk = cdr.loc[cdr["connected_at"].notna(), "talk_s"]
    assert 55 < talk.median() < 100 and talk.mean() > talk.median()  # lognormal: right-skewed
    assert (cdr.loc[cdr["outcome"] == "abandoned", "disposition_code"] == "DROP").all()
    sales = cdr.loc[cdr["is_sale"] == 1]
    assert (sales["outcome"] == "human").all() and 0.05 < len(sales) / len(talk) < 0.14
    # More dials on weekdays than on Sunday (2026-05-10).
    per_day = cdr.groupby(cdr["dialed_at"].dt.tz_convert("America/New_York").dt.date).size()
    assert per_day[date(2026, 5, 10)] < per_day[date(2026, 5, 6)] / 3


def test_answer_rate_depends_on_local_hour(data) -> None:  # type: ignore[no-untyped-def]
    cdr = data.cdr
    hour = pd.Series(np.zeros(len(cdr), dtype=int), index=cdr.index)
    for tz, rows in cdr.groupby("lead_timezone"):
        hour.loc[rows.index] = rows["dialed_at"].dt.tz_convert(tz).dt.hour
    rate = cdr.groupby(hour)["is_contact"].mean()
    assert rate[19] > rate[14] * 1.4  # evening peak vs early-afternoon trough


def test_every_cdr_passes_the_production_validator(data) -> None:  # type: ignore[no-untyped-def]
    sample = data.cdr.sample(300, random_state=1)
    for record in sample.astype(object).where(sample.notna(), None).to_dict("records"):
        record = {k: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}
        record = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in record.items()}
        row = cdr_row(record)
        assert row["is_contact"] == record["is_contact"]


def test_derived_tables_are_consistent_with_the_calls(data) -> None:  # type: ignore[no-untyped-def]
    cdr, states = data.cdr, data.agent_states
    connected = cdr[cdr["connected_at"].notna()]
    incall = states[states["state"] == "incall"]
    assert len(incall) == len(connected)
    assert incall["duration_s"].sum() == pytest.approx(connected["talk_s"].astype(float).sum(), rel=1e-4)
    assert set(states.loc[states["state"] == "paused", "pause_code"]) <= {"LUNCH", "BREAK", "TRAIN", "MEET"}
    assert data.dial_decisions["calls_placed"].sum() == len(cdr)
    utt = data.utterances
    assert set(utt["call_id"]) <= set(connected["call_id"]) and utt["sentiment"].between(-1, 1).all()
    assert 0.1 < utt["call_id"].nunique() / len(connected) < 0.3


def test_chunks_share_the_topology_and_split_the_calls() -> None:
    spec = GenSpec(start=date(2026, 5, 4), days=5, calls=3_001, seed=3)
    chunks = list(generate_chunks(spec, 2))
    assert [len(c.cdr) for c in chunks] == [1200, 1201, 600]
    agents = set().union(*(set(c.cdr["agent_id"]) for c in chunks)) - {0}
    assert agents <= set(range(101, 101 + spec.agents))


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError):
        generate(GenSpec(start=date(2026, 5, 4), calls=0))
    with pytest.raises(ValueError):
        generate(GenSpec(start=date(2026, 5, 4), campaigns=5, agents=2))
