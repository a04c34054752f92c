// tortrace serve: the page. Everything it shows comes from the JSON API (docs/serve.md);
// no framework, nothing fetched from elsewhere, and no HTML built from strings: text goes
// in through textContent, so names and addresses from captures cannot inject markup.
'use strict';

const $ = (sel) => document.querySelector(sel);
const SVGNS = 'http://www.w3.org/2000/svg';

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
  if (r.status === 401) { location.href = '/login'; throw new Error('login required'); }
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
  return body;
}

const fmtBytes = (n) => {
  if (n == null) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
};
const fmtTime = (ts) => ts ? new Date(ts * 1000).toISOString().replace('T', ' ').slice(0, 19) : '';
const fmtSecs = (s) => s == null ? '' : s < 60 ? s.toFixed(1) + ' s' :
  Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
function message(text) {
  const m = el('div', { class: 'msg', text });
  $('#messages').append(m);
  setTimeout(() => m.remove(), 15000);
}

// ---- state -----------------------------------------------------------------------------
const state = { jobs: new Map(), status: null, selected: null, flowsOffset: 0, streams: new Map() };
const LIMIT = 25;

// ---- tabs ------------------------------------------------------------------------------
function show(view) {
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === view);
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + view;
  if (view === 'history') loadHistory().catch((e) => message(e.message));
  if (view === 'dashboard') {
    loadDashboard().catch((e) => message(e.message));
    api('/api/relays').then(showRelays).catch((e) => message(e.message));
  }
}

// ---- uploads ---------------------------------------------------------------------------
function upload(file) {
  const max = state.status ? state.status.max_upload : Infinity;
  if (file.size > max) {
    message(`${file.name}: ${fmtBytes(file.size)} is larger than the server's limit of ${fmtBytes(max)}`);
    return;
  }
  const row = { id: 'up-' + Math.random().toString(36).slice(2), name: file.name, state: 'uploading',
    bytes_done: 0, bytes_total: file.size };
  state.jobs.set(row.id, row);
  renderJobs();
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/jobs?name=' + encodeURIComponent(file.name));
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.onprogress = (e) => { row.bytes_done = e.loaded; renderJobs(); };
  xhr.onload = () => {
    state.jobs.delete(row.id);
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 202 && body) {
      state.jobs.set(body.id, body);
      follow(body.id);
    } else if (xhr.status === 401) {
      location.href = '/login';
    } else {
      message(`${file.name}: ${(body && body.error) || 'upload failed (' + xhr.status + ')'}`);
    }
    renderJobs();
  };
  xhr.onerror = () => {
    state.jobs.delete(row.id);
    message(`${file.name}: the upload failed (connection closed)`);
    renderJobs();
  };
  xhr.send(file);
}

// Live progress: Server-Sent Events, with polling when the stream fails.
function follow(id) {
  if (state.streams.has(id)) return;
  const done = (j) => ['done', 'failed', 'cancelled'].includes(j.state);
  const update = (j) => {
    state.jobs.set(j.id, j);
    renderJobs();
    if (state.selected === j.id && done(j)) showResults(j.id);
  };
  if (window.EventSource) {
    const es = new EventSource(`/api/jobs/${id}/events`);
    state.streams.set(id, es);
    es.addEventListener('progress', (e) => update(JSON.parse(e.data)));
    es.addEventListener('end', (e) => { update(JSON.parse(e.data)); es.close(); state.streams.delete(id); });
    es.onerror = () => { es.close(); state.streams.delete(id); poll(id); };
  } else {
    poll(id);
  }
  function poll(jid) {
    api(`/api/jobs/${jid}`).then((j) => {
      update(j);
      if (!done(j)) setTimeout(() => poll(jid), 500);
    }).catch(() => setTimeout(() => poll(jid), 2000));
  }
}

function verdictText(j) {
  if (j.state !== 'done') return '';
  return j.tor_flows > 0 ? `Tor: ${j.tor_flows} flow${j.tor_flows > 1 ? 's' : ''}` : 'no Tor';
}

