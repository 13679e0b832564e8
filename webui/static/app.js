// drover web UI: plain JavaScript, no build step, no inline script (the CSP forbids it).
'use strict';

const state = {
  csrf: null,
  user: null,
  mustChange: false,
  timers: [],
  prevStats: null, // {time, hits: {id: n}} for per-second rates
  auditPages: [], // "before" ids of the pages behind us
  auditBefore: 0,
  proxies: [],
};

const VIEWS = ['login', 'password', 'dashboard', 'pool', 'lookup', 'settings', 'audit', 'account'];
const $ = (id) => document.getElementById(id);

// Builds an element; text always goes in as text, never as HTML.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  return e;
}

const fmtNum = (n) => (n === undefined || n === null ? '–' : Number(n).toLocaleString('en-US'));

function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
}

function fmtAge(s) {
  if (s === undefined || s === null) return '–';
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

function fmtTime(unix) {
  const d = new Date(unix * 1000);
  const p = (x) => String(x).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' +
    p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
}

function badge(text, cls) {
  return el('span', { class: 'badge ' + (cls || text), text });
}

function banner(text, isError) {
  const b = $('banner');
  if (!text) {
    b.hidden = true;
    return;
  }
  b.textContent = text;
  b.className = 'banner' + (isError ? ' error' : '');
  b.hidden = false;
}

// One JSON call. Always resolves to the reply object, with .status added.
async function api(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  if (method !== 'GET' && state.csrf) opts.headers['X-CSRF-Token'] = state.csrf;
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    banner('drover is not reachable: ' + e.message, true);
    return { ok: false, status: 0, error: 'not reachable' };
  }
  let data;
  try {
    data = await res.json();
  } catch (e) {
    data = { ok: false, error: 'unexpected reply (HTTP ' + res.status + ')' };
  }
  data.status = res.status;
  if (res.status === 401 && path !== '/api/v1/login' && path !== '/api/v1/session') {
    signedOut('Your session has ended: sign in again.');
  } else if (res.status === 403 && data.kind === 'password_change_required') {
    state.mustChange = true;
    location.hash = '#/password';
  }
  return data;
}

function stopTimers() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
}

function every(ms, fn) {
  fn();
  state.timers.push(setInterval(fn, ms));
}

function show(view) {
  stopTimers();
  for (const v of VIEWS) $('view-' + v).hidden = v !== view;
  const app = view !== 'login' && view !== 'password';
  $('nav').hidden = !app;
  $('who').hidden = !state.user;
  $('who-name').textContent = state.user || '';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === view) {
      a.classList.add('active');
      a.setAttribute('aria-current', 'page');
    } else {
      a.classList.remove('active');
      a.removeAttribute('aria-current');
    }
  }
  document.title = 'drover – ' + view.charAt(0).toUpperCase() + view.slice(1);
}

function signedOut(message) {
  state.csrf = null;
  state.user = null;
  state.mustChange = false;
  show('login');
  $('login-error').textContent = message || '';
  $('login-password').value = '';
  $('login-password').focus();
}

