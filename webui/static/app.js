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
  window: [], // the dashboard's readings of the last WINDOW_S seconds
  live: null, // {time, rates: {proxy name: hits per second}} of its last two readings
  history: null, // the last /api/v1/history reply
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
  // clearInterval clears a setTimeout too (one pool of ids).
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

// The datapath counters of a stats reply, grouped by what an operator reads them
// for. A counter no group names (one a newer droverd adds) goes to "Other", so
// nothing the reply carries is ever hidden. Each group: [id, title, names, test].
const COUNTER_GROUPS = [
  ['traffic', 'Traffic', ['packets', 'bytes', 'encapsulated', 'outer_fragments', 'not_web', 'not_client',
    'ipv6_packets', 'ipv6_encapsulated', 'ipv6_clients_placed', 'ipv6_in_ipv6', 'affinity_hits',
    'affinity_moves', 'affinity_evictions', 'bursts', 'verdict_batches', 'verdict_singles', 'queues']],
  ['policy', 'Policy', ['bypassed', 'no_proxy_dropped', 'rejected', 'reject_sent', 'reject_rate_limited',
    'not_answered', 'quic_passed', 'quic_rejected', 'quic_dropped'], (k) => k.startsWith('quic_')],
  ['icmp', 'ICMP to clients', ['icmp_error_not_sender', 'icmp_error_outside_subnets', 'icmp_error_unplaced',
    'frag_needed_sent', 'frag_needed_rate_limited', 'packet_too_big_sent', 'packet_too_big_rate_limited']],
  ['errors', 'Errors', ['malformed', 'tx_errors', 'recv_errors', 'enobufs', 'verdict_errors',
    'fast_learn_errors', 'fast_encap_errors'], (k) => /errors?$/.test(k)],
  ['kernel', 'Kernel drops', ['kernel_queue_full_drops', 'kernel_socket_full_drops'], (k) => k.startsWith('kernel_')],
  ['fast', 'Fast path', ['fast_path', 'fast_clients', 'fast_learned', 'fast_packets', 'fast_bytes', 'fast_merged'],
    (k) => k.startsWith('fast_')],
];

// Counters of traffic that went around the proxies, unfiltered, and why.
// Any other counter whose name says "bypass" counts too.
const UNFILTERED = {
  bypassed: 'no proxy was up (no_proxy_policy bypass)',
  quic_passed: 'QUIC (UDP 443) let through (quic_policy pass)',
};
const isUnfiltered = (k) => k in UNFILTERED || /bypass/.test(k);

// How far back the bypass warning and the error trend look, in seconds.
const WINDOW_S = 60;
// When the dashboard takes its second reading after opening, in milliseconds.
const FIRST_VERDICT_MS = 500;

// Sorts the counters of g (numbers, and text such as fast_path) into the groups, in each group's own order
// first, then in the reply's order. Returns [{id, title, rows: [[name, value]]}].
function groupCounters(g) {
  const groups = COUNTER_GROUPS.map(([id, title, names, test]) => ({ id, title, names, test, rows: [] }));
  const other = { id: 'other', title: 'Other', rows: [] };
  const keys = Object.keys(g || {}).filter((k) => typeof g[k] === 'number' || typeof g[k] === 'string');
  const placed = new Set();
  for (const grp of groups) {
    for (const k of grp.names) {
      if (keys.includes(k) && !placed.has(k)) {
        grp.rows.push([k, g[k]]);
        placed.add(k);
      }
    }
  }
  for (const k of keys) {
    if (placed.has(k)) continue;
    const grp = groups.find((x) => x.test && x.test(k)) || other;
    grp.rows.push([k, g[k]]);
    placed.add(k);
  }
  // The per-reason split of "malformed" sits in the errors group, under it.
  const errors = groups.find((x) => x.id === 'errors');
  for (const [k, v] of Object.entries((g && g.malformed_by_reason) || {})) {
    errors.rows.push(['malformed: ' + k, v]);
  }
  for (const [k, v] of Object.entries(g || {})) {
    if (k !== 'malformed_by_reason' && typeof v === 'object' && v !== null) other.rows.push([k, JSON.stringify(v)]);
  }
  return [...groups, other].filter((x) => x.rows.length > 0);
}

