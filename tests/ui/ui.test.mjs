#!/usr/bin/env node
// Headless-Chromium scenarios for the OpenClaw Control UI.
//
//   node tests/ui/ui.test.mjs <scenario> --url http://127.0.0.1:18999/ [--token T] [--out DIR] [options]
//
// Scenarios (each against an already running gateway unless noted):
//   token-fragment   open <url>#token=T, expect "connected", the fragment gone, the token stored;
//                    screenshot every page (fails on RPC error toasts unless --allow-errors)
//   pairing-pending  open <url>#token=T, expect "disconnected (1008): pairing required" and the approve
//                    command; prints {"event":"pending","requestId":…} at once (again if the id changes),
//                    then waits up to --wait-ms (60000) for "connected" and prints the final line
//   approve-pending  connect (an already paired browser), open Devices, click Approve on the pending row
//                    (--request-id ID, else the first) and expect it to go away
//   sandboxes        connect, open Sandboxes, expect a row data-container=--expect-container;
//                    with --recreate also click its Recreate button and expect the row to go away
//   config-invalid   connect, open Config, save --bad-config (default `{ gateway: { port: "nope" } }`),
//                    expect #config-errors to mention gateway.port (--expect-error to change)
//   config-save      connect, open Config, save --good-config TEXT, expect "Saved" and the text back
//   sha256           the page's SHA-256 against known vectors and node:crypto (no connection needed)
//   layout           360x740 viewport: every page screenshotted, no horizontal page overflow
//   dev              no gateway: --serve DIR serves the ui folder (with the gateway's CSP); runs the
//                    fragment handling, sha256 and layout checks against it
// Common options: --viewport WxH (default 1280x900), --color-scheme light|dark, --timeout-ms N (default 15000),
//   --serve DIR (static server on 127.0.0.1 instead of --url), CHROMIUM=/path (default /usr/bin/chromium).
// Output: JSON lines on stdout, the last one is the result ({"ok":true,…} or {"ok":false,"error":…});
// exit code 0 on success, 1 on a failed expectation, 2 on a usage error.

import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const PAGES = ['health', 'devices', 'sandboxes', 'config', 'logs', 'settings'];
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

class Fail extends Error {}
const expect = (cond, msg) => { if (!cond) throw new Fail(msg); };
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function parseArgs(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) o[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) o[a.slice(2)] = argv[++i];
      else o[a.slice(2)] = true;
    } else o._.push(a);
  }
  return o;
}

const args = parseArgs(process.argv.slice(2));
const scenario = args._[0];
const timeoutMs = Number(args['timeout-ms'] || 15000);
const out = resolve(args.out || join(HERE, 'artifacts', scenario || 'none'));
const token = typeof args.token === 'string' ? args.token : '';
const [vw, vh] = String(args.viewport || '1280x900').split('x').map(Number);

const scenarios = { 'token-fragment': tokenFragment, 'pairing-pending': pairingPending, sandboxes, 'approve-pending': approvePending, 'config-invalid': configInvalid, 'config-save': configSave, sha256, layout, dev };
if (!scenarios[scenario] || (!args.url && !args.serve) || args.help) {
  process.stderr.write(`usage: node ui.test.mjs <${Object.keys(scenarios).join('|')}> --url URL [--token T] [--out DIR] [--serve UIDIR]\n`);
  process.exit(2);
}

