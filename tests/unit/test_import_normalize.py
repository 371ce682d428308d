"""The NPA-NXX-cached fast path must agree with a full phonenumbers parse, number for number."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.importer.normalize import PhoneNormalizer, auto_mapping
from dialer.timezones import zones_for_parsed


def reference(raw: str, region: str = "US") -> tuple[str | None, tuple[str, ...]]:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, ()
    if not phonenumbers.is_valid_number(number) or number.country_code != 1:
        return None, ()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), zones_for_parsed(number)


def test_fast_path_agrees_with_phonenumbers_on_many_numbers() -> None:
    rng = random.Random(20261122)
    normalizer = PhoneNormalizer("US")
    # Same NPA-NXX with many different line numbers: the cache must not change the answer.
    prefixes = [f"{rng.randint(200, 999)}{rng.randint(0, 999):03d}" for _ in range(400)]
    for prefix in prefixes:
        for _ in range(5):
            raw = prefix + f"{rng.randint(0, 9999):04d}"
            result = normalizer.normalize(raw)
            assert (result.e164, result.zones if result.e164 else ()) == reference(raw), raw


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True),
    st.sampled_from(["{a}{b}{c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "+1 {a} {b} {c}", "1-{a}-{b}-{c}", "1{a}{b}{c}"]),
)
def test_formats_agree(digits: str, template: str) -> None:
    raw = template.format(a=digits[:3], b=digits[3:6], c=digits[6:])
    result = PhoneNormalizer("US").normalize(raw)
    assert (result.e164, result.zones if result.e164 else ()) == reference(raw)


def test_other_regions_use_the_full_parse() -> None:
    uk = PhoneNormalizer("GB")
    assert uk.normalize("020 7946 0958").e164 == "+442079460958"
    assert uk.normalize("2125550100").e164 is None
    assert PhoneNormalizer("US").normalize("212-555-0100 x12").e164 == "+12125550100"
    # Non-ASCII digits (Arabic-Indic here) are not the fast path's business; phonenumbers reads them.
    arabic_indic = "20\u06612000000"
    assert PhoneNormalizer("US").normalize(arabic_indic).e164 == reference(arabic_indic)[0] == "+12012000000"
    with pytest.raises(ValueError, match="unknown region"):
        PhoneNormalizer("ZZ")


def test_auto_mapping() -> None:
    assert auto_mapping(["Phone Number", "First Name", "zip", "Phone", "Favourite colour"]) == {
        "Phone Number": "phone",
        "First Name": "first_name",
        "zip": "postal_code",
        "Phone": "custom:Phone",  # the phone field is taken already
        "Favourite colour": "custom:Favourite colour",
    }
