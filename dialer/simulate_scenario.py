"""Pacing-benchmark scenarios: parsing, distributions, probability schedules and the lead list.

Semantics follow ``bench/scenarios/README.md`` exactly (§1 fields, §1.1 distributions, §2.1 common
random numbers, §3 answer-rate schedules). Everything here is pure: no clock, no I/O except
:func:`load_scenario`, which reads one JSON file.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.exceptions import ValidationError

logger = logging.getLogger(__name__)

LEAD_BLOCK = 4096
DEFAULT_UTC_OFFSETS = {
    "America/New_York": -5.0,
    "America/Chicago": -6.0,
    "America/Denver": -7.0,
    "America/Los_Angeles": -8.0,
}


class ScenarioError(ValidationError, ValueError):
    """A scenario file is malformed; the message names the offending field."""


def _num(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{field}: expected a finite number, got {value!r}", {field: "not a number"})
    return float(value)


# ---------------------------------------------------------------- distributions (§1.1)


@dataclass(frozen=True)
class Distribution:
    kind: str
    params: Mapping[str, Any]
    clip: tuple[float, float] | None = None

    @classmethod
    def parse(cls, spec: Any, field: str) -> Distribution:
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            return cls("fixed", {"value": _num(spec, field)})
        if not isinstance(spec, Mapping) or "dist" not in spec:
            raise ScenarioError(f"{field}: expected a number or an object with 'dist'", {field: "bad distribution"})
        kind = spec["dist"]
        clip = None
        if spec.get("clip") is not None:
            lo, hi = spec["clip"]
            clip = (_num(lo, f"{field}.clip"), _num(hi, f"{field}.clip"))
            if clip[0] > clip[1]:
                raise ScenarioError(f"{field}.clip: lo > hi", {field: "bad clip"})
        need = {
            "fixed": ("value",),
            "uniform": ("lo", "hi"),
            "lognormal": ("mean", "sd"),
            "gamma": ("mean", "sd"),
            "exponential": ("mean",),
            "empirical": ("values",),
            "mixture": ("components",),
        }
        if kind not in need:
            raise ScenarioError(f"{field}: unknown dist {kind!r}", {field: "unknown dist"})
        for key in need[kind]:
            if key not in spec:
                raise ScenarioError(f"{field}: dist {kind} needs {key!r}", {field: f"missing {key}"})
        params: dict[str, Any] = {}
        if kind == "empirical":
            values = [_num(v, f"{field}.values") for v in spec["values"]]
            if not values:
                raise ScenarioError(f"{field}.values: empty", {field: "empty"})
            params["values"] = tuple(values)
        elif kind == "mixture":
            comps = []
            for i, comp in enumerate(spec["components"]):
                weight = _num(comp.get("weight", 1.0), f"{field}.components[{i}].weight")
                comps.append((weight, cls.parse({k: v for k, v in comp.items() if k != "weight"}, f"{field}[{i}]")))
            if not comps or sum(w for w, _ in comps) <= 0:
                raise ScenarioError(f"{field}: mixture needs positive weights", {field: "bad weights"})
            params["components"] = tuple(comps)
        else:
            for key in need[kind]:
                params[key] = _num(spec[key], f"{field}.{key}")
            if kind in ("lognormal", "gamma", "exponential") and params["mean"] <= 0:
                raise ScenarioError(f"{field}.mean must be > 0", {field: "mean <= 0"})
        return cls(kind, params, clip)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        p = self.params
        if self.kind == "fixed":
            out = np.full(n, p["value"])
        elif self.kind == "uniform":
            out = rng.uniform(p["lo"], p["hi"], n)
        elif self.kind == "lognormal":
            sigma2 = math.log1p((p["sd"] / p["mean"]) ** 2)
            out = rng.lognormal(math.log(p["mean"]) - sigma2 / 2, math.sqrt(sigma2), n)
        elif self.kind == "gamma":
            if p["sd"] <= 0:
                out = np.full(n, p["mean"])
            else:
                shape = (p["mean"] / p["sd"]) ** 2
                out = rng.gamma(shape, p["mean"] / shape, n)
        elif self.kind == "exponential":
            out = rng.exponential(p["mean"], n)
        elif self.kind == "empirical":
            out = np.asarray(p["values"])[rng.integers(0, len(p["values"]), n)]
        else:  # mixture: pick a component per draw, then draw every component (fixed draw count per block)
            weights = np.array([w for w, _ in p["components"]], dtype=float)
            pick = rng.choice(len(weights), size=n, p=weights / weights.sum())
            out = np.zeros(n)
            for i, (_, comp) in enumerate(p["components"]):
                draws = comp.sample(rng, n)
                out = np.where(pick == i, draws, out)
        out = np.maximum(out, 0.0)
        if self.clip is not None:
            out = np.clip(out, self.clip[0], self.clip[1])
        return out

    def mean(self) -> float:
        """Expected value after clipping (analytic where exact, else a fixed-seed Monte Carlo)."""
        p = self.params
        if self.clip is None:
            if self.kind == "fixed":
                return max(p["value"], 0.0)
            if self.kind in ("lognormal", "gamma", "exponential"):
                return p["mean"]
            if self.kind == "empirical":
                return float(np.mean(np.maximum(p["values"], 0.0)))
        return float(self.sample(np.random.default_rng(12345), 400_000).mean())


# ---------------------------------------------------------------- probability schedules (§3)


@dataclass(frozen=True)
class Schedule:
    """``constant`` / ``piecewise`` (step or linear) probability of dial time t."""

    points: tuple[tuple[float, float], ...]
    interp: str = "step"

    @classmethod
    def parse(cls, spec: Any, field: str) -> Schedule:
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            return cls(((0.0, _prob(spec, field)),))
        if not isinstance(spec, Mapping):
            raise ScenarioError(f"{field}: expected a probability or a schedule object", {field: "bad schedule"})
        kind = spec.get("type")
        if kind == "constant":
            return cls(((0.0, _prob(spec.get("value"), f"{field}.value")),))
        if kind == "piecewise":
            pts = tuple((_num(t, f"{field}.points"), _prob(v, f"{field}.points")) for t, v in spec.get("points", []))
            if not pts or any(b[0] < a[0] for a, b in zip(pts, pts[1:], strict=False)):
                raise ScenarioError(f"{field}.points: need ≥1 point in time order", {field: "bad points"})
            interp = spec.get("interp", "step")
            if interp not in ("step", "linear"):
                raise ScenarioError(f"{field}.interp: step or linear", {field: "bad interp"})
            return cls(pts, interp)
        raise ScenarioError(f"{field}: unknown schedule type {kind!r}", {field: "unknown type"})

    def at(self, t: float) -> float:
        pts = self.points
        if len(pts) == 1 or t <= pts[0][0]:
            return pts[0][1]
        for i in range(len(pts) - 1, -1, -1):
            if pts[i][0] <= t:
                if self.interp == "step" or i == len(pts) - 1:
                    return pts[i][1]
                (t0, v0), (t1, v1) = pts[i], pts[i + 1]
                return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return pts[0][1]

    def change_times(self) -> list[float]:
        return [t for t, _ in self.points[1:]]


def _prob(value: Any, field: str) -> float:
    v = _num(value, field)
    if not 0.0 <= v <= 1.0:
        raise ScenarioError(f"{field}: probability {v} outside [0, 1]", {field: "not a probability"})
    return v


@dataclass(frozen=True)
class TodCurve:
    """§3.3: answer probability by the lead's local hour; zones open within the calling window."""

    by_local_hour: Mapping[int, float]
    mix: tuple[tuple[str, float, float], ...]  # (zone, weight, utc offset hours)
    window: tuple[float, float]
    start_utc_h: float

    def open_zones(self, t: float) -> list[tuple[str, float, float]]:
        out = []
        for zone, weight, offset in self.mix:
            local = (self.start_utc_h + t / 3600.0 + offset) % 24.0
            if self.window[0] <= local < self.window[1] and weight > 0:
                out.append((zone, weight, offset))
        return out

    def live_prob(self, t: float, u_tz: float) -> float | None:
        """None when no zone is open (no call can be placed)."""
        zones = self.open_zones(t)
        if not zones:
            return None
        total = sum(w for _, w, _ in zones)
        acc = 0.0
        chosen = zones[-1]
        for z in zones:
            acc += z[1] / total
            if u_tz < acc:
                chosen = z
                break
        hour = int((self.start_utc_h + t / 3600.0 + chosen[2]) % 24.0)
        return self.by_local_hour.get(hour, 0.0)

    def any_open(self, t: float) -> bool:
        return bool(self.open_zones(t))


