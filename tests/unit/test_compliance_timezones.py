"""dialer.timezones: number -> zones, postal refinement, the union-on-disagreement rule."""

from __future__ import annotations

import pytest

from dialer.timezones import candidate_zones, combine, state_for_us_zip, zones_for_number, zones_for_postal


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+12125551234", ("America/New_York",)),
        ("+14155550100", ("America/Los_Angeles",)),
        ("+18085550100", ("Pacific/Honolulu",)),
        ("+61291234567", ("Australia/Sydney",)),
        ("+15555550100", ()),  # invalid area code -> Etc/Unknown -> unknown
        ("not a number", ()),
        ("", ()),
    ],
)
def test_zones_for_number(number: str, zones: tuple[str, ...]) -> None:
    assert zones_for_number(number) == zones


def test_toll_free_is_every_north_american_zone() -> None:
    zones = zones_for_number("+18005550100")
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(zones)


@pytest.mark.parametrize(
    ("zip_code", "state"),
    [("10001", "NY"), ("94105-1234", "CA"), ("33101", "FL"), ("79901", "TX"), ("99501", "AK"), ("00501", "NY"),
     ("1234", None), ("ABCDE", None), (None, None), ("00099", None)],
)
def test_state_for_us_zip(zip_code: str | None, state: str | None) -> None:
    assert state_for_us_zip(zip_code) == state


def test_postal_refinement() -> None:
    assert zones_for_postal("tx", None) == ("America/Chicago", "America/Denver")
    assert zones_for_postal(None, "79901") == ("America/Denver",)  # El Paso
    assert zones_for_postal("ON", None, "CA") == ()  # not US: no table
    assert zones_for_postal(None, None) == ()


def test_combine_intersects_when_sources_agree_and_unions_when_not() -> None:
    # Toll-free number + Texas state -> Texas' zones only.
    assert candidate_zones("+18005550100", "TX") == ("America/Chicago", "America/Denver")
    # 317 Indianapolis with state IN: the precise Indiana spelling is kept.
    assert "America/Indiana/Indianapolis" in candidate_zones("+13175550100", "IN")
    # New York mobile, California address: the person may be at either -> both.
    assert candidate_zones("+12125551234", None, "94105") == ("America/Los_Angeles", "America/New_York")
    assert candidate_zones("+15555550100") == ()
    assert candidate_zones("+15555550100", "CA") == ("America/Los_Angeles",)
    assert combine((), ()) == ()