function renderJobs() {
  const tb = $('#jobs tbody');
  tb.replaceChildren();
  const rows = [...state.jobs.values()].sort((a, b) =>
    (typeof b.id === 'number' ? b.id : 1e12) - (typeof a.id === 'number' ? a.id : 1e12));
  for (const j of rows) {
    const pct = j.bytes_total ? Math.min(100, 100 * j.bytes_done / j.bytes_total) : 0;
    const bar = el('div', { class: 'bar' }, el('div'));
    bar.firstChild.style.width = (j.state === 'done' ? 100 : pct) + '%';
    const cancel = ['queued', 'running'].includes(j.state)
      ? el('button', { text: 'cancel', onclick: (e) => { e.stopPropagation(); cancelJob(j.id); } }) : '';
    const tr = el('tr', { 'data-id': String(j.id), 'data-state': j.state },
      el('td', { text: typeof j.id === 'number' ? j.id : '' }),
      el('td', { text: j.name }),
      el('td', { class: 'state-' + j.state, text: j.state + (j.error ? ' (see error)' : '') }),
      el('td', {}, bar, el('span', { class: 'muted', text: ` ${fmtBytes(j.bytes_done)} of ${fmtBytes(j.bytes_total)}` +
        (j.packets_done ? `, ${j.packets_done.toLocaleString('en')} packets` : '') })),
      el('td', { text: j.throughput_bps ? fmtBytes(j.throughput_bps) + '/s' : '' }),
      el('td', { text: j.state === 'running' ? fmtSecs(j.eta_s) : '' }),
      el('td', { class: j.tor_flows > 0 ? 'tor' : '', text: verdictText(j) }),
      el('td', {}, cancel));
    if (j.error) tr.title = j.error;
    if (state.selected === j.id) tr.classList.add('sel');
    if (typeof j.id === 'number') tr.addEventListener('click', () => select(j.id));
    tb.append(tr);
  }
}

async function cancelJob(id) {
  try { state.jobs.set(id, await api(`/api/jobs/${id}/cancel`, { method: 'POST' })); } catch (e) { message(e.message); }
  renderJobs();
}

function select(id) {
  state.selected = id;
  state.flowsOffset = 0;
  renderJobs();
  const j = state.jobs.get(id);
  if (j && ['done', 'failed', 'cancelled'].includes(j.state)) showResults(id);
  else { $('#results').hidden = true; }
}

