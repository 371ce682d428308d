"""Campaign form <-> model: validation with one message per field, and the audit snapshot.

``validate_campaign_form(raw)`` never touches the database: it returns the cleaned values and a
``{field: message}`` dict. The page saves only when that dict is empty, so an edit with one bad
value saves nothing. Rules mirror the CHECK constraints of ``core.models_dialing.Campaign`` and
cite the regulation where the range comes from one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from core.models import (
    ABANDON_WINDOWS,
    AMD_MACHINE_ACTIONS,
    DIAL_METHODS,
    DROP_ACTIONS,
    LEAD_ORDERS,
    RECORDING_POLICIES,
    WEEKDAYS,
    Campaign,
)

CODE = re.compile(r"^[A-Z0-9_]{1,20}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# TCPA 47 CFR 64.1200(c)(1): no solicitation before 08:00 or after 21:00 at the called party.
TCPA_EARLIEST, TCPA_LATEST = "08:00", "21:00"

SCALAR_FIELDS = (
    "name", "description", "active", "dial_method", "dial_level", "min_dial_level", "max_dial_level", "dial_ratio",
    "target_abandon_rate", "abandon_window", "drop_after_s", "drop_action", "safe_harbor_audio", "caller_id",
    "dial_timeout_s", "dial_statuses", "max_attempts", "amd_enabled", "amd_machine_action", "wrap_up_s",
    "recording_policy", "lead_order", "hopper_level", "script_template",
)
WINDOW_FIELDS = tuple(f"win_{d}_{edge}" for d in WEEKDAYS for edge in ("start", "end"))
FORM_FIELDS = SCALAR_FIELDS + WINDOW_FIELDS + ("recycle_rules",)
CHOICES: dict[str, tuple[str, ...]] = {
    "dial_method": DIAL_METHODS, "abandon_window": ABANDON_WINDOWS, "drop_action": DROP_ACTIONS,
    "amd_machine_action": AMD_MACHINE_ACTIONS, "recording_policy": RECORDING_POLICIES, "lead_order": LEAD_ORDERS,
}


@dataclass
class CleanCampaign:
    values: dict[str, Any] = field(default_factory=dict)  # Campaign column -> value
    recycle_rules: list[tuple[str, int, int]] = field(default_factory=list)  # (status, delay_s, max_attempts)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value).strip()


def _number(raw: Mapping[str, Any], key: str, lo: float, hi: float, out: CleanCampaign, *,
            integer: bool = False, label: str = "") -> float | None:
    text = _text(raw, key)
    if text == "":
        out.errors[key] = "required"
        return None
    try:
        value = float(text)
    except ValueError:
        out.errors[key] = f"not a number: {text!r}"
        return None
    if integer and not value.is_integer():
        out.errors[key] = "must be a whole number"
        return None
    if not lo <= value <= hi:
        out.errors[key] = f"must be between {lo:g} and {hi:g}{label}"
        return None
    return int(value) if integer else value


def _windows(raw: Mapping[str, Any], out: CleanCampaign) -> dict[str, list[str]]:
    windows: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        start, end = _text(raw, f"win_{day}_start"), _text(raw, f"win_{day}_end")
        if not start and not end:
            continue  # no calls that day
        bad = False
        for key, value in ((f"win_{day}_start", start), (f"win_{day}_end", end)):
            if not HHMM.match(value):
                out.errors[key] = "use HH:MM (24 h), or leave both empty for no calls"
                bad = True
        if bad:
            continue
        if start >= end:
            out.errors[f"win_{day}_end"] = "must be after the start"
        elif start < TCPA_EARLIEST or end > TCPA_LATEST:
            out.errors[f"win_{day}_start" if start < TCPA_EARLIEST else f"win_{day}_end"] = (
                "outside 08:00-21:00 (TCPA, 47 CFR 64.1200(c)(1))")
        else:
            windows[day] = [start, end]
    return windows


def parse_recycle_rules(text: str) -> tuple[list[tuple[str, int, int]], str | None]:
    """One rule per line: ``STATUS delay_minutes max_attempts`` (e.g. ``NA 60 3``)."""
    rules: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 3:
            return [], f"line {n}: expected STATUS DELAY_MINUTES MAX_ATTEMPTS"
        status, delay, attempts = parts[0].upper(), parts[1], parts[2]
        if not CODE.match(status):
            return [], f"line {n}: status {status!r} must be A-Z, 0-9 or _ (1-20 chars)"
        if status in seen:
            return [], f"line {n}: status {status} appears twice"
        if not (delay.isdigit() and attempts.isdigit()) or int(attempts) < 1:
            return [], f"line {n}: delay must be minutes ≥ 0 and attempts ≥ 1"
        seen.add(status)
        rules.append((status, int(delay) * 60, int(attempts)))
    return rules, None


def validate_campaign_form(raw: Mapping[str, Any]) -> CleanCampaign:
    out = CleanCampaign()
    v = out.values
    name = _text(raw, "name")
    if not name:
        out.errors["name"] = "required"
    elif len(name) > 100:
        out.errors["name"] = "at most 100 characters"
    v["name"] = name
    v["description"] = _text(raw, "description")
    v["active"] = bool(raw.get("active"))
    v["amd_enabled"] = bool(raw.get("amd_enabled"))
    for key, allowed in CHOICES.items():
        value = _text(raw, key)
        if value not in allowed:
            out.errors[key] = f"choose one of {', '.join(allowed)}"
        v[key] = value
    for key in ("dial_level", "min_dial_level", "max_dial_level"):
        v[key] = _number(raw, key, 0, 20, out)
    if v["min_dial_level"] is not None and v["max_dial_level"] is not None and v["min_dial_level"] > v["max_dial_level"]:
        out.errors["min_dial_level"] = "must not exceed the maximum dial level"
    v["dial_ratio"] = _number(raw, "dial_ratio", 0.1, 20, out)
    # Entered as a percentage. FTC TSR 16 CFR 310.4(b)(4)(i): at most 3 % over 30 days.
    pct = _number(raw, "target_abandon_rate", 0, 3 if _text(raw, "abandon_window") == "ftc_30d" else 100, out,
                  label=" % (16 CFR 310.4(b)(4)(i) caps the 30-day rate at 3 %)"
                  if _text(raw, "abandon_window") == "ftc_30d" else " %")
    v["target_abandon_rate"] = None if pct is None else round(pct / 100.0, 6)
    # 16 CFR 310.4(b)(4)(iii): connect within 2 s of the greeting; longer only for non-TSR campaigns.
    v["drop_after_s"] = _number(raw, "drop_after_s", 0, 60, out, integer=True)
    v["dial_timeout_s"] = _number(raw, "dial_timeout_s", 15, 120, out, integer=True,
                                  label=" s (16 CFR 310.4(b)(4)(i): ring at least 15 s)")
    v["max_attempts"] = _number(raw, "max_attempts", 1, 1000, out, integer=True)
    v["wrap_up_s"] = _number(raw, "wrap_up_s", 0, 3600, out, integer=True)
    v["hopper_level"] = _number(raw, "hopper_level", 1, 100_000, out, integer=True)
    audio = _text(raw, "safe_harbor_audio")
    if v["drop_action"] in ("message", "audio") and not audio:
        out.errors["safe_harbor_audio"] = "required when dropped calls hear a message (16 CFR 310.4(b)(4)(iii))"
    elif len(audio) > 255 or ".." in audio:
        out.errors["safe_harbor_audio"] = "a sound file name, at most 255 characters, no '..'"
    v["safe_harbor_audio"] = audio or None
    caller_id = _text(raw, "caller_id")
    v["caller_id"] = None
    if caller_id:
        try:
            number = phonenumbers.parse(caller_id, "US")
            if not phonenumbers.is_valid_number(number):
                raise phonenumbers.NumberParseException(1, "invalid")
            v["caller_id"] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            out.errors["caller_id"] = f"not a valid phone number: {caller_id!r}"
    statuses = [s.strip().upper() for s in _text(raw, "dial_statuses").replace(",", " ").split() if s.strip()]
    bad = [s for s in statuses if not CODE.match(s)]
    if not statuses:
        out.errors["dial_statuses"] = "at least one status, e.g. NEW"
    elif bad:
        out.errors["dial_statuses"] = f"invalid status codes: {', '.join(bad)}"
    v["dial_statuses"] = statuses
    v["script_template"] = str(raw.get("script_template") or "")
    v["calling_windows"] = _windows(raw, out)
    rules, problem = parse_recycle_rules(str(raw.get("recycle_rules") or ""))
    if problem:
        out.errors["recycle_rules"] = problem
    out.recycle_rules = rules
    return out


def campaign_to_form(c: Campaign) -> dict[str, Any]:
    form: dict[str, Any] = {k: getattr(c, k) for k in SCALAR_FIELDS}
    form["target_abandon_rate"] = round(c.target_abandon_rate * 100, 4)
    form["dial_statuses"] = ", ".join(c.dial_statuses or [])
    form["caller_id"] = c.caller_id or ""
    form["safe_harbor_audio"] = c.safe_harbor_audio or ""
    for day in WEEKDAYS:
        start, end = (c.calling_windows or {}).get(day) or ("", "")
        form[f"win_{day}_start"], form[f"win_{day}_end"] = start, end
    form["recycle_rules"] = "\n".join(
        f"{r.status} {r.delay_s // 60} {r.max_attempts}" for r in sorted(c.recycle_rules, key=lambda r: r.status))
    return form


def snapshot(c: Campaign) -> dict[str, Any]:
    """What the audit log keeps as before/after."""
    snap = {k: getattr(c, k) for k in SCALAR_FIELDS}
    snap["calling_windows"] = dict(c.calling_windows or {})
    snap["recycle_rules"] = [[r.status, r.delay_s, r.max_attempts] for r in sorted(c.recycle_rules, key=lambda r: r.status)]
    return snap


#: What a new campaign's form starts with (the model's server defaults, in form units).
DEFAULT_FORM: dict[str, Any] = {
    "name": "", "description": "", "active": False, "dial_method": "progressive", "dial_level": 1.0,
    "min_dial_level": 1.0, "max_dial_level": 3.0, "dial_ratio": 1.0, "target_abandon_rate": 3.0,
    "abandon_window": "ftc_30d", "drop_after_s": 2, "drop_action": "message", "safe_harbor_audio": "",
    "caller_id": "", "dial_timeout_s": 26, "dial_statuses": "NEW", "max_attempts": 5, "amd_enabled": False,
    "amd_machine_action": "hangup", "wrap_up_s": 10, "recording_policy": "none", "lead_order": "priority",
    "hopper_level": 100, "script_template": "Hello {first_name}, this is ... calling about ...",
    "recycle_rules": "", "dispositions": "", "pause_codes": "",
    **{f"win_{d}_{e}": v for d in WEEKDAYS for e, v in (("start", "08:00"), ("end", "21:00"))},
}
