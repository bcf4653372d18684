// Drives the liveplane web console in Debian's chromium (headless) with
// playwright-core. Run by e2e/console_test.go, which starts the real serve
// binary and answers the CONSOLE_CONTROL endpoint (send CoAP uplinks,
// restart serve). Every step throws on failure; the process exits non-zero.
//
//   CONSOLE_URL       serve's http://host:port
//   ADMIN_TOKEN       the admin token
//   CONSOLE_CONTROL   http://host:port of the test's control endpoint
//   SHOT_DIR          where screenshots go
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const URL_ = process.env.CONSOLE_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const CONTROL = process.env.CONSOLE_CONTROL;
const SHOTS = process.env.SHOT_DIR;
assert.ok(URL_ && ADMIN && CONTROL && SHOTS, 'CONSOLE_URL, ADMIN_TOKEN, CONSOLE_CONTROL, SHOT_DIR are required');

const T = 15000;
const step = (name) => console.log(`step: ${name}`);
const figures = {};

async function control(what, params = {}) {
  const res = await fetch(`${CONTROL}/${what}?${new URLSearchParams(params)}`, { method: 'POST' });
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${what}: ${res.status} ${text}`);
  return text;
}

// burst sends n uplinks at 100/s and measures, in the page, each line's
// CoAP receipt (its server timestamp) -> its row in the DOM.
async function burst(deviceId, deviceKey, n, via) {
  await page.evaluate(() => {
    window.__lat = [];
    new MutationObserver((ms) => {
      const now = Date.now();
      for (const m of ms) for (const n of m.addedNodes) {
        const ts = n.classList?.contains('line') && n.querySelector('time')?.getAttribute('datetime');
        if (ts) window.__lat.push(now - Date.parse(ts.replace(/(\.\d{3})\d+/, '$1')));
      }
    }).observe(document.querySelector('ol.logs'), { childList: true });
  });
  await control('burst', { device: deviceId, key: deviceKey, rate: '100', n: String(n) });
  await page.waitForFunction((n) => window.__lat.length >= n, n, { timeout: 30000 });
  const bl = (await page.evaluate(() => window.__lat)).sort((a, b) => a - b);
  const q = (p) => bl[Math.min(bl.length - 1, Math.ceil(p * bl.length) - 1)];
  console.log(`figure: CoAP receipt -> row in DOM at 100 uplinks/s, ${bl.length} uplinks, ${via}: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${bl[bl.length - 1]} ms`);
  assert.equal(bl.length, n, 'each burst line once');
  return { n: bl.length, p50: q(0.5), p99: q(0.99), max: bl[bl.length - 1] };
}

async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

const profile = mkdtempSync(join(tmpdir(), 'lp-console-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1200, height: 900 },
});
const page = context.pages()[0] || await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
page.on('console', (m) => { if (m.type() === 'error') console.log(`browser console error: ${m.text()}`); });
page.on('dialog', (d) => d.accept());

try {
  step('sign-in page, refused token');
  await page.goto(URL_ + '/');
  await page.getByLabel('Token').fill('lpk_not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'unknown, revoked or malformed' }).waitFor({ timeout: T });
  await shot(page, 'signin');

  step('sign in with the admin token');
  await page.getByLabel('Token').fill(ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor({ timeout: T });
  const cookies = await context.cookies();
  const sess = cookies.find((c) => c.name === 'liveplane_session');
  assert.ok(sess && sess.httpOnly && sess.sameSite === 'Strict', `session cookie: ${JSON.stringify(sess)}`);
  assert.equal(await page.evaluate(() => document.cookie.includes('liveplane_session')), false, 'cookie readable from JS');

  step('page weight and load time (fresh load, empty cache)');
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.clearBrowserCache');
  await page.goto('about:blank');
  await page.goto(URL_ + '/#/accounts', { waitUntil: 'load' });
  await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor({ timeout: T });
  await page.locator('tbody tr').first().waitFor({ timeout: T });
  const perf = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname.startsWith('/console/'));
    const assets = res.filter((r) => new URL(r.name).pathname.startsWith('/console/assets/'));
    return {
      load: nav.loadEventEnd - nav.startTime,
      ready: Math.max(...res.map((r) => r.responseEnd)), // last API answer the page waited for
      weight: nav.encodedBodySize + assets.reduce((a, r) => a + r.encodedBodySize, 0),
      decoded: nav.decodedBodySize + assets.reduce((a, r) => a + r.decodedBodySize, 0),
      responses: assets.length + 1,
      api: res.length - assets.length,
    };
  });
  await cdp.detach();
  figures.loadMs = Math.round(perf.load);
  figures.readyMs = Math.round(perf.ready);
  figures.weightBytes = perf.decoded;
  console.log(`figure: console cold load (empty cache) ${perf.load.toFixed(1)} ms to the load event, ${perf.ready.toFixed(1)} ms to the accounts table (${perf.api} API calls); weight ${perf.decoded} bytes in ${perf.responses} responses (${perf.weight} on the wire)`);
  assert.ok(perf.responses >= 8, `only ${perf.responses} responses: the cache was not empty`);
  assert.ok(perf.decoded > 0 && perf.decoded < 300 * 1024, `page weight ${perf.decoded}`);
  assert.ok(perf.ready < 2000, `ready after ${perf.ready} ms`); // the figure is reported; 2 s is the flake-proof bound on a shared machine

  step('create an account');
  await control('daemon-pause'); // so the page shows it provisioning first, then READY without a reload
  await page.getByLabel('Name (DNS label)').fill('console-e2e');
  await page.getByLabel('Display name').fill('Console E2E');
  await page.getByRole('button', { name: 'Create' }).click();
  const accRow = page.locator('tr[data-account="console-e2e"]');
  await accRow.waitFor({ timeout: T });
  await page.locator('.secret code').filter({ hasText: 'lpk_' }).waitFor({ timeout: T });
  const state = await accRow.locator('.badge').first().textContent();
  assert.ok(['provisioning', 'ready'].includes(state), `account state ${state}`);
  await shot(page, 'accounts');

  step('the account becomes READY on the page (no reload), with its cluster\'s conditions');
  assert.equal(state, 'provisioning', 'a new account provisions');
  await accRow.getByText('no cluster has reported').waitFor({ timeout: T });
  await control('daemon-resume');
  const created = Date.now();
  const states = [state];
  for (;;) {
    const st = await accRow.locator('.badge').first().textContent();
    if (st !== states[states.length - 1]) states.push(st);
    if (st === 'ready') break;
    assert.ok(Date.now() - created < 60000, `account still ${st} after 60 s (states seen: ${states}): ${await accRow.textContent()}`);
    await page.waitForTimeout(100);
  }
  const conds = accRow.locator('ul.conds li').filter({ hasText: 'c1' });
  await conds.locator('.cond.ok', { hasText: 'Ready=True' }).waitFor({ timeout: T });
  await page.locator('tr', { hasText: 'c1' }).locator('.badge', { hasText: 'healthy' }).waitFor({ timeout: T });
  figures.accountReadyMs = Date.now() - created;
  assert.deepEqual(states, ['provisioning', 'ready'], 'states seen on the page');
  console.log(`figure: account READY on the page ${figures.accountReadyMs} ms after the daemon resumed; states seen: ${states.join(' -> ')}; c1: ${(await conds.textContent()).trim()}`);
  await shot(page, 'account-ready');

  step('create a device in it');
  await accRow.getByRole('link').first().click();
  await page.getByRole('heading', { name: 'Devices', level: 1 }).waitFor({ timeout: T });
  await page.getByLabel('Name', { exact: true }).fill('meter-1');
  await page.getByRole('button', { name: 'Create' }).click();
  const secret = page.locator('.secret').filter({ hasText: 'PSK' });
  await secret.waitFor({ timeout: T });
  const text = await secret.textContent();
  const m = /Device (\S+): key (\S+) PSK/.exec(text);
  assert.ok(m, `device secret text: ${text}`);
  const [, deviceId, deviceKey] = m;
  await page.locator(`tr[data-device="${deviceId}"]`).waitFor({ timeout: T });
  await page.getByLabel('Search').fill('no-such-device');
  assert.equal(await page.locator(`tr[data-device="${deviceId}"]`).isHidden(), true, 'search does not filter');
  await page.getByLabel('Search').fill('meter');
  assert.equal(await page.locator(`tr[data-device="${deviceId}"]`).isVisible(), true, 'search hides the match');

  step('live logs: history, then the live tail of real CoAP uplinks');
  await control('uplink', { device: deviceId, key: deviceKey, n: '2' }); // history
  await page.locator(`tr[data-device="${deviceId}"] a`).click();
  await page.getByRole('tab', { name: 'Live Logs' }).click();
  const conn = page.locator('.conn');
  await page.locator('.conn[data-state="live"]').waitFor({ timeout: T });
  const lines = page.locator('ol.logs li.line');
  await lines.filter({ hasText: 'Received uplink #2' }).waitFor({ timeout: T });
  // Time from the uplink's send to its row in the DOM, measured in the page.
  await page.evaluate(() => {
    window.__rows = [];
    new MutationObserver((ms) => {
      for (const m of ms) for (const n of m.addedNodes) if (n.classList?.contains('line')) window.__rows.push([n.textContent, Date.now()]);
    }).observe(document.querySelector('ol.logs'), { childList: true });
  });
  const lat = [];
  for (let i = 3; i <= 12; i++) {
    const t0 = Date.now();
    await control('uplink', { device: deviceId, key: deviceKey, n: '1' });
    await lines.filter({ hasText: `Received uplink #${i}` }).waitFor({ timeout: T });
    const seen = await page.evaluate((i) => window.__rows.find(([t]) => t.includes(`Received uplink #${i}`))?.[1], i);
    lat.push(seen - t0);
  }
  lat.sort((a, b) => a - b);
  figures.uplinkToRowMs = { p50: lat[Math.floor(lat.length / 2)], max: lat[lat.length - 1] };
  console.log(`figure: CoAP send -> row in DOM (direct /ws, 10 sequential uplinks, includes the test's control hop): p50 ${figures.uplinkToRowMs.p50} ms, max ${figures.uplinkToRowMs.max} ms`);
  assert.equal(await lines.count(), 12, 'each uplink once');

  step('live logs: filter by text and type, pause');
  await page.getByLabel('Filter text').fill('uplink #7');
  assert.equal(await page.locator('ol.logs li.line:visible').count(), 1, 'text filter');
  await page.getByLabel('Filter text').fill('');
  await page.getByLabel('Type').selectOption('uplink');
  assert.equal(await page.locator('ol.logs li.line:visible').count(), 12, 'type filter');
  await page.getByRole('button', { name: 'Pause' }).click();
  await control('uplink', { device: deviceId, key: deviceKey, n: '1' });
  await page.getByText('1 new while paused').waitFor({ timeout: T });
  assert.equal(await lines.filter({ hasText: 'Received uplink #13' }).count(), 0, 'paused list grew');
  await page.getByRole('button', { name: 'Resume' }).click();
  await lines.filter({ hasText: 'Received uplink #13' }).waitFor({ timeout: T });
  await shot(page, 'device-logs');

  step('live logs at 100 uplinks/s: CoAP receipt (the line\'s server timestamp) -> row in the DOM, measured in the page');
  const BURST = 300;
  figures.receiptToRowAt100ps = await burst(deviceId, deviceKey, BURST, 'serve\'s /ws via /console/ws (not the relay)');

  step('live logs: serve restarts -> "reconnecting…", then resumed with an explicit gap marker; the session survives');
  const restarted = control('restart', { relay: '1' }); // it comes back with --console-relay-url
  await page.locator('.conn[data-state="reconnecting"]').waitFor({ timeout: T });
  assert.equal(await conn.textContent(), 'reconnecting…');
  await shot(page, 'device-logs-reconnecting');
  await restarted;
  await page.locator('.conn[data-state="live"]').waitFor({ timeout: 30000 });
  await page.locator('ol.logs li.marker').filter({ hasText: 'Gap' }).waitFor({ timeout: T });
  let sent = 13 + BURST;
  await control('uplink', { device: deviceId, key: deviceKey, n: '1' });
  await lines.filter({ hasText: `Received uplink #${++sent}` }).waitFor({ timeout: T });
  await shot(page, 'device-logs-resumed');

  step('through the relay: after a reload the tab follows the device via liveplane relay, with a console ticket');
  await page.reload();
  await page.locator('.conn[data-via="relay"][data-state="live"]').waitFor({ timeout: T });
  await lines.filter({ hasText: `Received uplink #${sent}` }).waitFor({ timeout: T }); // history, from the relay
  await shot(page, 'device-logs-relay');
  figures.receiptToRowAt100psRelay = await burst(deviceId, deviceKey, BURST, 'through liveplane relay');
  sent += BURST;

  step('through the relay: pause, 50 uplinks, resume -> one "30 lines suppressed" marker where they were, then the newest 20');
  await page.getByRole('button', { name: 'Pause' }).click();
  const first = sent + 1;
  await control('uplink', { device: deviceId, key: deviceKey, n: '50' });
  sent += 50;
  await page.getByText('50 new while paused (the newest 20 will show)').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Resume' }).click();
  await lines.filter({ hasText: `Received uplink #${sent}` }).waitFor({ timeout: T });
  const sup = page.locator('ol.logs li.marker.suppressed');
  assert.equal(await sup.count(), 1, 'one suppressed marker');
  assert.equal(await sup.textContent(), '30 lines suppressed while paused (a pause keeps the newest 20 lines)');
  const uplinkN = (i) => lines.filter({ hasText: new RegExp(`Received uplink #${i}\\b`) });
  for (let i = first; i < first + 30; i++) assert.equal(await uplinkN(i).count(), 0, `suppressed line #${i} shown`);
  for (let i = first + 30; i <= sent; i++) assert.equal(await uplinkN(i).count(), 1, `kept line #${i} missing`);
  const next = await sup.evaluate((m) => m.nextElementSibling?.textContent || '');
  assert.match(next, new RegExp(`Received uplink #${first + 30}\\b`), 'the marker stands where the suppressed lines were');
  await sup.scrollIntoViewIfNeeded();
  await shot(page, 'device-logs-suppressed');

  step('database down: the Live Logs tab keeps working (through the relay)');
  await control('db-stop');
  for (let i = 0; i < 3; i++) {
    await control('uplink', { device: deviceId, key: deviceKey, n: '1' });
    await lines.filter({ hasText: `Received uplink #${++sent}` }).waitFor({ timeout: T });
  }
  assert.equal(await page.locator('.conn').getAttribute('data-state'), 'live');
  assert.equal(await page.locator('.conn').getAttribute('data-via'), 'relay');
  await shot(page, 'device-logs-database-down');
  await control('db-start');

  step('config: edit desired, see it pending with the delta highlighted');
  await page.getByRole('tab', { name: 'Configuration' }).click();
  await page.getByLabel(/Device values/).fill('{"interval": "60"}');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#sync-state .badge', { hasText: 'pending' }).waitFor({ timeout: T });
  await page.locator('tr.delta[data-key="interval"]').waitFor({ timeout: T });
  await shot(page, 'device-config');

  step('config: a conflicting edit shows what changed');
  const csrf = await page.evaluate(async () => (await (await fetch('/console/session')).json()).csrf);
  const bump = await fetch(`${URL_}/liveplane.v1.ConfigService/PatchConfig`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ deviceId, mergePatch: JSON.stringify({ mode: 'eco' }) }),
  });
  assert.equal(bump.status, 200, 'out-of-band patch');
  await page.getByLabel(/Device values/).fill('{"interval": "90"}');
  await page.getByRole('button', { name: 'Save' }).click();
  const conflict = page.locator('.conflict');
  await conflict.waitFor({ timeout: T });
  assert.match(await conflict.textContent(), /mode: unset → eco/);
  await shot(page, 'device-config-conflict');

  step('config: the next uplink reporting the desired values brings it in sync');
  await control('uplink', { device: deviceId, key: deviceKey, config: JSON.stringify({ interval: '60', mode: 'eco' }) });
  await page.locator('#sync-state .badge', { hasText: 'in sync' }).waitFor({ timeout: T });
  assert.equal(await page.locator('tr.delta').count(), 0, 'delta rows left when in sync');
  await shot(page, 'device-config-in-sync');

  step('config history');
  await page.getByRole('tab', { name: 'History' }).click();
  await page.getByRole('rowheader', { name: 'interval' }).first().waitFor({ timeout: T });
  await shot(page, 'device-history');

  step('telemetry');
  await page.getByRole('tab', { name: 'Telemetry' }).click();
  await page.locator('svg.bars').waitFor({ timeout: T });
  await shot(page, 'device-telemetry');

  step('phone width: no horizontal scrolling');
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, name, ready] of [['#/accounts', 'accounts-phone', 'tr[data-account]'], [`#/devices/${deviceId}/config`, 'device-phone', '#sync-state'],
    [`#/devices?account=`, 'devices-phone', 'tr[data-device]']]) {
    await page.goto(`${URL_}/${hash}`);
    await page.locator(ready).first().waitFor({ timeout: T });
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(over <= 0, `${name}: ${over}px wider than the viewport`);
    await shot(page, name);
  }
  await page.setViewportSize({ width: 1200, height: 900 });

  step('pickup queues: depth, oldest message age and live session holder of queues filled through the real gateway');
  await control('pickup', { step: 'fill' });
  await page.getByRole('link', { name: 'Pickup queues' }).click();
  await page.getByRole('heading', { name: 'Pickup queues', level: 1 }).waitFor({ timeout: T });
  const pq = page.locator('tr[data-connection="console-queue"]');
  await pq.waitFor({ timeout: T });
  assert.equal((await pq.locator('td[data-label="Depth"]').textContent()).trim(), '3', 'console-queue depth');
  assert.match((await pq.locator('td[data-label="Oldest message"]').textContent()).trim(), /^\d+ s$/, 'oldest message age');
  assert.match(await pq.locator('td[data-label="Session"]').textContent(), /none/, 'console-queue has no session');
  const pl = page.locator('tr[data-connection="console-live"]');
  const holder = await pl.locator('td[data-label="Session"]').textContent();
  assert.match(holder, /^console-session\s*live\s*on [0-9a-f-]{36} for \d+ s$/, 'session holder cell: id, live, instance, since');
  assert.equal((await pl.locator('td[data-label="Pending"]').textContent()).trim(), '0', 'console-live message in flight to the session');
  await page.locator('#pickup-updated').filter({ hasText: /^updated \d+ s ago$/ }).waitFor({ timeout: T });
  await control('pickup', { step: 'more' }); // the page refreshes itself: no reload
  await pq.locator('td[data-label="Depth"]').filter({ hasText: /^5$/ }).waitFor({ timeout: T });
  await shot(page, 'pickup-queues');
  await page.setViewportSize({ width: 390, height: 844 });
  await pq.waitFor({ timeout: T });
  const pover = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(pover <= 0, `pickup-phone: ${pover}px wider than the viewport`);
  await shot(page, 'pickup-phone');
  await page.setViewportSize({ width: 1200, height: 900 });

  step('every page: cold load (empty cache) time and weight');
  {
    const pages = [['accounts', '#/accounts', 'tr[data-account]'], ['devices', '#/devices?account=', 'tr[data-device]'],
      ['device config', `#/devices/${deviceId}/config`, '#sync-state'], ['device history', `#/devices/${deviceId}/history`, 'table'],
      ['device telemetry', `#/devices/${deviceId}/telemetry`, 'svg.bars'], ['device logs', `#/devices/${deviceId}/logs`, '.logs'],
      ['pickup queues', '#/pickup', 'tr[data-connection]']];
    const cdp2 = await context.newCDPSession(page);
    await cdp2.send('Network.enable');
    const loads = [];
    for (const [name, hash, ready] of pages) {
      await cdp2.send('Network.clearBrowserCache');
      await page.goto('about:blank');
      const t0 = Date.now();
      await page.goto(`${URL_}/${hash}`, { waitUntil: 'load' });
      await page.locator(ready).first().waitFor({ timeout: T });
      const shown = Date.now() - t0;
      const w = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const assets = performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname.startsWith('/console/assets/'));
        return { load: nav.loadEventEnd - nav.startTime, decoded: nav.decodedBodySize + assets.reduce((a, r) => a + r.decodedBodySize, 0) };
      });
      loads.push(`${name} ${w.load.toFixed(0)}/${shown} ms ${w.decoded} B`);
      assert.ok(w.decoded > 0 && w.decoded < 300 * 1024, `${name}: weight ${w.decoded}`);
      assert.ok(shown < 5000, `${name}: shown after ${shown} ms`); // the figure is reported; 5 s is the flake-proof bound
    }
    await cdp2.detach();
    console.log(`figure: every page cold (empty cache), load event / content shown / weight: ${loads.join('; ')}`);
  }

  step('a state change without the CSRF header is refused');
  const noCSRF = await page.evaluate(async () => {
    const r = await fetch('/console/api/liveplane.v1.AccountService/CreateAccount', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'forged' }),
    });
    return r.status;
  });
  assert.equal(noCSRF, 403, 'CSRF-less CreateAccount');
  const withCSRF = await page.evaluate(async (csrf) => (await fetch('/console/api/liveplane.v1.AccountService/ListAccounts', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{}',
  })).status, csrf);
  assert.equal(withCSRF, 200, 'same call shape with CSRF');

  step('sign out: the page returns to sign-in and API calls are refused');
  await page.goto(`${URL_}/#/accounts`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: T });
  const after = await page.evaluate(async (csrf) => (await fetch('/console/api/liveplane.v1.AccountService/ListAccounts', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{}',
  })).status, csrf);
  assert.equal(after, 401, 'API call after sign-out');
  await shot(page, 'signed-out');

  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  console.log(`figures: ${JSON.stringify(figures)}`);
  console.log('console browser scenarios: PASS');
} catch (e) {
  await shot(page, 'failure').catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