// ---- results ---------------------------------------------------------------------------
async function showResults(id) {
  const j = await api(`/api/jobs/${id}`);
  const box = $('#results');
  box.hidden = false;
  $('#results-title').textContent = `Analysis ${j.id}: ${j.name}`;
  const err = $('#results-error');
  err.hidden = !j.error;
  err.textContent = j.error ? 'Error: ' + j.error : '';
  const v = $('#verdict');
  if (!j.has_report) {
    v.textContent = `No report: the analysis ${j.state === 'cancelled' ? 'was cancelled' : 'failed'}.`;
    v.className = 'verdict';
    for (const s of ['#hosts-table tbody', '#flows-table tbody', '#graph']) $(s).replaceChildren();
    return;
  }
  const rep = await api(`/api/jobs/${id}/report.json`);
  const hosts = rep.hosts || [];
  v.className = 'verdict' + (rep.tor_flows_total > 0 ? ' found' : '');
  v.textContent = rep.tor_flows_total > 0
    ? `Tor found: ${rep.tor_flows_total} Tor flow${rep.tor_flows_total > 1 ? 's' : ''}, ` +
      `${hosts.length} host${hosts.length === 1 ? '' : 's'} involved, ${rep.totals.flows} flows in all` +
      (j.state === 'cancelled' ? ' (cancelled: partial)' : '')
    : `No Tor found in ${rep.totals.flows} flows` +
      (rep.candidate_flows_total ? ` (${rep.candidate_flows_total} candidates below the threshold)` : '');
  v.dataset.torFlows = rep.tor_flows_total;
  $('#dl-json').href = `/api/jobs/${id}/report.json`;
  $('#dl-pcap').href = `/api/jobs/${id}/tor.pcap`;
  $('#dl-pcap').hidden = !j.has_pcap;
  $('#open-html').href = `/api/jobs/${id}/report.html`;
  $('#report-frame').src = `/api/jobs/${id}/report.html`;
  const tb = $('#hosts-table tbody');
  tb.replaceChildren();
  for (const h of hosts) {
    const s = h.strongest || {};
    const tr = el('tr', { 'data-host': h.address },
      el('td', {}, el('a', { href: '#', text: h.address, onclick: (e) => { e.preventDefault(); filterHost(h.address); } })),
      el('td', { text: (h.roles || []).join(', ') }),
      el('td', { text: h.tor_flows }),
      el('td', { class: s.verdict && s.verdict !== 'none' ? 'tor' : '', text: s.verdict === 'none' ? 'candidate ' + s.candidate : (s.verdict || '') }),
      el('td', { text: s.score != null ? s.score.toFixed(6) : '' }),
      el('td', { text: (h.relays || []).map((r) => r.endpoint + (r.nickname ? ' (' + r.nickname + ')' : '')).join(', ') }));
    tb.append(tr);
  }
  drawGraph($('#graph'), edgesOf([rep]));
  $('#f-host').value = '';
  $('#f-q').value = '';
  $('#f-verdict').value = rep.tor_flows_total > 0 ? 'any' : 'all';
  $('#f-score').value = '0';
  await loadFlows();
}

function filterHost(addr) {
  $('#f-host').value = addr;
  state.flowsOffset = 0;
  loadFlows().catch((e) => message(e.message));
}

async function loadFlows() {
  const id = state.selected;
  const q = new URLSearchParams({ verdict: $('#f-verdict').value, offset: state.flowsOffset, limit: LIMIT });
  if ($('#f-host').value.trim()) q.set('host', $('#f-host').value.trim());
  if ($('#f-q').value.trim()) q.set('q', $('#f-q').value.trim());
  if (Number($('#f-score').value) > 0) q.set('min_score', $('#f-score').value);
  const page = await api(`/api/jobs/${id}/flows?${q}`);
  const tb = $('#flows-table tbody');
  tb.replaceChildren();
  for (const f of page.flows) {
    tb.append(el('tr', { 'data-flow': `${f.src_ip}:${f.src_port}-${f.dst_ip}:${f.dst_port}` },
      el('td', { text: f.proto }),
      el('td', { text: `${f.src_ip}:${f.src_port}` }),
      el('td', { text: `${f.dst_ip}:${f.dst_port}` }),
      el('td', { text: fmtTime(f.first_ts) }),
      el('td', { text: f.packets }),
      el('td', { text: fmtBytes(f.bytes) }),
      el('td', { class: f.verdict !== 'none' ? 'tor' : '', text: f.verdict !== 'none' ? f.verdict : (f.candidate !== 'none' ? 'candidate ' + f.candidate : 'none') }),
      el('td', { text: f.score.toFixed(6) }),
      el('td', { text: (f.evidence || []).map((e) => e.id).join(' ') })));
  }
  const last = Math.min(page.total, page.offset + page.flows.length);
  $('#page-info').textContent = page.total ? `flows ${page.offset + 1}–${last} of ${page.total}` : 'no flows match';
  $('#page-info').dataset.total = page.total;
  $('#prev').disabled = page.offset === 0;
  $('#next').disabled = last >= page.total;
}

