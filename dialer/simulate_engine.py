"""The discrete-event campaign simulation behind ``python -m dialer.simulate`` (virtual time, heapq queue).

Rules from ``bench/scenarios/README.md`` §2: common random numbers (every dial takes the next lead of the
seed's list), call life cycles with and without AMD, longest-idle routing, FCFS waiting with a drop
deadline, schedule changes, one ``calls_to_place`` decision after every event, and same-instant events
ordered schedule → release → result → drop deadline → tick.

Every decision goes through :func:`dialer.pacing.guard.guarded_calls` with a
:class:`~dialer.pacing.guard.TickGuard` fed the campaign's running figures, exactly as the production
loop does (the simulated campaign is young: its whole run is inside both the 30-day and the 24 h
window), so the benchmark measures the guard too. ``guard=False`` switches it off for experiments.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dialer.pacing import PacingObservation, make_policy
from dialer.pacing.guard import AbandonFigures, TickGuard, amd_false_positive_estimate, guarded_calls
from dialer.simulate_scenario import LeadList, Scenario

logger = logging.getLogger(__name__)

SCHED, RELEASE, RESULT, DROP, TICK = range(5)  # also the same-instant processing order (§2.7)
TRACE_COLUMNS = (
    "algorithm", "seed", "kind", "id", "agent", "lead", "t_dial", "outcome", "t_answer", "t_result", "reported",
    "t_connect", "talk_s", "handle_s", "abandoned", "true_abandon", "t_login", "t_logoff",
)  # fmt: skip


class SlotArray:
    """Floats keyed by id, packed in a numpy array (swap-remove) so ``now - values()`` is one vector op."""

    def __init__(self, capacity: int = 256) -> None:
        self.arr = np.empty(capacity)
        self.keys: list[int] = [0] * capacity
        self.pos: dict[int, int] = {}
        self.n = 0

    def add(self, key: int, value: float) -> None:
        if self.n == len(self.arr):
            self.arr = np.concatenate((self.arr, np.empty(len(self.arr))))
            self.keys.extend([0] * (len(self.keys)))
        i = self.n
        self.arr[i] = value
        self.keys[i] = key
        self.pos[key] = i
        self.n = i + 1

    def remove(self, key: int) -> None:
        i = self.pos.pop(key)
        last = self.n - 1
        if i != last:
            moved = self.keys[last]
            self.arr[i] = self.arr[last]
            self.keys[i] = moved
            self.pos[moved] = i
        self.n = last

    def values(self) -> np.ndarray:
        return self.arr[: self.n]

    def __len__(self) -> int:
        return self.n


class Call:
    __slots__ = (
        "id", "lead", "dial_t", "outcome", "answer_t", "result_t", "reported", "deadline", "connect_t",
        "agent", "talk", "handle", "waiting", "abandoned", "true_abandon", "person", "unscreened",
    )  # fmt: skip

    def __init__(self, cid: int, lead: int, dial_t: float) -> None:
        self.id = cid
        self.lead = lead
        self.dial_t = dial_t
        self.outcome = ""
        self.answer_t = -1.0
        self.result_t = -1.0
        self.reported = ""
        self.deadline = 0.0
        self.connect_t = -1.0
        self.agent = -1
        self.talk = 0.0
        self.handle = 0.0
        self.waiting = False
        self.abandoned = False
        self.true_abandon = False
        self.person = False
        self.unscreened = False


class Agent:
    __slots__ = ("id", "login_t", "available_since", "busy", "leaving", "connect_t", "call")

    def __init__(self, aid: int, now: float) -> None:
        self.id = aid
        self.login_t = now
        self.available_since = now
        self.busy = False
        self.leaving = False
        self.connect_t = 0.0
        self.call: Call | None = None


@dataclass
class RunResult:
    scenario: str
    algorithm: str
    seed: int
    window: tuple[float, float]
    talk_s: float = 0.0
    occupied_s: float = 0.0
    logged_s: float = 0.0
    dials: int = 0
    observed_humans: int = 0
    observed_abandons: int = 0
    wait_sum: float = 0.0
    wait_n: int = 0
    max_lines: int = 0
    answers_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    answers_abandoned: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    decision_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decision_cpu_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wall_s: float = 0.0
    trace: list[tuple[Any, ...]] = field(default_factory=list)
    extras: dict[str, float] = field(default_factory=dict)


def _overlap(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo))


class Simulation:
    def __init__(
        self,
        sc: Scenario,
        algorithm: str,
        seed: int,
        *,
        trace: bool = False,
        policy_settings: dict[str, Any] | None = None,
        duration_s: float | None = None,
        guard: bool = True,
    ) -> None:
        self.sc = sc
        self.algorithm = algorithm
        self.seed = seed
        self.duration = sc.duration_s if duration_s is None else min(duration_s, sc.duration_s)
        name, _, variant = algorithm.partition(":")
        settings = dict(sc.policy_settings())
        if name == "ratio":
            settings.setdefault("ratio", 2.0)
        if variant:
            settings["variant"] = variant
        settings.update(policy_settings or {})
        self.policy = make_policy(name, **settings)
        target = float(settings.get("target_abandon_rate", sc.target_abandon_rate))
        self.guard: TickGuard | None = None
        if guard and 0 < target < 1:
            self.guard = TickGuard(target, count_amd_false_positives=sc.count_amd_fp and sc.amd_enabled,
                                   drop_after_s=sc.drop_after_s)
        # what the production loop's Redis counters would hold: reported-human answers, observed drops,
        # and the live answers AMD passed as human (the base of the AMD false-positive estimate: the
        # "human" verdicts less the machines agents then heard)
        self.g_answers = 0
        self.g_abandons = 0
        self.g_screened = 0
        self.leads = LeadList(sc, seed)
        self.tracing = trace
        self.w0, self.w1 = sc.window_start_s, self.duration
        self.res = RunResult(sc.id, algorithm, seed, (self.w0, self.w1))
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.next_lead = 0
        self.next_agent = 0
        self.idle: deque[Agent] = deque()
        self.agents: dict[int, Agent] = {}
        self.busy = SlotArray()  # connect times of busy, non-leaving agents
        self.inflight = SlotArray(1024)  # dial times of unresolved calls
        self.waiting: deque[Call] = deque()
        self.n_waiting = 0
        self.recent_dials: deque[float] = deque()
        self.answers_t: list[float] = []
        self.answers_ab: list[bool] = []
        self.decisions: list[float] = []
        self.decisions_cpu: list[float] = []

    # ---------------------------------------------------------------- queue
    def push(self, t: float, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, kind, self.seq, payload))

    def run(self) -> RunResult:
        started = time.perf_counter()
        for t, n in self.sc.schedule:
            if t < self.duration:
                self.push(t, SCHED, n)
        self.push(0.0, TICK, None)
        heap, duration = self.heap, self.duration
        handlers = (self._on_schedule, self._on_release, self._on_result, self._on_drop, self._on_tick)
        while heap:
            t, kind, _, payload = heapq.heappop(heap)
            if t >= duration:
                break
            if handlers[kind](t, payload) is not False:  # a deadline for a call already connected is no event
                self._decide(t)
        self._close()
        self.res.wall_s = time.perf_counter() - started
        return self.res

    # ---------------------------------------------------------------- events
    def _on_tick(self, now: float, _: Any) -> bool:
        nxt = now + self.sc.pacing_tick_s
        if nxt < self.duration:
            self.push(nxt, TICK, None)
        return True

    def _on_schedule(self, now: float, target: int) -> None:
        current = len(self.idle) + len(self.busy)
        if target > current:
            need = target - current
            leavers = [a for a in self.agents.values() if a.leaving]
            for a in leavers[:need]:  # pending log-offs stay on first (§2.6)
                a.leaving = False
                self.busy.add(a.id, a.connect_t)
            for _ in range(need - min(need, len(leavers))):
                a = Agent(self.next_agent, now)
                self.next_agent += 1
                self.agents[a.id] = a
                self.idle.append(a)
        elif target < current:
            drop = current - target
            while drop and self.idle:
                self._log_off(self.idle.pop(), now)  # most recently idle first
                drop -= 1
            if drop:
                on_call = sorted(
                    (a for a in self.agents.values() if a.busy and not a.leaving), key=lambda a: a.connect_t
                )
                for a in on_call[:drop]:
                    a.leaving = True
                    self.busy.remove(a.id)

    def _on_release(self, now: float, agent: Agent) -> None:
        call = agent.call
        assert call is not None
        agent.busy = False
        agent.call = None
        if agent.leaving:
            self._log_off(agent, now)
            return
        self.busy.remove(agent.id)
        self.policy.on_agent_released(now, call.handle, call.unscreened)
        if call.unscreened:
            # the agent heard a machine (disposition A): not a live answer AMD passed, so it leaves the
            # false-positive estimate's base, as the production loop's counters do (dialer.loop)
            self.g_screened -= 1
        if self.guard is not None:
            self.guard.on_agent_released(call.handle)
        agent.available_since = now
        while self.waiting:
            nxt = self.waiting.popleft()
            if nxt.waiting:
                self.n_waiting -= 1
                nxt.waiting = False
                self._connect(nxt, agent, now)
                return
        self.idle.append(agent)

    def _on_result(self, now: float, call: Call) -> None:
        self.inflight.remove(call.id)
        call.result_t = now
        in_window = self.w0 <= now < self.w1
        self.policy.on_call_result(now, call.reported, now - call.dial_t)
        if self.guard is not None:
            self.guard.on_call_result(call.reported, now - call.dial_t)
        if call.reported != "human":
            if call.person:  # an AMD false positive: a person hung up on (§2.3)
                call.true_abandon = self.sc.count_amd_fp
                self._answer(call)
            self._trace_call(call)
            return
        if in_window:
            self.res.observed_humans += 1
        self.g_answers += 1
        if self.sc.amd_enabled:
            self.g_screened += 1
        if self.idle:
            self._connect(call, self.idle.popleft(), now)  # longest-idle agent (§2.5)
            return
        call.waiting = True
        self.n_waiting += 1
        self.waiting.append(call)
        self.push(max(call.deadline, now), DROP, call)

    def _on_drop(self, now: float, call: Call) -> bool:
        if not call.waiting:
            return False
        call.waiting = False
        call.abandoned = True
        self.n_waiting -= 1
        self.policy.on_abandon(now)
        self.g_abandons += 1
        if self.w0 <= now < self.w1:
            self.res.observed_abandons += 1
        if call.person:
            call.true_abandon = True
            self._answer(call)
        self._trace_call(call)
        return True

    # ---------------------------------------------------------------- helpers
    def _answer(self, call: Call) -> None:
        self.answers_t.append(call.answer_t)
        self.answers_ab.append(call.true_abandon)

    def _connect(self, call: Call, agent: Agent, now: float) -> None:
        call.connect_t = now
        call.agent = agent.id
        agent.busy = True
        agent.call = call
        agent.connect_t = now
        self.busy.add(agent.id, now)
        w0, w1 = self.w0, self.w1
        if w0 <= now < w1:
            self.res.wait_sum += now - agent.available_since
            self.res.wait_n += 1
        if call.unscreened:
            call.handle = self.sc.machine_handle_s
        else:
            lead = self.leads[call.lead]
            call.talk = lead[4]
            call.handle = lead[4] + lead[5]
        self.res.talk_s += _overlap(now, now + call.talk, w0, w1)
        self.res.occupied_s += _overlap(now, now + call.handle, w0, w1)
        if call.person:
            self._answer(call)
        self.push(now + call.handle, RELEASE, agent)
        self._trace_call(call)

    def _log_off(self, agent: Agent, now: float) -> None:
        self.res.logged_s += _overlap(agent.login_t, now, self.w0, self.w1)
        del self.agents[agent.id]
        if self.tracing:
            self.res.trace.append(self._row("agent", agent.id, t_login=agent.login_t, t_logoff=now))

    def _row(self, kind: str, ident: int, **cols: Any) -> tuple[Any, ...]:
        base = {"algorithm": self.algorithm, "seed": self.seed, "kind": kind, "id": ident}
        base.update(cols)
        return tuple(base.get(c, "") for c in TRACE_COLUMNS)

    def _trace_call(self, c: Call) -> None:
        if not self.tracing:
            return
        self.res.trace.append(
            self._row(
                "call",
                c.id,
                agent=c.agent if c.agent >= 0 else "",
                lead=c.lead,
                t_dial=c.dial_t,
                outcome=c.outcome,
                t_answer=c.answer_t if c.answer_t >= 0 else "",
                t_result=c.result_t,
                reported=c.reported,
                t_connect=c.connect_t if c.connect_t >= 0 else "",
                talk_s=c.talk,
                handle_s=c.handle,
                abandoned=int(c.abandoned),
                true_abandon=int(c.true_abandon),
            )  # fmt: skip
        )

    # ---------------------------------------------------------------- decisions and dialing
    def _decide(self, now: float) -> None:
        obs = PacingObservation(
            now,
            len(self.idle) + len(self.busy),
            len(self.idle),
            now - self.busy.values(),
            now - self.inflight.values(),
            self.n_waiting,
        )
        t0, c0 = time.perf_counter(), time.thread_time()
        if self.guard is not None:
            fp = amd_false_positive_estimate(self.g_screened) if self.g_screened else 0.0
            self.guard.update(AbandonFigures(self.g_answers, self.g_abandons, fp), now)
        n, _clamped = guarded_calls(self.policy, obs, self.guard)
        self.decisions.append(time.perf_counter() - t0)
        # CPU time of the thread too: wall-clock p99 on a loaded 2-core box measures the neighbours
        self.decisions_cpu.append(time.thread_time() - c0)
        if n <= 0:
            return
        n = min(n, self._cap(now, obs.agents_logged_in))
        for _ in range(n):
            self._dial(now)
        lines = len(self.inflight) + self.n_waiting
        if lines > self.res.max_lines:
            self.res.max_lines = lines

    def _cap(self, now: float, logged_in: int) -> int:
        sc = self.sc
        if sc.tod is not None and not sc.tod.any_open(now):
            return 0  # §3.3: no zone open, no call can be placed
        lines = len(self.inflight) + self.n_waiting
        cap = 1 << 30
        if sc.max_lines is not None:
            cap = min(cap, sc.max_lines - lines)
        if sc.max_lines_per_agent is not None:
            cap = min(cap, int(sc.max_lines_per_agent * logged_in) - lines)
        if sc.max_dials_per_s is not None:
            rd = self.recent_dials
            while rd and rd[0] <= now - 1.0:
                rd.popleft()
            cap = min(cap, int(sc.max_dials_per_s) - len(rd))
        return max(cap, 0)

    def _dial(self, now: float) -> None:
        sc = self.sc
        idx = self.next_lead
        self.next_lead += 1
        u, ring_live, ring_machine, fail_detect, _talk, _wrap, u_amd, u_tz = self.leads[idx]
        call = Call(idx, idx, now)
        if sc.max_dials_per_s is not None:
            self.recent_dials.append(now)
        if self.w0 <= now < self.w1:
            self.res.dials += 1
        p_live = sc.live_prob(now, u_tz) or 0.0
        p_machine = sc.machine.at(now)
        timeout = sc.no_answer_timeout_s
        if u < p_live and ring_live < timeout:
            call.outcome = "live"
            call.person = True
            call.answer_t = now + ring_live
            if sc.amd_enabled and u_amd < sc.amd_live_fp:
                call.reported = "machine"
                result_t = call.answer_t + sc.amd_latency_machine_s
            else:
                call.reported = "human"
                result_t = call.answer_t + (sc.amd_latency_live_s if sc.amd_enabled else 0.0)
        elif p_live <= u < p_live + p_machine and ring_machine < timeout:
            call.outcome = "machine"
            call.answer_t = now + ring_machine
            if not sc.amd_enabled:
                call.reported, result_t = "machine", call.answer_t
            elif u_amd < sc.amd_machine_detect:
                call.reported, result_t = "machine", call.answer_t + sc.amd_latency_machine_s
            else:  # AMD false negative: offered to an agent like a person (§2.3)
                call.reported, result_t = "human", call.answer_t + sc.amd_latency_live_s
                call.unscreened = True
        elif p_live + p_machine <= u < p_live + p_machine + sc.fail.at(now):
            call.outcome, call.reported, result_t = "failed", "failed", now + fail_detect
        else:
            call.outcome, call.reported, result_t = "no_answer", "no_answer", now + timeout
        if call.reported == "human":
            start = call.answer_t if sc.drop_clock_from == "answer" else result_t
            call.deadline = start + sc.drop_after_s
        self.inflight.add(call.id, now)
        self.push(result_t, RESULT, call)

    def _close(self) -> None:
        end = self.duration
        for agent in list(self.agents.values()):
            self._log_off(agent, end)
        res = self.res
        if self.tracing:  # calls still unresolved at the end, for a complete trace
            for _, kind, _, payload in self.heap:
                if kind == RESULT or (kind == DROP and payload.waiting):
                    self._trace_call(payload)
        res.answers_t = np.asarray(self.answers_t, float)
        res.answers_abandoned = np.asarray(self.answers_ab, bool)
        res.decision_s = np.asarray(self.decisions, float)
        res.decision_cpu_s = np.asarray(self.decisions_cpu, float)
        res.extras["leads_used"] = float(self.next_lead)
        pol = self.policy
        if self.guard is not None:
            res.extras["guard_clamps"] = float(self.guard.clamps)
        if hasattr(pol, "threshold"):
            res.extras["final_threshold"] = float(pol.threshold)  # type: ignore[attr-defined]


def simulate(
    sc: Scenario,
    algorithm: str,
    seed: int,
    *,
    trace: bool = False,
    policy_settings: dict[str, Any] | None = None,
    duration_s: float | None = None,
    guard: bool = True,
) -> RunResult:
    """One run of ``algorithm`` (``name`` or ``name:variant``) on one seed."""
    return Simulation(sc, algorithm, seed, trace=trace, policy_settings=policy_settings, duration_s=duration_s,
                      guard=guard).run()
