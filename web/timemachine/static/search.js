// The search view (/search): a replay or live data, Discover-style. The URL
// holds the whole view (q, range or from/to, replay, sort, cols, follow), so
// a link reproduces it. Uses app.js's helpers ($, el, api, request, fmt*);
// loaded before it, it runs nothing until app.js calls startSearch.
"use strict";

const PAGE = 50;
const RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3 };
const DEFAULT_COLS = ["data_stream.dataset", "log.level", "service.name", "message"];

const view = {
  tokens: [""], page: 0, cols: DEFAULT_COLS.slice(), follow: "", correlation: [],
  tail: null, tailSeen: new Set(), tailed: 0, events: [],
};

// ecs flattens an API event into its ECS field names, as the index holds
// them (what queries, field stats and export name).
function ecs(e) {
  const out = {};
  const put = (k, v) => { if (v !== undefined && v !== null && v !== "") out[k] = v; };
  put("@timestamp", e.timestamp);
  put("event.id", e.id);
  put("event.ingested", e.ingested);
  put("data_stream.dataset", e.dataset);
  put("log.level", e.level);
  put("service.name", e.service);
  put("message", e.message);
  put("host.name", e.source?.host);
  put("log.file.path", e.source?.filePath);
  put("log.offset", e.source?.offset);
  for (const [k, v] of Object.entries(e.labels || {})) put(`labels.${k}`, v);
  if (e.tags?.length) put("tags", e.tags.join(", "));
  for (const [k, v] of flatten(e.fields)) put(k, v);
  return out;
}

// flatten lists an object's leaves as dotted names.
function flatten(obj, prefix = "", out = []) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out.push([key, Array.isArray(v) ? v.join(", ") : String(v)]);
  }
  return out;
}

// quote writes a value as one query term.
const quote = (v) => `"${String(v).replace(/(["\\])/g, "\\$1")}"`;

// ---------------------------------------------------------------- range

// range is the search's [from, to): a relative range ends now.
function range() {
  const rel = $("#s-range").value;
  if (rel && RANGES[rel]) {
    const to = new Date();
    return { from: new Date(to - RANGES[rel]).toISOString(), to: to.toISOString() };
  }
  return { from: fromInput($("#s-from").value), to: fromInput($("#s-to").value) };
}

function setAbsolute(from, to) {
  $("#s-range").value = "";
  $("#s-from").value = toInput(from);
  $("#s-to").value = toInput(to);
  showRangeInputs();
}

function showRangeInputs() {
  const abs = !$("#s-range").value;
  for (const id of ["#s-from", "#s-to"]) $(id).closest("label").hidden = !abs;
}

// ---------------------------------------------------------------- URL

function searchURL() {
  const q = new URLSearchParams();
  if ($("#s-query").value) q.set("q", $("#s-query").value);
  if ($("#s-range").value) q.set("range", $("#s-range").value);
  else {
    if ($("#s-from").value) q.set("from", fromInput($("#s-from").value));
    if ($("#s-to").value) q.set("to", fromInput($("#s-to").value));
  }
  if ($("#s-replay").value) q.set("replay", $("#s-replay").value);
  if ($("#s-sort").value === "SORT_OLDEST_FIRST") q.set("sort", "oldest");
  if (view.cols.join(",") !== DEFAULT_COLS.join(",")) q.set("cols", view.cols.join(","));
  if (view.follow) q.set("follow", view.follow);
  return `/search?${q}`;
}

function readURL() {
  const p = new URLSearchParams(location.search);
  $("#s-query").value = p.get("q") || "";
  const rel = p.get("range");
  if (rel && RANGES[rel]) $("#s-range").value = rel;
  else if (p.get("from") || p.get("to")) setAbsolute(p.get("from"), p.get("to"));
  else $("#s-range").value = p.get("replay") ? "" : "24h";
  if (p.get("sort") === "oldest") $("#s-sort").value = "SORT_OLDEST_FIRST";
  if (p.get("cols")) view.cols = p.get("cols").split(",").filter(Boolean).slice(0, 20);
  view.follow = p.get("follow") || "";
  showRangeInputs();
  return p.get("replay");
}

// ---------------------------------------------------------------- search

function searchBody() {
  return {
    replay: $("#s-replay").value,
    query: $("#s-query").value,
    ...range(),
    sort: $("#s-sort").value,
    follow: view.follow || undefined,
  };
}

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
  $("#tail").hidden = !!sel.value;
}

function newSearch() {
  view.tokens = [""];
  view.page = 0;
  runSearch();
}

