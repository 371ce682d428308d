"""PbxSelector: least-loaded PBX for a new call, round-robin on ties, unavailable ones skipped."""

from __future__ import annotations

import pytest

from telephony.ports import OriginateRequest, PbxSelector


def test_least_loaded_wins_and_ties_rotate() -> None:
    load = {"a": 0, "b": 0, "c": 0}
    sel = PbxSelector(["a", "b", "c"], load=load.__getitem__)
    picks = [sel.choose() for _ in range(6)]
    assert picks == ["a", "b", "c", "a", "b", "c"]
    load.update(a=5, b=1, c=3)
    assert {sel.choose() for _ in range(5)} == {"b"}


def test_unavailable_pbx_is_skipped_unless_all_are_down() -> None:
    up = {"a": False, "b": True}
    sel = PbxSelector(["a", "b"], load=lambda n: 0, available=up.__getitem__)
    assert {sel.choose() for _ in range(4)} == {"b"}
    up["b"] = False
    assert {sel.choose() for _ in range(4)} == {"a", "b"}  # nobody up: still spread (the originate will fail loudly)


def test_explicit_pbx_and_bad_names() -> None:
    sel = PbxSelector(["a", "b"], load=lambda n: 0)
    assert sel.choose("b") == "b"
    with pytest.raises(ValueError, match="unknown PBX"):
        sel.choose("zz")
    with pytest.raises(ValueError):
        PbxSelector([], load=lambda n: 0)


@pytest.mark.parametrize("kwargs", [{"call_id": ""}, {"number": " "}, {"timeout_s": 0}, {"timeout_s": 601}])
def test_originate_request_validation(kwargs: dict) -> None:
    base = {"call_id": "c1", "number": "100"}
    with pytest.raises(ValueError):
        OriginateRequest(**{**base, **kwargs})