// Field errors: the reply's "field" names the input; anything else goes to the form's own line.
function clearErrors(form) {
  for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

function showError(form, reply, fallbackField) {
  const field = reply.field || fallbackField || '';
  let p = form.querySelector('.field-error[data-field="' + CSS.escape(field) + '"]');
  if (!p) p = form.querySelector('.field-error[data-field=""]') || form.querySelector('.field-error');
  if (p) p.textContent = reply.error || 'failed';
  const input = form.querySelector('[name="' + CSS.escape(field) + '"]');
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

async function route() {
  const view = (location.hash.replace(/^#\//, '') || 'dashboard').split('?')[0];
  if (!state.user) {
    const s = await api('GET', '/api/v1/session');
    if (!s.ok || !s.signed_in) {
      signedOut();
      return;
    }
    state.user = s.user;
    state.csrf = s.csrf || null;
    state.mustChange = !!s.must_change_password;
    $('footer').textContent = 'drover ' + s.version;
  }
  if (state.mustChange) {
    showPassword(true);
    return;
  }
  banner('');
  switch (view) {
    case 'pool': showPool(); break;
    case 'lookup': show('lookup'); $('lookup-client').focus(); break;
    case 'settings': showSettings(); break;
    case 'audit': state.auditPages = []; state.auditBefore = 0; showAudit(); break;
    case 'account': showAccount(); break;
    case 'password': showPassword(false); break;
    default: showDashboard(); break;
  }
}

// ---- sign-in and password ----

async function onLogin(ev) {
  ev.preventDefault();
  const form = $('login-form');
  clearErrors(form);
  const r = await api('POST', '/api/v1/login', {
    username: $('login-user').value,
    password: $('login-password').value,
  });
  $('login-password').value = '';
  if (!r.ok) {
    $('login-error').textContent = r.error || 'sign-in failed';
    $('login-password').focus();
    return;
  }
  state.user = r.user;
  state.csrf = r.csrf;
  state.mustChange = !!r.must_change_password;
  $('footer').textContent = 'drover ' + r.version;
  if (location.hash === '' || location.hash === '#/password') location.hash = '#/dashboard';
  route();
}

function showPassword(forced) {
  show('password');
  $('password-title').textContent = forced ? 'Set your own password' : 'Change your password';
  $('password-hint').hidden = !forced;
  const form = $('password-form');
  form.reset();
  clearErrors(form);
  $('pw-current').focus();
}

async function onPassword(ev) {
  ev.preventDefault();
  const form = $('password-form');
  clearErrors(form);
  if ($('pw-new').value !== $('pw-confirm').value) {
    showError(form, { field: 'confirm', error: 'the two new passwords differ' });
    return;
  }
  const r = await api('POST', '/api/v1/account/password', {
    current: $('pw-current').value,
    new: $('pw-new').value,
  });
  if (!r.ok) {
    showError(form, r);
    return;
  }
  form.reset();
  state.csrf = r.csrf;
  state.mustChange = false;
  banner('Password changed.');
  location.hash = '#/dashboard';
  route();
}

async function onLogout() {
  await api('POST', '/api/v1/logout');
  signedOut('Signed out.');
}

// ---- dashboard ----

function healthCell(p) {
  const td = el('td', { class: 'health' });
  if (p.health === undefined) return td;
  td.append(badge(p.health));
  return td;
}

function checkText(p) {
  if (!p.last_check) return '–';
  return p.last_check + ' ' + p.last_check_ms + ' ms';
}

function renderTiles(stats, rates) {
  const g = stats.global || {};
  const proxies = stats.proxies || [];
  const up = proxies.filter((p) => p.up).length;
  const totalRate = Object.values(rates).reduce((a, b) => a + b, 0);
  const active = proxies.reduce((a, p) => a + (p.active_clients || 0), 0);
  const drops = (g.kernel_queue_full_drops || 0) + (g.kernel_socket_full_drops || 0);
  const tiles = [
    ['Proxies up', up + ' / ' + proxies.length, up === 0 && proxies.length > 0],
    ['Hits/s', totalRate.toFixed(1)],
    ['Active clients', fmtNum(active)],
    ['Packets', fmtNum(g.packets)],
    // The kernel fast path: packets it sent, or why it is not running.
    ['Fast path', g.fast_path === 'on' ? fmtNum(g.fast_packets) : (g.fast_path || 'off'),
      g.fast_path !== undefined && g.fast_path !== 'on' && g.fast_path !== 'off'],
    ['Bytes', fmtBytes(g.bytes)],
    ['Tunnelled', fmtNum(g.encapsulated)],
    ['Bypassed', fmtNum(g.bypassed)],
    ['Malformed', fmtNum(g.malformed), g.malformed > 0],
    ['ENOBUFS', fmtNum(g.enobufs), g.enobufs > 0],
    ['Kernel drops', fmtNum(drops), drops > 0],
  ];
  $('tiles').replaceChildren(...tiles.map(([label, value, bad]) =>
    el('div', { class: 'tile' + (bad ? ' bad' : ''), 'data-tile': label },
      el('div', { class: 'value', text: value }), el('div', { class: 'label', text: label }))));
}

function renderDatapath(g) {
  const rows = [];
  for (const [k, v] of Object.entries(g || {})) {
    if (typeof v !== 'number') continue;
    rows.push(el('tr', {}, el('td', { text: k.replace(/_/g, ' ') }), el('td', { class: 'num', text: fmtNum(v) })));
  }
  for (const [k, v] of Object.entries((g && g.malformed_by_reason) || {})) {
    rows.push(el('tr', {}, el('td', { text: 'malformed: ' + k.replace(/_/g, ' ') }), el('td', { class: 'num', text: fmtNum(v) })));
  }
  $('dp-table').tBodies[0].replaceChildren(...rows);
}

// The cluster: this appliance (role, replicated generation, table digest,
// VRRP state, the deviations told and learnt), and its peers, each agreeing or not.
function renderCluster(c) {
  if (!c) return;
  const self = [
    ['node', c.node],
    ['configuration generation', String(c.config_generation)],
    ['table digest', c.table_digest],
    ['hash key', c.hash_key_id],
    ['VRRP', c.vrrp],
  ];
  const p = c.primary;
  if (p) {
    self.push(['primary', p.url || '(cluster_primary not set)']);
    self.push(['primary state', p.reachable ? 'reachable'
      : 'unreachable' + (p.unreachable_since ? ' since ' + fmtTime(p.unreachable_since) : '')]);
    if (p.error) self.push(['last error', p.error]);
    self.push(['snapshots', p.applied + ' applied, ' + p.refused + ' refused']);
  }
  const d = c.deviations;
  if (d) {
    self.push(['deviations', d.exported + ' exported (' + d.not_exported + ' past the cap), '
      + d.sent + ' sent in ' + d.exchanges + ' exchanges']);
    self.push(['peer deviations', d.imported + ' imported, ' + d.refreshed + ' refreshed, '
      + d.kept + ' kept; refused: ' + d.refused_unknown + ' unknown or unusable proxy, '
      + d.refused_full + ' table full; ' + d.expired + ' expired']);
  }
  $('cluster-role').textContent = c.role + (c.role === 'replica' ? ': changes are made on the primary' : '');
  $('cluster-self').tBodies[0].replaceChildren(...self.map(([k, v]) =>
    el('tr', { 'data-cluster': k }, el('td', { text: k }), el('td', { class: 'value', text: v }))));
  const peers = [];
  if (p && p.node) peers.push(Object.assign({ role: 'primary' }, p));
  for (const x of c.peers || []) peers.push(x);
  const rows = peers.map((x) => el('tr', { 'data-peer': x.node },
    el('td', { text: x.role }),
    el('td', { class: 'name', text: x.node }),
    el('td', { class: 'num generation', text: String(x.generation) }),
    el('td', { class: 'digest', text: (x.table_digest || '').slice(0, 16) }),
    el('td', { class: 'vrrp', text: x.vrrp }),
    el('td', { class: 'agree' }, badge(x.agree ? 'yes' : 'no', x.agree ? 'up' : 'down')),
    el('td', { text: x.seen_seconds_ago === null || x.seen_seconds_ago === undefined ? 'never' : fmtAge(x.seen_seconds_ago) + ' ago' })));
  if (rows.length === 0) {
    rows.push(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: c.role === 'standalone'
      ? 'Standalone: no cluster (settings: cluster_role).' : 'No peer heard from yet.' })));
  }
  $('cluster-peers').tBodies[0].replaceChildren(...rows);
}

async function refreshDashboard() {
  const stats = await api('GET', '/api/v1/stats');
  if (!stats.ok) return;
  const now = Date.now() / 1000;
  const rates = {};
  const prev = state.prevStats;
  for (const p of stats.proxies) {
    if (prev && prev.hits[p.id] !== undefined && p.hits >= prev.hits[p.id] && now > prev.time) {
      rates[p.id] = (p.hits - prev.hits[p.id]) / (now - prev.time);
    } else {
      rates[p.id] = 0;
    }
  }
  state.prevStats = { time: now, hits: Object.fromEntries(stats.proxies.map((p) => [p.id, p.hits])) };
  renderTiles(stats, rates);
  const rows = stats.proxies.map((p) => el('tr', { 'data-proxy': p.name },
    el('td', { class: 'name', text: p.name }),
    el('td', { class: 'address', text: p.address }),
    el('td', { class: 'num weight', text: p.weight }),
    el('td', { class: 'admin' }, badge(p.admin)),
    healthCell(p),
    el('td', { class: 'check', text: checkText(p) }),
    el('td', { class: 'since', text: fmtAge(p.since_change_s) }),
    el('td', { class: 'num hits', text: fmtNum(p.hits) }),
    el('td', { class: 'num rate', text: rates[p.id].toFixed(1) }),
    el('td', { class: 'num packets', text: fmtNum(p.packets) }),
    el('td', { class: 'num bytes', text: fmtBytes(p.bytes) }),
    el('td', { class: 'num active', text: fmtNum(p.active_clients) })));
  if (rows.length === 0) {
    rows.push(el('tr', {}, el('td', { colspan: 12, class: 'muted' }, 'No proxies yet. ', el('a', { href: '#/pool', text: 'Add one in Pool.' }))));
  }
  $('dash-table').tBodies[0].replaceChildren(...rows);
  renderDatapath(stats.global);
  renderCluster(stats.cluster);
  $('dash-updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

async function refreshChart() {
  const h = await api('GET', '/api/v1/history');
  if (!h.ok) return;
  const box = $('chart');
  const width = Math.max(300, box.clientWidth || 800);
  const height = 240;
  const pad = { l: 48, r: 12, t: 10, b: 24 };
  const now = Date.now() / 1000;
  const t0 = now - 3600;
  let max = 0;
  for (const s of h.series) for (const [, v] of s.points) max = Math.max(max, v);
  max = niceMax(max);
  const x = (t) => pad.l + ((t - t0) / 3600) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const root = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'hits per second per proxy over the last hour' });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    root.append(svg('line', { class: 'gridline', x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
    root.append(svg('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', text: v % 1 ? String(+v.toFixed(2)) : v }));
  }
  for (let m = 60; m >= 0; m -= 15) {
    root.append(svg('text', { x: x(now - m * 60), y: height - 6, 'text-anchor': 'middle', text: m ? '-' + m + 'm' : 'now' }));
  }
  root.append(svg('line', { class: 'axis', x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b }));
  root.append(svg('line', { class: 'axis', x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b }));
  const legend = [];
  h.series.forEach((s, i) => {
    const cls = 'c' + (i % 8);
    const pts = s.points.filter(([t]) => t >= t0).map(([t, v]) => x(t).toFixed(1) + ',' + y(v).toFixed(1));
    if (pts.length > 0) root.append(svg('polyline', { class: 'line ' + cls, points: pts.join(' ') }));
    legend.push(el('li', {}, el('span', { class: 'swatch ' + cls }), s.name));
  });
  if (h.samples < 2) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', text: 'collecting samples (one every ' + h.interval + ' s)' }));
  }
  box.replaceChildren(root);
  $('chart-legend').replaceChildren(...legend);
}

function showDashboard() {
  show('dashboard');
  state.prevStats = null;
  every(2000, refreshDashboard);
  every(10000, refreshChart);
}

// ---- pool ----

async function setAdmin(p, admin) {
  const r = await api('PUT', '/api/v1/proxies/' + p.id, { admin, version: p.version });
  if (!r.ok) banner(p.name + ': ' + r.error + (r.status === 409 ? ' – reloaded, try again' : ''), true);
  else banner(p.name + ' is now ' + admin + '.');
  loadPool();
}

function confirmDialog(text, okText) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okText;
    d.returnValue = 'cancel';
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
    $('confirm-cancel').focus();
  });
}