async function runSearch() {
  history.replaceState(null, "", searchURL());
  $("#following").hidden = !view.follow;
  $("#following-id").textContent = view.follow;
  const body = { ...searchBody(), pageSize: PAGE, pageToken: view.tokens[view.page], fieldStats: true };
  say($("#search-msg"), "Searching…");
  let resp;
  try {
    resp = await api("POST", "/v1/search", body);
  } catch (err) {
    say($("#search-msg"), err.message, true);
    return;
  }
  say($("#search-msg"), "");
  view.correlation = resp.correlationFields || [];
  const total = Number(resp.total);
  $("#total").textContent = `${fmtNum(total)} events`;
  $("#total").dataset.total = total;
  $("#took").textContent = `in ${Math.round(seconds(resp.took) * 1000)} ms`;
  drawHistogram(resp.histogram || [], body.to);
  view.events = resp.events || [];
  view.tailSeen = new Set(view.events.map((e) => e.id));
  view.tailed = 0;
  $("#tail-count").textContent = "";
  drawHeader();
  drawEvents(view.events, false);
  drawFields(resp.fields || [], Number(resp.fieldStatsSample || 0));
  if (resp.nextPageToken) view.tokens[view.page + 1] = resp.nextPageToken;
  $("#next").disabled = !resp.nextPageToken;
  $("#prev").disabled = view.page === 0;
  const first = view.page * PAGE + 1;
  $("#page").textContent = total ? `${fmtNum(first)}–${fmtNum(first + view.events.length - 1)} of ${fmtNum(total)}` : "";
}

// ---------------------------------------------------------------- fields

// addFilter adds field:value (or NOT field:value) to the query and searches.
function addFilter(field, value, negate) {
  const term = `${negate ? "NOT " : ""}${field}:${quote(value)}`;
  const q = $("#s-query").value.trim();
  $("#s-query").value = q ? `${q} AND ${term}` : term;
  newSearch();
}

function toggleColumn(field) {
  const i = view.cols.indexOf(field);
  if (i >= 0) view.cols.splice(i, 1);
  else view.cols.push(field);
  history.replaceState(null, "", searchURL());
  drawHeader();
  drawEvents(view.events, false);
}

// drawFields lists the fields and their top values; over a sample (more
// than 100 000 events) the counts are estimates, marked ≈.
function drawFields(fields, sample) {
  const list = $("#fields");
  list.replaceChildren();
  const approx = sample > 0 ? "≈" : "";
  if (sample > 0) {
    list.append(el("li", { class: "sample muted", id: "fields-sample" }, `counts estimated from a sample of ${fmtNum(sample)} events`));
  }
  for (const f of fields) {
    const values = el("ul", { class: "values" });
    for (const v of f.top || []) {
      values.append(el("li", { "data-value": v.value, "data-count": v.count },
        el("button", { class: "link filter", title: `${f.name}:${v.value}`, onclick: () => addFilter(f.name, v.value, false) }, v.value),
        el("span", { class: "count" }, approx + fmtNum(v.count)),
        el("button", { class: "link exclude", title: `NOT ${f.name}:${v.value}`, "aria-label": `exclude ${v.value}`, onclick: () => addFilter(f.name, v.value, true) }, "−")));
    }
    const shown = view.cols.includes(f.name);
    list.append(el("li", { class: "field", "data-field": f.name },
      el("div", { class: "field-name" },
        el("span", {}, f.name),
        el("button", { class: "link col", "aria-pressed": String(shown), title: shown ? "remove the column" : "add as a column", onclick: () => toggleColumn(f.name) }, shown ? "hide" : "show")),
      values));
  }
}

// ---------------------------------------------------------------- histogram

