"""Dispositions and pause codes as editable text (one per line), and the script merge preview.

Disposition line: ``CODE | Name | flags`` with flags among ``human, sale, dnc, callback, system``
(``system`` = not selectable by agents). Pause code line: ``CODE | Name | billable | max_minutes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CODE = re.compile(r"^[A-Z0-9_]{1,20}$")
DISPO_FLAGS = ("human", "sale", "dnc", "callback", "system")
FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")


@dataclass(frozen=True)
class DispoLine:
    code: str
    name: str
    human_answered: bool
    sale: bool
    dnc: bool
    callback: bool
    selectable: bool


@dataclass(frozen=True)
class PauseLine:
    code: str
    name: str
    billable: bool
    max_s: int | None


def _split(line: str) -> list[str]:
    return [p.strip() for p in line.split("|")]


def _code_and_name(parts: list[str], n: int, seen: set[str]) -> tuple[str, str]:
    code = parts[0].upper()
    if not CODE.match(code):
        raise ValueError(f"line {n}: code {parts[0]!r} must be A-Z, 0-9 or _ (1-20 chars)")
    if code in seen:
        raise ValueError(f"line {n}: code {code} appears twice")
    seen.add(code)
    name = parts[1] if len(parts) > 1 and parts[1] else code
    if len(name) > 100:
        raise ValueError(f"line {n}: name longer than 100 characters")
    return code, name


def parse_dispositions(text: str) -> list[DispoLine]:
    out: list[DispoLine] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = _split(line)
        code, name = _code_and_name(parts, n, seen)
        flags = {f.strip().lower() for f in (parts[2] if len(parts) > 2 else "").replace(",", " ").split()}
        unknown = flags - set(DISPO_FLAGS)
        if unknown:
            raise ValueError(f"line {n}: unknown flags {sorted(unknown)}; use {', '.join(DISPO_FLAGS)}")
        out.append(DispoLine(code, name, "human" in flags, "sale" in flags, "dnc" in flags, "callback" in flags,
                             "system" not in flags))
    return out


def parse_pause_codes(text: str) -> list[PauseLine]:
    out: list[PauseLine] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = _split(line)
        code, name = _code_and_name(parts, n, seen)
        billable = len(parts) > 2 and parts[2].lower() in ("billable", "yes", "y", "true", "1")
        max_s = None
        if len(parts) > 3 and parts[3]:
            if not parts[3].isdigit() or int(parts[3]) < 1:
                raise ValueError(f"line {n}: max minutes must be a whole number ≥ 1")
            max_s = int(parts[3]) * 60
        out.append(PauseLine(code, name, billable, max_s))
    return out


def dispositions_text(rows: list[Any]) -> str:
    lines = []
    for d in sorted(rows, key=lambda d: d.code):
        flags = [f for f, on in (("human", d.human_answered), ("sale", d.sale), ("dnc", d.dnc),
                                 ("callback", d.callback), ("system", not d.selectable)) if on]
        lines.append(f"{d.code} | {d.name} | {' '.join(flags)}".rstrip(" |"))
    return "\n".join(lines)


def pause_codes_text(rows: list[Any]) -> str:
    return "\n".join(
        f"{p.code} | {p.name} | {'billable' if p.billable else 'unpaid'}" + (f" | {p.max_s // 60}" if p.max_s else "")
        for p in sorted(rows, key=lambda p: p.code))


@dataclass(frozen=True)
class MergePreview:
    text: str
    used: tuple[str, ...]
    missing: tuple[str, ...]


def render_script(template: str, fields: Mapping[str, Any]) -> MergePreview:
    """Substitute ``{field}`` placeholders; nothing else is interpreted (no format specs, no
    attribute access: ``str.format`` would let a template read ``{lead.__class__}``). A field that
    is absent or empty renders as ``[missing: field]`` and is listed in ``missing``."""
    used: list[str] = []
    missing: list[str] = []

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        used.append(key)
        value = fields.get(key)
        if value is None or value == "":
            missing.append(key)
            return f"[missing: {key}]"
        return str(value)

    text = FIELD.sub(sub, template)
    return MergePreview(text, tuple(dict.fromkeys(used)), tuple(dict.fromkeys(missing)))


def lead_fields(lead: Any) -> dict[str, Any]:
    fields = {k: getattr(lead, k) for k in ("first_name", "last_name", "email", "address", "city", "state",
                                               "postal_code", "country", "phone_e164", "vendor_lead_code", "status")}
    fields["phone"] = lead.phone_e164
    for k, v in (lead.custom_fields or {}).items():
        fields.setdefault(str(k), v)
    return fields
