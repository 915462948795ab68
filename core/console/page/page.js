"use strict";
// The console page: polls /api/v1/overview once a second (never more) and
// draws tables and per-destination traffic graphs. Every value from the
// API goes into the page as text (textContent), never as markup.
(function () {
  const HISTORY = 300; // samples kept per destination, one a second
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("gatehouse-admin-token") || "";
  const series = new Map(); // "gw\u0000name" -> [[in, out], ...]
  const sortState = {}; // table id -> {k, dir}
  let last = null;
  let polling = false;

  function headers() {
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function units(v, suffix) {
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + u[i] + (suffix || "");
  }

  function dur(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d" + String(Math.floor(s / 3600) % 24).padStart(2, "0") + "h";
  }

  function utc(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  // cells: [text, sortValue, className]
  function fill(id, rows, empty) {
    const tb = $(id).tBodies[0];
    const f = $("filter").value.trim().toLowerCase();
    let shown = rows.filter((r) => !f || r.cells.some((c) => String(c[0]).toLowerCase().includes(f)));
    const st = sortState[id];
    if (st) {
      const ths = [...$(id).tHead.rows[0].cells];
      const i = ths.findIndex((th) => th.dataset.k === st.k);
      const num = i >= 0 && ths[i].dataset.n;
      shown = shown.slice().sort((a, b) => {
        const x = a.cells[i][1], y = b.cells[i][1];
        const c = num ? (x - y) : String(x).localeCompare(String(y));
        return st.dir * c;
      });
    }
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const tr = document.createElement("tr");
      if (r.key) tr.dataset.key = r.key;
      for (const c of r.cells) {
        const td = document.createElement("td");
        if (c[3]) td.appendChild(c[3]); else td.textContent = c[0];
        if (c[2]) td.className = c[2];
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    if (!shown.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = $(id).tHead.rows[0].cells.length;
      td.textContent = rows.length ? "nothing matches the filter" : empty;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    tb.replaceChildren(frag);
    const n = $(id + "-count");
    if (n) n.textContent = shown.length === rows.length ? "(" + rows.length + ")"
      : "(" + shown.length + " of " + rows.length + ")";
  }

  function graph(key) {
    const pts = series.get(key) || [];
    const cv = document.createElement("canvas");
    cv.className = "graph";
    cv.width = 180; cv.height = 36;
    cv.dataset.samples = String(pts.length);
    const lastPt = pts.length ? pts[pts.length - 1] : [0, 0];
    cv.dataset.lastIn = String(lastPt[0]);
    cv.dataset.lastOut = String(lastPt[1]);
    cv.dataset.sum = String(pts.reduce((a, p) => a + p[0] + p[1], 0));
    cv.title = "in " + units(lastPt[0], "/s") + ", out " + units(lastPt[1], "/s");
    const g = cv.getContext("2d");
    const max = Math.max(1, ...pts.map((p) => Math.max(p[0], p[1])));
    // the last minute fills the width until there are more samples
    const dx = cv.width / (Math.max(60, pts.length) - 1);
    const x0 = cv.width - (pts.length - 1) * dx;
    [[0, getComputedStyle(document.documentElement).getPropertyValue("--in") || "#1565c0"],
     [1, getComputedStyle(document.documentElement).getPropertyValue("--out") || "#ef6c00"]].forEach(([j, color]) => {
      g.strokeStyle = color.trim();
      g.lineWidth = 1.5;
      g.beginPath();
      pts.forEach((p, i) => {
        const x = x0 + i * dx, y = cv.height - 2 - (p[j] / max) * (cv.height - 4);
        if (i) g.lineTo(x, y); else g.moveTo(x, y);
      });
      g.stroke();
    });
    return cv;
  }

  function render(o) {
    last = o;
    const client = o.role === "client";
    $("role").textContent = o.role;
    $("meta").textContent = "version " + o.version + " · API v" + o.api + " · " + utc(o.time_ms) + " UTC";
    document.title = "gatehouse " + o.role;
    const tun = [], conns = [];
    for (const gw of o.gateways) {
      for (const t of gw.tunnels)
        tun.push({ cells: [[gw.id, gw.id], [t.name || "-", t.name || ""], [t.peer, t.peer], [t.state, t.state, "up"],
          [t.tls_version || "-", t.tls_version || ""], [t.cipher || "-", t.cipher || ""],
          [dur(t.up_s), t.up_s, "n"], [String(t.streams), t.streams, "n"], [t.rtt_ms + " ms", t.rtt_ms, "n"],
          [units(t.bytes_sent || 0), t.bytes_sent || 0, "n"], [units(t.bytes_received || 0), t.bytes_received || 0, "n"]] });
      for (const c of gw.connections || [])
        conns.push({ cells: [[gw.id, gw.id], [c.server, c.server], [c.state, c.state, c.state === "up" ? "up" : "down"],
          [String(c.attempts), c.attempts, "n"],
          [c.next_retry_ms == null ? "-" : (c.next_retry_ms / 1000).toFixed(1) + " s", c.next_retry_ms || 0, "n"],
          [String(gw.reconnects), gw.reconnects, "n"]] });
    }
    fill("tunnels", tun, "no tunnel is up");
    const acl = [];
    let aclFile = "";
    for (const gw of o.gateways) {
      if (!gw.acl) continue;
      aclFile = gw.acl.file || "";
      for (const r of gw.acl.rules)
        acl.push({ cells: [[gw.id, gw.id], [String(r.line), r.line, "n"], [r.action, r.action, r.action === "allow" ? "up" : "down"],
          [r.target, r.target], [String(r.hits), r.hits, "n"]] });
      acl.push({ cells: [[gw.id, gw.id], ["-", 1e9, "n"], ["deny", "deny", "down"], ["(no rule matched)", "~"],
        [String(gw.acl.no_match_hits), gw.acl.no_match_hits, "n"]] });
    }
    $("acl-section").hidden = !client;
    $("acl-file").textContent = aclFile;
    if (client) fill("acl", acl, "no [acl]: everything is denied");
    $("conns-section").hidden = !client;
    if (client) fill("conns", conns, "no connection");
    const dests = o.destinations.map((d) => {
      const key = d.gateway + "\u0000" + d.name;
      const r = d.rate || { opens: 0, refusals: 0, bytes_in: 0, bytes_out: 0 };
      const chains = (d.chains.listen || "?") + " → " + (d.chains.resource || "?");
      const state = d.state === "up" ? "up" : "down: " + (d.reason || "");
      return { key, cells: [[d.name, d.name], [d.gateway, d.gateway], [d.type, d.type], [d.listen, d.listen],
        [d.resource, d.resource], [chains, chains], [state, state, d.state === "up" ? "up" : "down msg"],
        [String(d.streams), d.streams, "n"], [String(r.opens), r.opens, "n"], [String(r.refusals), r.refusals, "n"],
        [units(r.bytes_in, "/s"), r.bytes_in, "n"], [units(r.bytes_out, "/s"), r.bytes_out, "n"],
        ["", 0, "", graph(key)]] };
    });
    fill("dests", dests, "no destination");
    const ev = o.events.map((e) => ({ cells: [[utc(e.time_ms), e.time_ms], [e.kind, e.kind],
      [e.subject, e.subject], [e.message, e.message, "msg"]] }));
    fill("events", ev, "no event yet");
    $("refusals-section").hidden = !client;
    if (client)
      fill("refusals", o.events.filter((e) => e.kind === "refused").map((e) => ({ cells: [
        [utc(e.time_ms), e.time_ms], [e.subject, e.subject], [e.message, e.message, "msg"]] })), "no refusal");
    const down = o.destinations.filter((d) => d.state !== "up").length;
    const s = $("state");
    s.textContent = down ? down + " destination(s) down" : "all up";
    s.className = "pill " + (down ? "bad" : "ok");
  }

  function addSamples(o) {
    const seen = new Set();
    for (const d of o.destinations) {
      const key = d.gateway + "\u0000" + d.name;
      seen.add(key);
      if (!d.rate) continue;
      const pts = series.get(key) || [];
      pts.push([d.rate.bytes_in, d.rate.bytes_out]);
      while (pts.length > HISTORY) pts.shift();
      series.set(key, pts);
    }
    for (const k of [...series.keys()]) if (!seen.has(k)) series.delete(k);
  }

  async function get(path) {
    const r = await fetch(path, { headers: headers(), cache: "no-store" });
    if (r.status === 401) {
      $("auth").hidden = false;
      throw new Error("the admin token is needed");
    }
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    $("auth").hidden = true;
    return r.json();
  }

  async function loadHistory() {
    const h = await get("/api/v1/history");
    for (const d of h.destinations)
      series.set(d.gateway + "\u0000" + d.name, d.samples.map((s) => [s[2], s[3]]));
  }

  let lastSampleMs = 0;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const o = await get("/api/v1/overview");
      // one graph point per second of the server's clock
      if (o.time_ms - lastSampleMs >= 900) { addSamples(o); lastSampleMs = o.time_ms; }
      render(o);
    } catch (e) {
      const s = $("state");
      s.textContent = "unreachable: " + e.message;
      s.className = "pill bad";
    } finally {
      polling = false;
    }
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    for (const th of table.tHead.rows[0].cells) {
      if (!th.dataset.k) continue;
      th.addEventListener("click", () => {
        const st = sortState[table.id];
        const dir = st && st.k === th.dataset.k ? -st.dir : 1;
        sortState[table.id] = { k: th.dataset.k, dir };
        for (const o of table.tHead.rows[0].cells) o.classList.remove("asc", "desc");
        th.classList.add(dir > 0 ? "asc" : "desc");
        if (last) render(last);
      });
    }
  }
  $("filter").addEventListener("input", () => { if (last) render(last); });
  // column headings stay in view below the header while a long table scrolls
  const hdr = () => document.documentElement.style.setProperty(
    "--hdr", document.querySelector("header").offsetHeight + "px");
  window.addEventListener("resize", hdr);
  hdr();
  $("authform").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("gatehouse-admin-token", token);
    $("token").value = "";
    start();
  });

  let timer = null;
  async function start() {
    try { await loadHistory(); } catch (e) { /* shown by poll */ }
    await poll();
    if (!timer) timer = setInterval(() => { if (!document.hidden) poll(); }, 1000);
  }
  start();
})();
