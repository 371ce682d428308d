"""A fast, exact validity + time-zone check for North-American (+1) numbers.

``phonenumbers.is_valid_number`` plus ``time_zones_for_number`` cost ~70 µs per number (generic
metadata walking, regex cache look-ups, object construction): 70 s for a million-row import. This
module replays *the same algorithm on the same metadata* with the regexes compiled once:

* region: the first NANP region (in ``COUNTRY_CODE_TO_REGION_CODE[1]`` order) whose leading-digits
  pattern matches, or -- without one -- whose number-type patterns accept the number
  (``phonenumberutil._region_code_for_number_from_list``);
* type: ``_number_type_helper`` order (general desc first, then premium ... voicemail, then fixed /
  mobile); valid = a region and a known type;
* zones: geographic types (fixed line, fixed-or-mobile) by the longest E.164 prefix in
  ``TIMEZONE_DATA``; other types (toll-free ...) at country level (``phonenumbers.timezone``).

tests/unit/test_import_normalize.py checks it against phonenumbers number by number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_NON_GEO_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


@dataclass(frozen=True)
class _Desc:
    lengths: frozenset[int]
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, desc: object) -> _Desc | None:
        if desc is None:
            return None
        pattern = getattr(desc, "national_number_pattern", None)
        return cls(frozenset(getattr(desc, "possible_length", ()) or ()), re.compile(pattern) if pattern else None)

    def matches(self, nsn: str) -> bool:
        if self.lengths and len(nsn) not in self.lengths:
            return False
        return self.pattern is not None and self.pattern.fullmatch(nsn) is not None


@dataclass(frozen=True)
class _Region:
    code: str
    leading: re.Pattern[str] | None
    general: _Desc | None
    non_geo: dict[int, re.Pattern[str]]  # number length -> one alternation of every non-geographic type
    fixed: _Desc | None
    mobile: _Desc | None
    same_fixed_mobile: bool

    def kind(self, nsn: str) -> str | None:
        """None (UNKNOWN), 'geo' (fixed line / fixed-or-mobile) or 'other' (mobile-only, toll-free ...)."""
        if self.general is None or not self.general.matches(nsn):
            return None
        non_geo = self.non_geo.get(len(nsn))
        if non_geo is not None and non_geo.fullmatch(nsn):
            return "other"
        if self.fixed is not None and self.fixed.matches(nsn):
            return "geo"
        if not self.same_fixed_mobile and self.mobile is not None and self.mobile.matches(nsn):
            return "other"  # MOBILE alone is not geographic for +1 (not in _GEO_MOBILE_COUNTRIES)
        return None


def _alternation(descs: list[Any]) -> dict[int, re.Pattern[str]]:
    """Per number length, one regex accepting exactly what any of ``descs`` accepts at that length
    (a desc without possible lengths accepts every length, as in ``_is_number_matching_desc``)."""
    out: dict[int, re.Pattern[str]] = {}
    for length in range(1, 18):
        parts = [
            f"(?:{d.national_number_pattern})" for d in descs
            if d is not None and getattr(d, "national_number_pattern", None)
            and (not d.possible_length or length in d.possible_length)
        ]
        if parts:
            out[length] = re.compile("|".join(parts))
    return out


def _load() -> tuple[_Region, ...]:
    regions = []
    for code in COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(code, None)
        if meta is None:
            continue
        regions.append(_Region(
            code=code,
            leading=re.compile(meta.leading_digits) if meta.leading_digits else None,
            general=_Desc.of(meta.general_desc),
            non_geo=_alternation([getattr(meta, name, None) for name in _NON_GEO_TYPES]),
            fixed=_Desc.of(meta.fixed_line),
            mobile=_Desc.of(meta.mobile),
            same_fixed_mobile=bool(meta.same_mobile_and_fixed_line_pattern),
        ))
    return tuple(regions)


_REGIONS = _load()
_COUNTRY_ZONES = tuple(sorted(z for z in TIMEZONE_DATA.get("1", ()) if z != "Etc/Unknown"))
_NANP_ZONES = {
    prefix: tuple(sorted(z for z in zones if z != "Etc/Unknown")) for prefix, zones in TIMEZONE_DATA.items()
    if prefix.startswith("1")
}


def classify(nsn: str) -> tuple[bool, tuple[str, ...]]:
    """(valid, candidate zones) for a 10-digit NANP national number."""
    kind = None
    for candidate in _REGIONS:
        if candidate.leading is not None:
            if candidate.leading.match(nsn):
                kind = candidate.kind(nsn)
                break
        else:
            kind = candidate.kind(nsn)
            if kind is not None:
                break
    if kind is None:
        return False, ()
    if kind != "geo":
        return True, _COUNTRY_ZONES
    digits = "1" + nsn
    for length in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
        zones = _NANP_ZONES.get(digits[:length])
        if zones is not None:
            return True, zones
    return True, ()