async function deleteProxy(p) {
  if (!(await confirmDialog('Delete proxy ' + p.name + ' (' + p.address + ')? Its clients move to the other proxies.', 'Delete'))) return;
  const r = await api('DELETE', '/api/v1/proxies/' + p.id + '?version=' + p.version);
  if (!r.ok) banner(p.name + ': ' + r.error, true);
  else banner(p.name + ' deleted.');
  loadPool();
}

// Squid's own figures of a proxy (null: its squid_stats is off). A failed read
// shows its error; the figures beside it are those of the last good read.
function squidCell(q) {
  if (!q) return el('td', { class: 'squid muted', text: '-' });
  const figures = q.ok || q.reads > q.failures
    ? q.requests_per_second.toFixed(1) + ' req/s, ' + (100 * q.hit_ratio).toFixed(1) + '% hits, ' +
      q.clients + ' clients, median ' + q.median_service_ms.toFixed(1) + ' ms'
    : '';
  return el('td', { class: 'squid' },
    figures ? el('div', { class: 'squid-figures', text: figures }) : null,
    q.ok ? null : el('div', { class: 'squid-error', text: q.error || 'not read' }));
}

function poolRow(p) {
  const act = (label, admin) => el('button', {
    type: 'button', class: 'small', text: label, disabled: p.admin === admin,
    'data-action': admin, onclick: () => setAdmin(p, admin),
  });
  return el('tr', { 'data-proxy': p.name },
    el('td', { class: 'name', text: p.name }),
    el('td', { class: 'address' }, p.address,
      p.address6 ? el('div', { class: 'address6 muted', text: p.address6 }) : null,
      // Its IPv6 address's own probes: while down, its IPv6 clients go in 6in4.
      p.health6 ? el('div', { class: 'health6 muted', text: 'IPv6 ' + p.health6.state +
        (p.health6.up ? '' : ' (IPv6 clients in 6in4)') }) : null),
    el('td', { class: 'num', text: p.weight }),
    el('td', { class: 'admin' }, badge(p.admin)),
    healthCell(p),
    el('td', { text: p.probe + (p.probe_override ? '' : ' (pool)') }),
    squidCell(p.squid),
    el('td', {}, el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'small', text: 'Edit', 'data-action': 'edit', onclick: () => openEditor(p) }),
      act('Enable', 'enabled'), act('Drain', 'drain'), act('Disable', 'disabled'),
      el('a', { class: 'button small', text: 'Set-up script', 'data-action': 'script',
        href: '/api/v1/proxies/' + p.id + '/setup-script', download: 'drover-setup-' + p.name + '.sh',
        title: 'Shell script that prepares this proxy: tunnel, rp_filter, intercept rule, advmss' }),
      el('button', { type: 'button', class: 'small', text: 'Delete', 'data-action': 'delete', onclick: () => deleteProxy(p) }))));
}

