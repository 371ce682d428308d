"""The agent service: the one API the agent page, the virtual agents and the dialing loop use.

Every action is the same three steps: load the agent's snapshot from Redis, apply the
:mod:`dialer.state` transition, write it back atomically (:meth:`LiveState.update_agent`, which also
appends ``agent_state_changed`` to the ``pyd:events:agents`` stream in the same MULTI) and then
record the state interval in PostgreSQL (close the open one, open the next).

Redis first, PostgreSQL second: the live state is what routes calls, so it must never wait for
the database; if the interval write fails the action has still happened and the error is logged
(the ``agent_state_changed`` stream entry holds the same facts and the analytics ingest can
rebuild the interval from it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa

from core.models import AgentSession, AgentStateInterval, CallAttempt, Callback, Lead, OutboxMessage
from dialer import state as st
from dialer.cdr import CDR_TOPIC, cdr_payload
from dialer.live import AgentChange, LiveState
from dialer.state import AgentSnapshot, AgentState

logger = logging.getLogger(__name__)


class AgentStore(Protocol):
    """Where sessions and state intervals go (PostgreSQL in production)."""

    def open_session(self, agent_id: int, campaign_id: int, now: float, extension: str | None) -> str: ...

    def close_session(self, session_id: str, now: float) -> None: ...

    def record(self, change: AgentChange, now: float) -> None: ...


class DispositionSink(Protocol):
    def record(self, agent_id: int | None, call_id: str, code: str, now: float, *, callback_at: datetime | None,
               note: str | None, wrap_ended: bool = False) -> None: ...

    def wrap_ended(self, call_id: str, now: float) -> None: ...


class NoStore:
    """For callers with no database (tests of the Redis side only): sessions are random ids."""

    def open_session(self, agent_id: int, campaign_id: int, now: float, extension: str | None) -> str:
        return uuid.uuid4().hex

    def close_session(self, session_id: str, now: float) -> None:
        return None

    def record(self, change: AgentChange, now: float) -> None:
        return None


def _ts(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


class PgAgentStore:
    """``agent_sessions`` (one per login) and ``agent_state_intervals`` (one per state stretch, open
    while ``ended_at`` is NULL; the schema allows one open interval per session)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def open_session(self, agent_id: int, campaign_id: int, now: float, extension: str | None) -> str:
        at = _ts(now)
        with self.engine.begin() as conn:
            # At most one open session per agent (uq_agent_sessions_user_open): a new login ends a
            # stale one left by a crashed browser, and its open interval with it.
            stale = conn.execute(
                sa.update(AgentSession).where(AgentSession.user_id == agent_id, AgentSession.ended_at.is_(None))
                .values(ended_at=sa.func.greatest(AgentSession.started_at, at)).returning(AgentSession.id)
            ).scalars().all()
            if stale:
                self._close_intervals(conn, stale, at)
            return str(conn.execute(
                sa.insert(AgentSession).values(user_id=agent_id, campaign_id=campaign_id, started_at=at,
                                               extension=extension).returning(AgentSession.id)
            ).scalar_one())

    def close_session(self, session_id: str, now: float) -> None:
        at = _ts(now)
        with self.engine.begin() as conn:
            self._close_intervals(conn, [int(session_id)], at)
            conn.execute(sa.update(AgentSession).where(AgentSession.id == int(session_id), AgentSession.ended_at.is_(None))
                         .values(ended_at=sa.func.greatest(AgentSession.started_at, at)))

    @staticmethod
    def _close_intervals(conn: sa.Connection, session_ids: Sequence[int], at: datetime) -> None:
        conn.execute(
            sa.update(AgentStateInterval)
            .where(AgentStateInterval.session_id.in_(session_ids), AgentStateInterval.ended_at.is_(None))
            .values(ended_at=sa.func.greatest(AgentStateInterval.started_at, at))
        )

    def record(self, change: AgentChange, now: float) -> None:
        """Close the open interval and open the next one, at the transition's own time.

        The dialing loop and the agent page write for the same agent concurrently, so the
        session row is locked first (one writer per session at a time), and a transition that
        reaches PostgreSQL after a later one is slotted in before it instead of reopening the past.
        """
        if not change.state_changed:
            return
        before, after = change.before, change.after
        session = after.session_id or before.session_id
        if session is None or not session.isdigit():
            return
        sid = int(session)
        at = _ts(after.since or now)
        i = AgentStateInterval
        with self.engine.begin() as conn:
            conn.execute(sa.select(AgentSession.id).where(AgentSession.id == sid).with_for_update())
            later = conn.execute(sa.select(sa.func.min(i.started_at)).where(i.session_id == sid, i.started_at > at)).scalar()
            if later is None:
                self._close_intervals(conn, [sid], at)
            else:
                conn.execute(sa.update(i).where(i.session_id == sid, i.started_at <= at,
                                                sa.or_(i.ended_at.is_(None), i.ended_at > at)).values(ended_at=at))
            if after.state is not AgentState.LOGGED_OUT:
                conn.execute(sa.insert(i).values(
                    session_id=sid, user_id=after.agent_id, campaign_id=after.campaign_id,
                    state=after.state.value, started_at=at, ended_at=later,
                    # the schema allows a pause code only on a paused interval (pause_after_call
                    # keeps the code on the snapshot while the agent is still busy)
                    pause_code=after.pause_code if after.state is AgentState.PAUSED else None,
                    call_id=uuid.UUID(after.call_id) if after.call_id else None,
                ))


