"""Reusable Dash components (no callbacks of their own)."""

from __future__ import annotations

from typing import Any

from dash.development.base_component import Component


def to_plain(value: Any) -> Any:
    """Dash components -> the plain ``{"type", "namespace", "props"}`` dicts of Dash's wire format.

    A callback may return either; plain dicts are what a cached result should hold, because the
    JSON encoder then never walks component objects again (that walk dominates a big render).
    """
    if isinstance(value, Component):
        raw = value.to_plotly_json()
        return {**raw, "props": {k: to_plain(v) for k, v in raw["props"].items()}}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
