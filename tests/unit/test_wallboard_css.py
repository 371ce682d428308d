"""The TV theme's agent-row colours (assets/wallboard.css): every time-in-state step of
dialer/wallboard/tones.py has a dark rule, its text meets WCAG 2.x contrast >= 4.5:1 (AA, normal
text), and the steps of one state stay distinguishable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialer.wallboard.tones import OVER_LIMIT, STEPS

CSS = Path(__file__).resolve().parents[2] / "assets" / "wallboard.css"
RULE = re.compile(r"body\.wb-tv \.(t-[a-z0-9-]+) \{([^}]*)\}")
TONES = sorted({name for steps in STEPS.values() for _t, name in steps} | {OVER_LIMIT, "t-unknown"})


def _hex(value: str) -> tuple[float, float, float]:
    value = value.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        raise ValueError(f"not a #rgb / #rrggbb colour: {value!r}")
    return tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(_hex(a)), luminance(_hex(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def tv_tones() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, body in RULE.findall(CSS.read_text()):
        props = dict(p.split(":", 1) for p in body.split(";") if ":" in p)
        out[name] = {k.strip(): v.strip() for k, v in props.items()}
    return out


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("tone", TONES)
def test_every_step_has_a_readable_dark_rule(tone: str) -> None:
    rule = tv_tones().get(tone)
    assert rule is not None, f"no body.wb-tv .{tone} rule"
    assert contrast(rule["background"], rule["color"]) >= 4.5, rule
    assert luminance(_hex(rule["background"])) < 0.35, f"{tone}: a light background glares on the dark wall"


def test_steps_of_one_state_differ() -> None:
    rules = tv_tones()
    for state, steps in STEPS.items():
        backgrounds = [rules[name]["background"].lower() for _t, name in steps]
        assert len(set(backgrounds)) == len(backgrounds), (state, backgrounds)