// ---------- static dev server (mirrors the gateway's UI routes and CSP) ----------
function serveStatic(dir) {
  const types = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = { '/': 'index.html', '/index.html': 'index.html', '/app.css': 'app.css', '/app.js': 'app.js' }[path];
    if (!file) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('Not found\n'); return; }
    res.writeHead(200, { 'content-type': types[extname(file)], 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
    res.end(readFileSync(join(dir, file)));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

// ---------- browser ----------
let browser, page, baseUrl, shots = [], problems = [];
async function start() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Fail(`${executablePath} is missing: apt-get install -y chromium chromium-driver`);
  mkdirSync(out, { recursive: true });
  const userDataDir = mkdtempSync(join(tmpdir(), 'openclaw-ui-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: vw, height: vh },
    colorScheme: args['color-scheme'] === 'dark' ? 'dark' : 'light',
  });
  browser = { close: async () => { await context.close(); rmSync(userDataDir, { recursive: true, force: true }); } };
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) problems.push(`CSP: ${t}`);
    else if (m.type() === 'error' && !/WebSocket|ERR_CONNECTION|status of 4\d\d|Cross-Origin-Opener-Policy/i.test(t)) problems.push(`console: ${t}`);
  });
  // Anything leaving the gateway's origin is a bug (no CDN, no external requests).
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return;
    if (u.host !== new URL(baseUrl).host) problems.push(`external request: ${r.url()}`);
  });
}
async function shot(name) {
  const file = join(out, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
  return file;
}
const connState = () => page.$eval('#conn-state', (e) => e.textContent);
async function waitText(selector, test, what, ms) {
  try {
    await page.waitForFunction(([sel, src]) => {
      const e = document.querySelector(sel);
      return e && new RegExp(src).test(e.textContent);
    }, [selector, test.source], { polling: 50, timeout: ms || timeoutMs });
  } catch {
    const now = await page.$eval(selector, (e) => e.textContent).catch(() => '(missing)');
    throw new Fail(`${what}: ${selector} is ${JSON.stringify(now)}, expected ${test}`);
  }
}
async function settle() {
  await page.waitForFunction(() => document.documentElement.dataset.inflight === undefined || document.documentElement.dataset.inflight === '0', null, { polling: 50 });
  await page.waitForTimeout(150);
}
async function openPage(name) {
  await page.click(`#nav button[data-page="${name}"]`);
  await page.waitForSelector(`#page-${name}:not([hidden])`);
  await settle();
}
async function gotoWithToken() {
  const url = token ? `${baseUrl}#token=${encodeURIComponent(token)}` : baseUrl;
  await page.goto(url, { waitUntil: 'load' });
}
async function connectOrFail() {
  await gotoWithToken();
  await waitText('#conn-state', /^connected$/, 'connection', timeoutMs);
  await settle();
}
const errorToasts = () => page.evaluate(() => (window.openclawTest ? window.openclawTest.toasts : []).filter((t) => t.kind === 'error').map((t) => t.msg));

// ---------- scenarios ----------
async function tokenFragment() {
  await connectOrFail();
  const st = await page.evaluate(() => ({ hash: location.hash, href: location.href, stored: localStorage.getItem('openclaw.token'),
    deviceToken: !!localStorage.getItem('openclaw.deviceToken') }));
  expect(st.hash === '', `location.hash should be empty, is ${JSON.stringify(st.hash)}`);
  if (token) {
    expect(!st.href.includes(token), 'the token is still in the address bar');
    expect(st.stored === token, 'localStorage openclaw.token does not hold the token from the fragment');
  }
  await waitText('#health-stats', /Version/, 'health page');
  const pages = [];
  for (const name of PAGES) {
    await openPage(name);
    if (name === 'logs') await page.waitForTimeout(2300); // one poll cycle
    pages.push(name);
    await shot(name);
  }
  const errors = await errorToasts();
  if (!args['allow-errors']) expect(!errors.length, `RPC errors shown: ${errors.join(' | ')}`);
  return { connected: true, hashCleared: true, tokenStored: !!token, deviceToken: st.deviceToken, pages, errors };
}

async function pairingPending() {
  const waitMs = Number(args['wait-ms'] || 60000);
  await gotoWithToken();
  await waitText('#conn-state', /^disconnected \(1008\): pairing required$/, 'pairing state', timeoutMs);
  await waitText('#approve-command', /^openclaw devices approve [0-9a-f-]{36}$/, 'approve command');
  let requestId = (await page.$eval('#approve-command', (e) => e.textContent)).split(' ').pop();
  await shot('pairing-pending');
  emit({ event: 'pending', scenario, requestId });
  const ids = [requestId];
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [state, cmd] = await page.evaluate(() => [document.getElementById('conn-state').textContent, document.getElementById('approve-command').textContent]);
    if (state === 'connected') break;
    const id = cmd.split(' ').pop();
    if (id && id !== requestId) { requestId = id; ids.push(id); emit({ event: 'pending', scenario, requestId, superseded: ids[ids.length - 2] }); }
    if (Date.now() > deadline) throw new Fail(`not connected within ${waitMs} ms after the pairing request (state: ${state})`);
    await page.waitForTimeout(100);
  }
  const panelHidden = await page.$eval('#pairing-panel', (e) => e.hidden);
  expect(panelHidden, 'pairing panel still shown after connecting');
  await settle();
  await shot('paired');
  const deviceToken = await page.evaluate(() => !!localStorage.getItem('openclaw.deviceToken'));
  return { event: 'connected', requestId, requestIds: ids, deviceToken };
}