# ---------------------------------------------------------------- the scenario


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    seeds: tuple[int, ...]
    duration_s: float
    window_start_s: float
    schedule: tuple[tuple[float, int], ...]
    pacing_tick_s: float
    max_lines: int | None
    max_lines_per_agent: float | None
    max_dials_per_s: float | None
    answer: Schedule | None
    tod: TodCurve | None
    machine: Schedule
    fail: Schedule
    ring_live: Distribution
    ring_machine: Distribution
    fail_detect: Distribution
    no_answer_timeout_s: float
    talk: Distribution
    wrap: Distribution
    machine_handle_s: float
    amd_enabled: bool
    amd_machine_detect: float
    amd_live_fp: float
    amd_latency_live_s: float
    amd_latency_machine_s: float
    drop_after_s: float
    drop_clock_from: str
    target_abandon_rate: float
    count_amd_fp: bool
    shift_times: tuple[float, ...]

    def live_prob(self, t: float, u_tz: float) -> float | None:
        if self.tod is not None:
            return self.tod.live_prob(t, u_tz)
        assert self.answer is not None
        return self.answer.at(t)

    def policy_settings(self) -> dict[str, Any]:
        """§2.8: exactly what the policy is told."""
        out: dict[str, Any] = {
            "target_abandon_rate": self.target_abandon_rate,
            "dial_timeout_s": self.no_answer_timeout_s,
            "drop_after_s": self.drop_after_s,
        }
        if self.max_lines_per_agent is not None:
            out["max_lines_per_agent"] = self.max_lines_per_agent
        return out

    def ceiling(self) -> float:
        """§4: E[talk] / (E[talk] + E[wrap] + machine_handle × unscreened machines per connected live call)."""
        talk, wrap = self.talk.mean(), self.wrap.mean()
        unscreened = 0.0
        if self.amd_enabled:
            grid = np.linspace(self.window_start_s, self.duration_s, 241)
            live = np.mean([self.live_prob(float(t), 0.5) or 0.0 for t in grid]) * (1 - self.amd_live_fp)
            mach = np.mean([self.machine.at(float(t)) for t in grid]) * (1 - self.amd_machine_detect)
            unscreened = float(mach / live) if live > 0 else 0.0
        return talk / (talk + wrap + self.machine_handle_s * unscreened)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    try:
        return _parse(data)
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"malformed scenario: {exc!r}", {"scenario": str(exc)}) from exc


