// Browser test of the drover web UI: Debian chromium driven by playwright-core.
// Run by tests/e2e/webui_browser.sh inside the appliance namespace, with a
// client namespace making web requests through droverd meanwhile.
// Prints "ok - ..." / "not ok - ..." lines.
//
//   node webui.test.mjs URL INITIAL_PASSWORD ARTIFACTS_DIR
//
// DROVER_BROWSER_HOLD_S=N waits N seconds more before the main view's
// screenshot, so its chart holds more samples (0, the default, in the suite).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, initialPassword, artifacts] = process.argv.slice(2);
const newPassword = 'browser test password 7';
let failed = 0;
const consoleErrors = [];
let allowResourceErrors = false;

function check(cond, name, detail) {
  if (cond) console.log('ok - ' + name);
  else {
    failed++;
    console.log('not ok - ' + name + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''));
  }
  return cond;
}

// Runs one step; prints how long it took, as a figure (never asserted).
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    check(false, name, String(e.message || e).split('\n')[0]);
  }
  console.log('# ' + name + ': ' + ((Date.now() - t0) / 1000).toFixed(1) + ' s');
}

async function sumHits(page) {
  const cells = await page.locator('#dash-table tbody td.hits').allTextContents();
  return cells.reduce((a, t) => a + Number(t.replace(/,/g, '') || 0), 0);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-chromium-'));
// A fresh profile each run (playwright passes it to chromium as --user-data-dir).
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1366, height: 900 },
});
const page = context.pages()[0] || await context.newPage();
// Waits end as soon as the page shows what is awaited; the bounds only stop
// a test that would otherwise hang, and are generous for a busy machine.
const WAIT_MS = 120000;
page.setDefaultTimeout(WAIT_MS);
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const text = msg.text();
  // A refused write shows as a failed resource load; only the validation steps expect that.
  if (allowResourceErrors && /Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
  consoleErrors.push(text);
});
page.on('pageerror', (e) => consoleErrors.push('page error: ' + e.message));

await step('first login with password change', async () => {
  await page.goto(url);
  await page.locator('#view-login').waitFor();
  await page.fill('#login-user', 'admin');
  await page.fill('#login-password', initialPassword);
  await page.click('#login-form button[type=submit]');
  await page.locator('#view-password').waitFor();
  check(true, 'initial password leads to the password change');
  await page.fill('#pw-current', initialPassword);
  await page.fill('#pw-new', newPassword);
  await page.fill('#pw-confirm', newPassword);
  await page.click('#password-form button[type=submit]');
  await page.locator('#view-dashboard').waitFor();
  check(true, 'after the change the dashboard shows');
});

// Nothing is up yet while the client makes requests: its packets go around
// the proxies (no_proxy_policy bypass), unfiltered, and the dashboard says so.
await step('bypassed traffic stands out', async () => {
  await page.locator('#bypass[data-state="alert"]').waitFor();
  const text = await page.locator('#bypass').textContent();
  check(/went around the proxies/.test(text) &&
    await page.locator('#bypass .why[data-counter="bypassed"]').count() === 1,
  'a red banner names the bypass counter that rose while no proxy is up', text);
  check(await page.locator('[data-tile="Bypassed"].bad').count() === 1, 'the Bypassed tile is marked');
  const upTile = await page.locator('[data-tile="Proxies up"] .value').textContent();
  check(upTile === '0 / 0', 'the proxies-up tile reads 0 / 0 with an empty pool', upTile);
  await page.screenshot({ path: path.join(artifacts, 'webui-dashboard-bypass.png'), fullPage: true });
});

