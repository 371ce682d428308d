"""The wallboard in headless Chromium against a real server, the real aggregator (in-process) and,
for calls, the PBX simulator driven by the real telephony service (threads, as in
tests/integration/test_virtual_agents_e2e.py).

Covers: who may see it; a call placed through the simulator changing the board within a second
(with a 30 s heartbeat, so only the event can have caused it); the listen / whisper / barge
buttons reaching the simulator as ChanSpy originates with q / qw / qB; a quiet board ticking
every second with one batch of text edits per snapshot; the stale banner on a stalled feed
(blinking without a CSS animation) and its recovery; TV rotation between campaign boards; an alert shown in the strip
and the panel. Screenshots go to test-artifacts/; the busy TV one also to
docs/screenshots/wallboard-tv.png.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from core import events as ev
from dialer.abandon import RedisAbandonCounts
from dialer.aggregator import MAX_INTERVAL_S, Aggregator
from dialer.live import ACTIVE_AGENTS, LiveState, agent_key
from telephony.simulator.testing import SimulatorThread, running_simulator
from telephony.streams import EVENTS_STREAM, decode, send_command
from tests.browser.test_web_browser import sign_in
from tests.integration.test_telephony_simulator import ami_requests
from tests.integration.test_virtual_agents_e2e import TelephonyThread

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "wallboard-tv.png"
# Calls that ring for a while (time_scale 1) and, once answered, talk for a minute: the board has
# time to show them and the monitor buttons have a bridged agent channel to spy on.
SCENARIO = {
    "outcomes": {"answer_prob": 1.0, "machine_prob": 0.0, "fail_prob": 0.0},
    "timing": {"ring_live_s": 1.5, "talk_s": 120.0, "no_answer_timeout_s": 30.0},
    "amd": {"enabled": False},
    "sim": {"time_scale": 1, "patience_s": 600, "agent_answer_s": 0.1, "drop_after_s": 600},
}
LONG_HEARTBEAT_S = 30.0
# Computed font sizes (px) of the agent grid and of every caption, and captions cut off
SIZES_JS = """
() => {
  const px = (sel) => [...document.querySelectorAll(sel)].filter((el) => el.offsetParent !== null)
    .map((el) => parseFloat(getComputedStyle(el).fontSize));
  const captions = ".wb-tile-label, .wb-tile-sub, .wb-section-title, .wb-agents th, .wb-gauge-head, .wb-list li";
  return {
    grid: px("#wallboard-agents td"),
    captions: px(captions),
    clipped: [...document.querySelectorAll(".wb-tile-label, .wb-tile-sub, .wb-section-title")]
      .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent),
  };
}
"""
# Watches a tile and records (text, Date.now()) on every change: when the DOM changed, measured
# in the page itself.
OBSERVE_JS = """
(selector) => {
  const el = document.querySelector(selector);
  window.__wbChanges = [];
  new MutationObserver(() => window.__wbChanges.push([el.textContent, Date.now()]))
    .observe(el, {childList: true, characterData: true, subtree: true});
}
"""

# Every DOM change under the board, one batch per observer callback (= per task that changed
# something): [batch, type, where, attribute]; text changes are reported on their element. Per
# batch: [whether a snapshot arrived in that task, ms since the last snapshot].
MUTATIONS_JS = """
() => {
  const where = (node) => {
    const el = node.nodeType === 3 ? node.parentElement : node;
    if (el.id) return "#" + el.id;
    if (el.dataset && el.dataset.key) return el.dataset.key;
    return el.tagName.toLowerCase() + (el.tagName === "TD" ? el.cellIndex : "");
  };
  const w = window;
  Object.assign(w, {__wbMutations: [], __wbBatches: [], __wbSnapshots: 0, __wbFresh: false, __wbLast: Date.now()});
  const es = w.pydWallboard.current().es, onmessage = es.onmessage;
  es.onmessage = function (ev) {
    Object.assign(w, {__wbSnapshots: w.__wbSnapshots + 1, __wbFresh: true, __wbLast: Date.now()});
    return onmessage.call(this, ev);
  };
  new MutationObserver((records) => {
    w.__wbBatches.push([w.__wbFresh, Date.now() - w.__wbLast]);
    w.__wbFresh = false;
    for (const r of records) w.__wbMutations.push([w.__wbBatches.length, r.type, where(r.target), r.attributeName]);
  }).observe(document.querySelector("#wallboard-root"),
             {subtree: true, childList: true, characterData: true, attributes: true});
}
"""


class RunningAggregator:
    def __init__(self, engine: sa.Engine, redis_url: str) -> None:
        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self.engine = engine
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, heartbeat_s: float = MAX_INTERVAL_S) -> None:
        self.stop_event = threading.Event()
        agg = Aggregator(self.engine, self.client, heartbeat_s=heartbeat_s)
        self.thread = threading.Thread(target=agg.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


@pytest.fixture()
def aggregator(live_server) -> Iterator[RunningAggregator]:
    running = RunningAggregator(live_server.engine, live_server.redis_url)
    yield running
    running.stop()
    running.client.close()


@pytest.fixture(scope="module")
def pbx(live_server, tmp_path_factory) -> Iterator[SimulatorThread]:
    """The simulator + the telephony service on the web server's Redis."""
    with running_simulator(SCENARIO, seed=4, data_dir=tmp_path_factory.mktemp("wbsim")) as sim:
        tel = TelephonyThread(live_server.redis_url, sim.ami_port, sim.ari_port)
        tel.start()
        try:
            yield sim
        finally:
            tel.stop()


