// The time machine page: replays (list, create, delete); search.js is the
// search view. Talks to the REST gateway; no framework, no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
};

// request sends one API call with the tab's token (web/page's token.js); a
// refusal throws the API's message.
async function request(method, path, body) {
  const resp = await hindsightToken.fetch(path, {
    method, headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!resp.ok) {
    const data = await resp.json().catch(() => ({}));
    throw new Error(data.message || `${resp.status} ${resp.statusText}`);
  }
  return resp;
}

async function api(method, path, body) {
  return (await request(method, path, body)).json().catch(() => ({}));
}

// datetime-local inputs hold UTC wall time; the API takes RFC 3339.
const toInput = (iso) => (iso ? iso.slice(0, 19) : "");
const fromInput = (v) => (v ? (v.length === 16 ? v + ":00" : v) + "Z" : undefined);
const fmtTime = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d{3})\d*Z$/, "$1").replace(/Z$/, "") : "");
const fmtNum = (n) => Number(n || 0).toLocaleString("en-US");
const fmtBytes = (n) => {
  n = Number(n || 0);
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
};
const seconds = (d) => (d ? parseFloat(d) : 0);
const fmtDuration = (s) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);

// ---------------------------------------------------------------- replays

function replayBody() {
  const f = $("#create-form");
  const body = {
    name: f.name.value.trim(),
    datasets: f.datasets.value.split(/[\s,]+/).filter(Boolean),
    from: fromInput(f.from.value),
    to: fromInput(f.to.value),
    query: f.query.value.trim(),
    target: { kind: f.target.value },
    source: { kind: f.source.value },
  };
  if (f.maxEvents.value) body.maxEvents = String(f.maxEvents.value);
  return body;
}

function say(node, text, error) {
  node.textContent = text;
  node.classList.toggle("error", !!error);
}

async function estimate() {
  try {
    const body = replayBody();
    if (!body.name) body.name = "estimate";
    const e = await api("POST", "/v1/replays:estimate", body);
    const events = Number(e.events) < 0 ? "unknown number of" : fmtNum(e.events);
    say($("#create-msg"), `Would read ${fmtNum(e.files)} files (${fmtBytes(e.bytes)}), ${events} events.`);
  } catch (err) {
    say($("#create-msg"), err.message, true);
  }
}

async function create(ev) {
  ev.preventDefault();
  try {
    const r = await api("POST", "/v1/replays", replayBody());
    const events = Number(r.estimate.events) < 0 ? "" : `, up to ${fmtNum(r.estimate.events)} events`;
    say($("#create-msg"), `Replay ${r.name} created: ${fmtNum(r.estimate.files)} files (${fmtBytes(r.estimate.bytes)})${events}.`);
    refreshReplays();
  } catch (err) {
    say($("#create-msg"), err.message, true);
  }
}

function progressCell(r) {
  const p = r.progress || {};
  const total = Number(p.bytesTotal) || Number(p.filesTotal);
  const done = Number(p.bytesTotal) ? Number(p.bytesDone) : Number(p.filesDone);
  const ready = r.state === "STATE_READY";
  const pct = ready ? 100 : total ? Math.min(100, (100 * done) / total) : 0;
  const bar = el("div", { class: "bar", title: `${pct.toFixed(0)}%` }, el("div", { style: `width:${pct}%` }));
  let detail = `${fmtNum(p.filesDone)}/${fmtNum(p.filesTotal)} files · ${fmtBytes(p.bytesDone)}`;
  if (r.state === "STATE_LOADING") {
    detail += ` · ${fmtNum(Math.round(p.eventsPerSecond || 0))}/s`;
    if (p.eta) detail += ` · ${fmtDuration(seconds(p.eta))} left`;
  }
  const cell = el("td", {}, bar, el("div", { class: "small" }, detail));
  for (const e of p.errors || []) cell.append(el("div", { class: "small msg error" }, e));
  return cell;
}

function deleteButton(name) {
  const b = el("button", { class: "danger", "data-replay": name }, "Delete");
  b.addEventListener("click", async () => {
    if (b.dataset.armed !== "1") {
      b.dataset.armed = "1";
      b.textContent = "Really delete?";
      return;
    }
    b.disabled = true;
    try {
      await api("DELETE", `/v1/replays/${encodeURIComponent(name)}`);
    } catch (err) {
      say($("#create-msg"), err.message, true);
    }
    refreshReplays();
  });
  return b;
}

async function refreshReplays() {
  let list;
  try {
    list = (await api("GET", "/v1/replays")).replays || [];
  } catch (err) {
    say($("#create-msg"), `Listing replays: ${err.message}`, true);
    return;
  }
  const tbody = $("#replays tbody");
  tbody.replaceChildren(
    ...list.map((r) =>
      el("tr", { "data-replay": r.name, "data-state": r.state },
        el("td", {}, el("a", { href: r.searchUrl, class: "open" }, r.name), el("div", { class: "small" }, r.query || "")),
        el("td", {}, (r.datasets || []).join(", ")),
        el("td", { class: "small" }, `${fmtTime(r.from)} → ${fmtTime(r.to)}`),
        el("td", {}, el("span", { class: `state ${r.state}` }, r.state.replace("STATE_", "").toLowerCase())),
        progressCell(r),
        el("td", { class: "events" }, fmtNum(r.progress?.eventsLoaded),
          el("div", { class: "small" }, Number(r.maxEvents) ? `cap ${fmtNum(r.maxEvents)}` : ""),
          el("div", { class: "small", title: r.target?.address || "" }, (r.target?.kind || "").replace("KIND_", "").toLowerCase().replaceAll("_", " ")),
          r.target?.kind === "KIND_OPENSEARCH_CONTAINER" && r.target?.address ? el("div", { class: "small" }, r.target.address) : ""),
        el("td", {}, r.creator || ""),
        el("td", { class: "small" }, fmtTime(r.expireTime)),
        el("td", {}, deleteButton(r.name)))));
  $("#replays-empty").hidden = list.length > 0;
}

// ---------------------------------------------------------------- start

async function start() {
  const onSearch = location.pathname.startsWith("/search");
  $("#replays-view").hidden = onSearch;
  $("#search-view").hidden = !onSearch;
  if (!onSearch) {
    $("#nav-replays").classList.add("active");
    const now = new Date();
    const dayAgo = new Date(now - 24 * 3600 * 1000);
    $("#c-from").value = toInput(dayAgo.toISOString());
    $("#c-to").value = toInput(now.toISOString());
    $("#estimate").addEventListener("click", estimate);
    $("#create-form").addEventListener("submit", create);
    refreshReplays();
    setInterval(refreshReplays, 2000);
    return;
  }
  startSearch();
}

start();
