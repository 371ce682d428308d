import pytest

from dialer.callflow import (
    CallFlow,
    CallFlowConfig,
    ConnectToAgent,
    DropCall,
    HangupMachine,
    LeaveMessage,
    WaitingCall,
    longest_idle,
)


def test_longest_idle_is_the_earliest_ready_since_with_id_tiebreak() -> None:
    assert longest_idle([(5, 30.0), (2, 10.0), (9, 20.0)]) == 2
    assert longest_idle([(7, 10.0), (3, 10.0)]) == 3
    assert longest_idle([]) is None


def test_answered_human_goes_to_longest_idle_agent() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=2))
    flow.answered("c1", 100.0)
    actions = flow.step(100.1, [(1, 50.0), (2, 40.0), (3, 60.0)])
    assert actions == [ConnectToAgent("c1", 2)]
    assert flow.waiting == []


def test_no_agent_waits_then_drops_at_drop_after_s_from_the_answer_with_safe_harbor() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=2, safe_harbor_audio="sh-acme"))
    flow.answered("c1", 100.0)
    assert flow.step(100.5, []) == []
    assert flow.next_deadline() == 102.0
    assert flow.step(101.99, []) == []
    actions = flow.step(102.0, [])
    assert actions == [DropCall("c1", "sh-acme", 2.0)]
    assert flow.waiting == []
    # A late agent does not get the dropped call.
    assert flow.step(102.1, [(1, 0.0)]) == []


def test_drop_action_hangup_plays_nothing() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=1, drop_action="hangup"))
    flow.answered("c1", 0.0)
    assert flow.step(1.0, []) == [DropCall("c1", None, 1.0)]


def test_waiting_calls_are_served_fifo_by_answer_time() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=10))
    for i, t in enumerate([3.0, 1.0, 2.0]):
        flow.answered(f"c{i}", t)
    assert [c.call_id for c in flow.waiting] == ["c1", "c2", "c0"]
    assert flow.step(4.0, [(8, 3.5)]) == [ConnectToAgent("c1", 8)]
    assert flow.step(4.5, [(9, 4.2), (7, 4.1)]) == [ConnectToAgent("c2", 7), ConnectToAgent("c0", 9)]


def test_drops_come_before_connects_in_the_same_step() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=2))
    flow.answered("old", 0.0)
    flow.answered("new", 1.5)
    actions = flow.step(2.5, [(1, 0.0)])
    assert actions == [DropCall("old", "safe-harbor", 2.5), ConnectToAgent("new", 1)]


def test_amd_time_is_not_agent_time_and_counts_against_the_drop_clock() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=3, amd_enabled=True))
    flow.answered("c1", 10.0)
    # While AMD runs, a ready agent is NOT taken.
    assert flow.step(11.0, [(1, 0.0)]) == []
    assert flow.amd_pending == {"c1": 10.0}
    flow.human("c1")
    assert flow.waiting == [WaitingCall("c1", 10.0)]
    # The drop deadline is from the answer (10 + 3), not from the verdict at 12.
    assert flow.next_deadline() == 13.0
    assert flow.step(13.0, []) == [DropCall("c1", "safe-harbor", 3.0)]


def test_amd_fifo_is_by_answer_not_by_verdict() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=30, amd_enabled=True))
    flow.answered("early", 1.0)
    flow.answered("late", 2.0)
    flow.human("late")
    flow.human("early")
    assert flow.step(5.0, [(4, 0.0)]) == [ConnectToAgent("early", 4)]


@pytest.mark.parametrize(
    ("action", "expected"),
    [("hangup", HangupMachine("m1")), ("message", LeaveMessage("m1", "vm-acme"))],
)
def test_amd_machine_path(action: str, expected: object) -> None:
    flow = CallFlow(CallFlowConfig(amd_enabled=True, amd_machine_action=action, machine_message_audio="vm-acme"))
    flow.answered("m1", 0.0)
    assert flow.machine("m1") == [expected]
    assert flow.amd_pending == {} and flow.step(100.0, [(1, 0.0)]) == []


def test_customer_hangup_while_waiting_is_reported_once() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=5))
    flow.answered("c1", 0.0)
    assert flow.gone("c1") == WaitingCall("c1", 0.0)
    assert flow.gone("c1") is None


def test_human_verdict_for_unknown_call_is_a_clear_error() -> None:
    flow = CallFlow(CallFlowConfig(amd_enabled=True))
    with pytest.raises(ValueError, match="never answered"):
        flow.human("nope")


def test_restore_and_requeue_front() -> None:
    flow = CallFlow(CallFlowConfig(drop_after_s=60))
    flow.restore([WaitingCall("b", 2.0), WaitingCall("a", 1.0)])
    assert [c.call_id for c in flow.waiting] == ["a", "b"]
    [connect] = flow.step(3.0, [(1, 0.0)])
    assert connect == ConnectToAgent("a", 1)
    flow.requeue_front(WaitingCall("a", 1.0))
    assert [c.call_id for c in flow.waiting] == ["a", "b"]


@pytest.mark.parametrize(
    "kwargs",
    [{"drop_after_s": -1}, {"drop_action": "music"}, {"amd_machine_action": "sing"},
     {"amd_machine_action": "message"}],
)
def test_bad_config_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CallFlowConfig(**kwargs)
