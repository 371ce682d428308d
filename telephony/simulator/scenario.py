"""The simulator's outcome model: a validated scenario and seeded per-call draws.

The schema reuses the pacing benchmark's keys (``/work/shared/scenarios/README.md``:
``outcomes.*``, ``timing.*``, ``amd.*``, distributions with ``dist``) and adds a ``sim`` section
for what only a PBX needs (busy/congestion split, patience, machine greeting, dialogue, time scale).
Pure: no I/O, no clock. ``ScenarioError`` carries the JSON path of the bad field.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

DIST_KINDS = ("fixed", "uniform", "lognormal", "gamma", "exponential", "empirical", "mixture")
OUTCOMES = ("human", "machine", "busy", "congestion", "noanswer", "unallocated")


class ScenarioError(ValueError):
    """A malformed scenario; ``path`` is the JSON path of the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _num(value: Any, path: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ScenarioError(path, f"expected a number, got {value!r}")
    if lo is not None and value < lo:
        raise ScenarioError(path, f"must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ScenarioError(path, f"must be <= {hi}, got {value}")
    return float(value)


@dataclass(frozen=True)
class Distribution:
    spec: Any

    @classmethod
    def parse(cls, raw: Any, path: str) -> Distribution:
        _check_dist(raw, path)
        return cls(raw)

    def sample(self, rng: random.Random) -> float:
        return _sample(self.spec, rng)


def _check_dist(raw: Any, path: str) -> None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        _num(raw, path, lo=0)
        return
    if not isinstance(raw, dict):
        raise ScenarioError(path, f"expected a distribution object or a number, got {raw!r}")
    kind = raw.get("dist")
    if kind not in DIST_KINDS:
        raise ScenarioError(f"{path}.dist", f"unknown distribution {kind!r}")
    need = {
        "fixed": ("value",), "uniform": ("lo", "hi"), "lognormal": ("mean", "sd"), "gamma": ("mean", "sd"),
        "exponential": ("mean",), "empirical": ("values",), "mixture": ("components",),
    }[kind]
    for key in need:
        if key not in raw:
            raise ScenarioError(f"{path}.{key}", "missing")
    if kind == "empirical":
        if not isinstance(raw["values"], list) or not raw["values"]:
            raise ScenarioError(f"{path}.values", "expected a non-empty list")
        for i, v in enumerate(raw["values"]):
            _num(v, f"{path}.values[{i}]")
    elif kind == "mixture":
        comps = raw["components"]
        if not isinstance(comps, list) or not comps:
            raise ScenarioError(f"{path}.components", "expected a non-empty list")
        for i, comp in enumerate(comps):
            _num(comp.get("weight") if isinstance(comp, dict) else None, f"{path}.components[{i}].weight", lo=0)
            _check_dist({k: v for k, v in comp.items() if k != "weight"}, f"{path}.components[{i}]")
    else:
        for key in need:
            _num(raw[key], f"{path}.{key}", lo=0 if key != "lo" else None)
        if kind in ("lognormal", "gamma", "exponential") and raw["mean"] <= 0:
            raise ScenarioError(f"{path}.mean", "must be > 0")
        if kind == "gamma" and raw["sd"] <= 0:
            raise ScenarioError(f"{path}.sd", "must be > 0")
        if kind == "uniform" and raw["hi"] < raw["lo"]:
            raise ScenarioError(f"{path}.hi", "must be >= lo")
    if "clip" in raw:
        clip = raw["clip"]
        if not (isinstance(clip, list) and len(clip) == 2):
            raise ScenarioError(f"{path}.clip", "expected [lo, hi]")
        _num(clip[0], f"{path}.clip[0]")
        _num(clip[1], f"{path}.clip[1]", lo=clip[0])


def _sample(spec: Any, rng: random.Random) -> float:
    if not isinstance(spec, dict):
        return max(0.0, float(spec))
    kind = spec["dist"]
    if kind == "fixed":
        x = float(spec["value"])
    elif kind == "uniform":
        x = rng.uniform(spec["lo"], spec["hi"])
    elif kind == "lognormal":
        mean, sd = spec["mean"], spec["sd"]
        sigma2 = math.log(1 + (sd * sd) / (mean * mean))
        x = rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    elif kind == "gamma":
        shape = (spec["mean"] / spec["sd"]) ** 2
        x = rng.gammavariate(shape, spec["mean"] / shape)
    elif kind == "exponential":
        x = rng.expovariate(1 / spec["mean"])
    elif kind == "empirical":
        x = float(rng.choice(spec["values"]))
    else:  # mixture
        comps = spec["components"]
        comp = rng.choices(comps, weights=[c["weight"] for c in comps])[0]
        x = _sample({k: v for k, v in comp.items() if k != "weight"}, rng)
    if "clip" in spec:
        x = min(max(x, spec["clip"][0]), spec["clip"][1])
    return max(0.0, x)


@dataclass(frozen=True)
class Schedule:
    """A probability over scenario time (seconds since the simulator started or was reset):
    the benchmark's ``constant`` and ``piecewise`` (step or linear) schedules, or a bare number."""

    points: tuple[tuple[float, float], ...]
    linear: bool = False

    def at(self, t: float) -> float:
        pts = self.points
        if t <= pts[0][0] or len(pts) == 1:
            return pts[0][1]
        for (t0, p0), (t1, p1) in zip(pts, pts[1:], strict=False):
            if t < t1:
                return p0 + (p1 - p0) * (t - t0) / (t1 - t0) if self.linear else p0
        return pts[-1][1]

    @property
    def peak(self) -> float:
        return max(p for _, p in self.points)


def _prob(raw: Any, path: str) -> Schedule:
    """The time-of-day curve (``tod_curve``) needs time zones and a campaign clock, which only the
    pacing benchmark has; it is rejected here."""
    if isinstance(raw, dict):
        kind = raw.get("type")
        if kind == "constant":
            return Schedule(((0.0, _num(raw.get("value"), f"{path}.value", 0, 1)),))
        if kind == "piecewise":
            points = raw.get("points")
            if not isinstance(points, list) or not points:
                raise ScenarioError(f"{path}.points", "expected [[t, p], ...]")
            out = []
            for i, pt in enumerate(points):
                if not isinstance(pt, list) or len(pt) != 2:
                    raise ScenarioError(f"{path}.points[{i}]", "expected [t, p]")
                out.append((_num(pt[0], f"{path}.points[{i}][0]", lo=0), _num(pt[1], f"{path}.points[{i}][1]", 0, 1)))
            if any(b[0] <= a[0] for a, b in zip(out, out[1:], strict=False)):
                raise ScenarioError(f"{path}.points", "times must increase")
            interp = raw.get("interp", "step")
            if interp not in ("step", "linear"):
                raise ScenarioError(f"{path}.interp", f"expected 'step' or 'linear', got {interp!r}")
            return Schedule(tuple(out), interp == "linear")
        raise ScenarioError(f"{path}.type", f"unsupported schedule {kind!r} (use constant or piecewise)")
    return Schedule(((0.0, _num(raw, path, 0, 1)),))


_DEFAULTS: dict[str, Any] = {
    "outcomes": {"answer_prob": 0.3, "machine_prob": 0.2, "fail_prob": 0.2},
    "timing": {
        "ring_live_s": {"dist": "lognormal", "mean": 8.0, "sd": 4.0, "clip": [0.5, 24.5]},
        "ring_machine_s": {"dist": "uniform", "lo": 12.0, "hi": 22.0},
        "fail_detect_s": {"dist": "uniform", "lo": 1.0, "hi": 4.0},
        "no_answer_timeout_s": 25.0,
        "talk_s": {"dist": "lognormal", "mean": 120, "sd": 90},
    },
    "amd": {"enabled": True, "machine_detect": 0.85, "live_false_positive": 0.01, "notsure_prob": 0.0,
            "latency_live_s": 1.0, "latency_machine_s": 2.5, "hangup_on_machine": True},
    "sim": {
        "busy_share": 0.6,  # of failures; the rest is congestion (SIT / circuits busy)
        "patience_s": {"dist": "uniform", "lo": 3.0, "hi": 8.0},
        "machine_greeting_s": {"dist": "uniform", "lo": 4.0, "hi": 12.0},
        "machine_hangup_s": 30.0,
        "agent_answer_s": 0.3,
        "customer_hangup_prob": 1.0,
        "time_scale": 1.0,
        "trunk": "trunk",
        "agent_pattern": r"^agent\d+$",
        "agent_contexts": ["pydialer-agents", "agents"],
        "outbound_context": "pydialer-outbound",
        "stasis_context": "pydialer-stasis",
        "stasis_app": "pydialer",
        "monitor_context": "pydialer-monitor",
        "amd_contexts": ["amd", "pydialer-amd"],
        "drop_after_s": 2.0,  # extensions.conf DROP_AFTER_DEFAULT
        "safe_harbor_s": 3.0,
        "vm_message_s": 5.0,
        "dialogue": {
            "voices": {"customer": "en-us+f3", "agent": "en-us+m3"},
            "gap_s": 0.6,
            "turns": [
                {"speaker": "agent", "text": "Hello, this is Sam calling from PyDialer. Is this a good time?"},
                {"speaker": "customer", "text": "Yes, I have a couple of minutes. What is this about?"},
                {"speaker": "agent", "text": "We would like to confirm your appointment for Tuesday at ten."},
                {"speaker": "customer", "text": "That works for me. Thank you very much, goodbye."},
            ],
        },
    },
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@dataclass(frozen=True)
class Scenario:
    """A validated outcome model. Build with ``Scenario.parse(dict)``."""

    raw: dict[str, Any]
    p_human: Schedule
    p_machine: Schedule
    p_fail: Schedule
    ring_live: Distribution
    ring_machine: Distribution
    fail_detect: Distribution
    no_answer_timeout_s: float
    talk: Distribution
    patience: Distribution
    machine_greeting: Distribution
    amd_enabled: bool
    machine_detect: float
    live_false_positive: float
    notsure_prob: float
    latency_live_s: float
    latency_machine_s: float
    hangup_on_machine: bool
    busy_share: float
    machine_hangup_s: float
    agent_answer_s: float
    customer_hangup_prob: float
    time_scale: float
    trunk: str
    agent_pattern: str
    agent_contexts: tuple[str, ...]
    outbound_context: str
    stasis_context: str
    stasis_app: str
    monitor_context: str
    amd_contexts: tuple[str, ...]
    drop_after_s: float
    safe_harbor_s: float
    vm_message_s: float
    voices: dict[str, str]
    gap_s: float
    turns: tuple[tuple[str, str], ...]

    @classmethod
    def default(cls) -> Scenario:
        return cls.parse({})

    @classmethod
    def parse(cls, data: Any) -> Scenario:
        if not isinstance(data, dict):
            raise ScenarioError("$", "a scenario must be a JSON object")
        for section in ("outcomes", "timing", "amd", "sim"):
            if section in data and not isinstance(data[section], dict):
                raise ScenarioError(section, "expected an object")
        for section in ("sim", "amd"):  # simulator-owned sections: a typo must not pass silently
            for key in data.get(section, {}):
                if key not in _DEFAULTS[section]:
                    raise ScenarioError(f"{section}.{key}", "unknown key")
        raw = _merge(_DEFAULTS, data)
        o, t, a, s = raw["outcomes"], raw["timing"], raw["amd"], raw["sim"]
        p_h = _prob(o["answer_prob"], "outcomes.answer_prob")
        p_m = _prob(o["machine_prob"], "outcomes.machine_prob")
        p_f = _prob(o["fail_prob"], "outcomes.fail_prob")
        change_times = sorted({when for sch in (p_h, p_m, p_f) for when, _ in sch.points})
        for when in change_times:
            total = p_h.at(when) + p_m.at(when) + p_f.at(when)
            if total > 1 + 1e-9:
                raise ScenarioError("outcomes", f"answer_prob + machine_prob + fail_prob = {total:.3f} > 1 at t={when:g}")
        scale = _num(s["time_scale"], "sim.time_scale")
        if scale <= 0:
            raise ScenarioError("sim.time_scale", "must be > 0")
        import re

        try:
            re.compile(s["agent_pattern"])
        except (re.error, TypeError) as exc:
            raise ScenarioError("sim.agent_pattern", f"invalid regular expression: {exc}") from exc
        dlg = s["dialogue"]
        if not isinstance(dlg, dict):
            raise ScenarioError("sim.dialogue", "expected an object")
        turns = dlg.get("turns")
        if not isinstance(turns, list):
            raise ScenarioError("sim.dialogue.turns", "expected a list")
        parsed_turns = []
        for i, turn in enumerate(turns):
            if not isinstance(turn, dict) or turn.get("speaker") not in ("customer", "agent"):
                raise ScenarioError(f"sim.dialogue.turns[{i}].speaker", "expected 'customer' or 'agent'")
            if not isinstance(turn.get("text"), str) or not turn["text"].strip():
                raise ScenarioError(f"sim.dialogue.turns[{i}].text", "expected non-empty text")
            parsed_turns.append((turn["speaker"], turn["text"]))
        voices = dlg.get("voices", {})
        if not isinstance(voices, dict) or not all(isinstance(v, str) for v in voices.values()):
            raise ScenarioError("sim.dialogue.voices", "expected {speaker: voice name}")
        for key in ("enabled", "hangup_on_machine"):
            if not isinstance(a[key], bool):
                raise ScenarioError(f"amd.{key}", f"expected true or false, got {a[key]!r}")
        for key in ("amd_contexts", "agent_contexts"):
            if not isinstance(s[key], list) or not all(isinstance(c, str) for c in s[key]):
                raise ScenarioError(f"sim.{key}", "expected a list of context names")
        for key in ("trunk", "outbound_context", "stasis_context", "stasis_app", "monitor_context"):
            if not isinstance(s[key], str) or not s[key]:
                raise ScenarioError(f"sim.{key}", "expected a non-empty string")
        return cls(
            raw=raw, p_human=p_h, p_machine=p_m, p_fail=p_f,
            ring_live=Distribution.parse(t["ring_live_s"], "timing.ring_live_s"),
            ring_machine=Distribution.parse(t["ring_machine_s"], "timing.ring_machine_s"),
            fail_detect=Distribution.parse(t["fail_detect_s"], "timing.fail_detect_s"),
            no_answer_timeout_s=_num(t["no_answer_timeout_s"], "timing.no_answer_timeout_s", lo=0),
            talk=Distribution.parse(t["talk_s"], "timing.talk_s"),
            patience=Distribution.parse(s["patience_s"], "sim.patience_s"),
            machine_greeting=Distribution.parse(s["machine_greeting_s"], "sim.machine_greeting_s"),
            amd_enabled=a["enabled"],
            machine_detect=_num(a["machine_detect"], "amd.machine_detect", 0, 1),
            live_false_positive=_num(a["live_false_positive"], "amd.live_false_positive", 0, 1),
            notsure_prob=_num(a["notsure_prob"], "amd.notsure_prob", 0, 1),
            latency_live_s=_num(a["latency_live_s"], "amd.latency_live_s", lo=0),
            latency_machine_s=_num(a["latency_machine_s"], "amd.latency_machine_s", lo=0),
            hangup_on_machine=a["hangup_on_machine"],
            busy_share=_num(s["busy_share"], "sim.busy_share", 0, 1),
            machine_hangup_s=_num(s["machine_hangup_s"], "sim.machine_hangup_s", lo=0),
            agent_answer_s=_num(s["agent_answer_s"], "sim.agent_answer_s", lo=0),
            customer_hangup_prob=_num(s["customer_hangup_prob"], "sim.customer_hangup_prob", 0, 1),
            time_scale=scale, trunk=s["trunk"], agent_pattern=s["agent_pattern"],
            agent_contexts=tuple(s["agent_contexts"]), outbound_context=s["outbound_context"],
            stasis_context=s["stasis_context"], stasis_app=s["stasis_app"], monitor_context=s["monitor_context"],
            amd_contexts=tuple(s["amd_contexts"]),
            drop_after_s=_num(s["drop_after_s"], "sim.drop_after_s", lo=0),
            safe_harbor_s=_num(s["safe_harbor_s"], "sim.safe_harbor_s", lo=0),
            vm_message_s=_num(s["vm_message_s"], "sim.vm_message_s", lo=0),
            voices={str(k): v for k, v in voices.items()},
            gap_s=_num(dlg.get("gap_s", 0.6), "sim.dialogue.gap_s", lo=0),
            turns=tuple(parsed_turns),
        )


@dataclass(frozen=True)
class CallPlan:
    """Everything random about one dialed call, drawn up front from the seeded RNG.

    Times are scenario seconds (divide by ``time_scale`` for wall time).
    """

    outcome: str  # one of OUTCOMES
    ring_s: float  # until answer / failure; for noanswer: the scenario timeout (the Originate Timeout wins)
    talk_s: float  # once bridged to an agent, until the customer hangs up (inf: never)
    patience_s: float  # answered and unbridged: until the customer gives up
    amd_status: str  # what AMD() will say: HUMAN | MACHINE | NOTSURE
    amd_cause: str
    amd_latency_s: float
    greeting_s: float


def draw_plan(sc: Scenario, rng: random.Random, forced: str | None = None, t: float = 0.0) -> CallPlan:
    """Draw one call dialed at scenario time ``t``. Always consumes the same number of RNG draws,
    so forcing a call's outcome does not shift the outcomes of the calls after it. The outcome is
    quantile-coupled like the benchmark's: ``u`` against the cumulative probabilities at ``t``."""
    p_h, p_m, p_f = sc.p_human.at(t), sc.p_machine.at(t), sc.p_fail.at(t)
    u, u_fail, u_amd, u_notsure, u_hang = (rng.random() for _ in range(5))
    ring_live, ring_machine, fail_s = sc.ring_live.sample(rng), sc.ring_machine.sample(rng), sc.fail_detect.sample(rng)
    talk, patience, greeting = sc.talk.sample(rng), sc.patience.sample(rng), sc.machine_greeting.sample(rng)
    if forced is not None:
        outcome = forced
    elif u < p_h:
        outcome = "human"
    elif u < p_h + p_m:
        outcome = "machine"
    elif u < p_h + p_m + p_f:
        outcome = "busy" if u_fail < sc.busy_share else "congestion"
    else:
        outcome = "noanswer"
    ring = {"human": ring_live, "machine": ring_machine}.get(outcome, fail_s)
    if outcome == "noanswer" or (outcome in ("human", "machine") and ring >= sc.no_answer_timeout_s):
        outcome, ring = "noanswer", sc.no_answer_timeout_s
    if u_hang >= sc.customer_hangup_prob:
        talk = math.inf
    status, cause, latency = _amd_verdict(sc, outcome, u_amd, u_notsure, greeting)
    return CallPlan(outcome, ring, talk, patience, status, cause, latency, greeting)


def _amd_verdict(sc: Scenario, outcome: str, u: float, u_notsure: float, greeting_s: float) -> tuple[str, str, float]:
    """Mimic app_amd's AMDSTATUS/AMDCAUSE with its default thresholds (amd.conf: initial_silence
    2500, greeting 1500, after_greeting_silence 800, total_analysis_time 5000, maximum_number_of_words 2).
    Causes are formatted as app_amd does, e.g. ``HUMAN-800-800``, ``MAXWORDS-3-2``."""
    if u_notsure < sc.notsure_prob:
        return "NOTSURE", "TOOLONG-5000", 5.0
    if outcome == "human":
        if u < sc.live_false_positive:
            return "MACHINE", "INITIALSILENCE-2500-2500", sc.latency_machine_s
        return "HUMAN", "HUMAN-800-800", sc.latency_live_s
    if u < sc.machine_detect:
        if greeting_s > 1.5:
            return "MACHINE", f"LONGGREETING-{int(min(greeting_s, 5.0) * 1000)}-1500", sc.latency_machine_s
        return "MACHINE", "MAXWORDS-3-2", sc.latency_machine_s
    return "HUMAN", "HUMAN-800-800", sc.latency_live_s
