"""Telephony client figures, printed as JSON.

* ``parse_normalise``: AMI messages/s through the framer + normaliser (recorded transcripts,
  replayed as many distinct interleaved calls);
* ``originate``: how long ``AsteriskControl.originate`` blocks the caller (it must not wait for
  OriginateResponse) vs when the "queued" ack and the OriginateResponse arrive, against the
  simulator (in-process thread, one AMI connection).

    .venv/bin/python -m bench.telephony_normalize [--calls 2000] [--originates 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import percentile
from core.config import PbxServer
from telephony.ami.control import AsteriskControl, PbxConnection
from telephony.ami.message import Framer
from telephony.normalize import Normalizer
from telephony.ports import OriginateRequest

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ami"
NAMES = ["originate_answered_agent.ami", "originate_busy.ami", "originate_noanswer.ami", "originate_machine.ami",
         "abandoned_safe_harbor.ami"]


def _transcript(name: str, call_id: str, uid_prefix: str) -> bytes:
    lines = [ln for ln in (FIXTURES / name).read_text().split("\n") if not ln.startswith("#")]
    text = "\r\n".join(lines) + "\r\n\r\n"
    old = next(ln.split(": ", 1)[1] for ln in lines if ln.startswith("ChannelId: "))
    return text.replace(old, call_id).replace("1763848000.", uid_prefix).encode()


def bench_parse_normalise(calls: int) -> dict[str, float]:
    blobs = [_transcript(NAMES[i % len(NAMES)], f"call-{i}", f"{i}.") for i in range(calls)]
    payload = b"".join(blobs)
    now = datetime.now(UTC)
    norm = Normalizer("bench")
    start = time.perf_counter()
    framer = Framer()
    messages = []
    for i in range(0, len(payload), 4096):  # socket-sized chunks
        messages.extend(framer.feed(payload[i : i + 4096]))
    parsed = time.perf_counter()
    events = 0
    for msg in messages:
        if msg.kind == "action":
            if msg.name == "Originate":
                norm.register_originate(msg["ChannelId"], msg["ActionID"])
            continue
        events += len(norm.feed(msg, now))
    done = time.perf_counter()
    return {"calls": calls, "ami_messages": len(messages), "call_events": events,
            "framer_msgs_per_s": round(len(messages) / (parsed - start)),
            "normaliser_msgs_per_s": round(len(messages) / (done - parsed)),
            "end_to_end_msgs_per_s": round(len(messages) / (done - start))}


async def _originates(n: int, rate: float, ami_port: int, ari_port: int) -> dict[str, float]:
    conn = PbxConnection(PbxServer(name="sim", ami_port=ami_port, ari_url=f"http://127.0.0.1:{ari_port}"),
                         lambda e: None, use_ari=False)
    control = AsteriskControl([conn])
    await conn.start()
    await conn.ami.wait_ready(5)
    call_ms, queued_ms, result_ms = [], [], []
    pending = []
    for _ in range(n):
        t0 = time.perf_counter()
        handle = await control.originate(OriginateRequest(call_id=str(uuid.uuid4()), number="15551230001",
                                                          timeout_s=10))
        call_ms.append((time.perf_counter() - t0) * 1000)

        def stamp(fut: asyncio.Future, out: list[float], t0: float = t0) -> None:
            out.append((time.perf_counter() - t0) * 1000)

        handle.queued.add_done_callback(lambda f, t0=t0: stamp(f, queued_ms, t0))
        handle.result.add_done_callback(lambda f, t0=t0: stamp(f, result_ms, t0))
        pending.append(handle.result)
        await asyncio.sleep(1 / rate)
    await asyncio.wait(pending, timeout=15)
    await conn.close()
    return {"originates": n, "rate_per_s": rate,
            "originate_call_p50_ms": round(percentile(call_ms, 50), 3),
            "originate_call_p99_ms": round(percentile(call_ms, 99), 3),
            "queued_ack_p50_ms": round(percentile(queued_ms, 50), 2),
            "originate_response_p50_ms": round(percentile(result_ms, 50), 1),
            "originate_responses": len(result_ms)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--originates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    from telephony.simulator.testing import running_simulator

    out: dict[str, object] = {"parse_normalise": bench_parse_normalise(args.calls)}
    scenario = {"timing": {"ring_live_s": 1.0, "ring_machine_s": 1.0, "fail_detect_s": 1.0, "talk_s": 2.0},
                "sim": {"patience_s": 1.0}}
    with running_simulator(scenario, seed=1, data_dir=Path(tempfile.gettempdir()) / "pyd-bench-sim") as sim:
        out["originate"] = asyncio.run(_originates(args.originates, args.rate, sim.ami_port, sim.ari_port))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
