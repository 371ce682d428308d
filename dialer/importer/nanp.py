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

The answer depends on a few leading digits only: nearly every +1 pattern decides on NPA-NXX (six
digits) and accepts any line number after it (Barbados 246 and Jamaica 658/876 look at a seventh),
and no +1 time-zone prefix is longer than NPA-NXX. So :func:`classify` remembers its answer per
leading-digits key. The key length is not assumed: it is worked out per NPA when the module loads
by walking the parsed patterns (:func:`decided_by_prefix`); where no short key is proven, the
number is classified on its own.

tests/unit/test_import_normalize.py checks it against phonenumbers number by number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

try:  # the parser behind re.compile (Python 3.11 renamed sre_parse)
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

NSN_LENGTH = 10
PREFIX_LENGTH = 6  # NPA-NXX
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
# TIMEZONE_LONGEST_PREFIX is over every country; +1 prefixes stop at "1" + NPA-NXX.
_NANP_LONGEST_PREFIX = min(TIMEZONE_LONGEST_PREFIX, max(map(len, _NANP_ZONES), default=TIMEZONE_LONGEST_PREFIX))


@cache  # the same patterns (toll-free, premium ...) recur in every +1 region
def decided_by_prefix(pattern: str, prefix: int = PREFIX_LENGTH, length: int = NSN_LENGTH) -> bool:
    """True when, for every ``length``-digit ASCII string, whether ``pattern`` matches it (``match``
    or ``fullmatch``) depends only on its first ``prefix`` digits: every atom the regex can meet at
    position ``prefix`` or later accepts any digit. Conservative: a construct it does not know
    (look-arounds, back-references, a class it cannot read) answers False."""
    try:
        _offsets(_sre_parse.parse(pattern), {0}, prefix, length)
    except _Undecided:
        return False
    return True


class _Undecided(Exception):
    pass


_DIGITS = frozenset(range(ord("0"), ord("9") + 1))


def _accepts_every_digit(items: Iterable[tuple[Any, Any]]) -> bool:
    covered: set[int] = set()
    for op, arg in items:
        if op is _sre_c.NEGATE:
            return False
        if op is _sre_c.LITERAL:
            covered.add(arg)
        elif op is _sre_c.RANGE:
            covered.update(range(arg[0], arg[1] + 1))
        elif op is _sre_c.CATEGORY and arg is _sre_c.CATEGORY_DIGIT:
            covered |= _DIGITS
        else:
            return False
    return covered >= _DIGITS


def _offsets(nodes: Any, starts: set[int], prefix: int, length: int) -> set[int]:
    """The offsets ``nodes`` can end at from ``starts``; raises _Undecided on a content test past ``prefix``."""
    current = {o for o in starts if o <= length}
    for op, arg in nodes:
        if not current:
            return current
        if op in (_sre_c.LITERAL, _sre_c.NOT_LITERAL, _sre_c.IN, _sre_c.ANY):
            free = op is _sre_c.ANY or (op is _sre_c.IN and _accepts_every_digit(arg))
            live = {o for o in current if o < length}  # an atom past the end never matches, whatever the digits
            if not free and any(o >= prefix for o in live):
                raise _Undecided
            current = {o + 1 for o in live}
        elif op is _sre_c.SUBPATTERN:
            current = _offsets(arg[-1], current, prefix, length)
        elif op is _sre_c.BRANCH:
            current = set().union(*(_offsets(branch, current, prefix, length) for branch in arg[1]))
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT):
            low, high, item = arg
            ends: set[int] = set()
            reached, count = current, 0
            while reached and count <= min(high, length):
                if count >= low:
                    ends |= reached
                reached = _offsets(item, reached, prefix, length)
                count += 1
            current = ends
        elif op is _sre_c.AT:
            continue  # anchors test the position, not the digits
        else:
            raise _Undecided
    return current


def prefix_depth(pattern: str) -> int:
    """The fewest leading digits that decide ``pattern`` on 10-digit numbers (10: no shorter proof)."""
    return next((k for k in range(PREFIX_LENGTH, NSN_LENGTH) if decided_by_prefix(pattern, k)), NSN_LENGTH)


def _key_lengths(regions: tuple[_Region, ...]) -> dict[str, int]:
    """NPA -> how many leading digits :func:`classify` may key its answer on, for every NPA.

    A region with leading digits is only looked at for the NPAs those digits match; a region
    without (US, CA) is looked at for every number, so its patterns count everywhere."""
    def depth(region: _Region) -> int:
        patterns = [d.pattern for d in (region.general, region.fixed, region.mobile) if d is not None and d.pattern]
        return max((prefix_depth(p.pattern) for p in [*patterns, *region.non_geo.values()]), default=PREFIX_LENGTH)

    zone_depth = max((len(prefix) - 1 for prefix in _NANP_ZONES), default=0)  # "1" + NPA-NXX at most
    everywhere = max([zone_depth, PREFIX_LENGTH] + [depth(r) for r in regions if r.leading is None])
    lengths = dict.fromkeys((f"{npa:03d}" for npa in range(1000)), everywhere)
    for region in regions:
        if region.leading is None:
            continue
        # Leading digits may reach past the NPA (Dominican Republic: 8001, 809, 829, 849): the region
        # counts for an NPA when any continuation up to the digits that decide its match matches.
        leading_depth = next((k for k in range(1, 6) if decided_by_prefix(region.leading.pattern, k)), None)
        if leading_depth is None:
            return dict.fromkeys(lengths, NSN_LENGTH)  # no short keys proven
        extra = max(leading_depth - 3, 0)
        continuations = [f"{n:0{extra}d}" if extra else "" for n in range(10 ** extra)]
        region_depth = depth(region)
        for npa in lengths:
            if any(region.leading.match((npa + tail).ljust(NSN_LENGTH, "0")) for tail in continuations):
                lengths[npa] = max(lengths[npa], region_depth)
    return lengths


_KEY_LENGTH: dict[str, int] = {}  # filled by the first classify() (~0.2 s), not at import
_CACHE_LIMIT = 400_000  # answers kept (~100 bytes each); a million-row file meets a few 100k NPA-NXX
_by_prefix: dict[str, tuple[bool, tuple[str, ...]]] = {}


def key_length(nsn: str) -> int:
    """How many leading digits of ``nsn`` decide :func:`classify` (10: the whole number)."""
    if not _KEY_LENGTH:
        _KEY_LENGTH.update(_key_lengths(_REGIONS))
    return _KEY_LENGTH.get(nsn[:3], NSN_LENGTH)


def classify(nsn: str) -> tuple[bool, tuple[str, ...]]:
    """(valid, candidate zones) for a 10-digit NANP national number (ASCII digits)."""
    length = _KEY_LENGTH.get(nsn[:3]) or key_length(nsn)
    if length >= NSN_LENGTH:
        return _classify(nsn)
    key = nsn[:length]
    answer = _by_prefix.get(key)
    if answer is None:
        if len(_by_prefix) >= _CACHE_LIMIT:
            _by_prefix.clear()
        answer = _by_prefix[key] = _classify(nsn)
    return answer


def _classify(nsn: str) -> tuple[bool, tuple[str, ...]]:
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
    for length in range(min(_NANP_LONGEST_PREFIX, len(digits)), 0, -1):
        zones = _NANP_ZONES.get(digits[:length])
        if zones is not None:
            return True, zones
    return True, ()
