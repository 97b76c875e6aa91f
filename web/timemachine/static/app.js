// The time machine page: replays (list, create, delete) and search (a replay
// or live data). Talks to the REST gateway; no framework, no build step.
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

// The user names themselves once; the gateway passes it on as the creator.
const userInput = $("#user");
userInput.value = localStorage.getItem("hindsight.user") || "";
userInput.addEventListener("change", () => localStorage.setItem("hindsight.user", userInput.value.trim()));

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const user = userInput.value.trim();
  if (user) headers["Grpc-Metadata-X-Hindsight-User"] = user;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.message || `${resp.status} ${resp.statusText}`);
  return data;
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

// ---------------------------------------------------------------- search

const search = { tokens: [""], page: 0 };

async function fillReplayChoices(selected) {
  const sel = $("#s-replay");
  try {
    const list = (await api("GET", "/v1/replays")).replays || [];
    for (const r of list) sel.append(el("option", { value: r.name }, `replay ${r.name}`));
  } catch (err) {
    say($("#search-msg"), `Listing replays: ${err.message}`, true);
  }
  if (selected && ![...sel.options].some((o) => o.value === selected)) sel.append(el("option", { value: selected }, `replay ${selected}`));
  sel.value = selected || "";
}

function searchURL() {
  const q = new URLSearchParams();
  q.set("q", $("#s-query").value);
  if ($("#s-from").value) q.set("from", fromInput($("#s-from").value));
  if ($("#s-to").value) q.set("to", fromInput($("#s-to").value));
  if ($("#s-replay").value) q.set("replay", $("#s-replay").value);
  if ($("#s-sort").value === "SORT_OLDEST_FIRST") q.set("sort", "oldest");
  return `/search?${q}`;
}

async function runSearch() {
  history.replaceState(null, "", searchURL());
  const body = {
    replay: $("#s-replay").value,
    query: $("#s-query").value,
    from: fromInput($("#s-from").value),
    to: fromInput($("#s-to").value),
    pageSize: 50,
    pageToken: search.tokens[search.page],
    sort: $("#s-sort").value,
  };
  say($("#search-msg"), "Searching…");
  let resp;
  try {
    resp = await api("POST", "/v1/search", body);
  } catch (err) {
    say($("#search-msg"), err.message, true);
    return;
  }
  say($("#search-msg"), "");
  const total = Number(resp.total);
  $("#total").textContent = `${fmtNum(total)} events`;
  $("#took").textContent = `in ${Math.round(seconds(resp.took) * 1000)} ms`;
  drawHistogram(resp.histogram || []);
  drawEvents(resp.events || []);
  if (resp.nextPageToken) search.tokens[search.page + 1] = resp.nextPageToken;
  $("#next").disabled = !resp.nextPageToken;
  $("#prev").disabled = search.page === 0;
  const first = search.page * 50 + 1;
  $("#page").textContent = total ? `${fmtNum(first)}–${fmtNum(first + (resp.events || []).length - 1)} of ${fmtNum(total)}` : "";
}

function drawHistogram(buckets) {
  const svg = $("#histogram");
  const w = svg.clientWidth || 800, h = 90;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  if (!buckets.length) return;
  const max = Math.max(1, ...buckets.map((b) => Number(b.count)));
  const bw = w / buckets.length;
  buckets.forEach((b, i) => {
    const c = Number(b.count);
    const bh = c ? Math.max(2, ((h - 4) * c) / max) : 0;
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    r.setAttribute("x", i * bw + 1);
    r.setAttribute("y", h - bh);
    r.setAttribute("width", Math.max(1, bw - 2));
    r.setAttribute("height", bh);
    r.setAttribute("data-count", c);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${fmtTime(b.start)}: ${fmtNum(c)} events`;
    r.append(title);
    // A bar zooms the search to its bucket.
    r.addEventListener("click", () => {
      const end = buckets[i + 1]?.start || fromInput($("#s-to").value);
      $("#s-from").value = toInput(b.start);
      if (end) $("#s-to").value = toInput(end);
      search.tokens = [""];
      search.page = 0;
      runSearch();
    });
    svg.append(r);
  });
  $("#h-from").textContent = fmtTime(buckets[0].start);
  $("#h-to").textContent = fmtTime(buckets[buckets.length - 1].start);
}

// flatten lists every field of an event as dotted names.
function flatten(obj, prefix = "", out = []) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out.push([key, Array.isArray(v) ? v.join(", ") : String(v)]);
  }
  return out;
}

function drawEvents(events) {
  const tbody = $("#events tbody");
  tbody.replaceChildren();
  for (const e of events) {
    const row = el("tr", { class: "event", "data-id": e.id },
      el("td", { class: "small" }, fmtTime(e.timestamp)),
      el("td", {}, e.dataset),
      el("td", { class: `level-${e.level}` }, e.level),
      el("td", {}, e.service),
      el("td", { class: "msg-cell" }, e.message));
    const { fields, ...rest } = e;
    const dl = el("dl");
    for (const [k, v] of [...flatten(rest), ...flatten(fields)]) dl.append(el("dt", {}, k), el("dd", {}, v));
    const detail = el("tr", { class: "fields", hidden: "" }, el("td", { colspan: 5, class: "fields" }, dl));
    row.addEventListener("click", () => { detail.hidden = !detail.hidden; });
    tbody.append(row, detail);
  }
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
  const params = new URLSearchParams(location.search);
  if (!params.get("replay")) $("#nav-live").classList.add("active");
  $("#s-query").value = params.get("q") || "";
  $("#s-from").value = toInput(params.get("from"));
  $("#s-to").value = toInput(params.get("to"));
  if (params.get("sort") === "oldest") $("#s-sort").value = "SORT_OLDEST_FIRST";
  await fillReplayChoices(params.get("replay"));
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search.tokens = [""];
    search.page = 0;
    runSearch();
  });
  $("#next").addEventListener("click", () => { search.page++; runSearch(); });
  $("#prev").addEventListener("click", () => { search.page = Math.max(0, search.page - 1); runSearch(); });
  runSearch();
}

start();