// Sum of the numeric counters of one group (malformed's split excluded: it is in malformed).
function groupSum(groups, id) {
  const grp = groups.find((x) => x.id === id);
  if (!grp) return 0;
  return grp.rows.reduce((a, [k, v]) => a + (typeof v === 'number' && !k.startsWith('malformed: ') ? v : 0), 0);
}

// The readings of the last WINDOW_S seconds: [{time, c: {counter: value}}], oldest
// first, plus the last one before the window as its base.
function windowAdd(now, c) {
  const w = state.window;
  w.push({ time: now, c });
  while (w.length > 2 && w[1].time <= now - WINDOW_S) w.shift();
}

// How much counter k grew over the window; null until there are two readings.
// A counter that went back (droverd restarted) or is new counts from zero; one
// the newest reading lacks counts nothing.
function windowDelta(k) {
  const w = state.window;
  if (w.length < 2) return null;
  const b = w[w.length - 1].c[k];
  if (b === undefined) return 0;
  const a = w[0].c[k] || 0;
  return b >= a ? b - a : b;
}

// windowDelta summed over counters; null until there are two readings.
function windowSum(keys) {
  if (state.window.length < 2) return null;
  return keys.reduce((a, k) => a + windowDelta(k), 0);
}

// The numeric top-level counters of the groups named (the malformed split is in malformed).
const groupKeys = (groups, ...ids) => groups.filter((x) => ids.includes(x.id))
  .flatMap((x) => x.rows.filter(([k, v]) => typeof v === 'number' && !k.startsWith('malformed: ')).map(([k]) => k));

// The banner at the top: red while traffic went around the proxies in the
// window, calm when none did.
function renderBypass(g) {
  const keys = Object.keys(g).filter((k) => typeof g[k] === 'number' && isUnfiltered(k));
  const total = keys.reduce((a, k) => a + g[k], 0);
  const box = $('bypass');
  const deltas = keys.map((k) => [k, windowDelta(k)]);
  if (deltas.some(([, d]) => d === null) || state.window.length < 2) {
    box.dataset.state = 'unknown';
    $('bypass-title').textContent = 'Bypassed traffic:';
    $('bypass-text').textContent = fmtNum(total) + ' packets since droverd started; the last minute shows after the next reading.';
    return total;
  }
  const recent = deltas.filter(([, d]) => d > 0);
  const sum = recent.reduce((a, [, d]) => a + d, 0);
  if (sum > 0) {
    box.dataset.state = 'alert';
    box.setAttribute('role', 'alert');
    $('bypass-title').textContent = 'Unfiltered traffic:';
    $('bypass-text').replaceChildren(fmtNum(sum) + ' packets went around the proxies in the last minute — ',
      ...recent.map(([k, d], i) => el('span', { class: 'why', 'data-counter': k },
        (i ? '; ' : '') + k + ' +' + fmtNum(d) + (UNFILTERED[k] ? ' (' + UNFILTERED[k] + ')' : ''))),
      '. ' + fmtNum(total) + ' since droverd started.');
  } else {
    box.dataset.state = 'calm';
    box.setAttribute('role', 'status');
    $('bypass-title').textContent = 'No bypassed traffic';
    $('bypass-text').textContent = 'in the last minute: every web packet went to a proxy (' + fmtNum(total) + ' bypassed since droverd started).';
  }
  return total;
}