async function loadPool() {
  const r = await api('GET', '/api/v1/proxies');
  if (!r.ok) return;
  state.proxies = r.proxies;
  $('pool-table').tBodies[0].replaceChildren(...r.proxies.map(poolRow));
  $('pool-empty').hidden = r.proxies.length > 0;
}

let editing = null;

function openEditor(p) {
  editing = p || null;
  const form = $('proxy-form');
  form.reset();
  clearErrors(form);
  $('proxy-editor-title').textContent = p ? 'Edit ' + p.name : 'Add proxy';
  $('pf-name').value = p ? p.name : '';
  $('pf-address').value = p ? p.address : '';
  $('pf-address6').value = p && p.address6 ? p.address6 : '';
  $('pf-weight').value = p ? p.weight : 100;
  $('pf-admin').value = p ? p.admin : 'enabled';
  $('pf-probe').value = p && p.probe_override ? p.probe : 'default';
  $('pf-squid-stats').value = p && p.squid_stats ? 'on' : 'off';
  $('proxy-editor').hidden = false;
  (p ? $('pf-name') : $('pf-address')).focus();
}

async function onProxySave(ev) {
  ev.preventDefault();
  const form = $('proxy-form');
  clearErrors(form);
  const weightText = $('pf-weight').value.trim();
  if (!/^[0-9]+$/.test(weightText)) {
    showError(form, { field: 'weight', error: 'weight: a whole number from 0' });
    return;
  }
  const body = {
    name: $('pf-name').value.trim(),
    address: $('pf-address').value.trim(),
    // Empty clears it: the proxy's IPv6 clients then go in IPv6-in-IPv4.
    address6: $('pf-address6').value.trim(),
    weight: Number(weightText),
    admin: $('pf-admin').value,
    probe: $('pf-probe').value,
    // Off unless the proxy's Squid allows this appliance its cache manager.
    squid_stats: $('pf-squid-stats').value === 'on',
  };
  let r;
  if (editing) {
    body.version = editing.version;
    r = await api('PUT', '/api/v1/proxies/' + editing.id, body);
  } else {
    if (body.name === '') delete body.name;
    r = await api('POST', '/api/v1/proxies', body);
  }
  if (!r.ok) {
    showError(form, r);
    if (r.status === 409 && r.kind === 'conflict') loadPool();
    return;
  }
  banner((r.proxy ? r.proxy.name : 'proxy') + (editing ? ' saved.' : ' added.'));
  $('proxy-editor').hidden = true;
  editing = null;
  loadPool();
}

