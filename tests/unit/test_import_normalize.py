"""The NPA-NXX-cached fast path must agree with a full phonenumbers parse, number for number."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.importer import nanp
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


# NPAs where the two paths could part ways: Canada, every Caribbean / Pacific +1 region (several with
# 7-digit patterns: Barbados 246, Jamaica 658/876), toll-free, premium, personal (5XX), 600, 700,
# easily recognisable codes (N11), 555, unassigned and impossible (0XX/1XX) area codes.
SPECIAL_NPAS = [
    "204", "226", "236", "250", "289", "306", "343", "365", "403", "416", "418", "431", "437", "438", "450", "506",
    "514", "519", "548", "579", "581", "587", "604", "613", "639", "647", "705", "709", "778", "780", "782", "807",
    "819", "825", "867", "873", "879", "902", "905",
    "242", "246", "264", "268", "284", "340", "345", "441", "473", "649", "658", "664", "670", "671", "684", "721",
    "758", "767", "784", "787", "809", "829", "849", "868", "869", "876", "939",
    "800", "833", "844", "855", "866", "877", "888", "822", "880", "900", "500", "521", "522", "523", "524", "533",
    "544", "566", "577", "588", "600", "622", "633", "700", "710",
    "211", "311", "411", "511", "611", "711", "811", "911", "555", "370", "999", "960", "976",
    "000", "012", "099", "100", "123", "199",
]
NXX = st.one_of(
    st.sampled_from(["555", "211", "311", "411", "911", "958", "959", "976", "000", "100", "199", "521", "606", "484"]),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)
FORMATS = ["{a}{b}{c}", "({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "+1 {a} {b} {c}", "1-{a}-{b}-{c}",
           "1{a}{b}{c}", "+1{a}{b}{c}", "1 ({a}) {b} {c}", "{a} {b} {c}\u00a0"]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(SPECIAL_NPAS), NXX, st.from_regex(r"[0-9]{4}", fullmatch=True), st.sampled_from(FORMATS),
       st.sampled_from(["US", "CA", "PR", "JM"]))
def test_fast_path_agrees_on_special_area_codes(npa: str, nxx: str, line: str, template: str, region: str) -> None:
    raw = template.format(a=npa, b=nxx, c=line)
    result = PhoneNormalizer(region).normalize(raw)
    assert (result.e164, result.zones if result.e164 else ()) == reference(raw, region), raw


def test_every_exchange_of_the_seven_digit_regions() -> None:
    """Barbados and Jamaica decide on a 7th digit: the per-NPA cache key must be 7 digits there."""
    normalizer = PhoneNormalizer("US")
    for npa in ("246", "658", "876"):
        assert nanp.key_length(npa + "0000000") == 7
        for nxx in range(1000):
            for x in "0369":
                raw = f"{npa}{nxx:03d}{x}{nxx % 1000:03d}"
                result = normalizer.normalize(raw)
                assert (result.e164, result.zones if result.e164 else ()) == reference(raw), raw


def test_cache_keys_and_the_prefix_proof() -> None:
    assert nanp.key_length("2125550100") == 6
    assert nanp.classify("2125550100") == nanp._classify("2125550100")
    assert nanp.decided_by_prefix(r"(?:212|646)[2-9]\d{6}")
    assert nanp.decided_by_prefix(r"246521[0369]\d{3}", 7) and not nanp.decided_by_prefix(r"246521[0369]\d{3}", 6)
    assert not nanp.decided_by_prefix(r"\d{6}5\d{3}")
    assert not nanp.decided_by_prefix(r"\d{4,6}[2-9]\d*")  # [2-9] may sit at position 6
    assert not nanp.decided_by_prefix(r"(\d)\d{5}\1\d{3}")  # a back-reference: not understood, so not proven
    assert not nanp.decided_by_prefix(r"\d{6}(?=1)\d{4}")
    assert not nanp.decided_by_prefix(r"\d{6}[^5]\d{3}")
    assert nanp.decided_by_prefix(r"[2-9]\d{2}[0-9]{3}[0-9\d]\d{3}")


def test_a_list_refusing_plus_one_gets_the_full_parse_wording() -> None:
    uk_only = PhoneNormalizer("US", frozenset({44}))
    assert uk_only.normalize("212-555-0100").error == "foreign number (+1, US) not allowed in this list"
    assert uk_only.normalize("555-555-0100").error == "invalid phone number"


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