// The proxies-up tile: "n / m", and the ones not up, named.
function proxiesUpTile(proxies) {
  const up = proxies.filter((p) => p.up);
  const disabled = proxies.filter((p) => !p.up && p.admin === 'disabled');
  const down = proxies.filter((p) => !p.up && p.admin !== 'disabled');
  const notes = [];
  if (down.length) notes.push(el('div', { class: 'note down-list', text: 'down: ' + down.map((p) => p.name).join(', ') }));
  if (disabled.length) notes.push(el('div', { class: 'note', text: 'disabled: ' + disabled.map((p) => p.name).join(', ') }));
  return el('div', { class: 'tile' + (down.length || (proxies.length && !up.length) ? ' bad' : ''), 'data-tile': 'Proxies up' },
    el('div', { class: 'value', text: up.length + ' / ' + proxies.length }),
    el('div', { class: 'label', text: 'Proxies up' }), ...notes);
}

function tile(label, value, bad, ...notes) {
  return el('div', { class: 'tile' + (bad ? ' bad' : ''), 'data-tile': label },
    el('div', { class: 'value', text: value }), el('div', { class: 'label', text: label }), ...notes);
}

// Opens the details and shows one of its groups.
function openDetails(group) {
  $('dp-details').open = true;
  const target = document.querySelector('#dp-groups [data-group="' + group + '"]') || $('dp-details');
  target.scrollIntoView({ block: 'start' });
}

function renderTiles(stats, rates, groups) {
  const g = stats.global || {};
  const proxies = stats.proxies || [];
  const totalRate = Object.values(rates).reduce((a, b) => a + b, 0);
  const active = proxies.reduce((a, p) => a + (p.active_clients || 0), 0);
  const errors = groupSum(groups, 'errors') + groupSum(groups, 'kernel');
  const errorsRecent = windowSum(groupKeys(groups, 'errors', 'kernel'));
  const bypassTotal = Object.keys(g).filter((k) => typeof g[k] === 'number' && isUnfiltered(k))
    .reduce((a, k) => a + g[k], 0);
  const bypassRecent = windowSum(Object.keys(g).filter((k) => typeof g[k] === 'number' && isUnfiltered(k)));
  const link = (text, group) => el('a', { href: '#/dashboard', class: 'note', text,
    onclick: (ev) => { ev.preventDefault(); openDetails(group); } });
  $('tiles').replaceChildren(
    proxiesUpTile(proxies),
    tile('Hits/s', totalRate.toFixed(1)),
    tile('Active clients', fmtNum(active)),
    tile('Bypassed', fmtNum(bypassTotal), bypassRecent > 0,
      el('div', { class: 'note', text: bypassRecent === null ? 'since start' : '+' + fmtNum(bypassRecent) + ' last minute' })),
    tile('Errors', fmtNum(errors), errorsRecent > 0,
      el('div', { class: 'note', text: errorsRecent === null ? 'since start' : '+' + fmtNum(errorsRecent) + ' last minute' }),
      link('details', 'errors')),
    // The kernel fast path: packets it sent, or why it is not running.
    tile('Fast path', g.fast_path === 'on' ? fmtNum(g.fast_packets) : (g.fast_path || 'off'),
      g.fast_path !== undefined && g.fast_path !== 'on' && g.fast_path !== 'off'),
  );
}

// The details: every counter of the reply, a table per group.
function renderDatapath(groups) {
  let n = 0;
  const cards = groups.map((grp) => {
    n += grp.rows.length;
    return el('div', { class: 'dp-group', 'data-group': grp.id },
      el('h3', { id: 'dp-h-' + grp.id, text: grp.title }),
      el('div', { class: 'scroll' }, el('table', { class: 'grid compact', 'aria-labelledby': 'dp-h-' + grp.id },
        el('tbody', {}, ...grp.rows.map(([k, v]) => el('tr', { 'data-counter': k },
          el('td', { text: k.replace(/_/g, ' ') }),
          el('td', { class: 'num', text: typeof v === 'number' ? fmtNum(v) : v })))))));
  });
  $('dp-groups').replaceChildren(...cards);
  $('dp-summary').textContent = n + ' counters in ' + groups.length + ' groups';
}