await step('the raw counters are grouped behind details', async () => {
  const details = page.locator('#dp-details');
  check(await details.evaluate((d) => d.tagName === 'DETAILS' && !d.open), 'the datapath details are collapsed');
  await page.locator('#dp-groups tr[data-counter="packets"]').waitFor({ state: 'attached' });
  check(!(await page.locator('#dp-groups tr[data-counter="packets"]').isVisible()),
    'no raw counter shows on the main view');
  const where = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#dp-groups tr[data-counter]')].map((tr) =>
      [tr.dataset.counter, tr.closest('[data-group]').dataset.group])));
  const want = { packets: 'traffic', encapsulated: 'traffic', bypassed: 'policy', tx_errors: 'errors',
    malformed: 'errors', kernel_queue_full_drops: 'kernel', fast_packets: 'fast' };
  const wrong = Object.entries(want).filter(([k, g]) => where[k] !== g);
  check(wrong.length === 0, 'counters sit in their groups: traffic, policy, errors, kernel drops, fast path', wrong);
  const quic = Object.keys(where).filter((k) => k.startsWith('quic_'));
  check(quic.every((k) => where[k] === 'policy'), 'QUIC counters, where present, sit under policy', quic);
  // Every counter of the stats reply is in the details: nothing hidden.
  const g = await page.evaluate(async () => (await (await fetch('/api/v1/stats')).json()).global);
  const missing = Object.keys(g).filter((k) => k !== 'malformed_by_reason' && !(k in where));
  const reasons = Object.keys(g.malformed_by_reason || {}).filter((k) => !(('malformed: ' + k) in where));
  check(missing.length === 0 && reasons.length === 0 && Object.keys(g).length > 40,
    'every counter of the stats reply is in the details (' + Object.keys(g).length + ' keys)', { missing, reasons });
});

// squid-c has an IPv6 address too (its IPv6 clients would go in IPv6-in-IPv6).
const proxies = [['squid-a', '198.18.1.11'], ['squid-b', '198.18.1.12'], ['squid-c', '198.18.1.13', '2001:db8:1::13']];
await step('add three proxies', async () => {
  await page.click('#nav a[data-view=pool]');
  await page.locator('#view-pool').waitFor();
  allowResourceErrors = true;
  await page.click('#pool-add');
  await page.fill('#pf-name', 'bad');
  await page.fill('#pf-address', '198.18.1.999');
  await page.click('#pf-save');
  const err = page.locator('.field-error[data-field=address]');
  await err.filter({ hasText: 'address' }).waitFor();
  check(await page.locator('#pf-address[aria-invalid=true]').count() === 1,
    'a bad address is reported at the address field');
  allowResourceErrors = false;
  await page.click('#pf-cancel');
  for (const [name, address, address6] of proxies) {
    await page.click('#pool-add');
    await page.fill('#pf-name', name);
    await page.fill('#pf-address', address);
    if (address6) await page.fill('#pf-address6', address6);
    await page.click('#pf-save');
    // The confirmation shows what the add would move before anything is stored.
    await page.locator('#confirm[open] #confirm-preview strong').waitFor();
    const addPreview = await page.locator('#confirm-preview strong').textContent();
    check(/^moves [0-9.]+ % of the table, [0-9,]+ of [0-9,]+ active clients change proxy/.test(addPreview),
      'adding ' + name + ' is previewed in the confirmation', addPreview);
    await page.click('#confirm-ok');
    await page.locator(`#pool-table tr[data-proxy="${name}"]`).waitFor();
  }
  check(await page.locator('#pool-table tbody tr').count() === 3, 'three proxies added and listed');
  const shown6 = await page.locator('#pool-table tr[data-proxy="squid-c"] .address6').textContent();
  check(shown6 === '2001:db8:1::13' &&
    await page.locator('#pool-table tr[data-proxy="squid-a"] .address6').count() === 0,
  'the pool lists an IPv6 address under the IPv4 one, for the proxy that has one', shown6);
  const health6 = await page.locator('#pool-table tr[data-proxy="squid-c"] .health6').textContent();
  check(/^IPv6 (up|down|going-up|going-down)/.test(health6) &&
    await page.locator('#pool-table tr[data-proxy="squid-a"] .health6').count() === 0,
  'the pool shows the IPv6 address\'s own health, for the proxy that has one', health6);
  const squid = await page.locator('#pool-table tr[data-proxy="squid-a"] td.squid').textContent();
  check(squid === '-' && await page.locator('#pf-squid-stats').inputValue() === 'off',
    'Squid\'s figures are off by default: the pool shows "-", the form offers them off', squid);
});

await step('see their health', async () => {
  await page.click('#nav a[data-view=dashboard]');
  await page.locator('#dash-table tbody tr[data-proxy="squid-c"]').waitFor();
  await page.waitForFunction(() =>
    document.querySelectorAll('#dash-table tbody td.health .badge.up').length === 3, null, { timeout: WAIT_MS });
  const check0 = await page.locator('#dash-table tr[data-proxy="squid-a"] td.check').textContent();
  check(true, 'all three proxies show up on the dashboard');
  check(/ms/.test(check0), 'the last probe result and duration are shown', check0);
});