class PgDispositions:
    """The disposition lands on the call attempt and becomes the lead's status (as in VICIdial);
    a callback request creates the lead's pending callback (replacing an older pending one)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(self, agent_id: int | None, call_id: str, code: str, now: float, *, callback_at: datetime | None,
               note: str | None, wrap_ended: bool = False) -> None:
        values: dict[str, object] = {"disposition_code": code}
        if wrap_ended:
            values["wrap_ended_at"] = _ts(now)
        if agent_id is not None:
            values["agent_id"] = agent_id
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.update(CallAttempt).where(CallAttempt.call_id == uuid.UUID(call_id)).values(**values)
                .returning(*CallAttempt.__table__.c)
            ).mappings().one_or_none()
            if row is None:
                raise ValueError(f"no call attempt {call_id}")
            if row["ended_at"] is not None:
                # The CDR already left with its hangup: ship the corrected row. ``version`` (now, in
                # microseconds) is newer than the first delivery's, so ClickHouse replaces it.
                conn.execute(sa.insert(OutboxMessage).values(
                    topic=CDR_TOPIC, key=call_id, payload={**cdr_payload(dict(row)), "version": int(now * 1_000_000)}))
            if row["lead_id"] is None:
                return
            conn.execute(sa.update(Lead).where(Lead.id == row["lead_id"]).values(status=code))
            if callback_at is not None:
                if callback_at.tzinfo is None:
                    raise ValueError("callback_at must be timezone-aware")
                if agent_id is None:
                    raise ValueError("a callback needs the agent who booked it")
                conn.execute(sa.update(Callback).where(Callback.lead_id == row["lead_id"], Callback.status == "pending")
                             .values(status="cancelled", completed_at=_ts(now)))
                conn.execute(sa.insert(Callback).values(
                    lead_id=row["lead_id"], campaign_id=row["campaign_id"], agent_id=agent_id, scope="agent",
                    due_at=callback_at, note=note or "", created_by=agent_id,
                ))


    def wrap_ended(self, call_id: str, now: float) -> None:
        """After-call work is over (``wrap_ended_at``: the CDR's wrap time); re-ship an ended CDR."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.update(CallAttempt).where(CallAttempt.call_id == uuid.UUID(call_id),
                                             CallAttempt.wrap_ended_at.is_(None))
                .values(wrap_ended_at=_ts(now)).returning(*CallAttempt.__table__.c)
            ).mappings().one_or_none()
            if row is not None and row["ended_at"] is not None:
                conn.execute(sa.insert(OutboxMessage).values(
                    topic=CDR_TOPIC, key=call_id, payload={**cdr_payload(dict(row)), "version": int(now * 1_000_000)}))


