"""Where is the called party? Candidate IANA time zones for a phone number (and postal address).

Calling-hour rules (47 CFR 64.1200(c)(1), 16 CFR 310.4(c)) are about the *called party's* local
time, which we can only estimate. Sources, in order of trust:

1. ``phonenumbers`` geocoding metadata: the zones of the number's prefix (``("America/New_York",)``
   for 212, every North-American zone for a toll-free 800 number, ``Etc/Unknown`` -> nothing).
2. The postal state (``state``) or, for US ZIP codes, the state derived from the 3-digit ZIP prefix
   (a 100-row table below, no dataset needed).

How they combine (:func:`candidate_zones`): when the two sources share zones we keep the shared ones
(a 317 Indiana number with state IN -> Indianapolis only); when they disagree completely (a New York
mobile whose owner lives in California) we keep the UNION, because the person may be at either
place and the compliance check dials only when every candidate zone is inside its window.
An empty result means "unknown": such a lead is never auto-dialled (reason TIMEZONE_UNKNOWN).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

logger = logging.getLogger(__name__)

UNKNOWN_ZONE = "Etc/Unknown"

# US states, DC and territories -> every IANA zone used somewhere in them (tzdb zone.tab).
# Split states list all their zones: the conservative answer when we only know the state.
US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",),
    "AK": ("America/Anchorage", "America/Juneau", "America/Sitka", "America/Metlakatla", "America/Yakutat",
           "America/Nome", "America/Adak"),
    "AZ": ("America/Phoenix", "America/Denver"),  # Navajo Nation observes DST
    "AR": ("America/Chicago",),
    "CA": ("America/Los_Angeles",),
    "CO": ("America/Denver",),
    "CT": ("America/New_York",),
    "DE": ("America/New_York",),
    "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"),
    "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago", "America/New_York"),
    "IA": ("America/Chicago",),
    "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"),
    "LA": ("America/Chicago",),
    "ME": ("America/New_York",),
    "MD": ("America/New_York",),
    "MA": ("America/New_York",),
    "MI": ("America/Detroit", "America/Menominee"),
    "MN": ("America/Chicago",),
    "MS": ("America/Chicago",),
    "MO": ("America/Chicago",),
    "MT": ("America/Denver",),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles", "America/Boise"),
    "NH": ("America/New_York",),
    "NJ": ("America/New_York",),
    "NM": ("America/Denver",),
    "NY": ("America/New_York",),
    "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver", "America/North_Dakota/Center"),
    "OH": ("America/New_York",),
    "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"),
    "PA": ("America/New_York",),
    "RI": ("America/New_York",),
    "SC": ("America/New_York",),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",),
    "VT": ("America/New_York",),
    "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",),
    "WV": ("America/New_York",),
    "WI": ("America/Chicago",),
    "WY": ("America/Denver",),
    "PR": ("America/Puerto_Rico",),
    "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",),
    "MP": ("Pacific/Saipan",),
    "AS": ("Pacific/Pago_Pago",),
}

# Zones that tzdb treats as links/aliases of one another for our purpose (same offsets and DST since
# 2007). Used only to decide whether the number's and the state's zones "agree".
_EQUIVALENT = {
    "America/Indiana/Indianapolis": "America/New_York",
    "America/Detroit": "America/New_York",
    "America/Menominee": "America/Chicago",
    "America/North_Dakota/Center": "America/Chicago",
    "America/Juneau": "America/Anchorage",
    "America/Sitka": "America/Anchorage",
    "America/Metlakatla": "America/Anchorage",
    "America/Yakutat": "America/Anchorage",
    "America/Nome": "America/Anchorage",
    "America/Boise": "America/Denver",
}

# First three digits of a US ZIP code -> state (USPS ZIP prefix allocation). Ranges are inclusive.
_ZIP3_RANGES: tuple[tuple[int, int, str], ...] = (
    (5, 5, "NY"), (6, 7, "PR"), (8, 8, "VI"), (9, 9, "PR"), (10, 27, "MA"), (28, 29, "RI"), (30, 38, "NH"),
    (39, 49, "ME"), (50, 54, "VT"), (55, 55, "MA"), (56, 59, "VT"), (60, 69, "CT"), (70, 89, "NJ"),
    (100, 149, "NY"), (150, 196, "PA"), (197, 199, "DE"), (200, 205, "DC"), (206, 219, "MD"), (220, 246, "VA"),
    (247, 268, "WV"), (270, 289, "NC"), (290, 299, "SC"), (300, 319, "GA"), (320, 349, "FL"), (350, 369, "AL"),
    (370, 385, "TN"), (386, 397, "MS"), (398, 399, "GA"), (400, 427, "KY"), (430, 459, "OH"), (460, 479, "IN"),
    (480, 499, "MI"), (500, 528, "IA"), (530, 549, "WI"), (550, 567, "MN"), (569, 569, "DC"), (570, 577, "SD"),
    (580, 588, "ND"), (590, 599, "MT"), (600, 629, "IL"), (630, 658, "MO"), (660, 679, "KS"), (680, 693, "NE"),
    (700, 714, "LA"), (716, 729, "AR"), (730, 749, "OK"), (750, 799, "TX"), (800, 816, "CO"), (820, 831, "WY"),
    (832, 838, "ID"), (840, 847, "UT"), (850, 865, "AZ"), (870, 884, "NM"), (885, 885, "TX"), (889, 898, "NV"),
    (900, 961, "CA"), (967, 968, "HI"), (969, 969, "GU"), (970, 979, "OR"), (980, 994, "WA"), (995, 999, "AK"),
)

# Within split states, a few ZIP3 prefixes whose zone is certain (El Paso, the Florida panhandle).
_ZIP3_ZONE_OVERRIDES: dict[int, tuple[str, ...]] = {
    798: ("America/Denver",), 799: ("America/Denver",), 885: ("America/Denver",),  # El Paso TX
    324: ("America/Chicago",), 325: ("America/Chicago",),  # Panama City / Pensacola FL
}


def state_for_us_zip(postal_code: str | None) -> str | None:
    """The state of a US ZIP (``"10001"``, ``"10001-1234"``), or None when it is not one."""
    if not postal_code:
        return None
    digits = postal_code.strip().split("-")[0].strip()
    if len(digits) != 5 or not digits.isdigit():
        return None
    zip3 = int(digits[:3])
    for low, high, state in _ZIP3_RANGES:
        if low <= zip3 <= high:
            return state
    return None


def zones_for_postal(state: str | None, postal_code: str | None, country: str | None = "US") -> tuple[str, ...]:
    """Candidate zones from the address alone (US only), empty when unknown."""
    if country and country.upper() not in ("US", "USA", "PR", "VI", "GU", "MP", "AS"):
        return ()
    digits = (postal_code or "").strip().split("-")[0].strip()
    zip3 = digits[:3] if len(digits) == 5 and digits.isdigit() else None
    return _zones_for_state_zip3((state or "").strip().upper() or None, zip3)


@lru_cache(maxsize=8192)
def _zones_for_state_zip3(state: str | None, zip3: str | None) -> tuple[str, ...]:
    if zip3 is not None and int(zip3) in _ZIP3_ZONE_OVERRIDES:
        return _ZIP3_ZONE_OVERRIDES[int(zip3)]
    code = state or (state_for_us_zip(zip3 + "00") if zip3 is not None else None)
    if code is None:
        return ()
    return US_STATE_ZONES.get(code, ())


@lru_cache(maxsize=65536)
def zones_for_number(phone_e164: str) -> tuple[str, ...]:
    """Candidate zones of an E.164 number from ``phonenumbers`` metadata; () when unknown or invalid."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return zones_for_parsed(number)