// Squid's own figures for a proxy (its "squid" object), or nothing when the
// proxy does not report them.
function squidCell(p) {
  const td = el('td', { class: 'squid' });
  const s = p.squid;
  if (!s || typeof s !== 'object') return td;
  const age = typeof s.age_s === 'number' ? 'read ' + fmtAge(s.age_s) + ' ago' : '';
  if (!s.ok) {
    td.append(el('span', { class: 'squid-error', title: age, text: 'cache manager: ' + (s.error || 'no answer') }));
    return td;
  }
  const num = (v, d) => (typeof v === 'number' ? v.toFixed(d) : '–');
  td.append(el('span', { class: 'squid-figures', title: age },
    num(s.requests_per_second, 1) + ' req/s · ' +
    (typeof s.hit_ratio === 'number' ? (s.hit_ratio * 100).toFixed(0) + '%' : '–') + ' cache hits · ' +
    fmtNum(s.clients) + ' clients · ' + num(s.median_service_ms, 0) + ' ms median'));
  return td;
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
  if (prev) state.live = { time: now, rates: Object.fromEntries(stats.proxies.map((p) => [p.name, rates[p.id]])) };
  state.prevStats = { time: now, hits: Object.fromEntries(stats.proxies.map((p) => [p.id, p.hits])) };
  const g = stats.global || {};
  const groups = groupCounters(g);
  const reading = {};
  for (const [k, v] of Object.entries(g)) if (typeof v === 'number') reading[k] = v;
  windowAdd(now, reading);
  renderBypass(g);
  renderTiles(stats, rates, groups);
  const withSquid = stats.proxies.some((p) => p.squid && typeof p.squid === 'object');
  for (const th of document.querySelectorAll('#dash-table .squid-col')) th.hidden = !withSquid;
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
    el('td', { class: 'num active', text: fmtNum(p.active_clients) }),
    withSquid ? squidCell(p) : null));
  if (rows.length === 0) {
    rows.push(el('tr', {}, el('td', { colspan: 12, class: 'muted' }, 'No proxies yet. ', el('a', { href: '#/pool', text: 'Add one in Pool.' }))));
  }
  $('dash-table').tBodies[0].replaceChildren(...rows);
  renderDatapath(groups);
  renderCluster(stats.cluster);
  $('dash-updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
  drawChart();
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// The total of the per-proxy series: at each sample time, the sum of the proxies
// that have a point there.
function totalSeries(series) {
  const at = new Map();
  for (const s of series) for (const [t, v] of s.points) at.set(t, (at.get(t) || 0) + v);
  return [...at.entries()].sort((a, b) => a[0] - b[0]);
}

// The chart's span: the last hour, or less while droverd has not held an hour
// of samples, so a fresh start is not a thin line at the right edge.
// Spans in minutes, each with its tick step.
const CHART_SPANS_MIN = [[2, 1], [5, 1], [10, 2], [15, 5], [30, 10], [60, 15]];

async function refreshChart() {
  const h = await api('GET', '/api/v1/history');
  if (!h.ok) return;
  state.history = h;
  drawChart();
}

// The history's series, each extended to now by the dashboard's own last
// reading (hits per second between its last two readings, every 2 s), so the
// right edge is live and a proxy shows a line from its first history point.
function liveSeries(h) {
  const live = state.live;
  return h.series.map((s) => {
    const last = s.points.length ? s.points[s.points.length - 1][0] : 0;
    if (!live || live.rates[s.name] === undefined || live.time <= last) return s;
    return Object.assign({}, s, { points: [...s.points, [live.time, live.rates[s.name]]] });
  });
}

function drawChart() {
  const h = state.history;
  if (!h) return;
  const series = liveSeries(h);
  const box = $('chart');
  const width = Math.max(300, box.clientWidth || 800);
  const height = 240;
  const pad = { l: 48, r: 12, t: 10, b: 24 };
  const now = Date.now() / 1000;
  const held = (h.samples || 0) * (h.interval || 10) / 60;
  const [spanMin, tickMin] = CHART_SPANS_MIN.find(([m]) => m >= held) || CHART_SPANS_MIN[CHART_SPANS_MIN.length - 1];
  const span = spanMin * 60;
  const t0 = now - span;
  $('chart-title').textContent = spanMin === 60 ? 'Hit rate, last hour' : 'Hit rate, last ' + spanMin + ' minutes';
  const total = totalSeries(series);
  let max = 0;
  for (const [, v] of total) max = Math.max(max, v);
  max = niceMax(max);
  const x = (t) => pad.l + ((t - t0) / span) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const root = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'hits per second per proxy and in total, last ' + spanMin + ' minutes' });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    root.append(svg('line', { class: 'gridline', x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
    root.append(svg('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', text: v % 1 ? String(+v.toFixed(2)) : v }));
  }
  for (let m = spanMin; m >= 0; m -= tickMin) {
    root.append(svg('text', { x: x(now - m * 60), y: height - 6, 'text-anchor': 'middle', text: m ? '-' + m + 'm' : 'now' }));
  }
  root.append(svg('line', { class: 'axis', x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b }));
  root.append(svg('line', { class: 'axis', x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b }));
  const line = (points, cls, attrs) => {
    const pts = points.filter(([t]) => t >= t0);
    if (pts.length === 0) return;
    root.append(svg('polyline', Object.assign({ class: 'line ' + cls,
      points: pts.map(([t, v]) => x(t).toFixed(1) + ',' + y(v).toFixed(1)).join(' '),
      'data-max': Math.max(...pts.map(([, v]) => v)), 'data-points': pts.length }, attrs)));
  };
  // The legend gives each line's newest figure (none for a proxy without one at the newest sample).
  const newest = total.length ? total[total.length - 1][0] : null;
  const last = (points) => {
    const p = points.length ? points[points.length - 1] : null;
    return p && p[0] === newest ? ' ' + p[1].toFixed(1) + '/s' : '';
  };
  const legend = [];
  series.forEach((s, i) => {
    // Eight colours, then the same eight dashed: no two proxies look alike up to sixteen.
    const cls = 'c' + (i % 8) + (i >= 8 ? ' dashed' : '');
    line(s.points, cls, { 'data-proxy': s.name });
    legend.push(el('li', { 'data-proxy': s.name }, el('span', { class: 'swatch ' + cls }), s.name + last(s.points)));
  });
  if (series.length > 1) {
    line(total, 'total', { 'data-total': 'true' });
    legend.push(el('li', { 'data-total': 'true' }, el('span', { class: 'swatch total' }), 'total' + last(total)));
  }
  if (h.samples < 2) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', text: 'collecting samples (one every ' + h.interval + ' s)' }));
  }
  box.replaceChildren(root);
  $('chart-legend').replaceChildren(...legend);
}

