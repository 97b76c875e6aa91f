// The live topology page: polls the topology service (through the gateway's
// REST mapping) once a second and lets Vizceral draw it. Clicking a connection
// shows its rates and a link to its access logs on the search page; clicking a
// service lists its containers.
import Vizceral from 'vizceral';

const WINDOW = '10s';
const POLL_MS = 1000;

const canvas = document.getElementById('graph');
const panel = document.getElementById('panel');
const statusLine = document.getElementById('status');

let viz;
let graph = { nodes: [], edges: [] }; // the last GetGraph answer
let region = null; // the region shown
let selection = null; // {kind: 'edge', source, target} or {kind: 'node', name}

// State for people reading the page and for the page test.
const state = { updates: 0, error: '', nodes: 0, connections: 0 };
window.hindsightTopology = {
  state,
  selectConnection(source, target) { highlight(viz.currentGraph && viz.currentGraph.connections[`${source}--${target}`]); },
  selectNode(name) { highlight(viz.currentGraph && viz.currentGraph.nodes[name]); },
  panelText() { return panel.innerText; },
};

function highlight(obj) {
  if (!obj) throw new Error('not in the graph');
  viz.currentGraph.highlightObject(obj);
}

// The bearer token the API calls carry, kept for this tab only
// (sessionStorage); a link may hand it over in its fragment (#token=...),
// which never reaches a server.
const tokenInput = document.getElementById('token');
{
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem('hindsight.token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
}
tokenInput.value = sessionStorage.getItem('hindsight.token') || '';
tokenInput.addEventListener('change', () => sessionStorage.setItem('hindsight.token', tokenInput.value.trim()));

async function getJSON(url) {
  const headers = { Accept: 'application/json' };
  const token = tokenInput.value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { headers });
  if (res.status === 401) throw new Error('authentication is on: enter a valid token (top right)');
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// The gateway writes protos as JSON: int64 as strings, every field even when
// empty. Vizceral wants numbers, and no empty display names.
function forVizceral(node) {
  if (node.updated !== undefined) node.updated = Number(node.updated);
  if (!node.displayName) delete node.displayName;
  (node.nodes || []).forEach(forVizceral);
  return node;
}

const seconds = (d) => (d ? parseFloat(d) : 0); // protojson durations: "0.002s"
const latency = (d) => {
  const s = seconds(d);
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(1)} ms`;
  return `${s.toFixed(2)} s`;
};
const pct = (x) => `${(100 * x).toFixed(1)} %`;
const rate = (x) => `${x.toFixed(1)} req/s`;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  for (const c of children) e.append(c);
  return e;
}

// searchLink opens the search page on the access logs of source → target:
// those the target logged for clients at the source's addresses.
function searchLink(source, target) {
  let q = `service.name:"${target}"`;
  const src = graph.nodes.find((n) => n.service === source);
  if (src && !src.internet && src.addresses && src.addresses.length) {
    q += ` AND source.address:(${src.addresses.map((a) => `"${a}"`).join(' OR ')})`;
  }
  return `/search?q=${encodeURIComponent(q)}`;
}

function showEdge(source, target) {
  const edges = graph.edges.filter((e) => e.source === source && e.destination === target);
  panel.replaceChildren(el('h2', {}, `${source} → ${target}`));
  if (!edges.length) {
    panel.append(el('p', {}, 'No traffic in the window.'));
  }
  for (const e of edges) {
    const dl = el('dl', { className: e.stale ? 'stale' : '' });
    const row = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, v));
    row('protocol', e.protocol.replace('PROTOCOL_', ''));
    row('requests', rate(e.requestRate));
    row('errors', pct(e.errorRatio));
    row('server errors', rate(e.serverErrorRate));
    row('client errors', rate(e.clientErrorRate));
    row('latency p50', latency(e.latencyP50));
    row('latency p99', latency(e.latencyP99));
    if (e.stale) row('state', `no traffic since ${new Date(e.lastSeen).toLocaleTimeString()}`);
    panel.append(dl);
  }
  panel.append(el('p', {}, el('a', { href: searchLink(source, target), id: 'access-logs' }, 'Access logs of this connection')));
}

function showNode(name) {
  const n = graph.nodes.find((x) => x.service === name);
  panel.replaceChildren(el('h2', {}, name));
  if (!n) {
    panel.append(el('p', {}, 'Not in the window.'));
    return;
  }
  const dl = el('dl');
  dl.append(el('dt', {}, 'requests in'), el('dd', {}, rate(n.requestRate)));
  dl.append(el('dt', {}, 'errors'), el('dd', {}, pct(n.errorRatio)));
  panel.append(dl);
  if (n.internet) {
    panel.append(el('p', {}, 'Every client outside the known services.'));
    return;
  }
  panel.append(el('h3', {}, `containers (${n.containers.length})`));
  panel.append(el('ul', { id: 'containers' }, ...n.containers.map((c) => el('li', {}, c))));
  if (n.addresses.length) panel.append(el('p', { className: 'addresses' }, n.addresses.join(', ')));
}

function renderPanel() {
  if (!selection) return;
  if (selection.kind === 'edge') showEdge(selection.source, selection.target);
  else showNode(selection.name);
}

async function poll() {
  try {
    const [v, g] = await Promise.all([
      getJSON(`/v1/graph/vizceral?window=${WINDOW}`),
      getJSON(`/v1/graph?window=${WINDOW}`),
    ]);
    graph = g;
    const data = forVizceral(v);
    const r = data.nodes.find((n) => n.renderer === 'region' && n.name !== 'INTERNET');
    viz.updateData(data);
    if (r && region !== r.name) {
      region = r.name;
      viz.setView([region]);
    }
    state.nodes = r ? (r.nodes || []).length : 0;
    state.connections = r ? (r.connections || []).length : 0;
    state.updates++;
    state.error = '';
    statusLine.textContent = `${state.nodes} services, ${state.connections} connections · window ${WINDOW} · updated ${new Date().toLocaleTimeString()}`;
    renderPanel();
  } catch (err) {
    state.error = String(err);
    statusLine.textContent = `cannot read the graph: ${err.message}`;
  }
  setTimeout(poll, POLL_MS);
}

function resize() {
  const r = canvas.parentElement.getBoundingClientRect();
  viz.setSize(r.width, r.height);
  viz.updateBoundingRectCache();
}

function start() {
  viz = new Vizceral(canvas);
  viz.setOptions({ allowDraggingOfNodes: true, showLabels: true });
  viz.on('objectHighlighted', (obj) => {
    if (!obj) {
      selection = null;
      panel.replaceChildren(el('p', {}, 'Click a service or a connection.'));
      return;
    }
    selection = obj.type === 'connection'
      ? { kind: 'edge', source: obj.source.getName(), target: obj.target.getName() }
      : { kind: 'node', name: obj.getName() };
    renderPanel();
  });
  window.addEventListener('resize', resize);
  resize();
  viz.animate();
  poll();
}

start();