// drawHistogram draws the bars; clicking one, or dragging across several,
// zooms into that range.
function drawHistogram(buckets, to) {
  const svg = $("#histogram");
  const w = svg.clientWidth || 800, h = 90;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.replaceChildren();
  if (!buckets.length) return;
  const max = Math.max(1, ...buckets.map((b) => Number(b.count)));
  const bw = w / buckets.length;
  const ns = "http://www.w3.org/2000/svg";
  buckets.forEach((b, i) => {
    const c = Number(b.count);
    const bh = c ? Math.max(2, ((h - 4) * c) / max) : 0;
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", i * bw + 1);
    r.setAttribute("y", h - bh);
    r.setAttribute("width", Math.max(1, bw - 2));
    r.setAttribute("height", bh);
    r.setAttribute("data-count", c);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${fmtTime(b.start)}: ${fmtNum(c)} events`;
    r.append(title);
    svg.append(r);
  });
  const sel = document.createElementNS(ns, "rect");
  sel.setAttribute("class", "selection");
  sel.setAttribute("y", 0);
  sel.setAttribute("height", h);
  sel.setAttribute("width", 0);
  svg.append(sel);
  const at = (ev) => {
    const box = svg.getBoundingClientRect();
    return Math.min(buckets.length - 1, Math.max(0, Math.floor(((ev.clientX - box.left) / box.width) * buckets.length)));
  };
  let start = null;
  svg.onpointerdown = (ev) => { start = at(ev); svg.setPointerCapture(ev.pointerId); };
  svg.onpointermove = (ev) => {
    if (start === null) return;
    const [a, b] = [start, at(ev)].sort((x, y) => x - y);
    sel.setAttribute("x", a * bw);
    sel.setAttribute("width", (b - a + 1) * bw);
  };
  svg.onpointerup = (ev) => {
    if (start === null) return;
    const [a, b] = [start, at(ev)].sort((x, y) => x - y);
    start = null;
    setAbsolute(buckets[a].start, buckets[b + 1]?.start || to);
    newSearch();
  };
  $("#h-from").textContent = fmtTime(buckets[0].start);
  $("#h-to").textContent = fmtTime(to);
}

// ---------------------------------------------------------------- events

function drawHeader() {
  const tr = $("#events thead tr");
  tr.replaceChildren(el("th", {}, "Time (UTC)"),
    ...view.cols.map((c) => el("th", { "data-col": c }, c,
      el("button", { class: "link", "aria-label": `remove column ${c}`, onclick: () => toggleColumn(c) }, "×"))));
}

function eventRows(e) {
  const f = ecs(e);
  const row = el("tr", { class: "event", "data-id": e.id, tabindex: "0" },
    el("td", { class: "small" }, fmtTime(e.timestamp)),
    ...view.cols.map((c) => el("td", { class: c === "message" ? "msg-cell" : c === "log.level" ? `level-${f[c]}` : "", "data-col": c }, f[c] ?? "")));
  const detail = el("tr", { class: "fields", hidden: "" }, el("td", { colspan: view.cols.length + 1, class: "fields" }));
  const toggle = () => {
    if (detail.hidden) detail.firstChild.replaceChildren(eventDetail(e, f));
    detail.hidden = !detail.hidden;
  };
  row.addEventListener("click", toggle);
  row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") toggle(); });
  return [row, detail];
}

// drawEvents shows events; tail puts new ones on top of those shown.
function drawEvents(events, tail) {
  const tbody = $("#events tbody");
  const rows = events.flatMap(eventRows);
  if (tail) tbody.prepend(...rows);
  else tbody.replaceChildren(...rows);
}

// eventDetail is every field of an event, as a table (filter on any value)
// and as JSON, with copy, follow and surrounding events.
function eventDetail(e, f) {
  const table = el("table", { class: "detail" });
  for (const [k, v] of Object.entries(f)) {
    table.append(el("tr", { "data-field": k },
      el("th", {}, k),
      el("td", {}, String(v)),
      el("td", { class: "actions" },
        el("button", { class: "link", title: `${k}:${v}`, onclick: () => addFilter(k, v, false) }, "+"),
        el("button", { class: "link", title: `NOT ${k}:${v}`, onclick: () => addFilter(k, v, true) }, "−"),
        view.correlation.includes(k) ? el("button", { class: "follow", "data-follow": v, onclick: () => followRequest(v) }, `follow ${v}`) : "")));
  }
  const json = JSON.stringify(e, null, 2);
  const msg = el("span", { class: "small muted" });
  const copy = el("button", { class: "copy", onclick: async () => {
    try {
      await navigator.clipboard.writeText(json);
      msg.textContent = "copied";
    } catch {
      msg.textContent = "copy refused by the browser: select the JSON";
    }
  } }, "Copy JSON");
  const around = el("div", { class: "around" });
  const buttons = el("div", { class: "buttons" }, copy, msg);
  if (f["log.file.path"] && f["log.offset"] !== undefined) {
    buttons.append(el("button", { class: "surrounding", onclick: () => surrounding(f, around) }, "Show surrounding events"));
  }
  return el("div", { class: "event-detail" }, buttons, table, el("pre", { class: "json" }, json), around);
}

// followRequest searches every dataset for the events of one request id,
// oldest first, with the dataset shown.
function followRequest(id) {
  view.follow = String(id);
  $("#s-query").value = "";
  $("#s-sort").value = "SORT_OLDEST_FIRST";
  if (!$("#s-replay").value) $("#s-range").value = "7d";
  if (!view.cols.includes("data_stream.dataset")) view.cols.unshift("data_stream.dataset");
  showRangeInputs();
  newSearch();
}

// surrounding shows the 50 events before and after one in its file, by
// offset.
async function surrounding(f, into) {
  const file = `log.file.path:${quote(f["log.file.path"])}`;
  const off = Number(f["log.offset"]);
  const base = { replay: $("#s-replay").value, pageSize: 50, datasets: [f["data_stream.dataset"]] };
  if (!base.replay) Object.assign(base, { from: new Date(Date.parse(f["@timestamp"]) - 7 * 24 * 3600e3).toISOString(), to: new Date().toISOString() });
  try {
    const [before, after] = await Promise.all([
      api("POST", "/v1/search", { ...base, query: `${file} AND log.offset:<${off}`, sort: "SORT_NEWEST_FIRST" }),
      api("POST", "/v1/search", { ...base, query: `${file} AND log.offset:>=${off}`, sort: "SORT_OLDEST_FIRST" }),
    ]);
    const evs = [...(before.events || []), ...(after.events || [])].sort((a, b) => Number(a.source?.offset) - Number(b.source?.offset));
    into.replaceChildren(el("h3", {}, `${evs.length} events around offset ${off} of ${f["log.file.path"]}`),
      el("ol", { class: "surrounding-lines" }, ...evs.map((e) =>
        el("li", { class: Number(e.source?.offset) === off ? "this" : "", "data-offset": e.source?.offset }, `${fmtTime(e.timestamp)}  ${e.message}`))));
  } catch (err) {
    into.replaceChildren(el("p", { class: "msg error" }, err.message));
  }
}

// ---------------------------------------------------------------- tail

// tick fetches live events newer than those shown and puts them on top.
async function tick() {
  const newest = view.events.reduce((m, e) => (e.timestamp > m ? e.timestamp : m), new Date(Date.now() - 60e3).toISOString());
  try {
    const resp = await api("POST", "/v1/search", { ...searchBody(), from: newest, to: new Date(Date.now() + 60e3).toISOString(), pageSize: 200, sort: "SORT_OLDEST_FIRST" });
    const fresh = (resp.events || []).filter((e) => !view.tailSeen.has(e.id));
    for (const e of fresh) view.tailSeen.add(e.id);
    if (fresh.length) {
      view.events = [...fresh.reverse(), ...view.events];
      drawEvents(fresh, true);
      view.tailed += fresh.length;
      $("#tail-count").textContent = `+${fmtNum(view.tailed)} new`;
    }
  } catch (err) {
    say($("#search-msg"), `Tail: ${err.message}`, true);
  }
}

function setTail(on) {
  clearInterval(view.tail);
  view.tail = on ? setInterval(tick, 500) : null;
  $("#tail").textContent = on ? "Pause tail" : "Live tail";
  $("#tail").setAttribute("aria-pressed", String(on));
  if (on) {
    $("#s-sort").value = "SORT_NEWEST_FIRST";
    tick();
  }
}

// ---------------------------------------------------------------- export

async function exportResult(format) {
  const body = { search: searchBody(), format, columns: format === "FORMAT_CSV" ? ["@timestamp", ...view.cols] : undefined };
  say($("#search-msg"), "Exporting…");
  try {
    const text = await (await request("POST", "/v1/search:export", body)).text();
    const rows = text.split("\n").filter(Boolean).length - (format === "FORMAT_CSV" ? 1 : 0);
    const type = format === "FORMAT_CSV" ? "text/csv" : "application/x-ndjson";
    const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: `hindsight-export.${format === "FORMAT_CSV" ? "csv" : "ndjson"}` });
    a.click();
    say($("#search-msg"), `Exported ${fmtNum(rows)} events.`);
    $("#search-msg").dataset.exported = rows;
  } catch (err) {
    say($("#search-msg"), `Export: ${err.message}`, true);
  }
}

// ---------------------------------------------------------------- start

async function startSearch() {
  const replay = readURL();
  if (!replay) $("#nav-live").classList.add("active");
  await fillReplayChoices(replay);
  $("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); newSearch(); });
  $("#s-range").addEventListener("change", () => { showRangeInputs(); newSearch(); });
  $("#s-replay").addEventListener("change", () => { $("#tail").hidden = !!$("#s-replay").value; setTail(false); });
  $("#next").addEventListener("click", () => { view.page++; runSearch(); });
  $("#prev").addEventListener("click", () => { view.page = Math.max(0, view.page - 1); runSearch(); });
  $("#tail").addEventListener("click", () => setTail(!view.tail));
  $("#export-ndjson").addEventListener("click", () => exportResult("FORMAT_NDJSON"));
  $("#export-csv").addEventListener("click", () => exportResult("FORMAT_CSV"));
  $("#unfollow").addEventListener("click", () => { view.follow = ""; newSearch(); });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "/" && document.activeElement?.tagName !== "INPUT") { ev.preventDefault(); $("#s-query").focus(); }
  });
  runSearch();
}