function showPool() {
  show('pool');
  $('proxy-editor').hidden = true;
  every(3000, loadPool);
}

// ---- lookup ----

async function onLookup(ev) {
  ev.preventDefault();
  const form = $('lookup-form');
  const out = $('lookup-result');
  $('lookup-error').textContent = '';
  $('lookup-client').removeAttribute('aria-invalid');
  const client = $('lookup-client').value.trim();
  const r = await api('GET', '/api/v1/lookup?client=' + encodeURIComponent(client));
  if (!r.ok) {
    out.hidden = true;
    $('lookup-error').textContent = r.error;
    $('lookup-client').setAttribute('aria-invalid', 'true');
    return;
  }
  const why = {
    affinity: 'an active client: its affinity entry (idle ' + r.idle_seconds + ' s) keeps it there',
    table: 'a new or idle client: the Maglev table picks it',
    none: 'no proxy would take this client now (no_proxy_policy applies)',
  }[r.reason] || r.reason;
  out.replaceChildren(
    el('p', {}, el('strong', { text: r.client }), ' → ',
      r.proxy ? el('strong', { id: 'lookup-proxy', text: r.proxy.name + ' (' + r.proxy.address + ')' }) : el('strong', { id: 'lookup-proxy', text: 'none' })),
    el('p', { class: 'muted', id: 'lookup-reason', text: 'Why: ' + why }));
  out.hidden = false;
  form.querySelector('input').focus();
}

