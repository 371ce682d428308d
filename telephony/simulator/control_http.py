"""The control API on the ARI port (no auth: it exists only in the simulator).

POST /_scenario   replace the outcome model (validated; 400 with the JSON path of the bad field)
GET  /_scenario   the scenario in force (with defaults filled in)
GET  /_requests   every AMI action / ARI request received, in order (?since=SEQ)
POST /_reset      hang up everything, forget requests/spies/forced outcomes, re-seed the RNG
GET  /_channels   live channels with state, bridge and call outcome
POST /_force      script the next calls' outcomes: {"outcomes": ["busy", "human", ...]}
GET  /_spies      every ChanSpy / snoop asked for
GET  /_recordings every MixMonitor asked for
POST /_dtmf       {"channel": ID, "digit": "5"} -> ChannelDtmfReceived
GET  /_stats      counters (channels, events sent, RTP packets)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .scenario import OUTCOMES, Scenario, ScenarioError

if TYPE_CHECKING:
    from .runner import Simulator


def _bad(problem: str, path: str = "$") -> web.Response:
    return web.json_response({"error": "invalid", "path": path, "message": problem}, status=400)


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": "invalid", "path": "$", "message": f"invalid JSON: {exc}"}),
                                 content_type="application/json") from exc


def add_control_routes(app: web.Application, sim: Simulator) -> None:
    pbx = sim.pbx

    async def put_scenario(request: web.Request) -> web.Response:
        data = await _json(request)
        try:
            scenario = Scenario.parse(data)
        except ScenarioError as exc:
            return _bad(str(exc), exc.path)
        pbx.scenario = scenario
        return web.json_response({"ok": True})

    async def get_scenario(request: web.Request) -> web.Response:
        return web.json_response(pbx.scenario.raw)

    async def requests(request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return _bad("since must be an integer", "since")
        return web.json_response(sim.log.since(since))

    async def reset(request: web.Request) -> web.Response:
        pbx.reset()
        sim.log.clear()
        return web.json_response({"ok": True})

    async def channels(request: web.Request) -> web.Response:
        out = []
        for ch in pbx.channels.values():
            call = ch.call
            out.append({"id": ch.id, "name": ch.name, "kind": ch.kind, "state": ch.state_desc,
                        "context": ch.context, "exten": ch.exten, "app": ch.app, "app_data": ch.app_data,
                        "bridge": ch.bridge.id if ch.bridge else None, "stasis_app": ch.stasis_app,
                        "linkedid": ch.linkedid, "variables": dict(ch.variables),
                        "outcome": call.plan.outcome if call is not None and call.plan is not None else None})
        return web.json_response(out)

    async def force(request: web.Request) -> web.Response:
        data = await _json(request)
        outcomes = data.get("outcomes") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(data.get("outcome"), str):
            outcomes = [data["outcome"]] * int(data.get("count", 1))
        if not isinstance(outcomes, list):
            return _bad("expected {\"outcomes\": [...]} or {\"outcome\": X, \"count\": N}", "outcomes")
        for i, o in enumerate(outcomes):
            if o not in OUTCOMES:
                return _bad(f"unknown outcome {o!r} (one of {', '.join(OUTCOMES)})", f"outcomes[{i}]")
        pbx.forced.extend(outcomes)
        return web.json_response({"queued": list(pbx.forced)})

    async def spies(request: web.Request) -> web.Response:
        return web.json_response(pbx.spies)

    async def recordings(request: web.Request) -> web.Response:
        return web.json_response(pbx.recordings)

    async def dtmf(request: web.Request) -> web.Response:
        data = await _json(request)
        if not isinstance(data, dict):
            return _bad("expected an object")
        ch = pbx.find(str(data.get("channel", "")))
        if ch is None:
            return _bad("no such channel", "channel")
        digit = str(data.get("digit", ""))
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            return _bad("digit must be one of 0-9 * # A-D", "digit")
        sim.ari.dtmf(ch, digit)
        return web.json_response({"ok": True})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(sim.stats())

    app.router.add_post("/_scenario", put_scenario)
    app.router.add_get("/_scenario", get_scenario)
    app.router.add_get("/_requests", requests)
    app.router.add_post("/_reset", reset)
    app.router.add_get("/_channels", channels)
    app.router.add_post("/_force", force)
    app.router.add_get("/_spies", spies)
    app.router.add_get("/_recordings", recordings)
    app.router.add_post("/_dtmf", dtmf)
    app.router.add_get("/_stats", stats)