function showDashboard() {
  show('dashboard');
  state.prevStats = null;
  // The window starts when the dashboard opens: it tells only what it saw.
  state.window = [];
  state.live = null;
  state.history = null;
  every(2000, refreshDashboard);
  // A second reading soon after the first: the bypass verdict needs two.
  state.timers.push(setTimeout(refreshDashboard, FIRST_VERDICT_MS));
  // Half the sampling interval: a new sample shows within 5 s.
  every(5000, refreshChart);
}

// ---- pool ----

// What a change would move, asked of the API with "dry_run": nothing changes.
function previewSummary(pv) {
  const share = pv.table_size ? (100 * pv.entries_moved / pv.table_size) : 0;
  let text = 'moves ' + share.toFixed(1) + ' % of the table, ' + fmtNum(pv.clients_moved) +
    ' of ' + fmtNum(pv.active_clients) + ' active clients change proxy';
  if (pv.clients_to_none > 0) text += ' (' + fmtNum(pv.clients_to_none) + ' to no proxy)';
  if (pv.assumes_up) text += ' (once it passes its probes)';
  return text;
}

function previewTable(pv) {
  const rows = pv.proxies.filter((x) => x.slots_gained || x.slots_lost || x.clients_from || x.clients_to)
    .map((x) => el('tr', { 'data-proxy': x.name || 'new' },
      el('td', { class: 'name', text: x.name || '(new)' }),
      el('td', { class: 'num', text: fmtNum(x.slots_before) + ' → ' + fmtNum(x.slots_after) }),
      el('td', { class: 'num', text: (x.slots_after >= x.slots_before ? '+' : '−') + fmtNum(Math.abs(x.slots_after - x.slots_before)) }),
      el('td', { class: 'num', text: fmtNum(x.clients_from) }),
      el('td', { class: 'num', text: fmtNum(x.clients_to) })));
  if (rows.length === 0) return null;
  return el('table', { class: 'grid preview-table' },
    el('thead', {}, el('tr', {},
      el('th', { text: 'proxy' }), el('th', { class: 'num', text: 'table entries' }),
      el('th', { class: 'num', text: 'change' }), el('th', { class: 'num', text: 'clients out' }),
      el('th', { class: 'num', text: 'clients in' }))),
    el('tbody', {}, ...rows));
}