// ---- settings ----

const SETTING_GROUPS = [
  ['Health probes', (k) => k.startsWith('probe_') || k === 'assume_up_at_start'],
  ['Policy', (k) => ['no_proxy_policy', 'malformed_policy', 'fail_open'].includes(k)],
  ['Traffic', (k) => ['ports', 'client_subnets', 'ipv6_client_prefix', 'tunnel_source', 'tunnel_source6', 'frag_needed_rate'].includes(k)],
  ['Affinity and table', (k) => k.startsWith('affinity_') || k === 'maglev_table_size'],
  ['Queues', (k) => k === 'queues' || k.startsWith('queue_')],
  ['Web UI and metrics', () => true],
];

const CHOICES = {
  no_proxy_policy: ['bypass', 'drop', 'reject'],
  malformed_policy: ['accept', 'drop'],
  probe_kind: ['http-proxy', 'http', 'tcp'],
  metrics_access: ['local', 'open', 'auth'],
  cluster_role: ['standalone', 'primary', 'replica'],
};

function settingInput(s) {
  const id = 'set-' + s.key;
  const choices = s.type === 'bool' ? ['true', 'false'] : CHOICES[s.key];
  if (choices) {
    return el('select', { id, name: s.key }, ...choices.map((c) => el('option', { value: c, text: c, selected: c === s.value })));
  }
  return el('input', { id, name: s.key, value: s.value, autocomplete: 'off', spellcheck: 'false' });
}

function settingRow(s) {
  const input = settingInput(s);
  const err = el('p', { class: 'field-error', 'data-field': s.key });
  const save = el('button', { type: 'submit', class: 'small primary', text: 'Save', disabled: true });
  const form = el('form', { class: 'inline', novalidate: true, 'data-setting': s.key }, input, save);
  input.addEventListener('input', () => { save.disabled = input.value === s.value; });
  input.addEventListener('change', () => { save.disabled = input.value === s.value; });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    input.removeAttribute('aria-invalid');
    const r = await api('PUT', '/api/v1/settings/' + s.key, { value: input.value });
    if (!r.ok) {
      err.textContent = r.error;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    s.value = r.setting.value;
    input.value = s.value;
    save.disabled = true;
    banner(s.key + ' = ' + s.value + ' saved.');
  });
  return el('tr', { class: 'setting-row' },
    el('td', {}, el('label', { for: 'set-' + s.key, text: s.key })),
    el('td', {}, form, err),
    el('td', { class: 'help', text: s.help + (s.value !== s.default ? ' (default ' + (s.default || 'empty') + ')' : '') +
      (s.scope === 'node' ? ' [this appliance only]' : '') }));
}

