"""DEFAULT US state calling-hour rules -- TO BE REVIEWED BY COUNSEL before production use.

State telemarketing statutes change often (Florida 2021, Oklahoma 2022, Maryland 2023 ...), many
have exemptions (prior business relationship, consent) that this table does not model, and some
states restrict only "telephone solicitation". This table errs strict and ships as a default;
operators replace or extend it with :func:`rules_from_json` (the ``state_calling_rules`` table).
Every row cites the statute it was taken from. Holidays: only the fixed-date ones (Jan 1, Jul 4,
Dec 25) are listed for the states that forbid calls on legal holidays; add the moving ones
(Thanksgiving, Memorial Day ...) per year through the holiday table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dialer.calling_hours import Holiday, StateRule, Weekly, Window, weekly_from_json

_FIXED_HOLIDAYS = (
    Holiday(1, 1, name="New Year's Day"),
    Holiday(7, 4, name="Independence Day"),
    Holiday(12, 25, name="Christmas Day"),
)


def _every_day(start: str, end: str, *, sunday: Window | None | str = "same", saturday: Window | None | str = "same") -> Weekly:
    window = Window.parse(start, end)
    sat = window if saturday == "same" else saturday
    sun = window if sunday == "same" else sunday
    return (window, window, window, window, window, sat, sun)  # type: ignore[return-value]


DEFAULT_STATE_RULES: dict[str, StateRule] = {
    rule.state: rule
    for rule in (
        StateRule("FL", _every_day("08:00", "20:00"), source="Fla. Stat. 501.616(6)(a) (as amended 2021)"),
        StateRule("OK", _every_day("08:00", "20:00"), source="Okla. Stat. tit. 15, 775C.4 (Telephone Solicitation Act 2022)"),
        StateRule("MD", _every_day("08:00", "20:00"), source="Md. Com. Law 14-4503 (Stop the Spam Calls Act 2023)"),
        StateRule("WA", _every_day("08:00", "20:00"), source="RCW 80.36.390"),
        StateRule("MA", _every_day("08:00", "20:00"), source="940 CMR 19.04; M.G.L. c.159C"),
        StateRule("CT", _every_day("09:00", "20:00"), source="Conn. Gen. Stat. 42-288a (as amended 2023)"),
        StateRule(
            "TX", _every_day("09:00", "21:00", sunday=Window.parse("12:00", "21:00")),
            source="Tex. Bus. & Com. Code 301.051",
        ),
        StateRule("LA", _every_day("08:00", "20:00", sunday=None), _FIXED_HOLIDAYS, source="La. R.S. 45:844.17"),
        StateRule("AL", _every_day("08:00", "20:00", sunday=None), _FIXED_HOLIDAYS, source="Ala. Code 8-19A-14"),
        StateRule("MS", _every_day("08:00", "20:00", sunday=None), source="Miss. Code 77-3-725"),
        StateRule("UT", _every_day("08:00", "21:00", sunday=None), _FIXED_HOLIDAYS, source="Utah Code 13-25a-103"),
        StateRule(
            "RI", _every_day("09:00", "18:00", saturday=Window.parse("10:00", "17:00"), sunday=None), _FIXED_HOLIDAYS,
            source="R.I. Gen. Laws 5-61-3.5",
        ),
    )
}


def rules_from_json(rows: Iterable[Mapping[str, Any]]) -> dict[str, StateRule]:
    """Rows like ``{"state": "FL", "windows": {"mon": ["08:00", "20:00"], ...}, "holidays": ["12-25", "2026-11-26"]}``."""
    out: dict[str, StateRule] = {}
    for row in rows:
        state = str(row["state"]).upper()
        holidays = tuple(_parse_holiday(h) for h in row.get("holidays") or ())
        out[state] = StateRule(state, weekly_from_json(row.get("windows")), holidays, str(row.get("source", "")))
    return out


def _parse_holiday(text: str | Sequence[Any]) -> Holiday:
    if not isinstance(text, str):
        raise ValueError(f"holiday must be 'MM-DD' or 'YYYY-MM-DD', got {text!r}")
    try:
        parts = [int(p) for p in text.split("-")]
    except ValueError as exc:
        raise ValueError(f"holiday must be 'MM-DD' or 'YYYY-MM-DD', got {text!r}") from exc
    if len(parts) == 2:
        return Holiday(parts[0], parts[1])
    if len(parts) == 3:
        return Holiday(parts[1], parts[2], year=parts[0])
    raise ValueError(f"holiday must be 'MM-DD' or 'YYYY-MM-DD', got {text!r}")