// Asks for the preview of a change and shows it in the confirmation: true when confirmed,
// false when cancelled, the API's refusal (a bad field, a stale version) when there is nothing
// to confirm.
async function confirmChange(text, okText, method, path, body) {
  const r = await api(method, path, Object.assign({}, body || {}, { dry_run: true }));
  if (!r.ok && r.status >= 400 && r.status < 500) return r;
  const out = $('confirm-preview');
  if (r.ok && r.preview) {
    out.replaceChildren(el('strong', { text: previewSummary(r.preview) }), previewTable(r.preview) || '');
  } else {
    out.replaceChildren(el('span', { class: 'field-error', text: 'No preview: ' + (r.error || 'unknown error') }));
  }
  out.hidden = false;
  const ok = await confirmDialog(text, okText);
  out.replaceChildren();
  out.hidden = true;
  return ok;
}

async function setAdmin(p, admin) {
  const why = { drain: 'Its clients stay until idle; new clients go to the other proxies.',
    disabled: 'Its clients move to the other proxies now.' };
  if (why[admin]) {
    const c = await confirmChange((admin === 'drain' ? 'Drain' : 'Disable') + ' proxy ' +
      p.name + ' (' + p.address + ')? ' + why[admin], admin === 'drain' ? 'Drain' : 'Disable',
    'PUT', '/api/v1/proxies/' + p.id, { admin, version: p.version });
    if (c !== true) {
      if (c) { banner(p.name + ': ' + c.error, true); loadPool(); }
      return;
    }
  }
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
  const c = await confirmChange('Delete proxy ' + p.name + ' (' + p.address + ')? Its clients move to the other proxies.', 'Delete',
    'DELETE', '/api/v1/proxies/' + p.id + '?version=' + p.version);
  if (c !== true) {
    if (c) { banner(p.name + ': ' + c.error, true); loadPool(); }
    return;
  }
  const r = await api('DELETE', '/api/v1/proxies/' + p.id + '?version=' + p.version);
  if (!r.ok) banner(p.name + ': ' + r.error, true);
  else banner(p.name + ' deleted.');
  loadPool();
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
    // Squid's own figures as the dashboard shows them; "-" while squid_stats is off.
    p.squid ? squidCell(p) : el('td', { class: 'squid muted', text: '-' }),
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
    // What moves clients (weight, state, address) is previewed before it is saved.
    const moves = body.weight !== editing.weight || body.admin !== editing.admin || body.address !== editing.address;
    const c = moves ? await confirmChange('Save proxy ' + editing.name + '?', 'Save', 'PUT', '/api/v1/proxies/' + editing.id, body) : true;
    r = c === true ? await api('PUT', '/api/v1/proxies/' + editing.id, body) : c;
  } else {
    if (body.name === '') delete body.name;
    const c = await confirmChange('Add proxy ' + (body.name || body.address) + '?', 'Add', 'POST', '/api/v1/proxies', body);
    r = c === true ? await api('POST', '/api/v1/proxies', body) : c;
  }
  if (r === false) return; // cancelled
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
