"""The panoramisk-based AMI client against a scripted TCP peer replaying recorded transcripts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from core.config import PbxServer
from telephony.ami.client import AmiClient, backoff_delay
from telephony.ami.message import Message
from telephony.exceptions import ActionFailed, PbxUnavailable
from telephony.normalize import Normalizer
from tests.unit.ami_peer import ScriptedAmiPeer
from tests.unit.ami_transcripts import load

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def script(*names: str) -> list[Message]:
    return [m for name in names for m in load(name)[1]]


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 20))


def client_for(peer: ScriptedAmiPeer, **kwargs) -> AmiClient:
    server = PbxServer(name="pbx1", ami_host="127.0.0.1", ami_port=peer.port)
    kwargs.setdefault("backoff_base", 0.05)
    kwargs.setdefault("backoff_cap", 0.2)
    return AmiClient(server, rng=random.Random(1), **kwargs)


def test_login_is_awaited_and_banner_read() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami"))
        await peer.start()
        client = client_for(peer)
        await client.start()
        await client.wait_ready(5)
        assert client.ready and client.banner == "9.0.0" and client.connects == 1
        login = peer.received[0]
        assert (login["Action"], login["Username"], login["Secret"]) == ("Login", "pydialer", "pydialer")
        await client.close()
        await peer.stop()

    run(body)


def test_login_refused_keeps_retrying_with_backoff_and_never_becomes_ready() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_failed.ami", "login_failed.ami", "login_failed.ami"))
        await peer.start()
        client = client_for(peer)
        await client.start()
        with pytest.raises(PbxUnavailable):
            await client.wait_ready(0.8)
        assert client.connects == 0
        assert sum(1 for m in peer.received if m["Action"] == "Login") >= 2
        with pytest.raises(PbxUnavailable):
            await client.action({"Action": "Ping"})
        await client.close()
        await peer.stop()

    run(body)


def test_originate_does_not_wait_for_originate_response_and_events_reach_handlers() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami", "originate_answered_agent.ami"))
        await peer.start()
        norm = Normalizer("pbx1")
        out = []
        client = client_for(peer, on_event=lambda m: out.extend(norm.feed(m, NOW)))
        await client.start()
        await client.wait_ready(5)
        spec = {"Action": "Originate", "Channel": "PJSIP/15551230001@trunk", "Context": "pydialer-outbound",
                "Exten": "s", "Priority": "1", "Timeout": "30000", "ChannelId": "call-0001",
                "Variable": ["__PYDIALER_CALL_ID=call-0001"]}
        action_id, queued = client.send_nowait(spec)
        norm.register_originate("call-0001", action_id)
        reply = await queued
        assert reply["Message"] == "Originate successfully queued"
        sent = peer.received[-1]
        assert sent["Async"] == "true" and sent["ActionID"] == action_id  # Async always sent
        for _ in range(100):
            if any(e.type == "call.answered" for e in out):
                break
            await asyncio.sleep(0.01)
        # OriginateResponse carries our ActionID but was not swallowed into the action's future
        kinds = [e.type for e in out]
        assert kinds == ["call.dialing", "call.ringing", "call.answered", "call.amd_human"]
        redirect = await client.action({"Action": "Redirect", "Channel": "PJSIP/trunk-00000001",
                                        "Context": "pydialer-agents", "Exten": "agent01", "Priority": "1"})
        assert redirect["Message"] == "Redirect successful"
        for _ in range(100):
            if out[-1].type == "call.hangup":
                break
            await asyncio.sleep(0.01)
        assert [e.type for e in out][-2:] == ["call.bridged_to_agent", "call.hangup"]
        assert peer.unexpected == []
        await client.close()
        await peer.stop()

    run(body)


def test_core_show_channels_list_is_collected() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami", "core_show_channels.ami"))
        await peer.start()
        client = client_for(peer)
        await client.start()
        await client.wait_ready(5)
        listed = await client.action_list({"Action": "CoreShowChannels"})
        assert [m["Uniqueid"] for m in listed] == ["call-0001", "1763848100.10"]
        await client.close()
        await peer.stop()

    run(body)


def test_connection_drop_fails_pending_actions_and_reconnects_without_replaying_them() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami"))
        await peer.start()
        reconnected = asyncio.Event()

        async def on_connected() -> None:
            if client.connects >= 2:
                reconnected.set()

        client = client_for(peer, on_connected=on_connected)
        await client.start()
        await client.wait_ready(5)
        # an action the peer never answers (it is not in the script: the peer replies Error only
        # for known-unknowns, so use a Redirect and drop before the reply is read)
        peer.script.append(Message((("Action", "Redirect"), ("ActionID", "x"))))  # expected, no replies
        _, pending = client.send_nowait({"Action": "Redirect", "Channel": "PJSIP/x-1", "Context": "c",
                                         "Exten": "s", "Priority": "1"})
        await asyncio.sleep(0.1)
        peer.extend(script("login_ok.ami"))
        peer.drop_all()
        with pytest.raises(PbxUnavailable):
            await pending
        await asyncio.wait_for(reconnected.wait(), 5)
        await asyncio.sleep(0.2)
        assert peer.connections == 2
        redirects = [m for m in peer.received if m["Action"] == "Redirect"]
        assert len(redirects) == 1  # not re-sent after the reconnect (would double-dial an Originate)
        await client.close()
        await peer.stop()

    run(body)


def test_header_injection_is_refused_before_sending() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami"))
        await peer.start()
        client = client_for(peer)
        await client.start()
        await client.wait_ready(5)
        with pytest.raises(ValueError, match="CR or LF"):
            client.send_nowait({"Action": "Originate", "CallerID": "x\r\nAction: Hangup"})
        await client.close()
        await peer.stop()
        assert all(m["Action"] != "Originate" for m in peer.received)

    run(body)


def test_backoff_is_bounded_and_jittered() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(12)]
    assert all(0 <= d <= 30.0 for d in delays)
    assert max(delays[:2]) <= 1.0 and len(set(delays)) == len(delays)


def test_unanswered_pings_drop_a_hung_connection_and_reconnect() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami", "login_ok.ami"))
        await peer.start()
        client = client_for(peer, ping_interval=0.1, connect_timeout=0.3)
        await client.start()
        await client.wait_ready(5)
        peer.mute = True  # TCP stays open but Asterisk is wedged
        for _ in range(100):
            if not client.ready:
                break
            await asyncio.sleep(0.02)
        assert not client.ready
        peer.mute = False  # (a login sent while muted times out and is retried)
        await client.wait_ready(5)
        assert client.connects == 2 and peer.connections >= 2
        assert any(m["Action"] == "Ping" for m in peer.received)
        await client.close()
        await peer.stop()

    run(body)


def test_unknown_action_fails_with_asterisks_message_and_the_session_stays_up() -> None:
    async def body() -> None:
        peer = ScriptedAmiPeer(script("login_ok.ami", "unknown_action.ami"))
        await peer.start()
        client = client_for(peer)
        await client.start()
        await client.wait_ready(5)
        with pytest.raises(ActionFailed, match="Invalid/unknown command") as info:
            await client.action({"Action": "PyDialerNoSuchAction"})
        assert info.value.details["Response"] == "Error"
        assert (await client.action({"Action": "Ping"}))["Ping"] == "Pong"
        assert client.connects == 1 and peer.unexpected == []
        await client.close()
        await peer.stop()

    run(body)