class AgentService:
    def __init__(
        self,
        live: LiveState,
        store: AgentStore | None = None,
        dispositions: DispositionSink | None = None,
        *,
        wrap_up_s: Callable[[int], float] = lambda _campaign_id: 0.0,
        sale_codes: Collection[str] = ("SALE",),
        clock: Callable[[], float] = time.time,
        hangup: Callable[[str], None] | None = None,
    ) -> None:
        self.live = live
        self.store = store or NoStore()
        self.dispositions = dispositions
        self.wrap_up_s = wrap_up_s
        self.sale_codes = frozenset(sale_codes)
        self.clock = clock
        self.hangup = hangup  # e.g. dialer.loop_commands.StreamCommands(r).hangup

    def _apply(self, agent_id: int, fn: Callable[[AgentSnapshot, float], AgentSnapshot], reason: str,
               **extra: str) -> AgentSnapshot:
        now = self.clock()
        change = self.live.update_agent(agent_id, lambda s: fn(s, now), extra=extra or None, event={"reason": reason})
        try:
            self.store.record(change, now)
        except Exception:  # noqa: BLE001 - see the module docstring: live state wins, the stream has the facts
            logger.exception("agent %s: could not record the state interval (%s)", agent_id, reason)
        return change.after

    # --- what an agent does ---------------------------------------------------------------------

    def login(self, agent_id: int, campaign_id: int, *, name: str = "", extension: str | None = None) -> AgentSnapshot:
        current = self.live.agent(agent_id)
        if current.logged_in:
            raise st.InvalidTransition("log in", current)
        session_id = self.store.open_session(agent_id, campaign_id, self.clock(), extension)
        try:
            return self._apply(
                agent_id, lambda s, now: st.login(s, now, campaign_id=campaign_id, session_id=session_id), "login",
                name=name, extension=extension or "",
            )
        except st.InvalidTransition:  # lost a race with another login of the same agent
            self.store.close_session(session_id, self.clock())
            raise

    def ready(self, agent_id: int) -> AgentSnapshot:
        return self._apply(agent_id, st.go_ready, "ready")

    def pause(self, agent_id: int, code: str) -> AgentSnapshot:
        code = (code or "").strip().upper()
        if not code or len(code) > 20:
            raise ValueError("a pause code of 1-20 characters is required")
        return self._apply(agent_id, lambda s, now: st.pause(s, now, code), "pause")

    def end_call(self, agent_id: int) -> AgentSnapshot:
        def fn(s: AgentSnapshot, now: float) -> AgentSnapshot:
            wrap = self.wrap_up_s(s.campaign_id) if s.campaign_id is not None else 0.0
            return st.end_call(s, now, wrap_up_s=wrap)

        after = self._apply(agent_id, fn, "end_call")
        before = self.live.r.hget(f"pyd:call:{after.call_id}", "state") if after.call_id else None
        if self.hangup is not None and after.call_id and before is not None:
            # The agent hung up on a customer who is still there (the call is still in flight).
            self.hangup(after.call_id)
        return after

    def disposition(self, agent_id: int, call_id: str, code: str, *, callback_at: datetime | None = None,
                    note: str | None = None) -> AgentSnapshot:
        code = (code or "").strip().upper()
        if not code or len(code) > 20:
            raise ValueError("a disposition code of 1-20 characters is required")
        current = self.live.agent(agent_id)
        if current.call_id != call_id:
            raise st.InvalidTransition(f"disposition call {call_id} (current call {current.call_id})", current)
        after = self._apply(agent_id, lambda s, now: st.disposition(s, now, code), "disposition")
        now = self.clock()
        if self.dispositions is not None:
            self.dispositions.record(agent_id, call_id, code, now, callback_at=callback_at, note=note,
                                     wrap_ended=after.state is not AgentState.WRAP)
        if code in self.sale_codes and current.campaign_id is not None:
            self.live.bump(current.campaign_id, now, sales=1)
        return after

    def logout(self, agent_id: int) -> AgentSnapshot:
        before = self.live.agent(agent_id)
        after = self._apply(agent_id, st.logout, "logout")
        if before.session_id:
            try:
                self.store.close_session(before.session_id, self.clock())
            except Exception:  # noqa: BLE001
                logger.exception("agent %s: could not close session %s", agent_id, before.session_id)
        return after

    # --- what the dialer does to an agent -------------------------------------------------------

    def connect(self, agent_id: int, call_id: str) -> AgentSnapshot:
        return self._apply(agent_id, lambda s, now: st.connect(s, now, call_id), "connect")

    def release(self, agent_id: int, call_id: str) -> AgentSnapshot:
        return self._apply(agent_id, lambda s, now: st.release_reservation(s, now, call_id), "release")

    def customer_hung_up(self, agent_id: int, call_id: str) -> AgentSnapshot:
        return self._apply(agent_id, lambda s, now: st.customer_hung_up(s, now, call_id), "customer_hung_up")

    def record_reservation(self, change: AgentChange) -> None:
        """The loop reserved through :meth:`LiveState.reserve_longest_idle`: record the interval."""
        try:
            self.store.record(change, change.after.since)
        except Exception:  # noqa: BLE001
            logger.exception("agent %s: could not record the reservation interval", change.after.agent_id)

    def finish_wraps(self, campaign_id: int) -> list[AgentSnapshot]:
        """Wrap-up timer: call on every tick; moves agents whose wrap-up is over to ready/paused."""
        now = self.clock()
        done = []
        for snap in self.live.campaign_agents(campaign_id):
            if snap.state is AgentState.WRAP and snap.dispositioned and (snap.wrap_deadline or 0) <= now:
                after = self._apply(snap.agent_id, st.finish_wrap_if_due, "wrap_done")
                if after.state is not AgentState.WRAP:
                    done.append(after)
                    if self.dispositions is not None and snap.call_id:
                        try:
                            self.dispositions.wrap_ended(snap.call_id, now)
                        except Exception:  # noqa: BLE001 - the agent is free either way; the CDR lacks wrap time
                            logger.exception("call %s: could not record the end of wrap-up", snap.call_id)
        return done