async function approvePending() {
  const id = typeof args['request-id'] === 'string' ? args['request-id'] : '';
  await connectOrFail();
  await openPage('devices');
  const sel = id ? `#pending-table tr[data-request-id="${id}"]` : '#pending-table tbody tr[data-request-id]';
  try { await page.waitForSelector(sel); } catch { throw new Fail(`no pending request row ${id || ''} on the Devices page`); }
  const requestId = await page.$eval(sel, (tr) => tr.dataset.requestId);
  await shot('devices-pending');
  await page.click(`#pending-table tr[data-request-id="${requestId}"] button[data-action="approve"]`);
  try { await page.waitForSelector(`#pending-table tr[data-request-id="${requestId}"]`, { state: 'detached' }); } catch { throw new Fail(`request ${requestId} still pending after Approve`); }
  await settle();
  await shot('devices-approved');
  const errors = await errorToasts();
  expect(!errors.length, `RPC errors shown: ${errors.join(' | ')}`);
  return { approved: requestId };
}

async function sandboxes() {
  const name = args['expect-container'];
  expect(typeof name === 'string' && name, '--expect-container NAME is required');
  await connectOrFail();
  await openPage('sandboxes');
  const sel = `#sandboxes-table tr[data-container="${name.replace(/["\\]/g, '\\$&')}"]`;
  try { await page.waitForSelector(sel); } catch { throw new Fail(`no sandbox row with data-container="${name}"`); }
  const rows = await page.$$eval('#sandboxes-table tbody tr', (trs) => trs.map((tr) => ({
    container: tr.dataset.container, cells: Array.from(tr.cells).slice(0, 7).map((c) => c.textContent) })));
  await shot('sandboxes');
  let recreated = false;
  if (args.recreate) {
    await page.click(`${sel} button[data-action="recreate"]`);
    try { await page.waitForSelector(sel, { state: 'detached', timeout: 60000 }); } catch { throw new Fail(`row ${name} still listed after Recreate`); }
    await settle();
    await shot('sandboxes-recreated');
    recreated = true;
  }
  const errors = await errorToasts();
  expect(!errors.length, `RPC errors shown: ${errors.join(' | ')}`);
  return { rows, recreated };
}

async function configInvalid() {
  const bad = typeof args['bad-config'] === 'string' ? args['bad-config'] : '{ gateway: { port: "nope" } }';
  const want = typeof args['expect-error'] === 'string' ? args['expect-error'] : 'gateway.port';
  await connectOrFail();
  await openPage('config');
  await waitText('#config-path', /\S/, 'config.get');
  const before = await page.$eval('#config-editor', (e) => e.value);
  await page.fill('#config-editor', bad);
  await page.click('#config-save');
  try {
    await page.waitForFunction((w) => document.getElementById('config-errors').textContent.includes(w), want, { polling: 50 });
  } catch {
    const shown = await page.$eval('#config-errors', (e) => e.textContent);
    const status = await page.$eval('#config-status', (e) => e.textContent);
    throw new Fail(`#config-errors does not mention ${want}: ${JSON.stringify(shown)} (status ${JSON.stringify(status)})`);
  }
  const errors = await page.$$eval('#config-errors strong, #config-errors li', (es) => es.map((e) => e.textContent));
  const status = await page.$eval('#config-status', (e) => e.textContent);
  expect(status !== 'Saved', 'invalid config reported as Saved');
  await shot('config-invalid');
  // The file must be unchanged: reload from the gateway and compare.
  await page.click('#config-reload');
  await settle();
  const after = await page.$eval('#config-editor', (e) => e.value);
  expect(after === before, 'config on the gateway changed after an invalid save');
  return { errors };
}

async function configSave() {
  const good = typeof args['good-config'] === 'string' ? args['good-config'] : null;
  expect(good, '--good-config TEXT is required');
  await connectOrFail();
  await openPage('config');
  await waitText('#config-path', /\S/, 'config.get');
  await page.fill('#config-editor', good);
  await page.click('#config-save');
  await waitText('#config-status', /^Saved$/, 'config save');
  await settle();
  const errors = await page.$eval('#config-errors', (e) => e.textContent);
  expect(!errors, `errors shown after a good save: ${errors}`);
  await page.click('#config-reload');
  await settle();
  const after = await page.$eval('#config-editor', (e) => e.value);
  expect(after === good, 'the gateway does not return the saved text');
  await shot('config-saved');
  return { saved: true };
}

