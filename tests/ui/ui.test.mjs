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
//   chat             connect, open Chat (--new-session: a fresh session), send --message (Enter), wait for the
//                    run to end; --tool NAME: expect a tool block NAME with a result and expand it;
//                    --expect-final REGEX; --min-deltas N; --abort: click Abort once text streams and expect
//                    "Run aborted". Result: {sessionKey, toolName, toolArgs, toolResult, finalText, streamedDeltas}
//   sessions         connect, open Sessions, expect a row (--key KEY, else the first), Reset it (confirm) and
//                    expect its session id to change; --open: then "Open in chat" and expect an empty transcript
//   chat-render      no gateway (--serve UIDIR): a scripted gateway over page.routeWebSocket checks the Chat
//                    page's rendering: history, streamed text around a tool block, hostile text kept as text,
//                    other sessions ignored, errors shown, Shift+Enter, New session, at most 500 entries
//   channels         connect, open Channels, expect an account row --channel/--account (state shown) and the
//                    pending request --code; click Approve and expect the request to go away.
//                    Result: {accounts:[{channel, account, state, cells}], approved}
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
const PAGES = ['chat', 'sessions', 'health', 'channels', 'devices', 'sandboxes', 'config', 'logs', 'settings'];
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

const scenarios = { chat, sessions, channels, 'chat-render': chatRender, 'token-fragment': tokenFragment, 'pairing-pending': pairingPending, sandboxes, 'approve-pending': approvePending, 'config-invalid': configInvalid, 'config-save': configSave, sha256, layout, dev };
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
  expect(await page.$eval('#page-chat', (e) => !e.hidden), 'Chat is not the page shown after connecting');
  await openPage('health');
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