def _parse(d: Mapping[str, Any]) -> Scenario:
    out, timing, amd, comp, limits = d["outcomes"], d["timing"], d.get("amd") or {}, d["compliance"], d["limits"]
    seeds = tuple(int(s) for s in d["seeds"])
    if not seeds:
        raise ScenarioError("seeds: need at least one", {"seeds": "empty"})
    duration = _num(d["duration_s"], "duration_s")
    window_start = max(_num(d.get("warmup_s", 0), "warmup_s"), _num(d.get("report_warmup_excluded_s", 0), "x"))
    if not 0 <= window_start < duration:
        raise ScenarioError("window start must lie in [0, duration_s)", {"duration_s": "too short"})
    sched = tuple((_num(t, "agents.schedule"), int(n)) for t, n in d["agents"]["schedule"])
    if not sched or sched[0][0] != 0 or any(n < 0 for _, n in sched):
        raise ScenarioError("agents.schedule: first entry must be at t = 0, counts ≥ 0", {"agents": "bad schedule"})
    tick = _num(d["pacing_tick_s"], "pacing_tick_s")
    if tick <= 0:
        raise ScenarioError("pacing_tick_s must be > 0", {"pacing_tick_s": "≤ 0"})
    ans_spec = out["answer_prob"]
    tz_spec = out.get("timezones") or d.get("outcomes_timezones")
    answer: Schedule | None = None
    tod: TodCurve | None = None
    if isinstance(ans_spec, Mapping) and ans_spec.get("type") == "tod_curve":
        if not tz_spec:
            raise ScenarioError("tod_curve needs outcomes_timezones", {"outcomes_timezones": "missing"})
        offsets = dict(DEFAULT_UTC_OFFSETS)
        offsets.update({k: _num(v, "utc_offsets") for k, v in (tz_spec.get("utc_offsets") or {}).items()})
        mix = []
        for zone, w in tz_spec["mix"].items():
            if zone not in offsets:
                raise ScenarioError(f"outcomes_timezones: unknown zone {zone!r}", {"mix": zone})
            mix.append((zone, _num(w, "mix"), offsets[zone]))
        hh, mm = str(tz_spec.get("campaign_start_utc", "00:00")).split(":")
        lo, hi = tz_spec.get("calling_window_local", [0, 24])
        curve = {int(h): _prob(p, f"by_local_hour.{h}") for h, p in ans_spec["by_local_hour"].items()}
        tod = TodCurve(curve, tuple(mix), (float(lo), float(hi)), int(hh) + int(mm) / 60.0)
    else:
        answer = Schedule.parse(ans_spec, "outcomes.answer_prob")
    machine = Schedule.parse(out.get("machine_prob", 0.0), "outcomes.machine_prob")
    fail = Schedule.parse(out.get("fail_prob", 0.0), "outcomes.fail_prob")
    timeout = _num(timing["no_answer_timeout_s"], "timing.no_answer_timeout_s")
    min_ring = _num(comp.get("min_ring_s", 0), "compliance.min_ring_s")
    if timeout < min_ring:
        raise ScenarioError("no_answer_timeout_s must be ≥ compliance.min_ring_s", {"timing": "timeout < min ring"})
    clock_from = comp.get("drop_clock_from", "answer")
    if clock_from not in ("answer", "connect_offer"):
        raise ScenarioError("compliance.drop_clock_from: answer or connect_offer", {"compliance": clock_from})
    if comp.get("window", "campaign") != "campaign":
        raise ScenarioError("compliance.window: only 'campaign' is supported", {"compliance": "window"})
    if "shift_t" in d and d["shift_t"] is not None:
        shifts: tuple[float, ...] = (_num(d["shift_t"], "shift_t"),)
    else:
        shifts = tuple(answer.change_times()) if answer is not None else ()

    def opt(v: Any, field: str) -> float | None:
        return None if v is None else _num(v, field)

    max_lines = opt(limits.get("max_lines"), "limits.max_lines")
    sc = Scenario(
        id=str(d.get("id", "?")),
        description=str(d.get("description", "")),
        seeds=seeds,
        duration_s=duration,
        window_start_s=window_start,
        schedule=sched,
        pacing_tick_s=tick,
        max_lines=None if max_lines is None else int(max_lines),
        max_lines_per_agent=opt(limits.get("max_lines_per_agent"), "limits.max_lines_per_agent"),
        max_dials_per_s=opt(limits.get("max_dials_per_s"), "limits.max_dials_per_s"),
        answer=answer,
        tod=tod,
        machine=machine,
        fail=fail,
        ring_live=Distribution.parse(timing["ring_live_s"], "timing.ring_live_s"),
        ring_machine=Distribution.parse(timing["ring_machine_s"], "timing.ring_machine_s"),
        fail_detect=Distribution.parse(timing["fail_detect_s"], "timing.fail_detect_s"),
        no_answer_timeout_s=timeout,
        talk=Distribution.parse(timing["talk_s"], "timing.talk_s"),
        wrap=Distribution.parse(timing["wrap_s"], "timing.wrap_s"),
        machine_handle_s=_num(timing.get("machine_handle_s", 0.0), "timing.machine_handle_s"),
        amd_enabled=bool(amd.get("enabled", False)),
        amd_machine_detect=_prob(amd.get("machine_detect", 1.0), "amd.machine_detect"),
        amd_live_fp=_prob(amd.get("live_false_positive", 0.0), "amd.live_false_positive"),
        amd_latency_live_s=_num(amd.get("latency_live_s", 0.0), "amd.latency_live_s"),
        amd_latency_machine_s=_num(amd.get("latency_machine_s", 0.0), "amd.latency_machine_s"),
        drop_after_s=_num(comp["drop_after_s"], "compliance.drop_after_s"),
        drop_clock_from=clock_from,
        target_abandon_rate=_prob(comp["target_abandon_rate"], "compliance.target_abandon_rate"),
        count_amd_fp=bool(comp.get("count_amd_false_positives", False)),
        shift_times=shifts,
    )
    for t in (0.0, duration / 2, duration):
        total = (sc.live_prob(t, 0.0) or 0.0) + machine.at(t) + fail.at(t)
        if total > 1.0 + 1e-9:
            raise ScenarioError(f"outcomes: answer + machine + fail = {total:.3f} > 1 at t={t}", {"outcomes": "> 1"})
    return sc