async function showSettings() {
  show('settings');
  const r = await api('GET', '/api/v1/settings');
  if (!r.ok) return;
  const left = [...r.settings];
  const cards = [];
  for (const [title, test] of SETTING_GROUPS) {
    const mine = left.filter((s) => test(s.key));
    for (const s of mine) left.splice(left.indexOf(s), 1);
    if (mine.length === 0) continue;
    cards.push(el('div', { class: 'card' }, el('h2', { text: title }),
      el('div', { class: 'scroll' }, el('table', { class: 'grid' }, el('tbody', {}, ...mine.map(settingRow))))));
  }
  $('settings-groups').replaceChildren(...cards);
}

// ---- audit ----

async function showAudit() {
  show('audit');
  const q = '/api/v1/audit?limit=50' + (state.auditBefore ? '&before=' + state.auditBefore : '');
  const r = await api('GET', q);
  if (!r.ok) return;
  $('audit-table').tBodies[0].replaceChildren(...r.entries.map((e) => el('tr', {},
    el('td', { text: fmtTime(e.time) }), el('td', { text: e.actor }), el('td', { text: e.action }),
    el('td', { class: 'wrap', text: e.detail }))));
  $('audit-older').disabled = r.entries.length < 50;
  $('audit-older').dataset.before = r.entries.length ? r.entries[r.entries.length - 1].id : 0;
  $('audit-newer').disabled = state.auditBefore === 0;
}

// ---- account ----

async function loadTokens() {
  const r = await api('GET', '/api/v1/tokens');
  if (!r.ok) return;
  $('token-table').tBodies[0].replaceChildren(...r.tokens.map((t) => el('tr', { 'data-token': t.name },
    el('td', { text: t.name }), el('td', { text: t.user }), el('td', { text: fmtTime(t.created_at) }),
    el('td', {}, el('button', {
      type: 'button', class: 'small', text: 'Revoke',
      onclick: async () => {
        if (!(await confirmDialog('Revoke token ' + t.name + '? Scripts using it stop working.', 'Revoke'))) return;
        const d = await api('DELETE', '/api/v1/tokens/' + t.id);
        banner(d.ok ? 'Token ' + t.name + ' revoked.' : d.error, !d.ok);
        loadTokens();
      },
    })))));
}

async function onTokenCreate(ev) {
  ev.preventDefault();
  const form = $('token-form');
  clearErrors(form);
  $('token-error').textContent = '';
  const r = await api('POST', '/api/v1/tokens', { name: $('token-name').value.trim() });
  if (!r.ok) {
    $('token-error').textContent = r.error;
    $('token-name').setAttribute('aria-invalid', 'true');
    return;
  }
  $('token-name').value = '';
  $('token-new').replaceChildren(el('p', { text: 'Token ' + r.name + ' – copy it now, it is not shown again:' }),
    el('code', { class: 'token', id: 'token-value', text: r.token }));
  $('token-new').hidden = false;
  loadTokens();
}

function showAccount() {
  show('account');
  $('token-new').hidden = true;
  loadTokens();
}

// ---- wiring ----

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', onLogin);
  $('password-form').addEventListener('submit', onPassword);
  $('logout').addEventListener('click', onLogout);
  $('pool-add').addEventListener('click', () => openEditor(null));
  $('pf-cancel').addEventListener('click', () => { $('proxy-editor').hidden = true; editing = null; });
  $('proxy-form').addEventListener('submit', onProxySave);
  $('lookup-form').addEventListener('submit', onLookup);
  $('token-form').addEventListener('submit', onTokenCreate);
  $('account-password').addEventListener('click', () => { location.hash = '#/password'; });
  $('audit-older').addEventListener('click', () => {
    state.auditPages.push(state.auditBefore);
    state.auditBefore = Number($('audit-older').dataset.before);
    showAudit();
  });
  $('audit-newer').addEventListener('click', () => {
    state.auditPages = [];
    state.auditBefore = 0;
    showAudit();
  });
  window.addEventListener('hashchange', route);
  route();
});