// Host ↔ relay edges from reports' hosts (a host's relays are the endpoints it reached).
function edgesOf(reports) {
  const edges = new Map();
  for (const rep of reports) {
    for (const h of rep.hosts || []) {
      if (!(h.roles || []).some((r) => r === 'client' || r === 'exit-side')) continue;
      for (const r of h.relays || []) {
        const key = h.address + '|' + r.endpoint;
        const e = edges.get(key) || { host: h.address, relay: r.endpoint, nick: r.nickname, kind: r.kind, n: 0 };
        e.n += 1;
        edges.set(key, e);
      }
    }
  }
  return [...edges.values()];
}

function drawGraph(box, edges) {
  box.replaceChildren();
  if (!edges.length) { box.append(el('p', { class: 'muted', text: 'No Tor links to draw.' })); return; }
  const hosts = [...new Set(edges.map((e) => e.host))].sort();
  const relays = [...new Set(edges.map((e) => e.relay))].sort();
  const rowH = 26, h = Math.max(hosts.length, relays.length) * rowH + 30, w = 720;
  const s = svg('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': 'hosts and the relays they used' });
  const y = (i, n) => 20 + (h - 40) * (n === 1 ? 0.5 : i / (n - 1));
  const hy = new Map(hosts.map((x, i) => [x, y(i, hosts.length)]));
  const ry = new Map(relays.map((x, i) => [x, y(i, relays.length)]));
  const colors = { relay: '#7a3db8', bridge: '#c0641a', exit: '#2a7a3f' };
  for (const e of edges) {
    s.append(svg('line', { x1: 190, y1: hy.get(e.host), x2: 500, y2: ry.get(e.relay),
      stroke: colors[e.kind] || '#7a3db8', 'stroke-width': Math.min(6, 1 + e.n), 'stroke-opacity': 0.6 }));
  }
  for (const x of hosts) {
    s.append(svg('circle', { cx: 190, cy: hy.get(x), r: 6, fill: '#2f5fb3' }));
    s.append(svg('text', { x: 180, y: hy.get(x) + 4, 'text-anchor': 'end' }, x));
  }
  for (const x of relays) {
    const e = edges.find((d) => d.relay === x);
    s.append(svg('rect', { x: 494, y: ry.get(x) - 6, width: 12, height: 12, fill: colors[e.kind] || '#7a3db8' }));
    s.append(svg('text', { x: 514, y: ry.get(x) + 4 }, x + (e.nick ? ' ' + e.nick : '') + ' (' + e.kind + ')'));
  }
  s.append(svg('text', { x: 190, y: 12, 'text-anchor': 'middle', 'font-weight': 'bold' }, 'hosts'));
  s.append(svg('text', { x: 500, y: 12, 'text-anchor': 'middle', 'font-weight': 'bold' }, 'relays and bridges'));
  box.append(s);
}

// ---- history ---------------------------------------------------------------------------
const jobOfDir = (dir) => { const m = /\/jobs\/(\d+)$/.exec(dir || ''); return m ? Number(m[1]) : null; };

