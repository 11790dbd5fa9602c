// Portcullis live dashboard: polls /api/dashboard and draws services, SVG charts and reloads.
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 300;
  const H = 80;
  const TOKEN_KEY = "portcullis-admin-token";
  const CHARTS = [
    { id: "rps", title: "Requests/s", series: [{ key: "rps", label: "req/s" }] },
    {
      id: "latency", title: "Latency", unit: " ms",
      series: [{ key: "p50_ms", label: "p50" }, { key: "p99_ms", label: "p99" }],
    },
    {
      id: "errors", title: "Errors/s",
      series: [{ key: "errors_per_s", label: "5xx" }, { key: "limited_per_s", label: "429" }],
    },
    {
      id: "cache", title: "Cache hit ratio", max: 1,
      series: [{ key: "cache_hit_ratio", label: "hits" }],
    },
  ];
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let polls = 0;
  const cards = new Map();
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs = {}, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs = {}) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }

  function fmt(v, unit = "") {
    if (v === null || v === undefined) return "–";
    const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
    return v.toFixed(digits) + unit;
  }

  // The smallest 1, 2 or 5 times a power of ten at or above v.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function setConn(state, text) {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = text;
  }

  function makeChart(def) {
    const fig = el("figure", { class: "chart", "data-chart": def.id, "data-last": "", "data-peak": "0" });
    const cap = el("figcaption");
    cap.append(el("span", { class: "title" }, def.title));
    def.series.forEach((s, i) => {
      const key = el("span", { class: "key" + (i + 1), "data-key": s.key });
      cap.append(key);
    });
    const plot = el("div", { class: "plot" });
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
    root.append(svg("line", { class: "grid", x1: 0, x2: W, y1: H / 2, y2: H / 2, "vector-effect": "non-scaling-stroke" }));
    def.series.forEach((s, i) => {
      root.append(svg("path", { class: "line s" + (i + 1), "data-key": s.key, "vector-effect": "non-scaling-stroke" }));
    });
    plot.append(root, el("span", { class: "scale" }));
    fig.append(cap, plot);
    return fig;
  }

  function makeCard(name) {
    const card = el("article", { class: "service", "data-service": name });
    const head = el("header");
    head.append(
      el("h2", {}, name),
      el("span", { class: "badge breaker" }),
      el("span", { class: "muted inflight" }),
      el("span", { class: "muted lb" }),
    );
    const table = el("table", { class: "endpoints" });
    const hr = el("tr");
    for (const h of ["Endpoint", "Health", "Ejection", "Breaker", "In flight", "In rotation"]) hr.append(el("th", {}, h));
    table.append(el("thead"), el("tbody"));
    table.tHead.append(hr);
    const charts = el("div", { class: "charts" });
    for (const def of CHARTS) charts.append(makeChart(def));
    card.append(head, el("p", { class: "routes" }), table, charts);
    return card;
  }

  function breakerText(b) {
    if (!b) return ["none", "no breaker", "muted"];
    const cls = b.state === "open" ? "bad" : b.state === "half_open" ? "warn" : "good";
    const extra = b.open_for_ms ? ` (${Math.ceil(b.open_for_ms / 1000)} s)` : "";
    return [b.state, "breaker " + b.state.replace("_", "-") + extra, cls];
  }

  function cell(text, cls) {
    return el("td", cls ? { class: cls } : {}, text);
  }

  function drawChart(fig, def, series, now, windowMs) {
    const t = series.t || [];
    let peak = 0;
    for (const s of def.series) for (const v of series[s.key] || []) if (v !== null && v > peak) peak = v;
    const max = def.max || niceMax(peak);
    fig.querySelector(".scale").textContent = fmt(max, def.unit || "");
    const x = (ts) => W - ((now - ts) / windowMs) * W;
    const y = (v) => H - (Math.min(v, max) / max) * (H - 2) - 1;
    def.series.forEach((s, i) => {
      const vals = series[s.key] || [];
      let d = "";
      let pen = "M";
      vals.forEach((v, j) => {
        if (v === null) { pen = "M"; return; }
        d += `${pen}${x(t[j]).toFixed(1)},${y(v).toFixed(1)} `;
        pen = "L";
      });
      fig.querySelector(`path[data-key="${s.key}"]`).setAttribute("d", d.trim());
      const last = vals.length ? vals[vals.length - 1] : null;
      fig.querySelector(`span[data-key="${s.key}"]`).textContent = `${s.label} ${fmt(last, def.unit || "")}`;
      if (i === 0) fig.dataset.last = last === null ? "" : String(last);
    });
    fig.dataset.peak = String(peak);
    return peak;
  }

  function renderService(card, s, now, windowMs) {
    const [state, text, cls] = breakerText(s.breaker);
    card.dataset.breaker = state;
    const badge = card.querySelector(".breaker");
    badge.textContent = text;
    badge.className = "badge breaker " + cls;
    badge.dataset.breaker = state;
    card.querySelector(".inflight").textContent = `in flight ${s.in_flight}`;
    card.querySelector(".lb").textContent = s.load_balancing.replace("_", " ");
    card.querySelector(".routes").textContent = "routes: " + (s.routes.join(", ") || "none");
    const body = card.querySelector("tbody");
    body.replaceChildren();
    let degraded = false;
    for (const e of s.endpoints) {
      const [eb, ebText, ebCls] = breakerText(e.breaker);
      degraded ||= !e.in_rotation;
      const row = el("tr", {
        "data-endpoint": e.url, "data-healthy": e.healthy, "data-ejected": e.ejected,
        "data-breaker": eb, "data-in-rotation": e.in_rotation,
      });
      const ejected = e.ejected ? `ejected (${Math.ceil((e.ejected_for_ms || 0) / 1000)} s)` : `in (${e.ejections} so far)`;
      row.append(
        cell(e.discovered_from ? `${e.url} (from ${e.discovered_from})` : e.url, "url"),
        cell(e.healthy ? "healthy" : "unhealthy", e.healthy ? "good" : "bad"),
        cell(ejected, e.ejected ? "bad" : ""),
        cell(e.breaker ? ebText : "–", e.breaker ? ebCls : "muted"),
        cell(String(e.in_flight)),
        cell(e.in_rotation ? "yes" : "no", e.in_rotation ? "good" : "bad"),
      );
      body.append(row);
    }
    card.dataset.degraded = String(degraded);
    CHARTS.forEach((def) => {
      const fig = card.querySelector(`figure[data-chart="${def.id}"]`);
      const peak = drawChart(fig, def, s.series, now, windowMs);
      if (def.id === "rps") {
        card.dataset.lastRps = fig.dataset.last || "0";
        card.dataset.peakRps = String(peak);
      }
    });
  }

  function renderReloads(reloads) {
    const body = $("reloads-body");
    body.replaceChildren();
    for (const r of reloads) {
      const row = el("tr", { "data-result": r.result });
      const details = r.errors.length ? r.errors.join("\n")
        : r.restart_required.length ? "restart required for: " + r.restart_required.join(", ") : "";
      const pre = el("pre", {}, details);
      const td = el("td");
      td.append(pre);
      row.append(
        cell(new Date(r.at * 1000).toLocaleString()),
        cell(r.result, r.result === "ok" ? "good" : "bad"),
        td,
      );
      body.append(row);
    }
    $("no-reloads").hidden = reloads.length > 0;
  }

  function render(data) {
    // The time axis spans the data seen so far: at least a minute, at most the whole ring.
    const now = data.generated_at;
    const oldest = Math.min(now, ...data.services.map((s) => (s.series.t.length ? s.series.t[0] : now)));
    const windowMs = Math.min(data.capacity * data.interval_ms, Math.max(60000, now - oldest));
    const seen = new Set();
    const list = $("services");
    for (const s of data.services) {
      seen.add(s.name);
      let card = cards.get(s.name);
      if (!card) {
        card = makeCard(s.name);
        cards.set(s.name, card);
      }
      list.append(card); // keeps the config's order
      renderService(card, s, now, windowMs);
    }
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        card.remove();
        cards.delete(name);
      }
    }
    renderReloads(data.reloads);
    const up = data.uptime_seconds;
    $("meta").textContent = `v${data.version} · config generation ${data.generation} · up ${Math.floor(up / 3600)}h ${Math.floor(up / 60) % 60}m ${up % 60}s`;
    document.body.dataset.generation = data.generation;
    document.body.dataset.polls = String(++polls);
  }

  async function poll() {
    let next = 1000;
    try {
      const headers = token ? { Authorization: "Bearer " + token } : {};
      const resp = await fetch("/api/dashboard", { headers, cache: "no-store" });
      if (resp.status === 401) {
        $("token-form").hidden = false;
        setConn("token", "admin token required");
      } else if (!resp.ok) {
        setConn("error", `error: HTTP ${resp.status}`);
      } else {
        const data = await resp.json();
        render(data);
        next = data.interval_ms;
        setConn("ok", "live · " + new Date(data.generated_at).toLocaleTimeString());
      }
    } catch (e) {
      setConn("error", "gateway unreachable");
    }
    setTimeout(poll, next);
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-form").hidden = true;
  });
  poll();
})();
