// meshctl dashboard. Everything shown comes from the cluster and its
// proxies, so it is untrusted text: the DOM is built with createElement,
// textContent and setAttribute only, never from HTML strings.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const STATE_PATH = '/api/state';
const NODE_W = 210, NODE_H = 58, COL_GAP = 200, ROW_GAP = 44, PAD = 24;
const WORKLOAD_KINDS = new Set(['deployment', 'statefulset', 'daemonset', 'pod']);
const SHORT_KIND = {deployment: 'deploy', statefulset: 'sts', daemonset: 'ds', pod: 'pod', identity: 'identity', unmeshed: '', other: ''};

let etag = null;
let pollMs = 2000;

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, text, parent, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

// The formats of `meshctl stat`'s table.
function fmtRate(v) { return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' rps'; }
function fmtSuccess(v) { return v === undefined || v === null ? '-' : (v * 100).toFixed(2) + '%'; }
function fmtLatency(s) {
  if (s === undefined || s === null) return '-';
  const ms = s * 1000;
  if (ms < 10) return String(Number(ms.toPrecision(2))) + 'ms';
  if (ms < 10000) return ms.toFixed(0) + 'ms';
  return String(Number(s.toPrecision(3))) + 's';
}
function health(f) {
  if (!f || !f.requests || f.successRate === undefined) return 'idle';
  if (f.successRate >= 0.99) return 'good';
  if (f.successRate >= 0.95) return 'warn';
  return 'bad';
}
// fit writes s into the SVG text element t, cut with an ellipsis to
// fit in width pixels.
function fit(t, s, width) {
  t.textContent = s;
  if (t.getComputedTextLength() <= width) return;
  let n = Math.max(1, Math.floor(s.length * width / t.getComputedTextLength()));
  do { t.textContent = s.slice(0, n) + '…'; n--; } while (n > 0 && t.getComputedTextLength() > width);
}

// The two lines of an edge's label, and its whole text.
function edgeLines(e) {
  if (e.requests > 0) {
    return [fmtRate(e.requestsPerSecond) + ' · ' + fmtSuccess(e.successRate),
      'p50 ' + fmtLatency(e.latencyP50Seconds) + ' · p99 ' + fmtLatency(e.latencyP99Seconds)];
  }
  if (e.tcpConnections > 0 || e.tcpOpenedPerSecond > 0) {
    return ['tcp: ' + e.tcpConnections + ' open', e.tcpOpenedPerSecond.toFixed(1) + ' opened/s'];
  }
  return ['no requests'];
}