def zones_for_parsed(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    zones = pn_timezone.time_zones_for_number(number)
    return tuple(sorted(z for z in zones if z != UNKNOWN_ZONE))


def _canon(zone: str) -> str:
    return _EQUIVALENT.get(zone, zone)


@lru_cache(maxsize=8192)
def combine(number_zones: tuple[str, ...], postal_zones: tuple[str, ...]) -> tuple[str, ...]:
    """Merge the two estimates (see the module docstring for why the union on disagreement)."""
    if not number_zones:
        return tuple(sorted(postal_zones))
    if not postal_zones:
        return tuple(sorted(number_zones))
    postal_canon = {_canon(z) for z in postal_zones}
    shared = {z for z in number_zones if _canon(z) in postal_canon}
    if shared:
        # Prefer the postal spelling when it is more precise (Indianapolis rather than New_York).
        precise = {z for z in postal_zones if _canon(z) in {_canon(s) for s in shared}}
        return tuple(sorted(precise or shared))
    return tuple(sorted(set(number_zones) | set(postal_zones)))


def candidate_zones(
    phone_e164: str, state: str | None = None, postal_code: str | None = None, country: str | None = None
) -> tuple[str, ...]:
    """All zones the called party may be in; () = unknown (never dialled automatically)."""
    number_zones = zones_for_number(phone_e164)
    if country is None and phone_e164.startswith("+1"):
        country = "US"
    return combine(number_zones, zones_for_postal(state, postal_code, country))
