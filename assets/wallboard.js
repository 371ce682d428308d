/* PyDialer live wallboard: one EventSource on /api/push/wallboard, snapshots rendered into the
 * skeleton of app/wallboard/layout.py. Built to run for days on a TV untouched:
 *  - exactly one EventSource and one timer per mounted board; both are released when the page
 *    is left (Dash SPA navigation) so nothing accumulates;
 *  - DOM writes only when a value changed (no node churn when nothing happens), and a text
 *    change rewrites the existing text node in place;
 *  - at most one rendering per snapshot: the clock is written with the snapshot (the 1 s
 *    heartbeat is the board's tick) and the timer writes it only while no snapshot arrives, so
 *    a quiet board paints once a second, not twice; no CSS animations or transitions (in
 *    headless or TV rendering every animated frame costs CPU; see docs/wallboard.md, bench);
 *  - EventSource reconnects by itself after network errors; when it gives up (HTTP error, server
 *    restart) we reopen it with a capped backoff; a 401 (session gone) reloads to the login page;
 *  - a "stale data" banner appears when no snapshot arrived for STALE_MS, and goes away on the
 *    next one. */
(function () {
  "use strict";
  var STALE_MS = 4000;
  var ROTATE_MS = 15000;  // TV rotation; the page's ?rotate=<s> overrides it (data-rotate-ms)
  var PUSH_URL = "/api/push/wallboard";
  var board = null;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function get(obj, path) {
    var parts = path.split(".");
    for (var i = 0; i < parts.length && obj != null; i++) obj = obj[parts[i]];
    return obj;
  }
  function mmss(s) {
    if (s == null || s < 0) return "–";
    s = Math.floor(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
  }
  function fmt(v, kind) {
    if (v == null) return "–";
    switch (kind) {
      // halves up, with the same epsilon as dialer/wallboard/alerts.py pct(): board == alert text
      case "pct": return (Math.floor(v * 1000 + 0.5 + 1e-9) / 10).toFixed(1) + "%";
      case "secs": return mmss(v);
      case "level": return Number(v).toFixed(2);
      case "text": return String(v);
      default: return String(Math.round(v));
    }
  }
  function setText(el, text) {
    if (!el) return;
    var node = el.firstChild;
    // Rewrite the text node itself: replacing it (textContent) would rebuild its layout object.
    if (node && node.nodeType === 3 && !node.nextSibling) { if (node.data !== text) node.data = text; }
    else if (el.textContent !== text) el.textContent = text;
  }
  function setAttr(el, name, value) { if (el.getAttribute(name) !== value) el.setAttribute(name, value); }
  function setHtml(el, html) { if (el && el._wbHtml !== html) { el.innerHTML = html; el._wbHtml = html; } }
  function csrf() {
    var m = document.cookie.match(/(?:^|; )pydialer_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function Board(root) {
    this.root = root;
    this.fixed = root.getAttribute("data-campaign") || "";
    this.tv = root.getAttribute("data-tv") === "1";
    this.snapshot = null;
    this.lastAt = 0;
    this.failures = 0;
    this.es = null;
    this.reopenTimer = null;
    this.rotateMs = Number(root.getAttribute("data-rotate-ms")) || ROTATE_MS;
    this.rotateIndex = 0;
    this.rotateAt = Date.now() + this.rotateMs;
    this.lastData = null;
    this.rowSigs = null;  // per agent row: what its cells show apart from the time in state
    this.dim = false;
    this.bind();
    if (this.tv) document.body.classList.add("wb-tv");
    var self = this;
    this.onClick = function (ev) { self.click(ev); };
    root.addEventListener("click", this.onClick);
    this.open();
    this.timer = setInterval(function () { self.tick(); }, 1000);
  }
  Board.prototype.bind = function () {
    // The skeleton is static (app/wallboard/layout.py): look its nodes up once, not per snapshot.
    var root = this.root;
    function byId(id) { return document.getElementById(id); }
    this.fields = [].map.call(root.querySelectorAll("[data-key]"), function (el) {
      return { el: el, key: el.getAttribute("data-key"), fmt: el.getAttribute("data-fmt") };
    });
    this.gaugeEls = [].map.call(root.querySelectorAll("[data-gauge]"), function (el) {
      return { el: el, key: el.getAttribute("data-gauge"), fill: el.querySelector(".wb-gauge-fill") };
    });
    this.els = {
      name: byId("wallboard-campaign-name"), clock: byId("wallboard-clock"), stale: byId("wallboard-stale"),
      status: byId("wallboard-status"), paused: byId("wallboard-paused-codes"), reasons: byId("wallboard-reasons"),
      links: byId("wallboard-campaign-links"), agents: byId("wallboard-agents"), alerts: byId("wallboard-alerts"),
      strip: byId("wallboard-alert-strip"), waiting: root.querySelector(".wb-waiting"),
    };
  };
  Board.prototype.open = function () {
    var self = this;
    this.es = new EventSource(PUSH_URL);
    this.es.onmessage = function (ev) {
      self.failures = 0;
      self.lastAt = Date.now();
      if (ev.data === self.lastData) return;  // the same snapshot again (a reconnect): nothing to draw
      try { self.snapshot = JSON.parse(ev.data); } catch (e) { return; }
      self.lastData = ev.data;
      self.render();
    };
    this.es.onopen = function () { self.status("live"); };
    this.es.onerror = function () {
      self.status("reconnecting…");
      if (self.es && self.es.readyState === EventSource.CLOSED) self.reopen();
    };
  };
  Board.prototype.reopen = function () {
    var self = this;
    if (this.es) { this.es.close(); this.es = null; }
    if (this.reopenTimer) return;
    this.failures += 1;
    var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(this.failures, 5)));
    this.reopenTimer = setTimeout(function () {
      self.reopenTimer = null;
      fetch("/api/me", { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { window.location.reload(); return; }
        if (self.root.isConnected) self.open();
      }).catch(function () { if (self.root.isConnected) self.reopen(); });
    }, delay);
  };
  Board.prototype.destroy = function () {
    if (this.es) this.es.close();
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    clearInterval(this.timer);
    this.root.removeEventListener("click", this.onClick);
    document.body.classList.remove("wb-tv");
  };
  Board.prototype.status = function (text) {
    setText(this.els.status, text);
  };
  Board.prototype.clock = function () {
    setText(this.els.clock, new Date().toLocaleTimeString());
  };
  Board.prototype.tick = function () {
    var stale = this.els.stale;
    var age = Date.now() - this.lastAt;
    if (stale) {
      var isStale = !this.lastAt || age > STALE_MS;
      if (isStale) setText(stale, this.lastAt ? "STALE DATA: no update for " + Math.round(age / 1000) + " s" :
        "STALE DATA: waiting for the first update");
      if (stale.hidden !== !isStale) stale.hidden = !isStale;
      // the banner blinks with this 1 s tick (a CSS animation would draw frames continuously)
      this.dim = isStale && !this.dim;
      stale.classList.toggle("wb-dim", this.dim);
      this.root.classList.toggle("wb-is-stale", isStale);
    }
    // Snapshots arrive at least every second (the heartbeat) and write the clock themselves, in
    // the same frame as the time in state; this timer keeps it going only when they stop.
    if (age > 1500) this.clock();
    if (this.tv && !this.fixed && this.snapshot && Date.now() >= this.rotateAt) {
      this.rotateAt = Date.now() + this.rotateMs;
      this.rotateIndex += 1;
      this.render();
    }
  };
  Board.prototype.current = function () {
    var s = this.snapshot, list = s.campaigns || [];
    if (this.fixed) {
      for (var i = 0; i < list.length; i++) if (String(list[i].id) === this.fixed) return list[i];
      return null;
    }
    if (this.tv) {
      // rotate over the overview and each active campaign
      var boards = [s.overview].concat(list.filter(function (c) { return c.active; }));
      return boards[this.rotateIndex % boards.length];
    }
    return s.overview;
  };
  Board.prototype.render = function () {
    var s = this.snapshot;
    if (!s) return;
    if (this.fields.length && !this.fields[0].el.isConnected) this.bind();  // re-rendered by Dash
    this.clock();
    var c = this.current();
    if (!c) { setText(this.els.name, "campaign " + this.fixed + " (no data)"); return; }
    setText(this.els.name, c.name);
    setAttr(this.root, "data-shown", String(c.id));
    // the tiles first: they are what a call event changes, so nothing below can hold them back
    for (var i = 0; i < this.fields.length; i++) {
      var f = this.fields[i];
      setText(f.el, fmt(get(c, f.key), f.fmt));
    }
    if (this.els.waiting) this.els.waiting.classList.toggle("wb-hot", (c.calls.waiting || 0) > 0);
    this.gauges(c);
    var cid = c.id;
    this.agents((s.agents || []).filter(function (a) { return !cid || a.campaign_id === cid; }));
    this.alerts((s.alerts || []).filter(function (a) { return !cid || a.campaign_id === cid || a.campaign_id == null; }));
    this.lists(c);
    this.links(s);
  };
  Board.prototype.gauges = function (c) {
    // The colour step (ok / warn / crit) is the aggregator's (snapshot abandon.levels, the same
    // thresholds as the alerts); here only the bar's width: rate / (2 x target), target mid-track.
    var target = c.abandon.target || 0.03, levels = c.abandon.levels || {};
    for (var i = 0; i < this.gaugeEls.length; i++) {
      var g = this.gaugeEls[i], rate = get(c, g.key);
      var width = rate == null ? 0 : Math.min(100, (rate / (2 * target)) * 100);
      var level = rate == null ? "none" : (levels[g.key.split(".").pop()] || "none");
      var w = width.toFixed(1) + "%";
      if (g.fill.style.width !== w) g.fill.style.width = w;
      setAttr(g.el, "data-level", level);
    }
  };
  Board.prototype.lists = function (c) {
    var codes = c.agents.paused_by_code || {}, html = "";
    Object.keys(codes).forEach(function (k) {
      html += "<li><span>" + esc(k === "-" ? "(no code)" : k) + "</span><b>" + codes[k] + "</b></li>";
    });
    setHtml(this.els.paused, html || "<li class='wb-muted'>none</li>");
    var reasons = c.hopper.reasons || {}, rows = "";
    Object.keys(reasons).sort(function (a, b) { return reasons[b] - reasons[a]; }).forEach(function (k) {
      if (reasons[k]) rows += "<li><span>" + esc(k.replace(/_/g, " ")) + "</span><b>" + reasons[k] + "</b></li>";
    });
    setHtml(this.els.reasons, rows || "<li class='wb-muted'>–</li>");
  };
  Board.prototype.links = function (s) {
    if (this.tv) return;
    var html = "<a href='/wallboard'>All</a>";
    (s.campaigns || []).forEach(function (c) {
      html += "<a href='/wallboard/" + c.id + "'>" + esc(c.name) + "</a>";
    });
    setHtml(this.els.links, html);
  };
  function agentCells(a, tv) {
    var mon = a.call_id && !tv ? ["listen", "whisper", "barge"].map(function (m) {
      return "<button type='button' class='wb-mon' data-agent='" + a.id + "' data-mode='" + m + "'>" + m + "</button>";
    }).join("") : "";
    return "<td>" + esc(a.name) + "</td><td>" + esc(a.state) + (a.pause_code ? " <small>" + esc(a.pause_code) + "</small>" : "") +
      "</td><td class='wb-num'>" + esc(a.mmss) + "</td><td>" + esc(a.campaign) + "</td><td class='wb-num'>" +
      a.calls_today + "</td><td>" + esc(a.customer) + "</td><td>" + mon + "</td>";
  }
  Board.prototype.agents = function (agents) {
    // The time in state changes every second on every row: row by row, a row whose other cells
    // are unchanged gets only its time text (and colour) rewritten; a changed row gets new cells;
    // the table itself is never rebuilt for one agent's change (50 boards on one PC).
    var tbody = this.els.agents;
    if (!tbody) return;
    if (!agents.length) {
      if (this.rowSigs !== null || !tbody.rows.length) {
        tbody.innerHTML = "<tr><td colspan='7' class='wb-muted'>no agents logged in</td></tr>";
      }
      this.rowSigs = null;
      return;
    }
    if (this.rowSigs === null) { tbody.textContent = ""; this.rowSigs = []; }
    var tv = this.tv, rows = tbody.rows, sigs = this.rowSigs;
    for (var i = 0; i < agents.length; i++) {
      var a = agents[i];
      var sig = [a.id, a.name, a.state, a.pause_code, a.campaign, a.calls_today, a.customer, a.call_id].join("|");
      var row = rows[i] || tbody.insertRow(-1);
      if (sigs[i] !== sig) {
        row.innerHTML = agentCells(a, tv);
        setAttr(row, "data-agent-row", String(a.id));
        sigs[i] = sig;
      } else {
        setText(row.cells[2], a.mmss);
      }
      if (row.className !== a.tone) row.className = a.tone;
    }
    while (rows.length > agents.length) tbody.deleteRow(-1);
    sigs.length = agents.length;
  };
  Board.prototype.alerts = function (alerts) {
    var html = "";
    alerts.forEach(function (a) {
      html += "<li class='wb-alert wb-" + esc(a.severity) + "' data-rule='" + esc(a.rule) + "'>" + esc(a.message) + "</li>";
    });
    setHtml(this.els.alerts, html || "<li class='wb-muted'>no alerts</li>");
    var strip = alerts.filter(function (a) { return a.severity === "critical"; }).slice(0, 3);
    setHtml(this.els.strip, strip.map(function (a) {
      return "<span class='wb-alert wb-critical'>" + esc(a.message) + "</span>";
    }).join(""));
  };
  Board.prototype.click = function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button.wb-mon") : null;
    if (!btn) return;
    var input = document.getElementById("wallboard-endpoint");
    var req = { agent_id: Number(btn.getAttribute("data-agent")), mode: btn.getAttribute("data-mode"),
                endpoint: input ? input.value : "", nonce: Date.now() };
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("wallboard-monitor-request", { data: req });
    }
  };

  function scan() {
    var root = document.getElementById("wallboard-root");
    if (board && board.root !== root) { board.destroy(); board = null; }
    if (root && !board) board = new Board(root);
  }
  setInterval(scan, 500);
  document.addEventListener("DOMContentLoaded", scan);
  window.pydWallboard = { current: function () { return board; }, csrf: csrf };
})();