async function sha256() {
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => window.openclawTest);
  const vectors = [
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
  ];
  for (const [input, want] of vectors) {
    const got = await page.evaluate((s) => window.openclawTest.sha256hex(s), input);
    expect(got === want, `sha256(${JSON.stringify(input)}) = ${got}, want ${want}`);
  }
  const zeros = await page.evaluate(() => window.openclawTest.sha256hex(new Uint8Array(32)));
  const zerosWant = '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925';
  expect(zeros === zerosWant, `sha256(32 zero bytes) = ${zeros}, want ${zerosWant}`);
  // Every length across block boundaries, against node:crypto.
  const lens = Array.from({ length: 200 }, (_, i) => i).concat([1000, 4096, 100000]);
  const got = await page.evaluate((ls) => ls.map((n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + n) & 255;
    return window.openclawTest.sha256hex(b);
  }), lens);
  lens.forEach((n, k) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + n) & 255;
    const want = createHash('sha256').update(b).digest('hex');
    expect(got[k] === want, `sha256 of ${n} bytes = ${got[k]}, want ${want}`);
  });
  // The device id is the SHA-256 of the stored secret's raw bytes.
  const { secret, id } = await page.evaluate(() => ({ secret: localStorage.getItem('openclaw.deviceSecret'), id: window.openclawTest.deviceId() }));
  expect(/^[0-9a-f]{64}$/.test(secret), 'openclaw.deviceSecret is not 64 hex characters');
  const idWant = createHash('sha256').update(Buffer.from(secret, 'hex')).digest('hex');
  expect(id === idWant, `device id ${id} != sha256(secret) ${idWant}`);
  return { abc: vectors[0][1], zeros, checkedLengths: lens.length, deviceId: id };
}

async function layout() {
  await page.setViewportSize({ width: 360, height: 740 });
  await gotoWithToken();
  await page.waitForFunction(() => !/connecting/.test(document.getElementById('conn-state').textContent), null, { timeout: timeoutMs }).catch(() => {});
  const result = [];
  for (const name of PAGES) {
    await openPage(name);
    const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    expect(w.scroll <= w.inner, `page ${name} overflows horizontally at 360 px (${w.scroll} > ${w.inner})`);
    result.push({ page: name, scrollWidth: w.scroll });
    await shot(`360-${name}`);
  }
  return { viewport: '360x740', pages: result, state: await connState() };
}

async function dev() {
  expect(args.serve, 'dev needs --serve UIDIR');
  const t = 'dev-token+/=%&x';
  await page.goto(`${baseUrl}index.html?q=1#token=${encodeURIComponent(t)}`, { waitUntil: 'load' });
  const st = await page.evaluate(() => ({ hash: location.hash, path: location.pathname + location.search, stored: localStorage.getItem('openclaw.token') }));
  expect(st.hash === '', `hash not cleared: ${st.hash}`);
  expect(st.path === '/index.html?q=1', `path/query not kept: ${st.path}`);
  expect(st.stored === t, `stored token ${JSON.stringify(st.stored)} != ${JSON.stringify(t)}`);
  await waitText('#conn-state', /^disconnected \(\d+\): .+/, 'disconnected badge');
  await page.click('#nav button[data-page="settings"]');
  await page.fill('#token-input', 'pasted-token');
  await page.click('#token-save');
  expect(await page.evaluate(() => localStorage.getItem('openclaw.token')) === 'pasted-token', 'token-save did not store the token');
  await page.click('#token-clear');
  expect(await page.evaluate(() => localStorage.getItem('openclaw.token')) === null, 'token-clear did not clear the token');
  await shot('settings');
  const s = await sha256();
  const l = await layout();
  return { fragment: 'ok', sha256: s, layout: l };
}

// ---------- main ----------
let server;
(async () => {
  let result, code = 0;
  try {
    if (args.serve) { server = await serveStatic(resolve(args.serve)); baseUrl = `http://127.0.0.1:${server.address().port}/`; }
    else baseUrl = new URL(args.url).href;
    await start();
    result = { ok: true, scenario, ...(await scenarios[scenario]()) };
    expect(!problems.length, problems.join(' | '));
  } catch (e) {
    code = 1;
    if (page) await shot('failure').catch(() => {});
    const state = page ? await connState().catch(() => '') : '';
    result = { ok: false, scenario, error: e instanceof Fail ? e.message : String(e && e.stack || e), connState: state, problems };
    process.stderr.write(`FAIL ${scenario}: ${result.error}\n`);
  }
  result.screenshots = shots;
  emit(result);
  if (browser) await browser.close().catch(() => {});
  if (server) server.close();
  process.exit(code);
})();
