"""Row cells -> a lead ready to store: E.164 phone, candidate time zones, typed fields, custom JSON.

Phone numbers: ``phonenumbers`` is the reference, but a full parse + validation + time-zone
look-up costs ~70 µs. The common case -- a North-American number written with 10 or 11 digits and
punctuation -- takes a fast path: strip punctuation, then :mod:`dialer.importer.nanp` replays
libphonenumber's own validation on precompiled patterns (exact; checked number by number in
tests/unit/test_import_normalize.py). Everything else goes through ``phonenumbers.parse``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import phonenumbers

from dialer.importer import nanp
from dialer.importer.report import ImportIssue, looks_like_formula
from dialer.timezones import combine, zones_for_parsed, zones_for_postal

logger = logging.getLogger(__name__)

NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
LEAD_FIELDS = ("phone", "first_name", "last_name", "state", "postal_code", "country", "priority", "consent_call")
ALIASES = {
    "phone": ("phone", "phone_number", "phonenumber", "telephone", "tel", "mobile", "cell", "number", "phone_e164"),
    "first_name": ("first_name", "firstname", "first", "given_name"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name"),
    "state": ("state", "province", "region"),
    "postal_code": ("postal_code", "postcode", "zip", "zip_code", "zipcode"),
    "country": ("country", "country_code"),
    "priority": ("priority",),
    "consent_call": ("consent", "consent_call", "opt_in"),
}
# Column widths of core.models.Lead: longer values are a row error, never a silent truncation.
MAX_LENGTHS = {"first_name": 100, "last_name": 100, "state": 32, "postal_code": 16}
_MAX_FIRST, _MAX_LAST, _MAX_STATE, _MAX_POSTAL = (MAX_LENGTHS[k] for k in ("first_name", "last_name", "state", "postal_code"))
_FORMULA_FIRST = frozenset("=+-@\t\r")
_TRUE = {"1", "y", "yes", "true", "t", "x"}
_FALSE = {"0", "n", "no", "false", "f", ""}
_DIGITS = str.maketrans("", "", " ()-./\u00a0")


def auto_mapping(header: list[str]) -> dict[str, str]:
    """Known column names -> lead fields, everything else -> ``custom:<name>``."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for name in header:
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        target = next((f for f, names in ALIASES.items() if key in names and f not in taken), None)
        if target:
            taken.add(target)
            mapping[name] = target
        else:
            mapping[name] = f"custom:{name}"
    return mapping