async function chat() {
  const message = typeof args.message === 'string' ? args.message : 'exec: echo hello-from-sandbox';
  const tool = typeof args.tool === 'string' ? args.tool : '';
  await connectOrFail();
  await openPage('chat');
  await page.waitForSelector('#chat-session option', { state: 'attached' });
  if (args['new-session']) {
    const before = await page.$eval('#chat-session', (e) => e.value);
    await page.click('#chat-new');
    const after = await page.$eval('#chat-session', (e) => e.value);
    expect(after !== before && /^agent:[^:]+:webchat-[0-9a-f]+$/.test(after), `New session picked ${after} (was ${before})`);
  }
  const sessionKey = await page.$eval('#chat-session', (e) => e.value);
  // Watch what the page renders: every distinct streamed text, and whether Abort showed.
  await page.evaluate(() => {
    const w = window.chatWatch = { texts: [], abortShown: false };
    new MutationObserver(() => {
      const b = document.querySelector('#chat-log .msg.streaming .body');
      if (b && b.textContent !== w.texts[w.texts.length - 1]) w.texts.push(b.textContent);
      if (!document.getElementById('chat-abort').hidden) w.abortShown = true;
    }).observe(document.getElementById('page-chat'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const finalsBefore = await page.$$eval('#chat-log .msg.assistant[data-final]', (es) => es.length);
  await page.fill('#chat-input', message);
  await page.press('#chat-input', 'Enter');
  await page.waitForFunction((m) => { const u = document.querySelectorAll('#chat-log .msg.user .body'); return u.length && u[u.length - 1].textContent === m; }, message);
  expect(await page.$eval('#chat-input', (e) => e.value) === '', 'the composer was not cleared after sending');
  if (args.abort) {
    await page.waitForSelector('#chat-log .msg.streaming');
    await shot('chat-streaming');
    await page.click('#chat-abort');
    try { await page.waitForFunction(() => /Run aborted/.test(document.getElementById('chat-log').textContent) && document.getElementById('page-chat').dataset.run === 'idle'); } catch { throw new Fail('no "Run aborted" after clicking Abort'); }
    await shot('chat-aborted');
    const w = await page.evaluate(() => window.chatWatch);
    const partial = await page.$$eval('#chat-log .msg.assistant .body', (es) => es.length ? es[es.length - 1].textContent : '');
    expect(await page.$eval('#chat-abort', (e) => e.hidden), 'Abort still shown after the run ended');
    return { sessionKey, aborted: true, partialText: partial, streamedDeltas: w.texts.length, abortShown: w.abortShown };
  }
  let toolName = null, toolArgs = null, toolResult = null, toolError = null;
  if (tool) {
    const sel = `#chat-log details.tool[data-tool-name="${tool}"]`;
    try { await page.waitForSelector(`${sel}:not([data-state="running"])`, { state: 'attached' }); } catch { throw new Fail(`no finished tool block ${tool}`); }
  }
  try {
    await page.waitForFunction((n) => document.querySelectorAll('#chat-log .msg.assistant[data-final]').length > n || document.querySelector('#chat-log .msg.error'), finalsBefore);
  } catch { throw new Fail('no final assistant message'); }
  const err = await page.$eval('#chat-log', (l) => { const e = l.querySelector('.msg.error .body'); return e && e.textContent; });
  expect(!err, `the run failed: ${err}`);
  try { await page.waitForFunction(() => document.getElementById('page-chat').dataset.run === 'idle'); } catch { throw new Fail('the run never ended (Abort still shown)'); }
  expect(await page.$eval('#chat-abort', (e) => e.hidden), 'Abort still shown after the run ended');
  if (tool) {
    const sel = `#chat-log details.tool[data-tool-name="${tool}"]`;
    await page.click(`${sel} summary`);
    expect(await page.$eval(sel, (d) => d.open), 'the tool block did not expand');
    await page.$eval(sel, (d) => d.scrollIntoView());
    ({ toolName, toolArgs, toolResult, toolError } = await page.$eval(sel, (d) => ({ toolName: d.dataset.toolName, toolArgs: d.querySelector('.tool-args').textContent,
      toolResult: d.querySelector('.tool-result').textContent, toolError: d.classList.contains('error') })));
    await shot('chat-tool-expanded');
  }
  const finalText = await page.$$eval('#chat-log .msg.assistant[data-final] .body', (es) => es[es.length - 1].textContent);
  const w = await page.evaluate(() => window.chatWatch);
  await shot('chat-final');
  if (typeof args['expect-final'] === 'string') expect(new RegExp(args['expect-final']).test(finalText), `final text ${JSON.stringify(finalText)} does not match ${args['expect-final']}`);
  const minDeltas = Number(args['min-deltas'] || 0);
  expect(w.texts.length >= minDeltas, `only ${w.texts.length} streamed renders seen, expected at least ${minDeltas}`);
  // The transcript reloaded from the gateway shows the same turn.
  await openPage('sessions');
  await openPage('chat');
  await page.waitForFunction((m) => Array.from(document.querySelectorAll('#chat-log .msg.user .body')).some((b) => b.textContent === m), message);
  const reloaded = await page.$$eval('#chat-log .msg.assistant[data-final] .body', (es) => es.map((e) => e.textContent));
  const reloadedTools = await page.$$eval('#chat-log details.tool', (ds) => ds.map((d) => ({ name: d.dataset.toolName, state: d.dataset.state, result: d.querySelector('.tool-result').textContent })));
  const errors = await errorToasts();
  expect(!errors.length, `RPC errors shown: ${errors.join(' | ')}`);
  return { sessionKey, toolName, toolArgs, toolResult, toolError, finalText, streamedDeltas: w.texts.length, streamedTexts: w.texts.slice(-5), abortShown: w.abortShown, reloaded, reloadedTools };
}

async function channels() {
  await connectOrFail();
  await openPage('channels');
  const rowSel = `#channels-table tr[data-channel="${args.channel}"][data-account="${args.account || 'default'}"]`;
  try { await page.waitForSelector(rowSel); } catch { throw new Fail(`no channel row ${args.channel}/${args.account || 'default'}`); }
  const accounts = await page.$$eval('#channels-table tbody tr', (trs) => trs.map((tr) => ({
    channel: tr.dataset.channel, account: tr.dataset.account, state: tr.dataset.state, cells: Array.from(tr.cells).map((c) => c.textContent) })));
  const reqSel = `#chpair-table tr[data-code="${args.code}"]`;
  try { await page.waitForSelector(reqSel); } catch { throw new Fail(`no pairing request with code ${args.code}`); }
  const request = await page.$eval(reqSel, (tr) => Array.from(tr.cells).slice(0, 4).map((c) => c.textContent));
  await shot('channels');
  await page.click(`${reqSel} button[data-action="approve"]`);
  try { await page.waitForSelector(reqSel, { state: 'detached' }); } catch { throw new Fail(`request ${args.code} still listed after Approve`); }
  await settle();
  await shot('channels-approved');
  const errors = await errorToasts();
  expect(!errors.length, `RPC errors shown: ${errors.join(' | ')}`);
  return { accounts, request, approved: true };
}

async function sessions() {
  const want = typeof args.key === 'string' ? args.key : '';
  await connectOrFail();
  await openPage('sessions');
  const sel = want ? `#sessions-table tr[data-key="${want.replace(/["\\]/g, '\\$&')}"]` : '#sessions-table tbody tr[data-key]';
  try { await page.waitForSelector(sel); } catch { throw new Fail(`no session row ${want}`); }
  const key = await page.$eval(sel, (tr) => tr.dataset.key);
  const rowSel = `#sessions-table tr[data-key="${key.replace(/["\\]/g, '\\$&')}"]`;
  const rowsOf = () => page.$$eval('#sessions-table tbody tr', (trs) => trs.map((tr) => ({
    key: tr.dataset.key, sessionId: tr.dataset.sessionId, cells: Array.from(tr.cells).slice(0, 4).map((c) => c.textContent) })));
  const before = await rowsOf();
  await shot('sessions');
  const oldId = await page.$eval(rowSel, (tr) => tr.dataset.sessionId);
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await page.click(`${rowSel} button[data-action="reset"]`);
  try {
    await page.waitForFunction(([s, id]) => { const tr = document.querySelector(s); return tr && tr.dataset.sessionId && tr.dataset.sessionId !== id; }, [rowSel, oldId]);
  } catch { throw new Fail(`session ${key} kept its session id ${oldId} after Reset`); }
  expect(asked.includes(key), `the confirm dialog did not name the session: ${JSON.stringify(asked)}`);
  await settle();
  const after = await rowsOf();
  await shot('sessions-reset');
  let opened = null;
  if (args.open) {
    await page.click(`${rowSel} button[data-action="open"]`);
    await page.waitForSelector('#page-chat:not([hidden])');
    await settle();
    opened = { picker: await page.$eval('#chat-session', (e) => e.value), messages: await page.$$eval('#chat-log > *', (es) => es.length) };
    expect(opened.picker === key, `Open in chat picked ${opened.picker}, not ${key}`);
    expect(opened.messages === 0, `the reset session still shows ${opened.messages} messages`);
    await shot('sessions-opened');
  }
  const errors = await errorToasts();
  expect(!errors.length, `RPC errors shown: ${errors.join(' | ')}`);
  return { key, before, after, oldSessionId: oldId, newSessionId: after.find((r) => r.key === key).sessionId, opened };
}

async function chatRender() {
  const HOSTILE = '<img src=x onerror="document.title=1">';
  const sent = [];
  const sessionsList = [{ key: 'agent:main:main', updatedAt: 2, entry: { sessionId: 'a' } }, { key: 'agent:main:big', updatedAt: 1, entry: { sessionId: 'b' } }];
  const history = {
    'agent:main:main': [
      { role: 'user', content: [{ type: 'text', text: 'earlier ' + HOSTILE }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Looking.' }, { type: 'toolCall', id: 'h1', name: 'read', arguments: '{"path":"README.md"}' }] },
      { role: 'toolResult', toolCallId: 'h1', toolName: 'read', content: [{ type: 'text', text: 'ENOENT ' + HOSTILE }], isError: true },
      { role: 'assistant', content: 'No readme.' }],
    'agent:main:big': Array.from({ length: 600 }, (_, i) => ({ role: 'user', content: [{ type: 'text', text: `m${i}` }] })),
  };
  let sock;
  const ev = (event, payload) => sock.send(JSON.stringify({ type: 'event', event, payload }));
  await page.routeWebSocket(/.*/, (ws) => {
    sock = ws;
    setTimeout(() => ev('connect.challenge', { nonce: 'n', ts: 0 }), 10);
    ws.onMessage((m) => {
      const r = JSON.parse(m), p = r.params || {};
      sent.push(r);
      const answer = { connect: { type: 'hello-ok', server: {} }, 'sessions.list': { agentId: 'main', sessions: sessionsList },
        'chat.history': { sessionKey: p.sessionKey, messages: history[p.sessionKey] || [], runId: null },
        'chat.send': { runId: 'r' + sent.length, status: 'started' }, 'chat.abort': { ok: true, aborted: true, runIds: [] } }[r.method] || {};
      ws.send(JSON.stringify({ type: 'res', id: r.id, ok: true, payload: answer }));
    });
  });
  await page.goto(baseUrl, { waitUntil: 'load' });
  await waitText('#conn-state', /^connected$/, 'scripted gateway');
  await page.waitForSelector('#chat-log details.tool[data-tool-name="read"].error', { state: 'attached' });
  await page.fill('#chat-input', 'line one');
  await page.press('#chat-input', 'Shift+Enter');
  await page.type('#chat-input', 'line two ' + HOSTILE);
  await page.press('#chat-input', 'Enter');
  await page.waitForFunction(() => document.getElementById('page-chat').dataset.run === 'running');
  const send = sent.find((r) => r.method === 'chat.send');
  expect(send.params.message === 'line one\nline two ' + HOSTILE && send.params.sessionKey === 'agent:main:main', `chat.send params ${JSON.stringify(send.params)}`);
  const run = 'r' + (sent.indexOf(send) + 1), key = 'agent:main:main';
  const say = (text, state) => ev('chat', { runId: run, sessionKey: key, state: state || 'delta', message: { role: 'assistant', content: [{ type: 'text', text }] } });
  say('Running ' + HOSTILE);
  ev('agent', { runId: run, sessionKey: key, stream: 'tool', data: { phase: 'start', name: 'exec', toolCallId: 'c1', args: { command: 'echo ' + HOSTILE } } });
  ev('chat', { runId: 'x', sessionKey: 'agent:main:elsewhere', state: 'final', message: { role: 'assistant', content: [{ type: 'text', text: 'NOT HERE' }] } });
  ev('agent', { runId: 'x', sessionKey: 'agent:main:elsewhere', stream: 'tool', data: { phase: 'start', name: 'nothere', toolCallId: 'z' } });
  await page.waitForSelector('#chat-log details.tool[data-tool-name="exec"][data-state="running"]', { state: 'attached' });
  await shot('render-running');
  ev('agent', { runId: run, sessionKey: key, stream: 'tool', data: { phase: 'result', name: 'exec', toolCallId: 'c1', result: HOSTILE, isError: false } });
  say('Tool said');
  say('Tool said: hi', 'final');
  ev('chat', { runId: 'r99', sessionKey: key, state: 'error', errorMessage: 'Provider "fake" is not configured ' + HOSTILE });
  await page.waitForSelector('#chat-log .msg.error');
  await page.waitForFunction(() => document.getElementById('page-chat').dataset.run === 'idle');
  await page.click('#chat-log details.tool[data-tool-name="exec"] summary');
  await shot('render-done');
  const log = await page.$$eval('#chat-log > *', (es) => es.map((e) => `${e.className}|${e.querySelector('.body, summary').textContent}`));
  const want = ['msg user|earlier ' + HOSTILE, 'msg assistant|Looking.', 'tool error|read README.md', 'msg assistant|No readme.',
    'msg user|line one\nline two ' + HOSTILE, 'msg assistant|Running ' + HOSTILE, 'tool|exec echo ' + HOSTILE, 'msg assistant|Tool said: hi',
    'msg error|Provider "fake" is not configured ' + HOSTILE];
  expect(JSON.stringify(log) === JSON.stringify(want), `chat log is\n${JSON.stringify(log, null, 1)}\nwant\n${JSON.stringify(want, null, 1)}`);
  const hostile = await page.evaluate(() => ({ imgs: document.querySelectorAll('img').length, title: document.title }));
  expect(!hostile.imgs && hostile.title !== '1', 'hostile text was rendered as HTML');
  expect(await page.$eval('#chat-log details.tool[data-tool-name="exec"] .tool-result', (e) => e.textContent) === HOSTILE, 'tool result text differs');
  // New session: a fresh key, an empty transcript, sends go there.
  await page.click('#chat-new');
  const fresh = await page.$eval('#chat-session', (e) => e.value);
  expect(/^agent:main:webchat-[0-9a-f]{8}$/.test(fresh), `new session key ${fresh}`);
  expect(await page.$$eval('#chat-log > *', (es) => es.length) === 0, 'the new session shows old messages');
  await page.fill('#chat-input', 'hi');
  await page.click('#chat-send');
  await page.waitForFunction(() => document.getElementById('page-chat').dataset.run === 'running');
  expect(sent.filter((r) => r.method === 'chat.send').pop().params.sessionKey === fresh, 'send did not go to the new session');
  await page.click('#chat-abort');
  for (let i = 0; i < 100 && !sent.some((r) => r.method === 'chat.abort'); i++) await page.waitForTimeout(20);
  expect(sent.some((r) => r.method === 'chat.abort' && r.params.sessionKey === fresh), 'Abort did not call chat.abort for the session');
  // The DOM stays bounded.
  await page.selectOption('#chat-session', 'agent:main:big');
  await page.waitForFunction(() => document.querySelector('#chat-log > :last-child .body')?.textContent === 'm599');
  const count = await page.$$eval('#chat-log > *', (es) => es.length);
  expect(count === 500, `${count} entries in the chat log, expected 500`);
  return { entries: log.length, bounded: count };
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
