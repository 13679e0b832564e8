// Browser test of the drover web UI: Debian chromium driven by playwright-core.
// Run by tests/e2e/webui_browser.sh inside the appliance namespace, with a
// client namespace making web requests through droverd meanwhile.
// Prints "ok - ..." / "not ok - ..." lines.
//
//   node webui.test.mjs URL INITIAL_PASSWORD ARTIFACTS_DIR
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

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, name, String(e.message || e).split('\n')[0]);
  }
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
  const deadline = Date.now() + WAIT_MS;
  let after = before;
  while (Date.now() < deadline && after <= before) {
    await page.waitForTimeout(2100);
    after = await sumHits(page);
  }
  check(after > before, 'hit counts rise live while a client makes requests', { before, after });
  const rate = await page.locator('[data-tile="Hits/s"] .value').textContent();
  check(rate !== null, 'total hits per second tile is shown', rate);
  await page.waitForFunction(() => document.querySelectorAll('#chart svg').length === 1);
  check(true, 'the hit-rate chart is drawn');
  await page.screenshot({ path: path.join(artifacts, 'webui-dashboard.png'), fullPage: true });
});

await step('drain one proxy', async () => {
  await page.click('#nav a[data-view=pool]');
  await page.click('#pool-table tr[data-proxy="squid-a"] button[data-action=drain]');
  await page.locator('#pool-table tr[data-proxy="squid-a"] td.admin .badge.drain').waitFor();
  check(true, 'draining shows at once in the pool');
  await page.click('#nav a[data-view=dashboard]');
  await page.locator('#dash-table tr[data-proxy="squid-a"] td.admin .badge.drain').waitFor();
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
  await page.locator('#confirm[open]').waitFor();
  check(true, 'delete asks for confirmation');
  await page.click('#confirm-ok');
  await page.locator('#pool-table tr[data-proxy="squid-c"]').waitFor({ state: 'detached' });
  check(await page.locator('#pool-table tbody tr').count() === 2, 'the deleted proxy is gone');
  await page.screenshot({ path: path.join(artifacts, 'webui-pool.png'), fullPage: true });
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
