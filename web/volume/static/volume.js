// The volume watch page: GET /v1/volume, drawn as one sparkline per series,
// refreshed twice a bucket (between 1 s and 10 s) unless paused.
"use strict";

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
const KINDS = { ANOMALY_KIND_DROP: "drop", ANOMALY_KIND_SPIKE: "spike", ANOMALY_KIND_SILENCE: "silence" };
let paused = false, timer = 0, selected = "", last = null;

function seconds(d) { return parseFloat(String(d || "0s").replace(/s$/, "")) || 0; }
function keyOf(s) { return [s.dataset, s.service || "", s.host || ""].join("\u0000"); }
function label(s) {
  if (s.service) return s.dataset + " · service " + s.service;
  if (s.host) return s.dataset + " · host " + s.host;
  return s.dataset;
}
function fmtTime(t) { return t ? new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }
function fmtNum(x) { return Number(x || 0).toLocaleString("en", { maximumFractionDigits: 1 }); }
function quote(v) { return '"' + String(v).replace(/["\\]/g, "\\$&") + '"'; }

// searchURL opens the search page on one series over [from, to).
function searchURL(s, from, to) {
  let q = "data_stream.dataset:" + quote(s.dataset);
  if (s.service) q += " AND service.name:" + quote(s.service);
  if (s.host) q += " AND host.name:" + quote(s.host);
  const p = new URLSearchParams({ q: q, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  return "/search?" + p.toString();
}

function readURL() {
  const p = new URLSearchParams(location.search);
  $("dataset").value = p.get("dataset") || "";
  const b = p.get("buckets");
  if (b && [...$("buckets").options].some((o) => o.value === b)) $("buckets").value = b;
  $("breakdown").checked = p.get("breakdown") === "1";
}

function writeURL() {
  const p = new URLSearchParams();
  if ($("dataset").value.trim()) p.set("dataset", $("dataset").value.trim());
  if ($("buckets").value !== "60") p.set("buckets", $("buckets").value);
  if ($("breakdown").checked) p.set("breakdown", "1");
  const qs = p.toString();
  history.replaceState(null, "", "/volume" + (qs ? "?" + qs : ""));
}

// A new token (web/page's token.js keeps it) loads the view again.
hindsightToken.input.addEventListener("change", () => load());

async function load() {
  clearTimeout(timer);
  const p = new URLSearchParams({ buckets: $("buckets").value });
  const ds = $("dataset").value.trim();
  if (ds) p.set("dataset", ds);
  if ($("breakdown").checked) p.set("breakdown", "true");
  let wait = 2000;
  try {
    const resp = await hindsightToken.fetch("/v1/volume?" + p.toString(), { headers: { Accept: "application/json" } });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.message || resp.status + " " + resp.statusText);
    last = body;
    render(body);
    const b = seconds(body.bucket);
    wait = Math.min(10000, Math.max(1000, b * 500));
    $("status").textContent = "bucket " + b + " s · updated " + new Date().toLocaleTimeString() + (paused ? " · paused" : "");
  } catch (e) {
    $("status").textContent = "error: " + e.message;
  }
  if (!paused) timer = setTimeout(load, wait);
}

function render(body) {
  const bucket = seconds(body.bucket) * 1000;
  const start = body.start ? Date.parse(body.start) : 0;
  const series = body.series || [];
  $("bucket-len").textContent = seconds(body.bucket) + " s bucket";
  renderActive(body.active || [], start, bucket, Number($("buckets").value));

  const ul = $("series");
  ul.replaceChildren();
  $("series-empty").hidden = series.length > 0;
  series.forEach((s, i) => {
    const li = document.createElement("li");
    const key = keyOf(s);
    li.id = "series-" + i;
    li.setAttribute("role", "option");
    li.dataset.key = key;
    li.dataset.dataset = s.dataset;
    if (s.service || s.host) li.classList.add("sub");
    const counts = (s.counts || []).map(Number);
    const anomalies = s.anomalies || [];
    const active = anomalies.find((a) => !a.end);
    if (active) li.classList.add("anomalous");
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = label(s);
    const nums = document.createElement("div");
    nums.className = "nums";
    nums.textContent = fmtNum(counts[counts.length - 1]) + " now · " + fmtNum(s.expected) + " expected";
    li.append(name, sparkline(counts, s.expected, anomalies, start, bucket), nums);
    li.setAttribute("aria-label", label(s) + ": " + fmtNum(counts[counts.length - 1]) + " events in the last bucket, "
      + fmtNum(s.expected) + " expected" + (active ? ", " + KINDS[active.kind] + " since " + fmtTime(active.start) : ""));
    li.addEventListener("click", () => select(li));
    li.addEventListener("dblclick", () => { location.href = searchURL(s, start, start + counts.length * bucket); });
    ul.append(li);
  });
  const again = [...ul.children].find((li) => li.dataset.key === selected);
  if (again) select(again, false);
}

function sparkline(counts, expected, anomalies, start, bucket) {
  const w = 600, h = 40, n = Math.max(counts.length, 1);
  const top = Math.max(1, Number(expected) || 0, ...counts);
  const svg = document.createElementNS(SVGNS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const x = (i) => (i / n) * w;
  for (const a of anomalies) {
    const from = Math.max(0, Math.floor((Date.parse(a.start) - start) / bucket));
    const to = a.end ? Math.min(n, Math.ceil((Date.parse(a.end) - start) / bucket)) : n;
    if (to <= from) continue;
    const r = document.createElementNS(SVGNS, "rect");
    r.setAttribute("class", "mark " + KINDS[a.kind]);
    r.dataset.kind = KINDS[a.kind];
    r.setAttribute("x", x(from)); r.setAttribute("width", Math.max(2, x(to) - x(from)));
    r.setAttribute("y", 0); r.setAttribute("height", h);
    const title = document.createElementNS(SVGNS, "title");
    title.textContent = KINDS[a.kind] + " from " + fmtTime(a.start) + (a.end ? " to " + fmtTime(a.end) : ", going on");
    r.append(title);
    svg.append(r);
  }
  const y = (v) => h - 2 - (v / top) * (h - 4);
  if (Number(expected) > 0) {
    const e = document.createElementNS(SVGNS, "line");
    e.setAttribute("class", "expected");
    e.setAttribute("x1", 0); e.setAttribute("x2", w); e.setAttribute("y1", y(expected)); e.setAttribute("y2", y(expected));
    svg.append(e);
  }
  const line = document.createElementNS(SVGNS, "polyline");
  line.setAttribute("class", "line");
  line.setAttribute("points", counts.map((c, i) => x(i + 0.5).toFixed(1) + "," + y(c).toFixed(1)).join(" "));
  svg.append(line);
  return svg;
}

function renderActive(active, start, bucket, n) {
  const tb = $("active").tBodies[0];
  tb.replaceChildren();
  $("active-empty").hidden = active.length > 0;
  $("active").hidden = active.length === 0;
  $("active-count").textContent = active.length ? "(" + active.length + ")" : "";
  for (const a of active) {
    const tr = document.createElement("tr");
    tr.className = "anomaly " + KINDS[a.kind];
    const kind = document.createElement("span");
    kind.className = "kind " + KINDS[a.kind];
    kind.textContent = KINDS[a.kind];
    const link = document.createElement("a");
    link.textContent = "search";
    link.href = searchURL(a, Date.parse(a.start) - 5 * bucket, start + n * bucket);
    const cells = [kind, label(a), fmtTime(a.start), fmtNum(a.count), fmtNum(a.expected), link];
    for (const c of cells) {
      const td = document.createElement("td");
      td.append(c);
      tr.append(td);
    }
    tb.append(tr);
  }
}

function select(li, focus = true) {
  for (const o of $("series").children) o.setAttribute("aria-selected", o === li ? "true" : "false");
  selected = li.dataset.key;
  $("series").setAttribute("aria-activedescendant", li.id);
  if (focus) li.scrollIntoView({ block: "nearest" });
}

$("series").addEventListener("keydown", (ev) => {
  const items = [...$("series").children];
  if (!items.length) return;
  let i = items.findIndex((li) => li.dataset.key === selected);
  if (ev.key === "ArrowDown") i = Math.min(items.length - 1, i + 1);
  else if (ev.key === "ArrowUp") i = Math.max(0, i - 1);
  else if (ev.key === "Home") i = 0;
  else if (ev.key === "End") i = items.length - 1;
  else if (ev.key === "Enter" && i >= 0 && last) {
    const s = (last.series || [])[Number(items[i].id.slice("series-".length))];
    const start = Date.parse(last.start), bucket = seconds(last.bucket) * 1000;
    location.href = searchURL(s, start, start + s.counts.length * bucket);
    return;
  } else return;
  ev.preventDefault();
  select(items[Math.max(0, i)]);
});
$("series").addEventListener("focus", () => {
  const items = [...$("series").children];
  if (items.length && !items.some((li) => li.dataset.key === selected)) select(items[0]);
});
$("controls").addEventListener("submit", (ev) => { ev.preventDefault(); writeURL(); load(); });
for (const id of ["buckets", "breakdown"]) $(id).addEventListener("change", () => { writeURL(); load(); });
$("dataset").addEventListener("change", () => { writeURL(); load(); });
$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume" : "Pause";
  if (!paused) load(); else clearTimeout(timer);
});

readURL();
load();