await step('the cluster panel', async () => {
  const genCell = page.locator('#cluster-self tr[data-cluster="configuration generation"] td.value');
  await genCell.waitFor();
  const role = await page.locator('#cluster-role').textContent();
  const gen = await genCell.textContent();
  const vrrp = await page.locator('#cluster-self tr[data-cluster="VRRP"] td.value').textContent();
  check(role.startsWith('standalone') && /^[0-9]+$/.test(gen) && Number(gen) >= 3 && vrrp === 'UNKNOWN',
    'the cluster panel shows the role, the configuration generation and the VRRP state', { role, gen, vrrp });
});

await step('hit counts rise on the dashboard', async () => {
  const before = await sumHits(page);
  await page.waitForFunction((b) => [...document.querySelectorAll('#dash-table tbody td.hits')]
    .reduce((a, td) => a + Number(td.textContent.replace(/,/g, '') || 0), 0) > b, before, { timeout: WAIT_MS })
    .catch(() => {});
  const after = await sumHits(page);
  check(after > before, 'hit counts rise live while a client makes requests', { before, after });
  const rate = await page.locator('[data-tile="Hits/s"] .value').textContent();
  check(rate !== null, 'total hits per second tile is shown', rate);
  await page.waitForFunction(() => document.querySelectorAll('#chart svg').length === 1);
  check(true, 'the hit-rate chart is drawn');
  const up = await page.locator('[data-tile="Proxies up"] .value').textContent();
  check(up === '3 / 3' && await page.locator('[data-tile="Proxies up"] .down-list').count() === 0,
    'the proxies-up tile reads 3 / 3 and names none down', up);
});

// Squid's own figures, when a proxy reports them (its "squid" object): the
// stats reply is given one proxy with figures, one with an error and one
// without, as a droverd with the per-proxy cache manager flag would send; and
// QUIC counters (quic_passed rising, as under quic_policy pass) and a counter
// the page does not know.
await step('Squid figures per proxy, QUIC and unknown counters', async () => {
  check(await page.locator('#dash-table th.squid-col').isHidden(), 'no Squid column while no proxy reports figures');
  let replies = 0;
  await page.route('**/api/v1/stats', async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    replies++;
    Object.assign(body.global, { quic_passed: 40 + 5 * replies, quic_rejected: 3, quic_dropped: 0, widgets_frobbed: 9 });
    for (const p of body.proxies) {
      if (p.name === 'squid-a') {
        p.squid = { ok: true, error: null, requests_per_second: 12.5, hit_ratio: 0.42, clients: 7,
          median_service_ms: 23, age_s: 4 };
      } else if (p.name === 'squid-b') {
        p.squid = { ok: false, error: 'connection refused', requests_per_second: 0, hit_ratio: 0,
          clients: 0, median_service_ms: 0, age_s: 9 };
      } else p.squid = null;
    }
    await route.fulfill({ response: res, json: body });
  });
  await page.locator('#dash-table tr[data-proxy="squid-a"] .squid-figures').waitFor();
  const a = await page.locator('#dash-table tr[data-proxy="squid-a"] td.squid').textContent();
  const b = await page.locator('#dash-table tr[data-proxy="squid-b"] td.squid').textContent();
  const c = await page.locator('#dash-table tr[data-proxy="squid-c"] td.squid').textContent();
  check(/12\.5 req\/s/.test(a) && /42% cache hits/.test(a) && /7 clients/.test(a) && /23 ms median/.test(a),
    'a proxy\'s Squid figures are shown: requests/s, hit ratio, clients, median service time', a);
  check(/connection refused/.test(b), 'a proxy whose cache manager failed shows the error', b);
  check(c === '', 'a proxy without figures (null) shows nothing', c);
  await page.locator('#bypass[data-state="alert"] .why[data-counter="quic_passed"]').waitFor();
  check(true, 'QUIC let through (quic_passed rising) counts as bypassed traffic in the banner');
  const where = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#dp-groups tr[data-counter]')].map((tr) =>
      [tr.dataset.counter, tr.closest('[data-group]').dataset.group])));
  check(where.quic_passed === 'policy' && where.quic_rejected === 'policy' && where.quic_dropped === 'policy' &&
    where.widgets_frobbed === 'other', 'QUIC counters go under policy, an unknown counter under other', where);
  await page.screenshot({ path: path.join(artifacts, 'webui-dashboard-squid.png'), fullPage: true });
  await page.unroute('**/api/v1/stats');
});

