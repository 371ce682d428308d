/* PyDialer live wallboard: one EventSource on /api/push/wallboard, snapshots rendered into the
 * skeleton of app/wallboard/layout.py. Built to run for days on a TV untouched:
 *  - exactly one EventSource and one timer per mounted board; both are released when the page
 *    is left (Dash SPA navigation) so nothing accumulates;
 *  - DOM writes only when a value changed (no node churn when nothing happens);
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
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
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
    if (this.tv) document.body.classList.add("wb-tv");
    var self = this;
    this.onClick = function (ev) { self.click(ev); };
    root.addEventListener("click", this.onClick);
    this.open();
    this.timer = setInterval(function () { self.tick(); }, 1000);
  }
  Board.prototype.open = function () {
    var self = this;
    this.es = new EventSource(PUSH_URL);
    this.es.onmessage = function (ev) {
      self.failures = 0;
      try { self.snapshot = JSON.parse(ev.data); } catch (e) { return; }
      self.lastAt = Date.now();
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
    setText(document.getElementById("wallboard-status"), text);
  };
  Board.prototype.tick = function () {
    var stale = document.getElementById("wallboard-stale");
    var age = Date.now() - this.lastAt;
    if (stale) {
      var isStale = !this.lastAt || age > STALE_MS;
      if (isStale) setText(stale, this.lastAt ? "STALE DATA: no update for " + Math.round(age / 1000) + " s" :
        "STALE DATA: waiting for the first update");
      if (stale.hidden !== !isStale) stale.hidden = !isStale;
      this.root.classList.toggle("wb-is-stale", isStale);
    }
    setText(document.getElementById("wallboard-clock"), new Date().toLocaleTimeString());
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
    var c = this.current();
    var name = document.getElementById("wallboard-campaign-name");
    if (!c) { setText(name, "campaign " + this.fixed + " (no data)"); return; }
    setText(name, c.name);
    this.root.setAttribute("data-shown", String(c.id));
    var nodes = this.root.querySelectorAll("[data-key]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      setText(el, fmt(get(c, el.getAttribute("data-key")), el.getAttribute("data-fmt")));
    }
    this.gauges(c);
    this.lists(c);
    this.links(s);
    var cid = c.id;
    var agents = (s.agents || []).filter(function (a) { return !cid || a.campaign_id === cid; });
    this.agents(agents);
    var alerts = (s.alerts || []).filter(function (a) { return !cid || a.campaign_id === cid || a.campaign_id == null; });
    this.alerts(alerts);
    var tiles = this.root.querySelector(".wb-waiting");
    if (tiles) tiles.classList.toggle("wb-hot", (c.calls.waiting || 0) > 0);
  };
  Board.prototype.gauges = function (c) {
    // The colour step (ok / warn / crit) is the aggregator's (snapshot abandon.levels, the same
    // thresholds as the alerts); here only the bar's width: rate / (2 x target), target mid-track.
    var target = c.abandon.target || 0.03, levels = c.abandon.levels || {};
    var nodes = this.root.querySelectorAll("[data-gauge]");
    for (var i = 0; i < nodes.length; i++) {
      var g = nodes[i], key = g.getAttribute("data-gauge"), rate = get(c, key);
      var width = rate == null ? 0 : Math.min(100, (rate / (2 * target)) * 100);
      var level = rate == null ? "none" : (levels[key.split(".").pop()] || "none");
      var fill = g.querySelector(".wb-gauge-fill");
      var w = width.toFixed(1) + "%";
      if (fill.style.width !== w) fill.style.width = w;
      if (g.getAttribute("data-level") !== level) g.setAttribute("data-level", level);
    }
  };
  Board.prototype.lists = function (c) {
    var codes = c.agents.paused_by_code || {}, html = "";
    Object.keys(codes).forEach(function (k) {
      html += "<li><span>" + esc(k === "-" ? "(no code)" : k) + "</span><b>" + codes[k] + "</b></li>";
    });
    setHtml(document.getElementById("wallboard-paused-codes"), html || "<li class='wb-muted'>none</li>");
    var reasons = c.hopper.reasons || {}, rows = "";
    Object.keys(reasons).sort(function (a, b) { return reasons[b] - reasons[a]; }).forEach(function (k) {
      if (reasons[k]) rows += "<li><span>" + esc(k.replace(/_/g, " ")) + "</span><b>" + reasons[k] + "</b></li>";
    });
    setHtml(document.getElementById("wallboard-reasons"), rows || "<li class='wb-muted'>–</li>");
  };
  Board.prototype.links = function (s) {
    if (this.tv) return;
    var html = "<a href='/wallboard'>All</a>";
    (s.campaigns || []).forEach(function (c) {
      html += "<a href='/wallboard/" + c.id + "'>" + esc(c.name) + "</a>";
    });
    setHtml(document.getElementById("wallboard-campaign-links"), html);
  };
  Board.prototype.agents = function (agents) {
    // Time in state changes every second for every row: when only that (and the row colour)
    // changed, patch those two things instead of rebuilding the table (50 boards on one PC).
    var tbody = document.getElementById("wallboard-agents");
    if (!tbody) return;
    var tv = this.tv;
    var sig = agents.map(function (a) {
      return [a.id, a.name, a.state, a.pause_code, a.campaign, a.calls_today, a.customer, a.call_id].join("|");
    }).join("\n") + (tv ? "tv" : "");
    if (sig === this.agentSig && tbody.rows.length === agents.length) {
      for (var i = 0; i < agents.length; i++) {
        var row = tbody.rows[i];
        if (row.className !== agents[i].tone) row.className = agents[i].tone;
        setText(row.cells[2], agents[i].mmss);
      }
      return;
    }
    this.agentSig = sig;
    var html = "";
    agents.forEach(function (a) {
      var mon = a.call_id && !tv ? ["listen", "whisper", "barge"].map(function (m) {
        return "<button type='button' class='wb-mon' data-agent='" + a.id + "' data-mode='" + m + "'>" + m + "</button>";
      }).join("") : "";
      html += "<tr class='" + esc(a.tone) + "' data-agent-row='" + a.id + "'><td>" + esc(a.name) + "</td><td>" +
        esc(a.state) + (a.pause_code ? " <small>" + esc(a.pause_code) + "</small>" : "") + "</td><td class='wb-num'>" +
        esc(a.mmss) + "</td><td>" + esc(a.campaign) + "</td><td class='wb-num'>" + a.calls_today + "</td><td>" +
        esc(a.customer) + "</td><td>" + mon + "</td></tr>";
    });
    tbody.innerHTML = html || "<tr><td colspan='7' class='wb-muted'>no agents logged in</td></tr>";
    if (!agents.length) this.agentSig = null;
  };
  Board.prototype.alerts = function (alerts) {
    var html = "";
    alerts.forEach(function (a) {
      html += "<li class='wb-alert wb-" + esc(a.severity) + "' data-rule='" + esc(a.rule) + "'>" + esc(a.message) + "</li>";
    });
    setHtml(document.getElementById("wallboard-alerts"), html || "<li class='wb-muted'>no alerts</li>");
    var strip = alerts.filter(function (a) { return a.severity === "critical"; }).slice(0, 3);
    setHtml(document.getElementById("wallboard-alert-strip"), strip.map(function (a) {
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