// layout places the nodes that take part in edges in columns by the
// longest path of calls that leads to them (cycles broken where a depth-
// first walk finds them), ordered in each column by their callers'
// places; the others in rows beneath.
function layout(nodes, edges) {
  const ids = nodes.map(n => n.id);
  const out = new Map(ids.map(i => [i, []]));
  const linked = new Set();
  for (const e of edges) {
    if (!out.has(e.source) || !out.has(e.target)) continue;
    linked.add(e.source); linked.add(e.target);
    if (e.source !== e.target) out.get(e.source).push(e.target);
  }
  const mark = new Map();
  const forward = new Map(ids.map(i => [i, []]));
  const order = [];
  for (const root of ids) {
    if (mark.has(root) || !linked.has(root)) continue;
    const stack = [[root, 0]];
    mark.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) { mark.set(top[0], 2); order.push(top[0]); stack.pop(); continue; }
      if (mark.get(next) === 1) continue; // a back edge: a cycle
      forward.get(top[0]).push(next);
      if (!mark.has(next)) { mark.set(next, 1); stack.push([next, 0]); }
    }
  }
  const rank = new Map();
  for (const id of order.reverse()) {
    if (!rank.has(id)) rank.set(id, 0);
    for (const t of forward.get(id)) rank.set(t, Math.max(rank.get(t) || 0, rank.get(id) + 1));
  }
  // A caller that nobody calls stands just before the first of its
  // callees, not in the first column.
  const called = new Set();
  for (const [, ts] of forward) for (const t of ts) called.add(t);
  for (const [id, ts] of forward) {
    if (!called.has(id) && ts.length) rank.set(id, Math.max(0, Math.min(...ts.map(t => rank.get(t))) - 1));
  }
  const cols = [];
  for (const n of nodes) {
    if (!linked.has(n.id)) continue;
    const r = rank.get(n.id);
    (cols[r] = cols[r] || []).push(n);
  }
  const pos = new Map();
  const neighbours = new Map(ids.map(i => [i, []]));
  for (const e of edges) {
    if (neighbours.has(e.target) && neighbours.has(e.source)) {
      neighbours.get(e.target).push(e.source);
      neighbours.get(e.source).push(e.target);
    }
  }
  const place = col => col.forEach((n, r) => pos.set(n.id, {x: 0, y: PAD + r * (NODE_H + ROW_GAP)}));
  const bary = n => {
    const ys = neighbours.get(n.id).filter(s => pos.has(s)).map(s => pos.get(s).y);
    return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Infinity;
  };
  const sortCol = col => {
    const keyed = col.map((n, i) => [bary(n), i, n]);
    keyed.sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
    col.splice(0, col.length, ...keyed.map(k => k[2]));
  };
  // Columns ordered by their neighbours' places: left to right, then
  // right to left, so that callers sit beside what they call.
  cols.forEach((col, c) => { if (c > 0) sortCol(col); place(col); });
  for (let c = cols.length - 2; c >= 0; c--) { if (cols[c]) { sortCol(cols[c]); place(cols[c]); } }
  let height = 0;
  cols.forEach((col, c) => {
    col.forEach((n, r) => pos.set(n.id, {x: PAD + c * (NODE_W + COL_GAP), y: PAD + r * (NODE_H + ROW_GAP)}));
    height = Math.max(height, PAD + col.length * (NODE_H + ROW_GAP));
  });
  const width = Math.max(cols.length, 1) * (NODE_W + COL_GAP) - COL_GAP + 2 * PAD;
  const idle = nodes.filter(n => !linked.has(n.id));
  let idleTop = 0;
  if (idle.length) {
    idleTop = height + (height ? 18 : 0);
    const perRow = Math.max(1, Math.floor((Math.max(width, 3 * NODE_W) - 2 * PAD + ROW_GAP) / (NODE_W + ROW_GAP)));
    idle.forEach((n, i) => pos.set(n.id, {
      x: PAD + (i % perRow) * (NODE_W + ROW_GAP),
      y: idleTop + 22 + Math.floor(i / perRow) * (NODE_H + ROW_GAP),
    }));
    height = idleTop + 22 + Math.ceil(idle.length / perRow) * (NODE_H + ROW_GAP);
  }
  return {pos, width: Math.max(width, 3 * NODE_W + 2 * PAD), height: height + PAD, idleTop: idle.length ? idleTop : null};
}

