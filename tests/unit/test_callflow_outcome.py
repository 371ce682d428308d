"""How a finished call attempt is classified (call_attempts.outcome), from what we knew at hangup."""

from datetime import UTC, datetime

import pytest

from dialer.cdr import classify

T = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "cause", "reason", "expected"),
    [
        ({"answered_at": T, "connected_at": T}, 16, None, "human"),
        ({"answered_at": T, "amd_verdict": "machine"}, 16, None, "machine"),
        # answered, never reached an agent: dropped, gave up waiting, or hung up during AMD
        ({"answered_at": T}, 16, None, "abandoned"),
        ({"answered_at": T, "amd_verdict": "human"}, 16, None, "abandoned"),
        ({}, 17, None, "busy"),
        ({}, 34, None, "congestion"),
        ({}, 19, None, "no_answer"),
        ({}, None, None, "no_answer"),
        ({}, 1, None, "failed"),  # unallocated number
        ({}, None, 5, "busy"),  # OriginateResponse Reason 5
        ({}, None, 8, "congestion"),
        ({}, None, 3, "no_answer"),
        ({}, None, 0, "failed"),
    ],
)
def test_classify(row: dict, cause: int | None, reason: int | None, expected: str) -> None:
    assert classify(row, cause, reason) == expected