def load_scenario(path: str | Path) -> Scenario:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}", {"scenario": str(path)}) from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"scenario {path} is not JSON: {exc}", {"scenario": str(path)}) from exc
    if not isinstance(data, Mapping):
        raise ScenarioError(f"scenario {path}: top level must be an object", {"scenario": str(path)})
    return parse_scenario(data)


# ---------------------------------------------------------------- leads (§2.1: common random numbers)


class LeadList:
    """The seed's ordered lead list, generated in fixed blocks so lead k never depends on how many are used.

    Block b is drawn from ``default_rng([seed, b])`` in a fixed field order, so every policy dials the same
    people in the same order.
    """

    FIELDS = ("u", "ring_live", "ring_machine", "fail_detect", "talk", "wrap", "u_amd", "u_tz")

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self._sc = scenario
        self._seed = seed
        self._blocks: dict[int, list[tuple[float, ...]]] = {}

    def _block(self, b: int) -> list[tuple[float, ...]]:
        rng = np.random.default_rng([self._seed, b])
        sc, n = self._sc, LEAD_BLOCK
        cols = (
            rng.random(n),
            sc.ring_live.sample(rng, n),
            sc.ring_machine.sample(rng, n),
            sc.fail_detect.sample(rng, n),
            sc.talk.sample(rng, n),
            sc.wrap.sample(rng, n),
            rng.random(n),
            rng.random(n),
        )
        return list(zip(*(c.tolist() for c in cols), strict=True))

    def __getitem__(self, k: int) -> tuple[float, ...]:
        b, i = divmod(k, LEAD_BLOCK)
        block = self._blocks.get(b)
        if block is None:
            block = self._blocks[b] = self._block(b)
            self._blocks.pop(b - 2, None)  # leads are consumed in order; keep memory flat
        return block[i]
