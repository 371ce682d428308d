"""Channel strings and Variable headers as the simulator's Originate understands them."""

from __future__ import annotations

import pytest

from telephony.simulator.calls import OriginateError, parse_channel, parse_variables
from telephony.simulator.pbx import Pbx
from telephony.simulator.scenario import Scenario

PBX = Pbx(Scenario.default())


@pytest.mark.parametrize("spec,kind,endpoint,number,context", [
    ("PJSIP/5551234@trunk", "trunk", "trunk", "5551234", ""),
    ("SIP/carrier/0044123", "trunk", "carrier", "0044123", ""),
    ("PJSIP/agent01", "agent", "agent01", "agent01", ""),
    ("SIP/agent7", "agent", "agent7", "agent7", ""),
    ("Local/5551234@from-dialer", "local", "", "5551234", "from-dialer"),
    ("Local/agent02@pydialer-agents/n", "local", "", "agent02", "pydialer-agents"),
])
def test_channel_forms(spec: str, kind: str, endpoint: str, number: str, context: str) -> None:
    t = parse_channel(spec, PBX)
    assert (t.kind, t.endpoint, t.number, t.context) == (kind, endpoint, number, context)


@pytest.mark.parametrize("spec", ["nonsense", "PJSIP/", "DAHDI/g1/555", "Local/5551234", "SIP/trunk", "PJSIP/@trunk"])
def test_undialable_channels(spec: str) -> None:
    with pytest.raises(OriginateError):
        parse_channel(spec, PBX)


def test_variables_repeated_and_comma_separated() -> None:
    assert parse_variables(["A=1", "B=2,C=x=y", "__PYDIALER_CALL_ID=abc", "junk"]) == {
        "A": "1", "B": "2", "C": "x=y", "__PYDIALER_CALL_ID": "abc"}