async function loadHistory() {
  const rows = await api('/api/history');
  const tb = $('#history-table tbody');
  tb.replaceChildren();
  for (const r of rows) {
    const verdicts = Object.entries(r.verdicts || {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
    const jid = jobOfDir(r.out_dir);
    const name = (r.command || '').replace(/^tortrace serve: upload /, '').replace(/ \(job \d+\)$/, '');
    const tr = el('tr', { 'data-id': r.id },
      el('td', { text: r.id }),
      el('td', { text: (r.started_at || '').replace('T', ' ').slice(0, 19) }),
      el('td', {}, jid ? el('a', { href: '#', text: name, onclick: (e) => { e.preventDefault(); openJob(jid); } }) : name),
      el('td', { text: r.packets }),
      el('td', { text: r.flows }),
      el('td', { class: r.tor_flows ? 'tor' : '', text: r.tor_flows }),
      el('td', { text: verdicts || 'none' }),
      el('td', { text: r.hosts_total }),
      el('td', { text: r.relay_digest ? r.relay_digest.slice(0, 12) : 'none' }),
      el('td', { text: r.complete ? (r.status ? 'partial' : 'complete') : 'incomplete' }));
    tb.append(tr);
  }
  if (!rows.length) tb.append(el('tr', {}, el('td', { colspan: 10, class: 'muted', text: 'No analyses yet.' })));
}

async function openJob(id) {
  show('jobs');
  if (!state.jobs.has(id)) state.jobs.set(id, await api(`/api/jobs/${id}`));
  select(id);
}

// ---- dashboard -------------------------------------------------------------------------
async function loadDashboard() {
  const rows = (await api('/api/history')).slice().reverse(); // oldest first
  const withTor = rows.filter((r) => r.tor_flows > 0);
  const cards = $('#dash-cards');
  cards.replaceChildren(
    el('div', { class: 'card' }, el('b', { text: rows.length }), 'analyses'),
    el('div', { class: 'card' }, el('b', { text: withTor.length }), 'with Tor'),
    el('div', { class: 'card' }, el('b', { text: rows.reduce((a, r) => a + r.tor_flows, 0) }), 'Tor flows'),
    el('div', { class: 'card' }, el('b', { text: new Set(rows.flatMap((r) => (r.hosts || []).filter((h) => h.roles.includes('client')).map((h) => h.address))).size }), 'Tor client hosts'));
  drawTrend($('#dash-chart'), rows);
  const hosts = new Map();
  for (const r of rows) {
    for (const h of r.hosts || []) {
      const e = hosts.get(h.address) || { address: h.address, n: 0, flows: 0, best: 0, last: 0 };
      e.n++; e.flows += h.tor_flows; e.best = Math.max(e.best, h.best_score); e.last = Math.max(e.last, h.last_ts);
      hosts.set(h.address, e);
    }
  }
  const tb = $('#dash-hosts tbody');
  tb.replaceChildren();
  for (const h of [...hosts.values()].sort((a, b) => b.flows - a.flows).slice(0, 50)) {
    tb.append(el('tr', {}, el('td', { text: h.address }), el('td', { text: h.n }), el('td', { text: h.flows }),
      el('td', { text: h.best.toFixed(6) }), el('td', { text: fmtTime(h.last) })));
  }
  // The map: the most recent analyses with Tor whose job is on this server.
  const recent = withTor.slice(-12).map((r) => jobOfDir(r.out_dir)).filter((x) => x);
  const reps = await Promise.all(recent.map((id) => api(`/api/jobs/${id}/report.json`).catch(() => null)));
  drawGraph($('#dash-graph'), edgesOf(reps.filter((x) => x)));
}

// Tor flows per analysis (bars) and the strongest score (line): confidence over time.
function drawTrend(box, rows) {
  box.replaceChildren();
  if (!rows.length) { box.append(el('p', { class: 'muted', text: 'No analyses yet.' })); return; }
  const w = 900, h = 240, l = 50, r = 50, t = 20, b = 40;
  const n = rows.length, bw = Math.max(2, Math.min(40, (w - l - r) / n - 4));
  const maxFlows = Math.max(1, ...rows.map((x) => x.tor_flows));
  const s = svg('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': 'Tor findings over time' });
  const pad = bw / 2 + 6; // bars stay inside the axes
  const x = (i) => l + pad + (w - l - r - 2 * pad) * (n === 1 ? 0.5 : i / (n - 1));
  s.append(svg('line', { x1: l, y1: h - b, x2: w - r, y2: h - b, stroke: '#9aa6bb' }));
  s.append(svg('text', { x: 4, y: t + 4 }, String(maxFlows)));
  s.append(svg('text', { x: 4, y: h - b }, '0'));
  s.append(svg('text', { x: w - r + 6, y: t + 4 }, '1.0'));
  s.append(svg('text', { x: w - r + 6, y: h - b }, '0'));
  let path = '';
  rows.forEach((row, i) => {
    const bh = (h - t - b) * row.tor_flows / maxFlows;
    const bar = svg('rect', { x: x(i) - bw / 2, y: h - b - bh, width: bw, height: bh, fill: '#7a3db8', 'fill-opacity': 0.75 });
    bar.append(svg('title', {}, `#${row.id} ${row.started_at}: ${row.tor_flows} Tor flows`));
    s.append(bar);
    const best = Math.max(0, ...(row.hosts || []).map((hh) => hh.best_score));
    const y = h - b - (h - t - b) * best;
    path += (i ? 'L' : 'M') + x(i).toFixed(1) + ',' + y.toFixed(1);
    const dot = svg('circle', { cx: x(i), cy: y, r: 3, fill: '#c0641a' });
    dot.append(svg('title', {}, `#${row.id}: strongest score ${best.toFixed(4)}`));
    s.append(dot);
  });
  s.insertBefore(svg('path', { d: path, fill: 'none', stroke: '#c0641a', 'stroke-width': 1.5 }), s.firstChild);
  const first = rows[0].started_at || '', last = rows[n - 1].started_at || '';
  s.append(svg('text', { x: l, y: h - 12 }, first.replace('T', ' ').slice(0, 16)));
  s.append(svg('text', { x: w - r, y: h - 12, 'text-anchor': 'end' }, last.replace('T', ' ').slice(0, 16)));
  s.append(svg('text', { x: w / 2, y: h - 12, 'text-anchor': 'middle' }, 'bars: Tor flows per analysis · line: strongest score'));
  box.append(s);
}

// ---- relay data ------------------------------------------------------------------------
function showRelays(rl) {
  const text = rl.loaded
    ? `${rl.relays} relays, ${rl.documents} documents from ${rl.path} (digest ${rl.digest}, load ${rl.generation})`
    : 'no relay data: bridges and handshakes only';
  $('#relay-info').textContent = text;
  $('#relays-status').textContent = rl.loaded
    ? `relay data: ${rl.relays} relays, ${rl.documents} documents (digest ${rl.digest.slice(0, 12)})`
    : 'no relay data: bridges and handshakes only';
}

async function loadRelays(e) {
  e.preventDefault();
  const file = $('#relay-file').files[0];
  const path = $('#relay-path').value.trim();
  try {
    const rl = file
      ? await api('/api/relays?name=' + encodeURIComponent(file.name),
        { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file })
      : await api('/api/relays', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ path }) });
    showRelays(rl);
    $('#relay-file').value = '';
  } catch (x) {
    message('relay data: ' + x.message);
  }
}

