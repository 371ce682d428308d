"""Virtual agents: simulated people who work a campaign through the real agent service.

    python -m dialer.virtual_agents --campaign 1 --count 5 [--seconds 600] [--time-scale 10] [--seed 7]

Each one logs in (users ``vagent01``..``vagentNN``, created if missing, with endpoint
``PJSIP/agentNN``: the simulator's agent phones auto-answer), goes ready, and when the dialer
bridges a call to it "talks" until the customer hangs up or its own talk time (lognormal) runs
out, in which case it hangs up the call. It then wraps up (a few seconds), dispositions with
plausible odds over the campaign's selectable dispositions, and sometimes takes a BREAK.
Everything goes through :class:`dialer.agents.AgentService`, exactly like the agent page, so the
wallboard, the intervals and the CDRs cannot tell them from people.

``--time-scale`` divides every duration (match the simulator's ``sim.time_scale``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa

from core.models import Campaign, Disposition, User
from dialer.agents import AgentService, PgAgentStore, PgDispositions
from dialer.live import LiveState
from dialer.loop_commands import StreamCommands
from dialer.state import AgentState, InvalidTransition

logger = logging.getLogger(__name__)

DEFAULT_DISPOSITIONS: tuple[tuple[str, float], ...] = (("SALE", 0.12), ("NI", 0.45), ("CALLBK", 0.08), ("NP", 0.2),
                                                       ("DNC", 0.03), ("B", 0.12))


@dataclass(frozen=True)
class Behaviour:
    talk_mean_s: float = 90.0
    talk_sd_s: float = 60.0
    react_s: tuple[float, float] = (0.5, 2.0)  # noticing the customer left
    wrap_s: tuple[float, float] = (3.0, 12.0)
    break_prob_per_call: float = 0.08
    break_s: tuple[float, float] = (30.0, 120.0)
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")

    def talk(self, rng: random.Random) -> float:
        # lognormal with the given mean/sd of the *duration* (not of its log)
        import math

        var = math.log(1 + (self.talk_sd_s / self.talk_mean_s) ** 2)
        mu = math.log(self.talk_mean_s) - var / 2
        return max(5.0, rng.lognormvariate(mu, math.sqrt(var))) / self.time_scale

    def draw(self, rng: random.Random, bounds: tuple[float, float]) -> float:
        return rng.uniform(*bounds) / self.time_scale


def weighted_codes(rows: Sequence[tuple[str, bool, bool, bool]]) -> list[tuple[str, float]]:
    """(code, weight) from (code, sale, dnc, callback) rows: sales ~12 %, DNC ~3 %, callbacks ~8 %."""
    if not rows:
        return list(DEFAULT_DISPOSITIONS)
    special = {"sale": 0.12, "dnc": 0.03, "callback": 0.08}
    kinds = ["sale" if s else "dnc" if d else "callback" if c else "other" for _code, s, d, c in rows]
    share = {k: special[k] / kinds.count(k) for k in special if k in kinds}
    rest = 1.0 - sum(special[k] for k in special if k in kinds)
    others = kinds.count("other")
    return [(code, share.get(kind, rest / others if others else 0.0)) for (code, *_), kind in zip(rows, kinds, strict=True)]


@dataclass
class VirtualAgent:
    agent_id: int
    endpoint: str
    rng: random.Random
    behaviour: Behaviour
    codes: list[tuple[str, float]]
    callback_codes: frozenset[str] = frozenset()
    call_id: str | None = None
    phase: str = ""  # what happens at act_at: talk (hang up), react (end a dead call), wrap, break
    act_at: float | None = None
    calls: int = 0
    log: list[str] = field(default_factory=list)

    def _plan(self, phase: str, at: float) -> None:
        self.phase, self.act_at = phase, at

    def _due(self, phase: str, now: float) -> bool:
        return self.phase == phase and self.act_at is not None and now >= self.act_at

    def step(self, service: AgentService, commands: StreamCommands, now: float) -> None:
        snap = service.live.agent(self.agent_id)
        b = self.behaviour
        if snap.state is AgentState.PAUSED:
            if snap.pause_code == "LOGIN" or (snap.pause_code == "BREAK" and self._due("break", now)):
                self._plan("", 0.0)
                service.ready(self.agent_id)
            return
        if snap.state is AgentState.INCALL:
            if self.call_id != snap.call_id:
                self.call_id = snap.call_id
                self._plan("talk", now + b.talk(self.rng))
                self.calls += 1
            elif self._due("talk", now):
                assert snap.call_id is not None
                service.end_call(self.agent_id)  # the agent ends the conversation (hangs up)
                self._plan("wrap", now + b.draw(self.rng, b.wrap_s))
            return
        if snap.state is AgentState.DEAD:
            if self.phase != "react":
                self.call_id = snap.call_id
                self._plan("react", now + b.draw(self.rng, b.react_s))
            elif self._due("react", now):
                service.end_call(self.agent_id)
                self._plan("wrap", now + b.draw(self.rng, b.wrap_s))
            return
        if snap.state is AgentState.WRAP and not snap.dispositioned:
            if self.phase != "wrap":
                self._plan("wrap", now + b.draw(self.rng, b.wrap_s))
            elif self._due("wrap", now) and snap.call_id:
                self._disposition(service, snap.call_id, now)
            return
        if snap.state is AgentState.READY and self.call_id is not None:
            self.call_id = None
            self._plan("", 0.0)
            if self.rng.random() < b.break_prob_per_call:
                service.pause(self.agent_id, "BREAK")
                self._plan("break", now + b.draw(self.rng, b.break_s))

    def _disposition(self, service: AgentService, call_id: str, now: float) -> None:
        codes, weights = zip(*self.codes, strict=True)
        code = self.rng.choices(codes, weights)[0]
        callback_at = datetime.now(UTC) + timedelta(days=1) if code in self.callback_codes else None
        service.disposition(self.agent_id, call_id, code, callback_at=callback_at)
        self._plan("", 0.0)
        self.log.append(code)


def ensure_users(engine: sa.Engine, count: int) -> list[int]:
    """``vagent01``..: agent users with a password hash nobody can log in with."""
    ids = []
    with engine.begin() as conn:
        for n in range(1, count + 1):
            name = f"vagent{n:02d}"
            found = conn.execute(sa.select(User.id).where(User.username == name)).scalar()
            if found is None:
                found = conn.execute(sa.insert(User).values(
                    username=name, full_name=f"Virtual agent {n}", password_hash="!virtual", role="agent",
                ).returning(User.id)).scalar_one()
            ids.append(found)
    return ids


def campaign_codes(engine: sa.Engine, campaign_id: int) -> tuple[list[tuple[str, float]], frozenset[str]]:
    d = Disposition
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(d.code, d.sale, d.dnc, d.callback).where(
                sa.or_(d.campaign_id == campaign_id, d.campaign_id.is_(None)), d.selectable, d.human_answered)
            .order_by(d.code)
        ).all()
    callbacks = frozenset(r.code for r in rows if r.callback)
    return weighted_codes([(r.code, r.sale, r.dnc, r.callback) for r in rows]), callbacks


class VirtualAgents:
    def __init__(self, campaign_id: int, count: int, engine: sa.Engine, r: redis.Redis, *,
                 behaviour: Behaviour | None = None, seed: int = 0, clock: Callable[[], float] = time.time) -> None:
        if count < 1 or count > 99:
            raise ValueError("count must be within 1..99 (endpoints agent01..agent99)")
        with engine.connect() as conn:
            if conn.execute(sa.select(Campaign.id).where(Campaign.id == campaign_id)).scalar() is None:
                raise ValueError(f"no campaign {campaign_id}")
        self.campaign_id = campaign_id
        self.clock = clock
        live = LiveState(r)
        self.commands = StreamCommands(r)
        self.service = AgentService(live, PgAgentStore(engine), PgDispositions(engine), clock=clock,
                                    hangup=self.commands.hangup)
        codes, callbacks = campaign_codes(engine, campaign_id)
        behaviour = behaviour or Behaviour()
        self.agents = [
            VirtualAgent(agent_id, f"PJSIP/agent{n:02d}", random.Random(seed * 1000 + n), behaviour, codes, callbacks)
            for n, agent_id in enumerate(ensure_users(engine, count), start=1)
        ]

    def login(self) -> None:
        for agent in self.agents:
            snap = self.service.live.agent(agent.agent_id)
            if snap.logged_in:
                continue
            self.service.login(agent.agent_id, self.campaign_id, name=f"vagent{agent.endpoint[-2:]}",
                               extension=agent.endpoint)

    def step(self) -> None:
        now = self.clock()
        for agent in self.agents:
            try:
                agent.step(self.service, self.commands, now)
            except (InvalidTransition, ValueError) as exc:  # a race with the dialer: look again next step
                logger.debug("virtual agent %s: %s", agent.agent_id, exc)

    def logout(self, timeout_s: float = 30.0) -> None:
        """Finish calls in progress, then log everybody out."""
        deadline = time.monotonic() + timeout_s
        for agent in self.agents:
            agent.behaviour = replace(agent.behaviour, break_prob_per_call=0.0)
            if agent.phase == "break":
                agent._plan("", 0.0)
            with contextlib.suppress(InvalidTransition):  # already logged out
                self.service.pause(agent.agent_id, "LOGOUT")
        while time.monotonic() < deadline:
            self.step()
            if all(self.service.live.agent(a.agent_id).state in (AgentState.PAUSED, AgentState.LOGGED_OUT)
                   for a in self.agents):
                break
            time.sleep(0.1)
        for agent in self.agents:
            try:
                self.service.logout(agent.agent_id)
            except InvalidTransition as exc:
                logger.warning("virtual agent %s could not log out: %s", agent.agent_id, exc)

    def run(self, stop: threading.Event, seconds: float | None = None, period_s: float = 0.1) -> None:
        self.login()
        end = None if seconds is None else time.monotonic() + seconds
        while not stop.is_set() and (end is None or time.monotonic() < end):
            self.step()
            stop.wait(period_s)
        self.logout()


def resolve_campaign(engine: sa.Engine, id_or_name: str) -> int:
    """A campaign id from ``--campaign``: digits are an id, anything else a campaign name."""
    if id_or_name.isdigit():
        return int(id_or_name)
    with engine.connect() as conn:
        found = conn.execute(sa.select(Campaign.id).where(Campaign.name == id_or_name)).scalar()
    if found is None:
        raise ValueError(f"no campaign named {id_or_name!r}")
    return int(found)


def main(argv: list[str] | None = None) -> int:
    from core.config import Settings
    from core.db import make_engine
    from core.engines import postgres_url, redis_url

    p = argparse.ArgumentParser(prog="python -m dialer.virtual_agents", description=__doc__.splitlines()[0])
    p.add_argument("--campaign", required=True, help="campaign id or exact name")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(postgres_url(settings))
    r = redis.Redis.from_url(redis_url(settings), decode_responses=True)
    try:
        campaign_id = resolve_campaign(engine, args.campaign)
        agents = VirtualAgents(campaign_id, args.count, engine, r, behaviour=Behaviour(time_scale=args.time_scale),
                               seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    agents.run(stop, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
