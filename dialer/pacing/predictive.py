"""``predictive``: our self-tuning policy. It learns everything from the callbacks.

For each candidate new call the policy asks: if this call reaches a person, what is the probability
that no agent is free within the drop window? It models

* every in-flight call's chance of turning into a person before the candidate does, from the learned
  ring-time shapes *conditioned on how long it has already rung* and the outcome mix;
* every busy agent's chance of freeing up in time, from the learned handle-time distribution
  *conditioned on how long the agent has been busy*;
* the other calls placed in the same batch,

at J quantiles of the candidate's own answer time, and computes the tail of the difference of those
Poisson-binomial counts exactly (small teams) or with the skew-corrected normal (large ones; below
θ = 1e-3, a campaign held far under the cap, and for the window's burst bound, that count is checked on
a saddlepoint tail). It places
the largest n whose n-th call stays under a threshold θ. θ is steered by an integral controller on
observed abandons versus an internal target so the pooled rate lands just under the cap whatever
the model's residual bias. With AMD in play (seen as machine releases) a false-positive allowance is
reserved, because AMD hang-ups on people count as abandons under Ofcom and the dialer never sees them.
It is reserved on the live answers AMD passed, not on every "human" verdict: a machine an agent heard
(a ``machine`` release) was no live answer, so its share comes back.

Two guards sit on top. The 15-minute window guard keeps every 15-minute window under ``window_cap``
(10 %): it finds the room (abandons still allowed) of the worst window containing now, the trailing one
or one starting at a recent abandon, whose answers to come are taken at ``window_future_share`` of the
trailing rate; below ``BURST_ROOM`` abandons of room it also stops counting calls once the chance that
the room is overrun at once (a burst of drops) exceeds ``burst_risk``, and with no room left it allows
one line per idle agent. (A 5-agent team has ~30 answers a window, so 3 abandons fill it, and most bad
windows were a burst of 3–4 drops within seconds after a quiet stretch.) The rolling 30-day
:class:`~dialer.pacing.guard.AbandonGuard` (fed by ``set_compliance_state``) does the same campaign-wide.
A ``target_abandon_rate`` of 0 means no over-dial at all (progressive). When the production guard
(:func:`~dialer.pacing.guard.guarded_calls`) cuts a decision it calls :meth:`on_guard_clamp`, which
stops θ from winding up while dialing is held back.

Settings beyond the common ones: ``aim`` (0.99), ``confidence_z`` (0.7 standard errors of sampling
margin), ``window_cap`` (0.10), ``window_margin`` (0: the room at or below which only progressive
dialing is allowed), ``window_future_share`` (0.7), ``burst_risk`` (0.0003),
``amd_false_positive_rate`` (None = 1 % once AMD is evident), ``initial_threshold`` (0.01 × target / 3 %:
the θ a new campaign starts from, scaled with the target like the learning-phase ceiling of 0.005; at 0.02
the first quarter hour of a 50-agent campaign, with the models still young, dropped twice the target and
the guard then held it progressive for ten minutes: SC4 84.4 → 84.9 %, SC7 85.9 → 86.2 %, both at a lower
abandon rate) and ``gain`` (0.25, divided by √(1 + agents/10)).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable

import numpy as np

from dialer.pacing.base import BasePolicy, PacingObservation
from dialer.pacing.estimators import HUMAN, OUTCOME_INDEX, HandleModel, OutcomeModel
from dialer.pacing.probability import (
    add_bernoulli,
    exact_pmf,
    pmf_upper_tail,
    rna_upper_tail,
    saddlepoint_upper_tail,
)

logger = logging.getLogger(__name__)

J = 8  # quantiles of the candidate call's answer time
EXACT_MAX_TERMS = 24
REBUILD_S = 2.0
JUMP_CHECK_S = 2.0
WINDOW_S = 900.0
HOLD_S = 30.0  # anti-windup hold after a guard clamp (SC4: 82.1 → 83.8 % at lower abandon)
# below this θ a large team's count is checked on the saddlepoint tail: the skew-corrected normal is good
# to a few 0.1 % absolute, enough at a 3 % target (θ ≥ 0.003), not at tails of 1e-4 (SC4 held to 0.03 %)
SADDLEPOINT_BELOW = 1e-3
BURST_ROOM = 6.0  # below this many abandons of room in the worst window, bound the chance of a burst
LEARNING_DIALS, LEARNING_RELEASES, LEARNING_THRESHOLD = 200, 30, 0.005
REFERENCE_TARGET = 0.03  # the abandon target the starting θ (0.01) and LEARNING_THRESHOLD were tuned at


class PredictivePolicy(BasePolicy):
    name = "predictive"
    # class defaults: a policy pickled before these attributes existed still loads
    _held_until = -math.inf
    _target_scale = 1.0
    machine_releases = 0
    window_margin, window_future_share, burst_risk = 0.0, 0.7, 0.0003

    def __init__(
        self,
        target_abandon_rate: float = 0.03,
        dial_timeout_s: float = 30.0,
        drop_after_s: float = 2.0,
        aim: float = 0.99,
        confidence_z: float = 0.7,
        window_cap: float = 0.10,
        window_margin: float = 0.0,
        window_future_share: float = 0.7,
        burst_risk: float = 0.0003,
        amd_false_positive_rate: float | None = None,
        initial_threshold: float | None = None,
        gain: float = 0.25,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not 0 <= target_abandon_rate < 1:
            raise ValueError("target_abandon_rate must be in [0, 1)")
        if dial_timeout_s <= 0 or drop_after_s < 0:
            raise ValueError("dial_timeout_s must be > 0 and drop_after_s ≥ 0")
        if not 0 < window_cap <= 1 or window_margin < 0:
            raise ValueError("window_cap must be in (0, 1] and window_margin ≥ 0")
        if not 0 <= window_future_share <= 1 or not 0 < burst_risk <= 1:
            raise ValueError("window_future_share must be in [0, 1] and burst_risk in (0, 1]")
        if initial_threshold is not None and not 0 < initial_threshold < 1:
            raise ValueError("initial_threshold must be in (0, 1)")
        self.target = target_abandon_rate
        self.aim = aim
        self.confidence_z = confidence_z
        self.drop_after_s = drop_after_s
        self.amd_fp = amd_false_positive_rate
        self._amd_seen = False
        # the offer window actually left after the dialer hears "human" (AMD latency eats into the drop
        # window when the clock starts at the answer), learned from abandons: FCFS means the call dropped
        # is the oldest of the ``calls_waiting`` most recent human results
        self._human_times: deque[float] = deque(maxlen=256)
        self._waiting_seen = 0
        self._window_samples: deque[float] = deque(maxlen=51)
        self.offer_window_s = drop_after_s
        # short-window guard: no 15-minute window should exceed ``window_cap`` (bursts in small teams)
        self.window_cap = window_cap
        self.window_margin = window_margin
        self.window_future_share = window_future_share
        self.burst_risk = burst_risk
        self._abandon_marks: deque[tuple[float, int]] = deque()  # abandons of the last 15 min: (time, self.humans then)
        self._humans_15: deque[float] = deque()
        self.outcomes = OutcomeModel(dial_timeout_s)
        self.handle = HandleModel()
        # θ is a per-call loss probability: where it starts and its ceiling while the models learn scale
        # with the abandon target, so a campaign held to 1 % does not open at the 3 % campaign's θ, drop
        # its whole early budget and sit clamped by the guard (SC3 at 1 %, 6 seeds: 81.96 → 84.13 %, clamps 8.1 → 1.5 %)
        self._target_scale = target_abandon_rate / REFERENCE_TARGET
        if initial_threshold is None:
            initial_threshold = max(0.01 * self._target_scale, 1e-6)
        self.log_theta = math.log(initial_threshold)
        self.gain = gain
        self._agents = 1
        self.humans = 0
        self.abandons = 0
        self._built_at = -math.inf
        self._jump_checked_at = -math.inf
        self._q: np.ndarray = np.zeros((1, J))
        self._q_moments: np.ndarray = np.zeros((1, 3 * J + 1))
        self._g: np.ndarray = np.zeros((1, J))
        self._g_moments: np.ndarray = np.zeros((1, 3 * J))
        self._horizons: np.ndarray = np.zeros(J)
        self._s: np.ndarray = np.zeros(J)
        self._p_h = 0.0
        self._held_until = -math.inf

    def on_guard_clamp(self, now: float) -> None:
        """An outer guard cut this decision: hold the threshold's upward steering for ``HOLD_S``.

        Without it the integral controller winds up: while the guard holds dialing back, answers keep
        crediting the allowance and few abandons debit it, so θ climbs, and when the guard lets go the
        policy places a burst that spends the budget at once and trips the guard again (a limit cycle:
        SC4 lost 3 points of utilization to it at the same abandon rate)."""
        self._held_until = now + HOLD_S

    # ---- targets
    def internal_target(self) -> float:
        """The abandon rate the controller steers to.

        ``aim × target``, less a sampling margin of ``confidence_z`` standard errors for the humans seen so
        far (a small team's realised rate is noisy, so it must aim lower to stay under the cap; a large one
        can run close to it), less the AMD false-positive allowance once AMD is evidently in use.
        """
        p = self.target
        margin = self.confidence_z * math.sqrt(p * (1.0 - p) / max(self.humans, 200))
        return max(p * self.aim - margin - self._fp_allowance(), p * 0.1)

    def _fp_allowance(self) -> float:
        """The AMD false-positive allowance as a share of the reported-human answers (``humans``).

        The engine hangs up on a share of the *people* it hears, so the estimate is taken on the live
        answers it passed: the machines it passed as human that an agent then heard (``machine``
        releases) are left out. Counting them overstated the allowance by 40 % where 29 % of the
        "human" verdicts were machines (SC9: 40 % machines, 85 % detected)."""
        fp = self.amd_fp if self.amd_fp is not None else (0.01 if self._amd_seen else 0.0)
        if fp == 0.0 or self.humans == 0:
            return fp
        return fp * max(self.humans - self.machine_releases, 0) / self.humans

    @property
    def threshold(self) -> float:
        return math.exp(self.log_theta)

    def _steer(self, delta: float) -> None:
        # Small teams see an abandon every few hundred calls and need big steps to hold the integral
        # error to a couple of abandons; large teams see many per minute and need small ones.
        gain = self.gain / math.sqrt(1.0 + self._agents / 10.0)
        floor = math.log(min(0.003, max(self.target, 1e-4) / 10.0))
        self.log_theta = min(max(self.log_theta + gain * delta, floor), math.log(0.6))

    # ---- callbacks
    def on_call_result(self, now: float, outcome: str, ring_s: float) -> None:
        super().on_call_result(now, outcome, ring_s)
        if ring_s < 0:
            raise ValueError("ring_s must be ≥ 0")
        o = OUTCOME_INDEX[outcome]
        self.outcomes.record(now, o, ring_s)
        if o == HUMAN:
            self._human_times.append(now)
            self._humans_15.append(now)
            before = self.internal_target() * self.humans
            self.humans += 1
            # credit the change of the allowance target(H)·H, so the margin shrinking with H is honoured;
            # not while an outer guard holds dialing back (anti-windup: those answers were not paced by θ)
            if now >= self._held_until:
                self._steer(self.internal_target() * self.humans - before)

    def on_abandon(self, now: float) -> None:
        self.abandons += 1
        self._marks().append((now, self.humans))
        self._steer(-1.0)
        k = self._waiting_seen
        if 0 < k <= len(self._human_times):
            self._window_samples.append(now - self._human_times[-k])
            self._waiting_seen = k - 1
            if len(self._window_samples) >= 5:
                learned = float(np.median(self._window_samples))
                self.offer_window_s = min(self.drop_after_s, max(learned, 0.0))

    def on_agent_released(self, now: float, handle_s: float, machine: bool) -> None:
        if handle_s < 0:
            raise ValueError("handle_s must be ≥ 0")
        self.handle.record(handle_s)
        if not machine:
            return
        if not self._amd_seen:  # AMD just became evident: the allowance starts now, nothing to give back
            self._amd_seen = True
            self.machine_releases += 1
            return
        before = self.internal_target() * self.humans
        self.machine_releases += 1
        # the allowance reserved for this "human" comes back (not while an outer guard holds dialing)
        if now >= self._held_until:
            self._steer(self.internal_target() * self.humans - before)

    # ---- model tables
    def _rebuild(self, busy: np.ndarray) -> None:
        om = self.outcomes
        probs = om.probs
        surv = om.survival()  # (4, n_bins + 1)
        hs = surv[HUMAN]
        pdf = self.outcomes.shapes[HUMAN].normalised()
        cdf = np.cumsum(pdf)
        quantiles = (np.arange(J) + 0.5) / J
        r_bins = np.minimum(np.searchsorted(cdf, quantiles), om.n_bins - 1) + 1  # answer-time quantiles
        self._s = probs[HUMAN] * quantiles  # P(another new call is a person answering before quantile j)
        k = np.arange(om.n_bins + 1)[:, None]
        unresolved = (probs[:, None] * surv).sum(axis=0)  # (n_bins + 1,)
        hi = np.minimum(k + r_bins[None, :], om.n_bins)
        num = probs[HUMAN] * (hs[k] - hs[hi])
        q = np.where(unresolved[k] > 1e-9, num / np.maximum(unresolved[k], 1e-12), 0.0)
        eventually = np.where(unresolved > 1e-9, probs[HUMAN] * hs / np.maximum(unresolved, 1e-12), 0.0)
        q = np.clip(q, 0.0, 1.0)
        self._q = q
        v = q * (1.0 - q)
        # moment tables by age bin: Σ over calls = bin counts @ table (one bincount instead of (N, J) arrays)
        self._q_moments = np.hstack((q, v, v * (1.0 - 2.0 * q), np.clip(eventually, 0.0, 1.0)[:, None]))
        self._horizons = r_bins * om.BIN_S + self.offer_window_s
        g = self.handle.free_probs(self.handle.survival(busy), self.handle.bin_elapsed(), self._horizons)
        vg = g * (1.0 - g)
        self._g = g
        self._g_moments = np.hstack((g, vg, vg * (1.0 - 2.0 * g)))
        self._p_h = float(probs[HUMAN])

    # ---- the decision
    def calls_to_place(self, obs: PacingObservation) -> int:
        if self.target == 0.0:  # a zero abandon budget: never over-dial (progressive)
            prog = self._progressive_count(obs)
            return self._finish(obs, prog, prog, "zero_target")
        now = obs.now
        om = self.outcomes
        om.mature(now)
        ages = np.asarray(obs.ringing_elapsed_s, dtype=float)
        busy = np.asarray(obs.busy_elapsed_s, dtype=float)
        chores_done = False
        if now - self._jump_checked_at >= JUMP_CHECK_S and self._built_at > -math.inf:
            # the periodic chores run on different decisions so no single decision pays for both
            self._jump_checked_at = now
            chores_done = True
            if om.check_jump(now, ages):
                self._built_at = -math.inf
        if self._built_at == -math.inf or (not chores_done and now - self._built_at >= REBUILD_S):
            self._rebuild(busy)
            self._built_at = now
        self._agents = max(obs.agents_logged_in, 1)
        self._waiting_seen = obs.calls_waiting
        if obs.agents_logged_in == 0:
            return self._finish(obs, 0, 0, "model", {"answer_rate": self._p_h})
        room = self._line_room(obs)
        n_cap = 4 * obs.agents_logged_in + 8 if room is None else room
        if n_cap <= 0:
            return self._finish(obs, 0, 0, "lines_per_agent", {"answer_rate": self._p_h})
        age_idx = np.minimum((ages / om.BIN_S).astype(int), self._q.shape[0] - 1)
        busy_idx = self.handle.busy_bins(busy)
        c = obs.agents_idle - obs.calls_waiting  # the candidate is lost if X ≥ c
        theta = self.threshold
        if om.matured < LEARNING_DIALS or self.handle.samples < LEARNING_RELEASES:
            # cautious while the models are still mostly prior
            theta = min(theta, LEARNING_THRESHOLD * self._target_scale)
        window_room = self._window_room(now)
        # a small team's window holds ~30 answers: a burst of a few drops breaks it, so the count of
        # drops the window can still take bounds the chance of that many at once
        burst = max(int(math.floor(window_room)) + 1, 1) if window_room < BURST_ROOM else None
        if len(ages) + len(busy) <= EXACT_MAX_TERMS:
            g = self._g[busy_idx]
            n, est, burst_bound = self._count_exact(self._q[age_idx], g, c, theta, n_cap, burst)
            in_flight = float(self._q_moments[age_idx, 3 * J].sum())
            frees = float(g[:, J - 1].sum())
        else:
            counts = np.bincount(age_idx, minlength=self._q.shape[0]).astype(float)
            sums = counts @ self._q_moments
            gsum = np.bincount(busy_idx, minlength=self._g.shape[0]).astype(float) @ self._g_moments
            mean = sums[:J] - gsum[:J]
            var = sums[J : 2 * J] + gsum[J : 2 * J]
            m3 = sums[2 * J : 3 * J] - gsum[2 * J :]
            frees = float(gsum[J - 1])
            n, est, burst_bound = self._count_rna(mean, var, m3, c, theta, n_cap, burst)
            if (theta < SADDLEPOINT_BELOW or burst is not None) and n > 0:
                gcounts = np.bincount(busy_idx, minlength=self._g.shape[0]).astype(float)
                n, est, bursty = self._count_saddlepoint(counts, gcounts, c, theta, n, est, burst)
                burst_bound = burst_bound or bursty
            in_flight = float(sums[3 * J])
        estimates = {
            "answer_rate": self._p_h,
            "expected_answers_in_flight": in_flight,
            "expected_agent_frees": frees,
            "est_abandon": est,
            "threshold": theta,
            "offer_window_s": self.offer_window_s,
        }
        capped = "window_burst" if burst_bound else "model" if n < n_cap else "lines_per_agent"
        estimates["window_room"] = window_room
        if window_room <= self.window_margin:  # the worst window is full: one line per idle agent at most
            n, capped = min(n, max(self._progressive_count(obs), 0)), "window_guard"
        return self._finish(obs, n, n, capped, estimates)

    def _window_room(self, now: float) -> float:
        """Abandons the worst 15-minute window containing ``now`` can still take before ``window_cap``.

        Two kinds of window: the trailing 15 minutes, and each window starting at one of its recent
        abandons, whose answers still to come are estimated at ``window_future_share`` of the trailing
        answer rate (the guard dials slower once it bites). A burst of abandons near the end of a
        quiet stretch is over the cap in the window that starts at the burst, not in the trailing one.
        The share is 0.7, not the ~0.5 of progressive dialing: answers halve only once the guard goes
        progressive, and at 0.5 a window starting at any abandon fell under the 30-answer floor, so the
        burst bound capped a quarter of a 10-agent team's decisions (SC2 73.06 → 74.43 %, docs/pacing.md).
        """
        start = now - WINDOW_S
        humans, marks = self._humans_15, self._marks()
        while humans and humans[0] < start:
            humans.popleft()
        while marks and marks[0][0] < start:
            marks.popleft()
        cap = self.window_cap
        room = cap * max(len(humans), 30) - len(marks)
        rate = self.window_future_share * len(humans) / WINDOW_S
        for count, (t, humans_then) in enumerate(reversed(marks), start=1):
            answers = self.humans - humans_then + 1 + rate * (WINDOW_S - (now - t))
            room = min(room, cap * max(answers, 30.0) - count)
        return room

    def _marks(self) -> deque[tuple[float, int]]:
        # a policy pickled before the forward-window check existed has no marks: start empty
        return self.__dict__.setdefault("_abandon_marks", deque())

    def _count_exact(
        self, qa: np.ndarray, g: np.ndarray, c: int, theta: float, n_cap: int, burst: int | None = None
    ) -> tuple[int, float, bool]:
        """The largest n whose n-th call is lost with probability ≤ θ; with ``burst``, also the chance
        that it is the ``burst``-th drop at once (``burst`` − 1 others unserved before it) ≤ ``burst_risk``,
        judged at the candidate's latest answer quantile (the most in-flight people land before it).
        Returns (n, the n-th call's loss probability, whether the burst bound stopped the count)."""
        up = qa if len(qa) else np.zeros((0, J))
        down = g if len(g) else np.zeros((0, J))
        pmf, offset = exact_pmf(up, down)

        def too_risky(p: np.ndarray) -> bool:
            return burst is not None and float(pmf_upper_tail(p, offset, c + burst - 1)[-1]) > self.burst_risk

        est = float(pmf_upper_tail(pmf, offset, c).mean())  # the next call's chance to be lost
        n, placed_est = 0, est
        while n < n_cap and est <= theta:
            if too_risky(pmf):
                return n, placed_est if n else est, True
            n, placed_est = n + 1, est
            pmf = add_bernoulli(pmf, self._s)
            est = float(pmf_upper_tail(pmf, offset, c).mean())
        return n, placed_est if n else est, False

    def _count_saddlepoint(
        self, counts: np.ndarray, gcounts: np.ndarray, c: int, theta: float, n_rna: int, est_rna: float,
        burst: int | None = None,
    ) -> tuple[int, float, bool]:
        """The RNA's count checked on the saddlepoint tail (see :func:`saddlepoint_upper_tail`): below θ =
        ``SADDLEPOINT_BELOW`` the largest n ≤ ``n_rna`` whose n-th call is lost with probability ≤ θ, and
        with ``burst`` the largest whose chance of being the ``burst``-th drop at once (at the latest
        answer quantile) is ≤ ``burst_risk``, a tail of 1e-4 too. The check only lowers the count: the RNA
        under-states far tails, and where it over-states one the count stays the cautious one.
        Returns (n, the n-th call's loss probability, whether the burst bound lowered the count)."""
        up, nu = self._q[counts > 0], counts[counts > 0]
        down, nd = self._g[gcounts > 0], gcounts[gcounts > 0]
        n, est, bursty = n_rna, est_rna, False
        if theta < SADDLEPOINT_BELOW:
            n, est = self._largest_under(
                n, theta, est, lambda k: saddlepoint_upper_tail(c, up, nu, down, nd, self._s, k - 1).mean(axis=1))
        if burst is not None and n > 0:
            capped, _ = self._largest_under(n, self.burst_risk, 0.0, lambda k: saddlepoint_upper_tail(
                c + burst - 1, up[:, -1:], nu, down[:, -1:], nd, self._s[-1:], k - 1)[:, 0])
            if capped < n:
                n, bursty = capped, True
        return n, est, bursty

    @staticmethod
    def _largest_under(
        n_max: int, limit: float, est_default: float, tails: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[int, float]:
        """The largest n ≤ ``n_max`` with ``tails(n) ≤ limit`` (tails grow with n), and its tail.

        Up to 8 candidate counts are solved together: first ``n_max`` and the 7 below it (the RNA is over
        by a few calls at most: one round in nearly every decision), then an 8-way search below those (a
        bisection, one solve a step, took 5-13 ms a decision at 500 agents). n = 0 (place nothing) always
        fits; its figure is the first call's tail when that was solved, else ``est_default``."""
        lo, hi, at_lo = 0, n_max + 1, 0.0  # tails(lo) ≤ limit, tails(hi) > limit (hi beyond: untested)
        first, first_est = True, est_default
        while hi - lo > 1:
            if first:
                cands = np.arange(max(1, n_max - 7), n_max + 1)
                first = False
            else:
                cands = np.unique(np.linspace(lo + 1, hi - 1, min(8, hi - lo - 1)).round().astype(int))
            est = tails(cands)  # for the n-th call: n − 1 other new calls ahead of it
            if cands[0] == 1:
                first_est = float(est[0])
            fits = est <= limit
            if fits.any():
                last = int(np.nonzero(fits)[0].max())
                lo, at_lo = int(cands[last]), float(est[last])
            if not fits.all():
                hi = int(cands[np.nonzero(~fits)[0].min()])
                if hi <= lo:  # not monotone by a rounding hair: keep the smaller count
                    lo = hi - 1
                    at_lo = float(est[cands == lo][0]) if lo in cands else at_lo
                    break
        return lo, at_lo if lo else first_est

    def _count_rna(
        self, mean: np.ndarray, var: np.ndarray, m3: np.ndarray, c: int, theta: float, n_cap: int,
        burst: int | None = None,
    ) -> tuple[int, float, bool]:
        """:meth:`_count_exact` for large teams, on the skew-corrected normal of the same counts."""
        s = self._s
        n_try = min(n_cap, 8)
        while True:
            others = np.arange(n_try)[:, None]  # n − 1 other new calls ahead of the n-th
            moments = (mean[None, :] + others * s, var[None, :] + others * s * (1 - s),
                       m3[None, :] + others * s * (1 - s) * (1 - 2 * s))
            tails = rna_upper_tail(c, *moments).mean(axis=1)
            over_theta = tails > theta
            bursty = (rna_upper_tail(c + burst - 1, *moments)[:, -1] > self.burst_risk if burst is not None
                      else np.zeros(n_try, dtype=bool))
            over = np.nonzero(over_theta | bursty)[0]
            if len(over):
                n = int(over[0])
                return n, float(tails[n - 1]) if n else float(tails[0]), bool(bursty[n] and not over_theta[n])
            if n_try >= n_cap:
                return n_try, float(tails[-1]), False
            n_try = min(n_cap, n_try * 4)