await step('settings, audit and tokens', async () => {
  await page.click('#nav a[data-view=settings]');
  const form = page.locator('form[data-setting=probe_rise]');
  await form.waitFor();
  allowResourceErrors = true;
  await form.locator('input').fill('0');
  await form.locator('button').click();
  await page.locator('.field-error[data-field=probe_rise]').filter({ hasText: 'probe_rise' }).waitFor();
  check(true, 'an invalid setting is reported at its field');
  allowResourceErrors = false;
  await form.locator('input').fill('3');
  await form.locator('button').click();
  await page.locator('#banner').filter({ hasText: 'probe_rise = 3 saved' }).waitFor();
  check(true, 'a valid setting is saved');
  await page.click('#nav a[data-view=audit]');
  await page.locator('#audit-table tbody tr').first().waitFor();
  const audit = await page.locator('#audit-table tbody').textContent();
  check(/webui:admin/.test(audit) && /proxy/.test(audit), 'the audit log lists the web UI changes');
  await page.click('#nav a[data-view=account]');
  await page.fill('#token-name', 'monitoring');
  await page.click('#token-form button[type=submit]');
  const token = await page.locator('#token-value').textContent();
  check(/^drv_[0-9a-f]{64}$/.test(token), 'a new API token is shown once');
});

// squid-c, drained then deleted: squid-a and squid-b take new clients all along.
await step('drain one proxy', async () => {
  await page.click('#nav a[data-view=pool]');
  await page.click('#pool-table tr[data-proxy="squid-c"] button[data-action=drain]');
  // The confirmation previews the drain: the table share squid-c gives up, no client moving.
  await page.locator('#confirm[open] #confirm-preview strong').waitFor();
  const preview = await page.locator('#confirm-preview strong').textContent();
  const m = /^moves ([0-9.]+) % of the table, ([0-9,]+) of ([0-9,]+) active clients change proxy/.exec(preview);
  check(m !== null && Number(m[1]) > 0 && m[2] === '0',
    'the drain is previewed: a share of the table moves, no active client changes proxy', preview);
  check(await page.locator('#confirm-preview tr[data-proxy="squid-c"]').count() === 1,
    'the preview lists what squid-c gives up');
  await page.screenshot({ path: path.join(artifacts, 'webui-preview.png') });
  await page.click('#confirm-ok');
  await page.locator('#pool-table tr[data-proxy="squid-c"] td.admin .badge.drain').waitFor();
  check(true, 'draining shows at once in the pool');
  await page.click('#nav a[data-view=dashboard]');
  await page.locator('#dash-table tr[data-proxy="squid-c"] td.admin .badge.drain').waitFor();
  check(true, 'the dashboard shows the drain');
});

await step('look up a client', async () => {
  await page.click('#nav a[data-view=lookup]');
  await page.fill('#lookup-client', '198.18.0.2');
  await page.click('#lookup-form button[type=submit]');
  const who = await page.locator('#lookup-proxy').textContent();
  const why = await page.locator('#lookup-reason').textContent();
  check(/squid-[abc]/.test(who) && /affinity|table/.test(why), 'lookup shows the proxy and why', { who, why });
});

await step('delete a proxy', async () => {
  await page.click('#nav a[data-view=pool]');
  await page.click('#pool-table tr[data-proxy="squid-c"] button[data-action=delete]');
  await page.locator('#confirm[open] #confirm-preview strong').waitFor();
  const preview = await page.locator('#confirm-preview strong').textContent();
  check(/^moves [0-9.]+ % of the table, [0-9,]+ of [0-9,]+ active clients change proxy/.test(preview),
    'delete asks for confirmation, with what it would move', preview);
  await page.click('#confirm-ok');
  await page.locator('#pool-table tr[data-proxy="squid-c"]').waitFor({ state: 'detached' });
  check(await page.locator('#pool-table tbody tr').count() === 2, 'the deleted proxy is gone');
  await page.screenshot({ path: path.join(artifacts, 'webui-pool.png'), fullPage: true });
});