def validate_mapping(header: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """Complete ``mapping`` for every header column; raise ValueError on an unusable mapping."""
    full = dict(auto_mapping(header))
    unknown_sources = [s for s in mapping if s not in header]
    if unknown_sources:
        raise ValueError(f"mapping names columns that are not in the file: {unknown_sources}")
    full.update(mapping)
    targets = [t for t in full.values() if t not in ("ignore",) and not t.startswith("custom:")]
    bad = [t for t in targets if t not in LEAD_FIELDS]
    if bad:
        raise ValueError(f"unknown lead fields {bad}; use one of {LEAD_FIELDS}, 'custom:<name>' or 'ignore'")
    dupes = {t for t in targets if targets.count(t) > 1}
    if dupes:
        raise ValueError(f"several columns map to {sorted(dupes)}")
    if "phone" not in targets:
        raise ValueError("no column is mapped to the phone number")
    return full


class PhoneResult(NamedTuple):  # a NamedTuple: built once per row, a frozen dataclass costs 4x more
    e164: str | None
    zones: tuple[str, ...] = ()
    country_code: int = 0
    error: str | None = None


class PhoneNormalizer:
    """Phone text -> E.164 for one list's default region (NANP fast path described above)."""

    def __init__(self, default_region: str = "US", allowed_country_codes: frozenset[int] | None = None) -> None:
        self.region = default_region.upper()
        home = phonenumbers.country_code_for_region(self.region)
        if home == 0:
            raise ValueError(f"unknown region {default_region!r}")
        # None = only the list's own country; pass a set to accept foreign numbers too.
        self.allowed = allowed_country_codes if allowed_country_codes is not None else frozenset({home})
        # A list that refuses +1 numbers gets phonenumbers' own wording for them: no fast path.
        self._nanp = self.region in NANP_REGIONS and 1 in self.allowed

    def normalize(self, raw: str) -> PhoneResult:
        text = raw.strip()
        if not text:
            return _MISSING
        if self._nanp:
            digits = text.translate(_DIGITS)
            if digits.startswith("+1"):
                digits = digits[2:]
            elif len(digits) == 11 and digits.startswith("1"):
                digits = digits[1:]
            if len(digits) == 10 and digits.isascii() and digits.isdigit():
                valid, zones = nanp.classify(digits)
                return PhoneResult("+1" + digits, zones, 1) if valid else _INVALID_NANP
        return self._slow(text)

    def _slow(self, text: str) -> PhoneResult:
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException as exc:
            return PhoneResult(None, error=f"not a phone number ({exc._msg})")
        if not phonenumbers.is_valid_number(number):
            return PhoneResult(None, country_code=number.country_code or 0, error="invalid phone number")
        if number.country_code not in self.allowed:
            region = phonenumbers.region_code_for_number(number) or "?"
            return PhoneResult(
                None, country_code=number.country_code or 0,
                error=f"foreign number (+{number.country_code}, {region}) not allowed in this list",
            )
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return PhoneResult(e164, zones_for_parsed(number), number.country_code or 0)


_MISSING = PhoneResult(None, error="phone missing")
_INVALID_NANP = PhoneResult(None, country_code=1, error="invalid phone number")


@dataclass(slots=True)
class NormalizedLead:
    row: int
    phone_e164: str
    timezone: str | None
    tz_candidates: tuple[str, ...]
    first_name: str | None = None
    last_name: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    priority: int = 0
    consent_call: bool | None = None
    custom_fields: dict[str, str] = field(default_factory=dict)

    def __reduce__(self) -> tuple[type[NormalizedLead], tuple[object, ...]]:
        # Worker processes send leads back by the 50,000: the dataclass's own slots pickling runs
        # Python code per object on both sides (28 µs a lead); a plain tuple of fields costs 3.
        return NormalizedLead, (
            self.row, self.phone_e164, self.timezone, self.tz_candidates, self.first_name, self.last_name, self.state,
            self.postal_code, self.country, self.priority, self.consent_call, self.custom_fields,
        )


class RowNormalizer:
    """Cells -> lead for one file: the column plan is worked out once, not per row."""

    def __init__(self, header: list[str], mapping: Mapping[str, str], phones: PhoneNormalizer) -> None:
        self.mapping = mapping
        self.phones = phones
        self.plan: list[tuple[int, str, str]] = []  # (cell index, column name, target)
        self.phone_index, self.phone_column = -1, "phone"
        fields: dict[str, int] = {}  # lead field -> cell index
        self.custom: list[tuple[int, str]] = []  # (cell index, custom_fields key)
        for index, name in enumerate(header):
            target = mapping.get(name, f"custom:{name}")
            if target == "ignore":
                continue
            if target == "phone":
                self.phone_index, self.phone_column = index, name
                continue
            self.plan.append((index, name, target))
            if target.startswith("custom:"):
                self.custom.append((index, target[7:]))
            else:
                fields[target] = index
        self.checked = [(index, name) for index, name, _ in self.plan]  # formula-like text is flagged here
        self.fields = fields
        self.sources = {target: _source(mapping, target) for target in LEAD_FIELDS}
        self._postal_zones: dict[tuple[str | None, str | None], tuple[str, ...]] = {}

    def __call__(self, row: int, cells: list[str]) -> tuple[NormalizedLead | None, list[ImportIssue]]:
        return normalize_row(row, cells, self)

    def refine(self, zones: tuple[str, ...], state: str | None, postal: str | None) -> tuple[str, ...]:
        """:func:`_refine` with the address half remembered per (state, ZIP3): the same answer,
        without re-deriving it for each of a million rows."""
        if postal is None:
            zip3 = None
        elif len(postal) == 5 and postal.isdigit():
            zip3 = postal[:3]  # zones_for_postal reads a 5-digit ZIP by its first three digits only
        else:
            return _refine(zones, state, postal)
        key = (state, zip3)
        postal_zones = self._postal_zones.get(key)
        if postal_zones is None:
            postal_zones = self._postal_zones[key] = zones_for_postal(state, None if zip3 is None else zip3 + "00", "US")
        return combine(zones, postal_zones)


def normalize_row(row: int, cells: list[str], plan: RowNormalizer) -> tuple[NormalizedLead | None, list[ImportIssue]]:
    """One data row -> (lead or None when rejected, issues). Never raises on bad data.

    Issues of a row come in this order: formula-like cells (column order), then the one error that
    rejects the row (a too-long value, the phone), else the warnings (time zone, priority, country,
    consent)."""
    issues: list[ImportIssue] = []
    for index, name in plan.checked:
        cell = cells[index]
        if cell and cell[0] in _FORMULA_FIRST and looks_like_formula(cell):
            issues.append(ImportIssue(row, name, "formula-like text stored as text", ImportIssue.excerpt(cell), "warning"))
    fields = plan.fields
    first = cells[fields["first_name"]].strip() if "first_name" in fields else ""
    last = cells[fields["last_name"]].strip() if "last_name" in fields else ""
    state = cells[fields["state"]].strip() if "state" in fields else ""
    postal = cells[fields["postal_code"]].strip() if "postal_code" in fields else ""
    if len(first) > _MAX_FIRST or len(last) > _MAX_LAST or len(state) > _MAX_STATE or len(postal) > _MAX_POSTAL:
        sized = {"first_name": first, "last_name": last, "state": state, "postal_code": postal}
        target, limit = next((t, n) for t, n in MAX_LENGTHS.items() if len(sized[t]) > n)
        issues.append(ImportIssue(row, plan.sources[target], f"{target} longer than {limit} characters",
                                  ImportIssue.excerpt(sized[target])))
        return None, issues
    raw_phone = cells[plan.phone_index] if plan.phone_index >= 0 else ""
    phone = plan.phones.normalize(raw_phone)
    e164 = phone.e164
    if e164 is None:
        issues.append(ImportIssue(row, plan.phone_column or "phone", phone.error or "invalid phone number",
                                  ImportIssue.excerpt(raw_phone)))
        return None, issues
    state_code = state.upper() or None
    postal_code = postal or None
    zones = phone.zones
    if phone.country_code == 1 and (state_code or postal_code):
        zones = plan.refine(zones, state_code, postal_code)
    if not zones:
        issues.append(ImportIssue(row, plan.phone_column, "time zone unknown: imported but never auto-dialled",
                                  e164, "warning"))
    priority = 0
    if "priority" in fields and (priority_text := cells[fields["priority"]].strip()):
        try:
            priority = int(priority_text)
        except ValueError:
            issues.append(ImportIssue(row, plan.sources["priority"], "priority is not a whole number; 0 used",
                                      ImportIssue.excerpt(priority_text), "warning"))
    country = cells[fields["country"]].strip().upper() or None if "country" in fields else None
    if country is not None and not (len(country) == 2 and country.isalpha()):
        issues.append(ImportIssue(row, plan.sources["country"], "country is not a 2-letter ISO code; left empty",
                                  ImportIssue.excerpt(country), "warning"))
        country = None
    consent: bool | None = None
    if "consent_call" in fields:
        consent_text = cells[fields["consent_call"]].strip()
        flag = consent_text.lower()
        consent = True if flag in _TRUE else False if flag in _FALSE else None
        if consent is None:
            issues.append(ImportIssue(row, plan.sources["consent_call"], "consent not yes/no; left unknown",
                                      ImportIssue.excerpt(consent_text), "warning"))
    custom = {key: cell for index, key in plan.custom if (cell := cells[index])}
    lead = NormalizedLead(
        row, e164, zones[0] if len(zones) == 1 else None, zones, first or None, last or None, state_code,
        postal_code, country, priority, consent, custom,
    )
    return lead, issues


def _refine(zones: tuple[str, ...], state: str | None, postal: str | None) -> tuple[str, ...]:
    return combine(zones, zones_for_postal(state, postal, "US"))  # both cached on small keys


def _source(mapping: Mapping[str, str], target: str) -> str:
    return next((s for s, t in mapping.items() if t == target), target)