def campaigns(live_server) -> list[int]:
    with live_server.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT id FROM campaigns WHERE active ORDER BY id")).scalars())


def agents(live_server, n: int) -> list[int]:
    with live_server.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT id FROM users WHERE role='agent' ORDER BY id LIMIT :n"),
                                 {"n": n}).scalars())


def open_board(page, live_server, user: str, path: str) -> None:
    sign_in(page, user, live_server.password)
    signed_in(page)
    page.goto(path)
    page.locator("#wallboard-root").wait_for()
    page.wait_for_function("document.querySelector('#wallboard-status').innerText === 'live'", timeout=10_000)
    page.wait_for_function("document.querySelector(\"[data-key='calls.ringing']\").innerText !== '–'")


def call_events(r: redis.Redis, call_id: str) -> list[tuple[str, str]]:
    """(stream entry id, event type) of telephony's events for one call."""
    out = []
    for entry_id, fields in r.xrange(EVENTS_STREAM):
        if fields.get("call_id") == call_id:
            out.append((entry_id, decode(fields).type))
    return out


def wait_event(r: redis.Redis, call_id: str, kind: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry_id, found in call_events(r, call_id):
            if found == kind:
                return entry_id
        time.sleep(0.05)
    raise AssertionError(f"no {kind} for {call_id}: {call_events(r, call_id)}")


def signed_in(page) -> None:
    """Wait until the login form has sent us on (to "/" or the role's start page)."""
    page.wait_for_url(lambda url: "/login" not in url)


def test_agent_and_anonymous_get_nothing(page, live_server) -> None:
    anon = page.request.get("/api/push/wallboard")
    assert anon.status == 401
    sign_in(page, "agent01", live_server.password)
    signed_in(page)
    assert page.locator("#shell-nav-wallboard").count() == 0
    response = page.goto("/wallboard")
    assert response is not None and response.status == 403
    push = page.request.get("/api/push/wallboard")
    assert push.status == 403 and "data:" not in push.text()


def test_a_call_through_the_simulator_changes_the_board_within_a_second(page, live_server, aggregator, pbx) -> None:
    """Originate -> telephony -> simulator -> call.dialing on pyd:events:calls -> aggregator wakes
    -> SSE -> the "Ringing" tile. The heartbeat is 30 s: a change within 1 s can only be the event,
    and the snapshot that made it names the event (cause, last_event_id)."""
    live_server.write_agent_states()
    cid = campaigns(live_server)[0]
    r = aggregator.client
    aggregator.start(heartbeat_s=LONG_HEARTBEAT_S)
    open_board(page, live_server, "supervisor", f"/wallboard/{cid}")
    tile = "[data-key='calls.ringing']"
    before = int(page.locator(tile).first.inner_text())
    first = page.evaluate("window.pydWallboard.current().snapshot")
    assert first["cause"] == "start"
    page.evaluate(OBSERVE_JS, tile)
    time.sleep(1.5)
    assert page.evaluate("window.__wbChanges") == [], "the board changed with no call (heartbeat is 30 s)"
    # what the dialing loop does for a new call: live state first (dialer/loop.py), then the
    # originate command; everything after that is telephony + simulator + aggregator + browser
    call_id = str(uuid.uuid4())
    LiveState(r).track_call(call_id, cid, None, time.time(), pbx="sim1")
    sent_ms = time.time() * 1000
    send_command(r, ev.OriginateCommand(call_id=call_id, number="15551230101", campaign_id=cid))
    page.wait_for_function(f"document.querySelector(\"{tile}\").innerText === '{before + 1}'", timeout=3000)
    changed = [at for text, at in page.evaluate("window.__wbChanges") if text == str(before + 1)]
    assert changed and changed[0] - sent_ms < 1000, f"{changed[0] - sent_ms:.0f} ms"
    snap = page.evaluate("window.pydWallboard.current().snapshot")
    assert snap["cause"] in ("event", "follow_up")
    assert snap["events_seen"] > first["events_seen"]
    stream, _, entry_id = snap["last_event_id"].partition("/")
    assert stream == EVENTS_STREAM and entry_id in {e for e, _kind in call_events(r, call_id)}
    assert page.errors == [], page.errors
    send_command(r, ev.HangupCommand(call_id=call_id, cause=16))
    LiveState(r).forget_call(call_id)


def test_monitor_buttons_reach_the_simulator_as_chanspy(page, live_server, aggregator, pbx, artifacts_dir) -> None:
    """The board's listen / whisper / barge buttons -> Dash callback -> MonitorCommand -> telephony
    -> the simulator receives Originate(Channel=my phone, Application=ChanSpy, Data=<agent
    channel>,<q|qw|qB>) -- Asterisk's ChanSpy options: q no beep, w whisper, B barge (both legs)."""
    live_server.write_agent_states()
    cid = campaigns(live_server)[0]
    agent = agents(live_server, 1)[0]
    r = aggregator.client
    aggregator.start()
    pbx.control("POST", "/_reset")
    call_id = str(uuid.uuid4())
    live = LiveState(r)
    live.track_call(call_id, cid, None, time.time(), pbx="sim1")
    send_command(r, ev.OriginateCommand(call_id=call_id, number="15551230102", campaign_id=cid))
    live.bump(cid, dials=1)  # the counters the dialing loop keeps for this call (dialer/loop.py)
    wait_event(r, call_id, "call.answered")
    live.bump(cid, humans=1, connected=1)
    live.set_call_state(call_id, "connected", time.time(), agent_id=str(agent))
    r.hset(agent_key(agent), mapping={"state": "incall", "campaign_id": cid, "since": time.time(),
                                      "call_id": call_id})
    send_command(r, ev.BridgeCommand(call_id=call_id, agent_endpoint=f"PJSIP/agent{agent}"))
    wait_event(r, call_id, "call.bridged_to_agent")
    open_board(page, live_server, "supervisor", f"/wallboard/{cid}")
    page.fill("#wallboard-endpoint", "PJSIP/sup42")
    page.keyboard.press("Enter")
    row = page.locator(f"tr[data-agent-row='{agent}']")
    row.wait_for()
    assert "incall" in row.inner_text()
    expected = {"listen": "q", "whisper": "qw", "barge": "qB"}
    for n, (mode, options) in enumerate(expected.items(), start=1):
        row.locator(f"button[data-mode='{mode}']").click()
        page.wait_for_function(
            f"document.querySelector('#wallboard-monitor-result').innerText.startsWith('{mode.capitalize()}:')")
        deadline = time.monotonic() + 10
        spies: list[dict[str, list[str]]] = []
        while time.monotonic() < deadline and len(spies) < n:
            spies = [o for o in ami_requests(pbx, "Originate") if o.get("Application") == ["ChanSpy"]]
            time.sleep(0.05)
        assert len(spies) == n, spies
        target, _, opts = spies[-1]["Data"][0].partition(",")
        assert spies[-1]["Channel"] == ["PJSIP/sup42"]
        assert target.startswith(f"PJSIP/agent{agent}-") and opts == options, (mode, spies[-1])
    with live_server.engine.connect() as conn:
        audited = conn.execute(sa.text(
            "SELECT action FROM audit_log WHERE action LIKE 'monitor.%' AND object_id = :a ORDER BY id"),
            {"a": str(agent)}).scalars().all()
    assert audited[-3:] == ["monitor.listen", "monitor.whisper", "monitor.barge"]
    page.screenshot(path=str(artifacts_dir / "wallboard-supervisor.png"), full_page=True)
    assert page.errors == [], page.errors
    send_command(r, ev.HangupCommand(call_id=call_id, cause=16))
    live.forget_call(call_id)


def test_a_quiet_board_ticks_every_second_rewriting_only_the_text_that_changed(page, live_server,
                                                                              aggregator) -> None:
    """Nothing happens but the 1 s heartbeat: the time in state and the clock still tick every
    second, and each snapshot costs the board one batch of text edits (the rendering budget of 50
    boards on one PC, bench/wallboard.py): no rebuilt rows or replaced nodes, no attribute churn,
    no timer-driven second rendering, no running CSS animation; a snapshot equal to the last one
    changes nothing at all."""
    live_server.write_agent_states()
    cid = campaigns(live_server)[0]
    aggregator.start()  # the default 1 s heartbeat: the board's tick
    open_board(page, live_server, "supervisor", f"/wallboard/{cid}")
    page.wait_for_function("document.querySelectorAll('#wallboard-agents tr[data-agent-row]').length > 0")
    time.sleep(1.5)  # past the first renderings (row cells built once)
    page.evaluate(MUTATIONS_JS)
    time.sleep(5.0)
    mutations, batches, snapshots = page.evaluate("[window.__wbMutations, window.__wbBatches, window.__wbSnapshots]")
    assert snapshots >= 3, snapshots
    ticks = {where: {b for b, _kind, w, _a in mutations if w == where} for where in ("#wallboard-clock", "td2")}
    assert len(ticks["#wallboard-clock"]) >= 3 and len(ticks["td2"]) >= 3, (ticks, snapshots)
    assert {kind for _b, kind, _w, _a in mutations} <= {"characterData", "attributes"}, mutations
    # the only attribute that may change on a quiet board: a row's colour step (time in state)
    assert {(w, a) for _b, kind, w, a in mutations if kind == "attributes"} <= {("tr", "class")}, mutations
    # one batch per snapshot: the clock rides on the snapshot's rendering; the timer writes it
    # (alone) only when the heartbeat is late
    for n, (fresh, since_ms) in enumerate(batches, start=1):
        if not fresh:
            assert since_ms > 1500 and {w for b, _k, w, _a in mutations if b == n} <= {"#wallboard-clock"}, (
                n, since_ms, [m for m in mutations if m[0] == n])
    assert page.evaluate("document.getAnimations().length") == 0
    # Re-rendering the snapshot on screen, read back in the same script: the observer's records
    # arrive in the microtask queued by render()'s first edit, ahead of the awaited one, and no
    # task (the next heartbeat's snapshot) can run in between, so what is seen is render()'s alone.
    rerendered = page.evaluate("""async () => {
      window.__wbMutations = [];
      window.pydWallboard.current().render();
      await Promise.resolve();
      return window.__wbMutations.filter((m) => m[2] !== '#wallboard-clock');
    }""")
    assert rerendered == [], rerendered
    assert page.errors == [], page.errors


def busy_floor(live_server) -> tuple[list[int], int]:
    """A floor as the dialer would write it: every agent in call has a call, and the counters
    count those calls (dials >= calls in flight, humans >= calls with an agent), so "Calls today"
    and the agent grid agree. Campaign 2's hopper is empty (an alert); campaign 1's rolling
    abandon rate is near its target (an amber gauge)."""
    cids = campaigns(live_server)
    ids = agents(live_server, 10)
    r = redis.Redis.from_url(live_server.redis_url, decode_responses=True)
    live = LiveState(r)
    now = time.time()
    with live_server.engine.connect() as conn:
        leads = list(conn.execute(sa.text("SELECT id FROM leads ORDER BY id LIMIT 10")).scalars())
    # per agent: (state, seconds in state, pause code); the colours walk VICIdial's steps
    floor = [("incall", 25, ""), ("incall", 95, ""), ("incall", 420, ""), ("ready", 8, ""), ("ready", 130, ""),
             ("wrap", 20, ""), ("paused", 40, "BRK"), ("paused", 1000, "BRK"), ("dead", 14, ""), ("ready", 400, "")]
    for i, (agent, (state, secs, code)) in enumerate(zip(ids, floor, strict=True)):
        cid = cids[i % 2]
        call_id = ""
        if state in ("incall", "dead"):
            call_id = f"busy-{agent}"
            live.track_call(call_id, cid, leads[i], now - secs - 12, pbx="sim1")
            live.set_call_state(call_id, "connected", now - secs, agent_id=str(agent))
        r.sadd(ACTIVE_AGENTS, agent)
        r.hset(agent_key(agent), mapping={"state": state, "campaign_id": cid, "since": now - secs,
                                          "call_id": call_id, "pause_code": code, "calls_today": 3 + 2 * i})
    for k in range(4):  # ringing and a caller waiting for an agent
        live.track_call(f"busy-ring-{k}", cids[k % 2], None, now - 3 - k)
    live.track_call("busy-wait", cids[0], None, now - 9)
    live.set_call_state("busy-wait", "waiting", now - 3)
    live.bump(cids[0], now, dials=412, humans=131, machines=58, abandons=3, sales=17)
    live.bump(cids[1], now, dials=288, humans=97, machines=41, abandons=1, sales=9)
    live.set_pacing(cids[0], dial_level=2.35, hopper_depth=184)
    live.set_pacing(cids[1], dial_level=1.0, hopper_depth=0)
    with live_server.engine.connect() as conn:
        targets = dict(conn.execute(sa.text("SELECT id, target_abandon_rate FROM campaigns")).all())
    # rolling rates: campaign 1 at 90 % of its target (amber), campaign 2 at half of its own
    RedisAbandonCounts(r).record(cids[0], now, answers=2400, abandons=round(2400 * 0.9 * float(targets[cids[0]])))
    RedisAbandonCounts(r).record(cids[1], now, answers=1500, abandons=round(1500 * 0.5 * float(targets[cids[1]])))
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(day, datetime.fromtimestamp(now, UTC) - timedelta(hours=1))
    with live_server.engine.begin() as conn:  # ended calls for the AHT (talk + wrap)
        for k, (talk, wrap) in enumerate([(140, 25), (95, 15), (210, 30), (60, 12)]):
            connected = start + timedelta(seconds=30 * k)
            conn.execute(sa.text(
                "INSERT INTO call_attempts (campaign_id, pbx, phone_e164, dial_method, dialed_at, connected_at,"
                " ended_at, wrap_ended_at, outcome) VALUES (:c, 'sim1', '+12125550111', 'predictive', :d, :k,"
                " :e, :w, 'human')"),
                {"c": cids[k % 2], "d": connected - timedelta(seconds=12), "k": connected,
                 "e": connected + timedelta(seconds=talk), "w": connected + timedelta(seconds=talk + wrap)})
    r.close()
    return cids, ids[0]


def test_tv_rotates_boards_shows_alerts_stale_banner_and_recovery(page, live_server, aggregator,
                                                                  artifacts_dir) -> None:
    cids, _agent = busy_floor(live_server)
    aggregator.start()
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, "admin", live_server.password)
    signed_in(page)
    page.goto("/wallboard/tv?rotate=2")
    page.locator("#wallboard-root").wait_for()
    page.wait_for_function("document.querySelector('#wallboard-status').innerText === 'live'", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('#wallboard-agents tr[data-agent-row]').length > 0")
    assert page.evaluate("document.body.classList.contains('wb-tv')")
    assert not page.locator(".navbar").first.is_visible()  # no chrome on the TV
    # the alert: campaign 2's hopper is empty -> critical, in the strip and in the panel
    page.wait_for_function("document.querySelector('#wallboard-alerts [data-rule=hopper_empty]') !== null &&"
                           " document.querySelector('#wallboard-alert-strip').innerText.includes('hopper empty')",
                           timeout=10_000)
    # rotation: overview (id 0) -> each active campaign -> overview, every 2 s
    shown: list[str] = []
    names: set[str] = set()
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline and len(set(shown)) < 1 + len(cids):
        value = page.get_attribute("#wallboard-root", "data-shown")
        if not shown or shown[-1] != value:
            shown.append(value or "")
            names.add(page.locator("#wallboard-campaign-name").inner_text())
        time.sleep(0.1)
    assert set(shown) == {"0", *map(str, cids)}, shown
    assert len(names) == 1 + len(cids)
    # on campaign 1's board: the amber gauge comes from the snapshot's level, not from JS maths
    page.wait_for_function(f"document.querySelector('#wallboard-root').dataset.shown === '{cids[0]}'",
                           timeout=10_000)
    snap = page.evaluate("window.pydWallboard.current().snapshot")
    levels = next(c for c in snap["campaigns"] if c["id"] == cids[0])["abandon"]["levels"]
    assert levels["window"] == "warn"
    assert page.get_attribute("[data-gauge='abandon.window']", "data-level") == "warn"
    rolling = page.locator("[data-gauge='abandon.window'] .wb-gauge-value").inner_text()  # 54/2400: a half
    assert f"abandon rate {rolling} (30 days)" in page.locator("#wallboard-alerts").inner_text()
    dials = LiveState(aggregator.client).stats(cids[0])["dials"]  # 412 + what earlier tests placed
    assert page.locator("[data-key='today.calls']").first.inner_text() == str(dials)
    assert page.locator("[data-key='today.aht_s']").first.inner_text() != "–"
    page.screenshot(path=str(artifacts_dir / "wallboard-tv-campaign.png"))
    # readable from 5 m at 1080p: the grid >= 34 px, captions >= 28 px, and every caption fits
    sizes = page.evaluate(SIZES_JS)
    assert min(sizes["grid"]) >= 34 and min(sizes["captions"]) >= 28, sizes
    assert sizes["clipped"] == [], sizes["clipped"]
    page.wait_for_function("document.querySelector('#wallboard-root').dataset.shown === '0'", timeout=10_000)
    time.sleep(0.3)
    page.screenshot(path=str(artifacts_dir / "wallboard-tv.png"))
    # the feed stalls: the aggregator stops publishing
    aggregator.stop()
    page.locator("#wallboard-stale").wait_for(state="visible", timeout=8000)
    assert "STALE" in page.locator("#wallboard-stale").inner_text()
    # it blinks with the board's 1 s timer, not with a CSS animation drawing frames all the time
    page.wait_for_function("document.querySelector('#wallboard-stale').classList.contains('wb-dim')", timeout=3000)
    page.wait_for_function("!document.querySelector('#wallboard-stale').classList.contains('wb-dim')", timeout=3000)
    assert page.evaluate("document.getAnimations().length") == 0
    page.screenshot(path=str(artifacts_dir / "wallboard-tv-stale.png"))
    aggregator.start()
    page.locator("#wallboard-stale").wait_for(state="hidden", timeout=5000)
    # the stream drops and the server refuses it for a while (a restart behind a proxy): the
    # board's retry loop (EventSource gave up: readyState CLOSED) brings it back by itself
    page.route("**/api/push/wallboard", lambda route: route.abort())
    page.evaluate("() => { const b = window.pydWallboard.current(); b.es.close(); b.reopen(); }")
    page.locator("#wallboard-stale").wait_for(state="visible", timeout=8000)
    page.unroute("**/api/push/wallboard")
    page.locator("#wallboard-stale").wait_for(state="hidden", timeout=20_000)
    assert page.locator("#wallboard-status").inner_text() == "live"
    page.errors[:] = [e for e in page.errors if "ERR_FAILED" not in e]
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts_dir / "wallboard-tv.png", DOCS_SCREENSHOT)
    assert page.errors == [], page.errors