function drawGraph(state) {
  const g = document.getElementById('graph');
  while (g.firstChild) g.removeChild(g.firstChild);
  const nodes = state.nodes || [], edges = state.edges || [];
  const empty = document.getElementById('empty');
  empty.hidden = nodes.length > 0;
  empty.textContent = nodes.length ? '' : (state.waiting ? 'Reading the proxies…' : 'No workloads in scope.');
  const {pos, width, height, idleTop} = layout(nodes, edges);
  g.setAttribute('viewBox', `0 0 ${width} ${height}`);
  // Shrunk to fit the panel, but not past legibility: beyond, it scrolls.
  const avail = document.getElementById('graph-wrap').clientWidth || width;
  const scale = Math.min(1, Math.max(0.65, avail / width));
  g.setAttribute('width', Math.round(width * scale));
  g.setAttribute('height', Math.round(height * scale));
  const defs = svg('defs', {}, g);
  for (const h of ['good', 'warn', 'bad', 'idle']) {
    const m = svg('marker', {id: 'arrow-' + h, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse'}, defs);
    svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrow ' + h}, m);
  }
  if (idleTop !== null) {
    svg('text', {x: PAD, y: idleTop + 12, class: 'section-label'}, g).textContent = 'No traffic seen in the window';
  }
  const byId = new Map(nodes.map(n => [n.id, n]));
  const edgeLayer = svg('g', {class: 'edges'}, g);
  const labelLayer = svg('g', {class: 'labels'}, g);
  const nodeLayer = svg('g', {class: 'nodes'}, g);
  const maxRate = Math.max(1, ...edges.map(e => e.requestsPerSecond || 0));
  // Where each edge leaves its source and reaches its target: spread
  // along the sides, in the order of the other ends, so that edges and
  // their labels do not meet.
  const ports = new Map();
  const sides = new Map();
  for (const e of edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b || e.source === e.target || b.x <= a.x) continue;
    for (const [key, other] of [['out ' + e.source, b], ['in ' + e.target, a]]) {
      if (!sides.has(key)) sides.set(key, []);
      sides.get(key).push([other.y, e]);
    }
  }
  for (const [key, list] of sides) {
    list.sort((p, q) => p[0] - q[0]);
    const step = list.length > 1 ? Math.min(12, (NODE_H - 20) / (list.length - 1)) : 0;
    list.forEach(([, e], i) => ports.set(key.slice(0, key.indexOf(' ') + 1) + e.source + '\u0000' + e.target, (i - (list.length - 1) / 2) * step));
  }
  for (const e of edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    const h = health(e);
    const grp = svg('g', {class: 'edge ' + h, 'data-source': e.source, 'data-target': e.target}, edgeLayer);
    const lines = edgeLines(e);
    const src = byId.get(e.source), dst = byId.get(e.target);
    grp.setAttribute('aria-label', `${src.name} → ${dst.name}: ${lines.join(' · ')}`);
    let d, lx, ly;
    if (e.source === e.target) {
      const x = a.x + NODE_W - 30, y = a.y;
      d = `M${x},${y} C${x + 10},${y - 46} ${x + 70},${y - 20} ${a.x + NODE_W},${y + 14}`;
      lx = x + 40; ly = y - 36;
    } else {
      const key = e.source + '\u0000' + e.target;
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2 + (ports.get('out ' + key) || 0);
      const x2 = b.x, y2 = b.y + NODE_H / 2 + (ports.get('in ' + key) || 0);
      if (x2 > x1) {
        const dx = (x2 - x1) / 2;
        d = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
        lx = (x1 + x2) / 2; ly = (y1 + y2) / 2;
      } else {
        // Back to an earlier column: around beneath.
        const sx = a.x + NODE_W / 2, sy = a.y + NODE_H, tx = b.x + NODE_W / 2, ty = b.y + NODE_H;
        const dip = Math.max(sy, ty) + 50;
        d = `M${sx},${sy} C${sx},${dip} ${tx},${dip} ${tx},${ty}`;
        lx = (sx + tx) / 2; ly = dip - 12;
      }
    }
    const w = e.requestsPerSecond > 0 ? 1.5 + 3.5 * Math.log1p(e.requestsPerSecond) / Math.log1p(maxRate) : 1.2;
    svg('path', {d, class: 'edge-line', 'stroke-width': w.toFixed(2), 'marker-end': `url(#arrow-${h})`}, grp);
    svg('title', {}, grp).textContent = grp.getAttribute('aria-label');
    const label = svg('g', {class: 'edge-label ' + h, 'data-source': e.source, 'data-target': e.target}, labelLayer);
    const bw = 150, bh = lines.length * 15 + 6;
    svg('rect', {x: lx - bw / 2, y: ly - bh / 2, width: bw, height: bh, rx: 4}, label);
    const text = svg('text', {x: lx, y: ly - bh / 2 + 15, 'text-anchor': 'middle'}, label);
    lines.forEach((l, i) => { svg('tspan', {x: lx, dy: i ? 15 : 0, class: 'line' + i}, text).textContent = l; });
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const h = WORKLOAD_KINDS.has(n.kind) ? (n.meshedPods ? health(n.inbound) : 'unmeshed') : 'caller';
    const grp = svg('g', {class: `node ${h} kind-${n.kind}`, 'data-id': n.id, transform: `translate(${p.x},${p.y})`}, nodeLayer);
    svg('rect', {width: NODE_W, height: NODE_H, rx: 7, class: 'box'}, grp);
    svg('rect', {width: 5, height: NODE_H, rx: 2, class: 'bar'}, grp);
    const badge = WORKLOAD_KINDS.has(n.kind) ? 44 : 0;
    fit(svg('text', {x: 14, y: 23, class: 'name'}, grp), n.name, NODE_W - 24 - badge);
    let sub;
    if (WORKLOAD_KINDS.has(n.kind)) sub = `${SHORT_KIND[n.kind]} · ${n.namespace}`;
    else if (n.kind === 'identity') sub = `identity · ${n.namespace}` + (n.sharedBy ? ` · ${n.sharedBy.length} workloads` : '');
    else sub = n.kind === 'unmeshed' ? 'plain text, no identity' : 'past the proxies\u2019 peer bound';
    fit(svg('text', {x: 14, y: 43, class: 'sub'}, grp), sub, NODE_W - 24);
    if (WORKLOAD_KINDS.has(n.kind)) {
      svg('text', {x: NODE_W - 10, y: 23, class: 'badge', 'text-anchor': 'end'}, grp).textContent =
        n.meshedPods ? `${n.meshedPods}/${n.pods}` : 'unmeshed';
    }
    const title = [n.kind === 'identity' || n.kind === 'unmeshed' || n.kind === 'other' ? n.name : `${n.kind}/${n.name}`];
    if (n.namespace) title.push('namespace ' + n.namespace);
    if (n.identity) title.push('identity ' + n.identity);
    if (n.sharedBy) title.push('shared by ' + n.sharedBy.join(', '));
    if (n.inbound) title.push(`received ${fmtRate(n.inbound.requestsPerSecond)}, ${fmtSuccess(n.inbound.successRate)} success`);
    svg('title', {}, grp).textContent = title.join('\n');
    grp.addEventListener('mouseenter', () => focus(n.id, true));
    grp.addEventListener('mouseleave', () => focus(n.id, false));
  }
}

// focus lights up a node's edges and dims the rest.
function focus(id, on) {
  const g = document.getElementById('graph');
  g.classList.toggle('focused', on);
  for (const el of g.querySelectorAll('.edge, .edge-label')) {
    el.classList.toggle('lit', on && (el.dataset.source === id || el.dataset.target === id));
  }
}

function drawTable(state) {
  const body = document.querySelector('#workloads tbody');
  while (body.firstChild) body.removeChild(body.firstChild);
  const rows = (state.nodes || []).filter(n => WORKLOAD_KINDS.has(n.kind));
  if (!rows.length) {
    const td = html('td', state.waiting ? 'Reading the proxies…' : 'No workloads in scope.', html('tr', null, body), 'empty');
    td.colSpan = 8;
    return;
  }
  for (const n of rows) {
    const tr = html('tr', null, body);
    tr.dataset.id = n.id;
    html('td', n.namespace, tr);
    const wl = html('td', null, tr);
    html('span', n.name, wl, 'wl-name');
    html('span', SHORT_KIND[n.kind], wl, 'wl-kind');
    html('td', `${n.meshedPods}/${n.pods}`, tr, 'num' + (n.meshedPods ? '' : ' muted'));
    const f = n.inbound;
    html('td', f ? fmtRate(f.requestsPerSecond).replace(' rps', '') : '-', tr, 'num');
    html('td', f ? fmtSuccess(f.successRate) : '-', tr, 'num ' + (f ? health(f) : ''));
    html('td', f ? fmtLatency(f.latencyP50Seconds) : '-', tr, 'num');
    html('td', f ? fmtLatency(f.latencyP99Seconds) : '-', tr, 'num');
    html('td', f ? String(f.tcpConnections) : '-', tr, 'num');
  }
}

function drawMeta(state) {
  document.getElementById('scope').textContent = state.scope;
  document.getElementById('window').textContent = state.waiting ? 'measuring…' : state.windowSeconds.toFixed(1) + ' s';
  const unread = (state.unreadable || []).length;
  document.getElementById('proxies').textContent = String(state.proxies) + (unread ? ` (${unread} not)` : '');
  document.getElementById('updated').textContent = state.at ? new Date(state.at).toLocaleTimeString([], {hour12: false}) : '…';
  const panel = document.getElementById('unreadable-panel');
  const list = document.getElementById('unreadable');
  while (list.firstChild) list.removeChild(list.firstChild);
  panel.hidden = !unread;
  for (const u of state.unreadable || []) {
    const li = html('li', null, list);
    html('code', `${u.namespace}/${u.pod}`, li);
    html('span', ' ' + u.error, li);
  }
  status(state.error ? 'The last reading failed: ' + state.error : state.waiting ? `Reading the proxies again in ${state.intervalSeconds} s to compute rates…` : '', state.error ? 'error' : 'info');
}

function status(text, kind) {
  const s = document.getElementById('status');
  s.hidden = !text;
  s.textContent = text;
  s.className = kind || '';
}

function render(state) {
  pollMs = Math.max(200, (state.pollSeconds || 2) * 1000);
  drawMeta(state);
  drawGraph(state);
  drawTable(state);
  document.body.dataset.generation = String(state.generation);
}

async function poll() {
  try {
    const headers = etag ? {'If-None-Match': etag} : {};
    const resp = await fetch(STATE_PATH, {headers, cache: 'no-store'});
    if (resp.status === 200) {
      // The ETag is kept only once its state is drawn, so a state that
      // failed to arrive is asked for again rather than answered 304.
      const tag = resp.headers.get('ETag');
      render(await resp.json());
      etag = tag;
    } else if (resp.status !== 304) {
      status(`meshctl answered ${resp.status}`, 'error');
    }
  } catch (err) {
    status('meshctl dashboard is not answering: it may have stopped.', 'error');
  }
  setTimeout(poll, pollMs);
}

poll();