// Every proxy has been up for a while: nothing goes around them any more. The
// window starts when the dashboard opens, so a fresh dashboard must be calm.
// The history is sampled every 10 s: by now squid-a and squid-b, which took
// new clients all along, have points in it.
await step('the main view: no bypass, a chart line per proxy', async () => {
  await page.click('#nav a[data-view=dashboard]');
  await page.locator('#bypass[data-state="calm"]').waitFor();
  const text = await page.locator('#bypass').textContent();
  check(/No bypassed traffic/.test(text) && await page.locator('#bypass .why').count() === 0 &&
    await page.locator('[data-tile="Bypassed"].bad').count() === 0,
  'with no bypass in the window the banner is calm and the tile unmarked', text);
  // A line per proxy that had hits (at least two: new clients keep coming and
  // spread over the proxies), each in its own colour and in the legend, and the total.
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#chart polyline[data-proxy]')].filter((l) =>
      Number(l.dataset.max) > 0 && Number(l.dataset.points) >= 2).length >= 2 &&
    document.querySelectorAll('#chart polyline[data-total]').length === 1, null, { timeout: WAIT_MS });
  const lines = await page.evaluate(() => [...document.querySelectorAll('#chart polyline')].map((l) => ({
    proxy: l.dataset.proxy || null, total: !!l.dataset.total, max: Number(l.dataset.max),
    points: Number(l.dataset.points), stroke: getComputedStyle(l).stroke })));
  const proxyLines = lines.filter((l) => l.proxy);
  const total = lines.find((l) => l.total);
  const strokes = new Set(lines.map((l) => l.stroke));
  check(proxyLines.filter((l) => l.max > 0 && l.points >= 2).length >= 2 && strokes.size === lines.length &&
    total.max >= Math.max(...proxyLines.map((l) => l.max)),
  'the chart has a line per proxy with hits, each its own colour, and the total above them', lines);
  const legend = await page.locator('#chart-legend li').allTextContents();
  check(['squid-a', 'squid-b'].every((n) => legend.some((t) => t.startsWith(n))) && legend.some((t) => t.startsWith('total')),
    'the legend names each proxy and the total', legend);
  const hold = Number(process.env.DROVER_BROWSER_HOLD_S || 0);
  if (hold > 0) await page.waitForTimeout(hold * 1000);
  await page.screenshot({ path: path.join(artifacts, 'webui-dashboard.png'), fullPage: true });
});

await step('the details view', async () => {
  const errors = await page.locator('[data-tile="Errors"] .value').textContent();
  const sum = await page.evaluate(() => [...document.querySelectorAll(
    '#dp-groups [data-group="errors"] tr[data-counter], #dp-groups [data-group="kernel"] tr[data-counter]')]
    .filter((tr) => !tr.dataset.counter.startsWith('malformed: '))
    .reduce((a, tr) => a + Number(tr.querySelector('td.num').textContent.replace(/,/g, '')), 0));
  check(Number(errors.replace(/,/g, '')) === sum, 'the Errors tile is the sum of the error and kernel drop counters', { errors, sum });
  await page.click('[data-tile="Errors"] a');
  await page.waitForFunction(() => document.getElementById('dp-details').open);
  check(await page.locator('#dp-groups [data-group="errors"] tr[data-counter="tx_errors"]').isVisible(),
    'the Errors tile links to the details, opened at the error counters');
  const groups = await page.locator('#dp-groups [data-group] h3').allTextContents();
  check(['Traffic', 'Policy', 'Errors', 'Kernel drops', 'Fast path'].every((t) => groups.includes(t)),
    'the details hold the groups', groups);
  await page.screenshot({ path: path.join(artifacts, 'webui-dashboard-details.png'), fullPage: true });
  await page.click('#dp-details > summary');
  await page.waitForFunction(() => !document.getElementById('dp-details').open);
});

await step('usable on a phone', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#nav a[data-view=dashboard]');
  await page.locator('#dash-table tbody tr').first().waitFor();
  await page.waitForTimeout(500);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, 'no page-wide horizontal scrolling at phone width', overflow);
  await page.screenshot({ path: path.join(artifacts, 'webui-dashboard-phone.png'), fullPage: true });
});

await step('keyboard and sign-out', async () => {
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.focus('#nav a[data-view=pool]');
  await page.keyboard.press('Enter');
  await page.locator('#view-pool:not([hidden])').waitFor();
  check(true, 'navigation works from the keyboard');
  await page.click('#logout');
  await page.locator('#view-login').waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'drover_session');
  check(!session || session.value === '', 'signing out drops the session cookie');
});

check(consoleErrors.length === 0, 'no console errors or CSP violations', consoleErrors.slice(0, 5));
await context.close();
fs.rmSync(profile, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
