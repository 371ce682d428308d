import pytest

from dialer import state as st
from dialer.state import AgentSnapshot, AgentState, InvalidTransition


def logged_in_ready(now: float = 0.0) -> AgentSnapshot:
    s = st.login(AgentSnapshot(agent_id=7), now, campaign_id=1, session_id="s1")
    return st.go_ready(s, now + 1)


def test_login_lands_paused_with_login_code_then_ready() -> None:
    s = st.login(AgentSnapshot(agent_id=7), 100.0, campaign_id=3, session_id="abc")
    assert (s.state, s.pause_code, s.campaign_id, s.since) == (AgentState.PAUSED, "LOGIN", 3, 100.0)
    s = st.go_ready(s, 105.0)
    assert (s.state, s.pause_code, s.since) == (AgentState.READY, None, 105.0)
    assert s.logged_in


def test_full_call_cycle_with_wrap_up_seconds() -> None:
    s = logged_in_ready()
    s = st.reserve(s, 10, "call-1")
    s = st.connect(s, 11, "call-1")
    assert (s.state, s.connected_at, s.calls_today) == (AgentState.INCALL, 11, 1)
    s = st.end_call(s, 100, wrap_up_s=15)
    assert s.state is AgentState.WRAP and s.wrap_deadline == 115
    s = st.disposition(s, 105)
    assert s.state is AgentState.WRAP, "wrap-up seconds are not over yet"
    assert st.finish_wrap_if_due(s, 114.9).state is AgentState.WRAP
    s = st.finish_wrap_if_due(s, 115)
    assert (s.state, s.call_id, s.since) == (AgentState.READY, None, 115)


def test_wrap_waits_for_the_disposition_even_after_the_deadline() -> None:
    s = st.end_call(st.connect(st.reserve(logged_in_ready(), 2, "c"), 3, "c"), 10, wrap_up_s=0)
    assert st.finish_wrap_if_due(s, 1000).state is AgentState.WRAP
    assert st.disposition(s, 1000).state is AgentState.READY


def test_the_disposition_code_is_kept_until_the_next_call_connects() -> None:
    """The dialer reads the code after the agent leaves wrap-up (an "A" tells it AMD passed a machine)."""
    from dialer.live import decode_snapshot, encode_snapshot

    s = st.end_call(st.connect(st.reserve(logged_in_ready(), 2, "c1"), 3, "c1"), 10, wrap_up_s=0)
    s = st.disposition(s, 11, "A")
    assert (s.state, s.disposition_code, s.connected_at) == (AgentState.READY, "A", 3)
    assert decode_snapshot(7, encode_snapshot(s)) == s
    s = st.reserve(s, 12, "c2")
    assert s.disposition_code == "A", "still readable while the next call is only reserved"
    s = st.connect(s, 13, "c2")
    assert s.disposition_code is None
    assert decode_snapshot(7, encode_snapshot(s)).disposition_code is None


def test_customer_hangup_makes_the_call_dead_until_the_agent_ends_it() -> None:
    s = st.connect(st.reserve(logged_in_ready(), 2, "c"), 3, "c")
    s = st.customer_hung_up(s, 50, "c")
    assert s.state is AgentState.DEAD
    assert st.customer_hung_up(s, 51, "other").state is AgentState.DEAD  # stale event ignored
    assert st.end_call(s, 60, wrap_up_s=5).state is AgentState.WRAP


def test_pause_during_a_call_takes_effect_after_wrap_up() -> None:
    s = st.connect(st.reserve(logged_in_ready(), 2, "c"), 3, "c")
    s = st.pause(s, 20, "BREAK")
    assert s.state is AgentState.INCALL and s.pause_after_call
    s = st.disposition(st.end_call(s, 30, wrap_up_s=0), 31)
    assert (s.state, s.pause_code) == (AgentState.PAUSED, "BREAK")


def test_lost_reservation_returns_the_agent_to_ready() -> None:
    s = st.reserve(logged_in_ready(), 5, "c")
    assert st.release_reservation(s, 6, "c").state is AgentState.READY
    with pytest.raises(InvalidTransition):
        st.release_reservation(s, 6, "other")


@pytest.mark.parametrize(
    ("make", "action"),
    [
        (lambda: AgentSnapshot(agent_id=1), lambda s: st.go_ready(s, 1)),
        (lambda: AgentSnapshot(agent_id=1), lambda s: st.reserve(s, 1, "c")),
        (lambda: logged_in_ready(), lambda s: st.end_call(s, 1, wrap_up_s=0)),
        (lambda: logged_in_ready(), lambda s: st.disposition(s, 1)),
        (lambda: st.connect(st.reserve(logged_in_ready(), 2, "c"), 3, "c"), lambda s: st.logout(s, 4)),
        (lambda: st.connect(st.reserve(logged_in_ready(), 2, "c"), 3, "c"), lambda s: st.disposition(s, 4)),
        (lambda: st.reserve(logged_in_ready(), 2, "c"), lambda s: st.connect(s, 3, "other")),
        (lambda: st.reserve(logged_in_ready(), 2, "c"), lambda s: st.reserve(s, 3, "d")),
        (lambda: logged_in_ready(), lambda s: st.login(s, 3, campaign_id=1, session_id="x")),
    ],
)
def test_invalid_transitions_are_refused_with_a_message(make, action) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidTransition, match="cannot"):
        action(make())


def test_logout_clears_the_session() -> None:
    s = st.logout(logged_in_ready(), 9)
    assert (s.state, s.campaign_id, s.session_id) == (AgentState.LOGGED_OUT, None, None)
    assert not s.logged_in
