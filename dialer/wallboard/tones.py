"""Time-in-state colour steps of the agent grid (VICIDIAL.md §5.3, VICIdial's realtime report).

VICIdial colours a row by state *and* by how long the agent has been in it, so a supervisor sees
at a glance who has idled, talked or paused too long. Its default thresholds are kept; the names
are CSS classes (``assets/wallboard.css``), not colours, so the TV theme can restyle them.
"""

from __future__ import annotations

# (seconds strictly above which the step applies, class) in ascending order; the first entry is
# the state's base tone.
STEPS: dict[str, tuple[tuple[float, str], ...]] = {
    # VICIdial "waiting": light blue -> blue (>60 s) -> midnight blue (>300 s).
    "ready": ((0, "t-ready-0"), (60, "t-ready-1"), (300, "t-ready-2")),
    # "in call": thistle (>10 s) -> violet (>60 s) -> purple (>300 s).
    "incall": ((0, "t-incall-0"), (10, "t-incall-1"), (60, "t-incall-2"), (300, "t-incall-3")),
    # "paused": khaki (>10) -> yellow (>60) -> olive (>300) -> dark olive (>600) -> saddle brown (>900).
    "paused": ((0, "t-paused-0"), (10, "t-paused-1"), (60, "t-paused-2"), (300, "t-paused-3"),
               (600, "t-paused-4"), (900, "t-paused-5")),
    # "dead call" (customer hung up, agent still on): black after 10 s.
    "dead": ((0, "t-dead-0"), (10, "t-dead-1")),
    # VICIdial's "agent phone ringing" salmon: our RESERVED (a call is being put through).
    "reserved": ((0, "t-reserved-0"),),
    # Dispo/wrap has no VICIdial step; we flag a long wrap as we flag a long pause.
    "wrap": ((0, "t-wrap-0"), (60, "t-wrap-1"), (300, "t-wrap-2")),
}
OVER_LIMIT = "t-over-limit"  # VICIdial: "over pause-code limit" = dark red


def tone(state: str, seconds: float, *, over_limit: bool = False) -> str:
    """The CSS class for an agent row; unknown states get ``t-unknown``."""
    if over_limit:
        return OVER_LIMIT
    steps = STEPS.get(state)
    if steps is None:
        return "t-unknown"
    chosen = steps[0][1]
    for threshold, name in steps:
        if seconds > threshold:
            chosen = name
    return chosen


def mmss(seconds: float | None) -> str:
    """``M:SS`` under an hour, ``H:MM:SS`` above; ``-`` for unknown or negative."""
    if seconds is None or seconds < 0:
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