// ---- start -----------------------------------------------------------------------------
async function start() {
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => show(b.dataset.view));
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    for (const f of e.dataTransfer.files) upload(f);
  });
  $('#file').addEventListener('change', (e) => { for (const f of e.target.files) upload(f); e.target.value = ''; });
  $('#flow-filter').addEventListener('submit', (e) => { e.preventDefault(); state.flowsOffset = 0; loadFlows().catch((x) => message(x.message)); });
  $('#prev').addEventListener('click', () => { state.flowsOffset = Math.max(0, state.flowsOffset - LIMIT); loadFlows(); });
  $('#next').addEventListener('click', () => { state.flowsOffset += LIMIT; loadFlows(); });
  $('#relay-form').addEventListener('submit', loadRelays);
  try {
    state.status = await api('/api/status');
    $('#limits').textContent = `Up to ${fmtBytes(state.status.max_upload)} per file; ` +
      `${state.status.runners} analys${state.status.runners > 1 ? 'es' : 'is'} at a time.`;
    showRelays(state.status.relays);
    const { jobs } = await api('/api/jobs');
    for (const j of jobs) {
      state.jobs.set(j.id, j);
      if (['queued', 'running'].includes(j.state)) follow(j.id);
    }
    renderJobs();
  } catch (e) {
    message(e.message);
  }
}

document.addEventListener('DOMContentLoaded', start);
