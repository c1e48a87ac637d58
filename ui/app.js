// OpenClaw Control UI: vanilla JS, no build step, no external requests.
'use strict';
(() => {
const LS_TOKEN = 'openclaw.token', LS_SECRET = 'openclaw.deviceSecret', LS_DEVTOKEN = 'openclaw.deviceToken';
const $ = (id) => document.getElementById(id);

// ---------- storage (never throws) ----------
const store = {
  get(k) { try { return localStorage.getItem(k) || ''; } catch { return ''; } },
  set(k, v) { try { v ? localStorage.setItem(k, v) : localStorage.removeItem(k); } catch { /* private mode */ } },
};

// ---------- SHA-256 (WebCrypto is missing on plain-HTTP pages) ----------
const H0 = [], K = [];
{
  const frac = (x) => ((x - Math.floor(x)) * 4294967296) | 0;
  for (let n = 2, found = 0; found < 64; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
    if (!prime) continue;
    if (found < 8) H0.push(frac(Math.sqrt(n)));
    K.push(frac(Math.cbrt(n)));
    found++;
  }
}
function sha256(bytes) {
  const len = bytes.length, total = ((len + 72) >> 6) << 6;
  const m = new Uint8Array(total);
  m.set(bytes); m[len] = 0x80;
  const dv = new DataView(m.buffer);
  dv.setUint32(total - 8, Math.floor(len / 0x20000000));
  dv.setUint32(total - 4, (len << 3) >>> 0);
  const H = H0.slice(), W = new Int32Array(64);
  const ror = (x, n) => (x >>> n) | (x << (32 - n));
  for (let o = 0; o < total; o += 64) {
    for (let i = 0; i < 16; i++) W[i] = dv.getInt32(o + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = W[i - 15], b = W[i - 2];
      W[i] = (W[i - 16] + (ror(a, 7) ^ ror(a, 18) ^ (a >>> 3)) + W[i - 7] + (ror(b, 17) ^ ror(b, 19) ^ (b >>> 10))) | 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = (H[i] + v) | 0; });
  }
  return H.map((v) => (v >>> 0).toString(16).padStart(8, '0')).join('');
}
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (s) => new Uint8Array(s.match(/../g).map((x) => parseInt(x, 16)));
const sha256hex = (input) => sha256(typeof input === 'string' ? new TextEncoder().encode(input) : input);

// ---------- token from #token=… ----------
function takeTokenFromHash() {
  const h = location.hash;
  if (!h || h.length < 2) return;
  const m = /(?:^|&)token=([^&]*)/.exec(h.slice(1));
  if (!m) return;
  let t = m[1];
  try { t = decodeURIComponent(t); } catch { /* keep as is */ }
  t = t.trim();
  if (t) store.set(LS_TOKEN, t);
  history.replaceState(history.state, '', location.pathname + location.search);
}
takeTokenFromHash();

// ---------- device identity ----------
function deviceIdentity() {
  let secret = store.get(LS_SECRET);
  if (!/^[0-9a-f]{64}$/.test(secret)) {
    const b = new Uint8Array(32);
    crypto.getRandomValues(b);
    secret = toHex(b);
    store.set(LS_SECRET, secret);
    store.set(LS_DEVTOKEN, '');
  }
  return { id: sha256(fromHex(secret)), secret };
}
const device = deviceIdentity();

// ---------- helpers ----------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}
function dur(ms) {
  if (ms == null || !isFinite(ms)) return '–';
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
const short = (id) => (id ? String(id).slice(0, 12) : '–');
const list = (v) => (Array.isArray(v) ? v.join(', ') : v || '');

const toastLog = [];
function toast(msg, kind) {
  toastLog.push({ kind: kind || 'info', msg });
  if (toastLog.length > 50) toastLog.shift();
  const t = el('div', { class: 'toast' + (kind ? ' ' + kind : ''), role: kind === 'error' ? 'alert' : 'status', text: msg });
  const drop = () => t.remove();
  t.addEventListener('click', drop);
  $('toasts').append(t);
  while ($('toasts').children.length > 4) $('toasts').firstChild.remove();
  setTimeout(drop, kind === 'error' ? 8000 : 4000);
}
const fail = (what) => (err) => toast(`${what}: ${err.message || err}`, 'error');

// ---------- connection ----------
const conn = { ws: null, ready: false, seq: 0, pending: new Map(), retry: 0, timer: 0, pairing: '', hello: null };
const listeners = {};
const on = (ev, fn) => { (listeners[ev] = listeners[ev] || []).push(fn); };

function setState(text, cls) {
  const b = $('conn-state');
  b.textContent = text;
  b.className = 'badge state-' + cls;
}

function gatewayUrl() {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + location.pathname;
}

function connect() {
  clearTimeout(conn.timer);
  if (conn.ws) { const old = conn.ws; conn.ws = null; try { old.close(1000, 'reconnect'); } catch { /* closed */ } }
  for (const p of conn.pending.values()) { clearTimeout(p.timer); p.reject(new Error('reconnecting')); }
  conn.pending.clear();
  conn.ready = false;
  setState('connecting…', 'connecting');
  let ws;
  try { ws = new WebSocket(gatewayUrl()); } catch (e) { onClose(null, 1006, String(e.message || e)); return; }
  conn.ws = ws;
  const challengeTimer = setTimeout(() => { if (!conn.ready && conn.ws === ws) ws.close(4000, 'no challenge'); }, 12000);
  ws.onmessage = (ev) => {
    if (conn.ws !== ws) return;
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.type === 'res') {
      const p = conn.pending.get(msg.id);
      if (!p) return;
      conn.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.payload || {});
      else {
        const e = msg.error || {};
        const err = new Error(e.message || e.code || 'request failed');
        err.code = e.code; err.details = e.details;
        p.reject(err);
      }
    } else if (msg.type === 'event') {
      if (msg.event === 'connect.challenge') { clearTimeout(challengeTimer); sendConnect(ws); return; }
      for (const fn of listeners[msg.event] || []) { try { fn(msg.payload || {}); } catch (e) { console.error(e); } }
    }
  };
  ws.onclose = (ev) => { clearTimeout(challengeTimer); if (conn.ws === ws) onClose(ws, ev.code, ev.reason); };
}

function sendConnect(ws) {
  const gw = store.get(LS_TOKEN), dt = store.get(LS_DEVTOKEN);
  const auth = {};
  if (gw || dt) auth.token = gw || dt;
  const params = {
    minProtocol: 3, maxProtocol: 3,
    client: { id: 'openclaw-control-ui', displayName: 'Control UI', version: '1', platform: 'web', mode: 'webchat' },
    role: 'operator',
    scopes: ['operator.admin', 'operator.read', 'operator.write', 'operator.pairing'],
    auth,
    device: { id: device.id, secret: device.secret },
  };
  rawCall(ws, 'connect', params).then((hello) => {
    conn.ready = true;
    conn.retry = 0;
    conn.pairing = '';
    conn.hello = hello;
    if (hello.auth && hello.auth.deviceToken) store.set(LS_DEVTOKEN, hello.auth.deviceToken);
    setState('connected', 'connected');
    $('pairing-panel').hidden = true;
    $('auth-panel').hidden = true;
    const s = hello.server || {};
    $('server-info').textContent = [s.version && 'v' + s.version, s.host].filter(Boolean).join(' · ');
    renderSettings();
    showPage(current, true);
    refreshPendingCount();
  }, (err) => {
    if (err.code === 'NOT_PAIRED' && err.details && err.details.requestId) conn.pairing = err.details.requestId;
    // The gateway closes the socket right after; onClose shows the state.
  });
}

function onClose(ws, code, reason) {
  conn.ws = null;
  conn.ready = false;
  for (const p of conn.pending.values()) { clearTimeout(p.timer); p.reject(new Error('disconnected')); }
  conn.pending.clear();
  stopLogs();
  reason = reason || (code === 1006 ? 'connection lost' : 'closed');
  setState(`disconnected (${code}): ${reason}`, 'disconnected');
  let delay;
  const pairing = code === 1008 && /pairing required/.test(reason) && conn.pairing;
  $('pairing-panel').hidden = !pairing;
  if (pairing) {
    $('approve-command').textContent = `openclaw devices approve ${conn.pairing}`;
    delay = 3000;
  } else {
    conn.pairing = '';
    if (code === 1008 && /device token mismatch/.test(reason)) store.set(LS_DEVTOKEN, '');
    delay = Math.min(10000, 1000 * 2 ** Math.min(conn.retry++, 4));
  }
  const authFail = code === 1008 && /^unauthorized|device identity/.test(reason);
  $('auth-panel').hidden = !authFail;
  if (authFail) {
    $('auth-message').textContent = reason;
    // Wrong tokens count towards the gateway's lock-out: retry slowly; saving a token reconnects at once.
    delay = 30000;
  }
  conn.timer = setTimeout(connect, delay);
}

function rawCall(ws, method, params, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) { reject(new Error('not connected')); return; }
    const id = String(++conn.seq);
    const timer = setTimeout(() => { conn.pending.delete(id); reject(new Error(`${method}: timed out`)); }, timeoutMs || 30000);
    conn.pending.set(id, { resolve, reject, timer });
    ws.send(JSON.stringify({ type: 'req', id, method, params: params || {} }));
  });
}
// data-inflight on <html> lets tests wait for a page's data to arrive.
let inflight = 0;
const markInflight = (d) => { inflight += d; document.documentElement.dataset.inflight = inflight; };
function call(method, params, timeoutMs) {
  if (!conn.ready) return Promise.reject(new Error('not connected'));
  markInflight(1);
  return rawCall(conn.ws, method, params, timeoutMs).finally(() => markInflight(-1));
}

// ---------- pages ----------
const pages = {};
let current = 'chat';
function showPage(name, force) {
  if (!pages[name]) name = 'chat';
  const changed = name !== current;
  if (changed && pages[current].leave) pages[current].leave();
  current = name;
  for (const b of document.querySelectorAll('#nav button[data-page]')) b.classList.toggle('active', b.dataset.page === name);
  for (const s of document.querySelectorAll('main > .page')) s.hidden = s.id !== 'page-' + name;
  if ((changed || force) && pages[name].enter) pages[name].enter();
}
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-page]');
  if (b) showPage(b.dataset.page);
});

// Chat. Model and tool text is untrusted: it only ever goes through textContent.
const MAX_CHAT = 500;
const rid = (n) => toHex(crypto.getRandomValues(new Uint8Array(n)));
const LS_SESSION = 'openclaw.chatSession';
const chat = { agent: 'main', key: store.get(LS_SESSION) || 'agent:main:main', keys: [], runId: null, mine: new Set(), done: new Set(),
  stream: null, tools: new Map(), seq: 0, pickTimer: 0 };
const remember = (set, v) => { set.add(v); if (set.size > 100) set.delete(set.values().next().value); };
function textOf(m) {
  const c = m && m.content;
  if (typeof c === 'string') return c;
  return Array.isArray(c) ? c.filter((p) => p && p.type === 'text' && typeof p.text === 'string').map((p) => p.text).join('') : '';
}
const clip = (s, n) => (s.length > n ? s.slice(0, n) + '…' : s);
function addChat(node) {
  const log = $('chat-log'), stick = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  log.append(node);
  while (log.childElementCount > MAX_CHAT) { chat.tools.delete(log.firstElementChild.dataset.toolCallId); log.firstElementChild.remove(); }
  if (stick) log.scrollTop = log.scrollHeight;
  return node;
}
function msg(role, text, ts, extra) {
  const label = { user: 'You', assistant: 'Assistant', error: 'Error', note: '' }[role];
  return addChat(el('div', { class: 'msg ' + role, 'data-role': role, title: ts ? new Date(ts).toLocaleString() : null, ...extra },
    label ? el('div', { class: 'who', text: label }) : null, el('div', { class: 'body', text })));
}
function parseArgs(a) {
  if (typeof a !== 'string') return a;
  try { return JSON.parse(a); } catch { return a; }
}
function toolBlock(id, name, args) {
  let d = id && chat.tools.get(id);
  if (d && d.isConnected) return d;
  args = parseArgs(args);
  const brief = args && typeof args === 'object' ? [args.command, args.path, args.url, args.query].find((v) => typeof v === 'string') || JSON.stringify(args) : String(args == null ? '' : args);
  d = el('details', { class: 'tool', 'data-tool-name': name || '?', 'data-tool-call-id': id || null, 'data-state': 'running' },
    el('summary', null, el('code', { text: name || 'tool' }), ' ', el('span', { class: 'muted', text: clip(brief.replace(/\s+/g, ' '), 80) })),
    el('div', { class: 'label', text: 'Arguments' }), el('pre', { class: 'tool-args', text: typeof args === 'string' ? args : JSON.stringify(args, null, 2) }),
    el('div', { class: 'label', text: 'Result' }), el('pre', { class: 'tool-result', text: 'running…' }));
  if (id) chat.tools.set(id, d);
  return addChat(d);
}
function toolResult(id, name, text, isError) {
  const d = toolBlock(id, name, null);
  d.querySelector('.tool-result').textContent = clip(text, 20000);
  d.dataset.state = isError ? 'error' : 'done';
  d.classList.toggle('error', !!isError);
}
function clearChat() {
  $('chat-log').replaceChildren();
  chat.tools.clear(); chat.stream = null;
}
function renderHistory(m) {
  if (m.role === 'user') msg('user', textOf(m), m.timestamp);
  else if (m.role === 'assistant') {
    const t = textOf(m);
    if (t) msg('assistant', t, m.timestamp, { 'data-final': '' });
    for (const c of Array.isArray(m.content) ? m.content : []) if (c && c.type === 'toolCall') toolBlock(c.id, c.name, c.arguments);
  } else if (m.role === 'toolResult') toolResult(m.toolCallId, m.toolName, textOf(m), m.isError);
}
function setRun(runId) {
  chat.runId = runId || null;
  $('chat-abort').hidden = !chat.runId;
  $('page-chat').dataset.run = chat.runId ? 'running' : 'idle';
  $('chat-status').textContent = chat.runId ? 'running…' : '';
}
function endRun(runId) {
  remember(chat.done, runId);
  if (chat.stream) { chat.stream.classList.remove('streaming'); chat.stream = null; }
  if (!chat.runId || chat.runId === runId) setRun(null);
}
function loadHistory() {
  if (!conn.ready) return Promise.resolve();
  const key = chat.key, n = ++chat.seq;
  return call('chat.history', { sessionKey: key }).then((r) => {
    if (n !== chat.seq || key !== chat.key) return;
    clearChat();
    for (const m of r.messages || []) renderHistory(m);
    setRun(r.runId);
    $('chat-log').scrollTop = $('chat-log').scrollHeight;
  }).catch(fail('chat.history'));
}
function fillPicker() {
  const main = `agent:${chat.agent}:main`;
  const keys = [main, chat.key, ...chat.keys].filter((k, i, a) => a.indexOf(k) === i);
  $('chat-session').replaceChildren(...keys.map((k) => el('option', { value: k, text: k, selected: k === chat.key })));
}
function refreshPicker() {
  if (!conn.ready) return Promise.resolve();
  return call('sessions.list', {}).then((r) => {
    if (r.agentId) chat.agent = r.agentId;
    chat.keys = (r.sessions || []).slice().sort((a, b) => (b.updatedAt || 0) - (a.updatedAt || 0)).map((s) => s.key);
    fillPicker();
    return r;
  });
}
function pickerSoon() { clearTimeout(chat.pickTimer); chat.pickTimer = setTimeout(() => refreshPicker().catch(() => {}), 500); }
function openChat(key) {
  if (key !== chat.key) { chat.key = key; store.set(LS_SESSION, key); clearChat(); setRun(null); }
  fillPicker();
  if (current === 'chat') loadHistory(); else showPage('chat');
}
pages.chat = { enter() { refreshPicker().catch(fail('sessions')); loadHistory(); } };
$('chat-session').addEventListener('change', (ev) => openChat(ev.target.value));
$('chat-new').addEventListener('click', () => {
  chat.key = `agent:${chat.agent}:webchat-${rid(4)}`;
  store.set(LS_SESSION, chat.key);
  chat.seq++; clearChat(); setRun(null); fillPicker();
  $('chat-input').focus();
});
function sendChat() {
  const input = $('chat-input'), text = input.value;
  if (!text.trim()) return;
  if (!conn.ready) { toast('Not connected', 'error'); return; }
  input.value = '';
  msg('user', text, Date.now());
  $('chat-log').scrollTop = $('chat-log').scrollHeight;
  const key = chat.key;
  call('chat.send', { sessionKey: key, message: text, idempotencyKey: rid(16) }).then((r) => {
    if (!r.runId) return;
    remember(chat.mine, r.runId);
    if (key === chat.key && !chat.done.has(r.runId) && !chat.runId) setRun(r.runId);
  }).catch((err) => { if (key === chat.key) msg('error', `send failed: ${err.message || err}`); });
}
$('chat-form').addEventListener('submit', (ev) => { ev.preventDefault(); sendChat(); });
$('chat-input').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendChat(); }
});
$('chat-abort').addEventListener('click', () => {
  call('chat.abort', { sessionKey: chat.key, runId: chat.runId || undefined })
    .then((r) => { if (!r.aborted) toast('Nothing to abort'); }).catch(fail('abort'));
});
on('chat', (p) => {
  if (p.state !== 'delta' && current === 'sessions') loadSessions();
  if (p.sessionKey !== chat.key) {
    if (!chat.keys.includes(p.sessionKey) || p.state !== 'delta') pickerSoon();
    return;
  }
  if (chat.done.has(p.runId)) return;
  if (p.state === 'delta') {
    if (!chat.runId) setRun(p.runId);
    const t = textOf(p.message);
    if (!t) return;
    if (!chat.stream) chat.stream = msg('assistant', '', p.message && p.message.timestamp, { class: 'msg assistant streaming', 'data-run-id': p.runId });
    chat.stream.lastChild.textContent = t;
    const log = $('chat-log');
    if (log.scrollHeight - log.scrollTop - log.clientHeight < 120) log.scrollTop = log.scrollHeight;
  } else if (p.state === 'final') {
    const t = textOf(p.message);
    const b = chat.stream;
    if (b) { b.lastChild.textContent = t; b.dataset.final = ''; } else if (t) msg('assistant', t, p.message && p.message.timestamp, { 'data-final': '', 'data-run-id': p.runId });
    const other = !chat.mine.has(p.runId);
    endRun(p.runId);
    pickerSoon();
    if (other) loadHistory(); // another client's turn: its user message is only in the transcript
  } else if (p.state === 'error') {
    endRun(p.runId);
    msg('error', p.errorMessage || 'The run failed.', Date.now(), { role: 'alert' });
  } else if (p.state === 'aborted') {
    endRun(p.runId);
    msg('note', 'Run aborted.');
  }
});
on('agent', (p) => {
  if (p.stream !== 'tool' || p.sessionKey !== chat.key || chat.done.has(p.runId)) return;
  const d = p.data || {};
  if (!chat.runId) setRun(p.runId);
  // Each model step streams its own text: what came before a tool stays above it.
  if (chat.stream) { chat.stream.classList.remove('streaming'); chat.stream = null; }
  if (d.phase === 'start') toolBlock(d.toolCallId, d.name, d.args);
  else if (d.phase === 'result') toolResult(d.toolCallId, d.name, typeof d.result === 'string' ? d.result : JSON.stringify(d.result), d.isError);
});

// Sessions
function ago(ms) { return ms ? dur(Date.now() - ms) + ' ago' : '–'; }
function loadSessions() {
  if (!conn.ready) return Promise.resolve();
  return refreshPicker().then((r) => {
    const rows = (r.sessions || []).slice().sort((a, b) => (b.updatedAt || 0) - (a.updatedAt || 0));
    $('sessions-empty').hidden = rows.length > 0;
    $('sessions-table').parentElement.hidden = !rows.length;
    $('sessions-table').tBodies[0].replaceChildren(...rows.map((s) => {
      const e = s.entry || {};
      return el('tr', { 'data-key': s.key, 'data-session-id': e.sessionId },
        el('td', { class: 'wrap', title: e.sessionId }, el('code', { text: s.key }), e.displayName ? ' ' + e.displayName : ''),
        el('td', { title: s.updatedAt ? new Date(s.updatedAt).toLocaleString() : null, text: ago(s.updatedAt) }),
        el('td', { text: e.chatType || '–' }),
        el('td', { text: `${e.inputTokens || 0} / ${e.outputTokens || 0}` }),
        el('td', { class: 'actions' },
          act('Open in chat', '', () => openChat(s.key), { 'data-action': 'open' }),
          act('Reset', 'danger', () => {
            if (!confirm(`Reset ${s.key}? The transcript is archived and the session starts empty.`)) return;
            return call('sessions.reset', { key: s.key }).then(() => toast(`Reset ${s.key}`)).catch(fail('reset')).finally(loadSessions);
          }, { 'data-action': 'reset' })));
    }));
  }).catch(fail('sessions'));
}
pages.sessions = { enter: loadSessions };
$('sessions-refresh').addEventListener('click', loadSessions);

// Overview / health
function fillStats(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v == null || v === '' ? '–' : String(v) })]));
}
let healthBusy = false;
function loadHealth() {
  if (!conn.ready || healthBusy) return;
  healthBusy = true;
  Promise.all([call('health', {}), call('status', {})]).then(([health, status]) => {
    const g = status.gateway || {};
    const agents = health.agents || status.agents || [];
    const sessions = health.sessions && health.sessions.count != null ? health.sessions.count
      : agents.reduce((n, a) => n + ((a.sessions && a.sessions.count) || 0), 0);
    fillStats($('health-stats'), [
      ['Version', [g.version, g.commit && `(${String(g.commit).slice(0, 10)})`].filter(Boolean).join(' ')],
      ['Host', g.host], ['Listening', g.bind ? `${g.bind}:${g.port}` : g.port], ['PID', g.pid],
      ['Uptime', dur(g.uptimeMs)], ['Connections', g.connections],
      ['Agents', agents.length], ['Sessions', sessions],
      ['Health', health.ok === false ? 'problems' : 'ok'],
    ]);
    $('agents-table').parentElement.hidden = !agents.length;
    $('agents-table').tBodies[0].replaceChildren(...agents.map((a) => el('tr', null,
      el('td', { text: a.agentId || a.id || a.name || '?' }),
      el('td', { text: a.isDefault || a.default ? 'yes' : '' }),
      el('td', { text: a.sessions && a.sessions.count != null ? a.sessions.count : '–' }),
      el('td', { text: a.heartbeat && a.heartbeat.enabled === false ? 'off' : a.heartbeat && a.heartbeat.everyMs ? dur(a.heartbeat.everyMs) : '' }))));
    $('health-raw').textContent = JSON.stringify({ health, status }, null, 2);
  }).catch(fail('health')).finally(() => { healthBusy = false; });
}
pages.health = { enter: loadHealth };
$('health-refresh').addEventListener('click', loadHealth);
let healthDebounce = 0;
on('health', () => { if (current === 'health') { clearTimeout(healthDebounce); healthDebounce = setTimeout(loadHealth, 300); } });

// Channels
function loadChannels() {
  if (!conn.ready) return Promise.resolve();
  return call('channels.status', {}).then((r) => {
    const labels = r.channelLabels || {};
    const rows = Object.entries(r.channelAccounts || {}).flatMap(([ch, list]) => (list || []).map((a) => [ch, a]));
    $('channels-empty').hidden = rows.length > 0;
    $('channels-table').parentElement.hidden = !rows.length;
    $('channels-table').tBodies[0].replaceChildren(...rows.map(([ch, a]) => {
      const state = a.connected ? 'connected' : a.running ? 'connecting' : a.enabled === false ? 'disabled' : 'stopped';
      const bot = a.bot && (a.bot.username ? '@' + a.bot.username : a.bot.id);
      return el('tr', { 'data-channel': ch, 'data-account': a.accountId, 'data-state': state },
        el('td', null, labels[ch] || ch, a.accountId && a.accountId !== 'default' ? ' · ' + a.accountId : ''),
        el('td', null, el('span', { class: 'badge ' + (a.connected ? 'state-connected' : a.lastError ? 'state-disconnected' : 'state-connecting'), text: state })),
        el('td', { text: bot || '–' }),
        el('td', { text: a.dmPolicy || '–' }),
        el('td', { text: ago(a.lastInboundAt) }),
        el('td', { class: 'wrap', text: a.lastError || '' }));
    }));
    const reqs = Object.entries(r.pairing || {}).flatMap(([ch, list]) => (list || []).filter((q) => q.code).map((q) => [ch, q]));
    $('chpair-empty').hidden = reqs.length > 0;
    $('chpair-table').parentElement.hidden = !reqs.length;
    $('chpair-table').tBodies[0].replaceChildren(...reqs.map(([ch, q]) => {
      const m = q.meta || {};
      const who = [m.name, m.username && '@' + String(m.username).replace(/^@/, '')].filter(Boolean).join(' ');
      return el('tr', { 'data-code': q.code, 'data-channel': ch },
        el('td', { text: labels[ch] || ch }),
        el('td', null, el('code', { text: q.code })),
        el('td', { title: q.id, text: `${who || ''} (${q.id})`.trim() }),
        el('td', { text: q.createdAt ? dur(Date.now() - Date.parse(q.createdAt)) : '–' }),
        el('td', { class: 'actions' }, act('Approve', 'primary', () => call('pairing.approve', { channel: ch, code: q.code })
          .then(() => toast(`Approved ${who || q.id} on ${labels[ch] || ch}`)).catch(fail('approve')).finally(loadChannels), { 'data-action': 'approve' })));
    }));
  }).catch(fail('channels'));
}
pages.channels = { enter: loadChannels };
$('channels-refresh').addEventListener('click', loadChannels);

// Devices
function act(label, cls, fn, data) {
  return el('button', { type: 'button', class: 'small ' + (cls || ''), text: label, onclick: (ev) => {
    const b = ev.currentTarget; b.disabled = true;
    Promise.resolve(fn()).finally(() => { b.disabled = false; });
  }, ...data });
}
function tokenList(d) {
  const t = d.tokens || [];
  return Array.isArray(t) ? t : Object.entries(t).map(([role, v]) => ({ role, ...(v || {}) }));
}
function loadDevices() {
  if (!conn.ready) return Promise.resolve();
  return call('device.pair.list', {}).then((r) => {
    const pending = r.pending || [], paired = r.paired || [];
    setPendingCount(pending.length);
    const now = Date.now();
    $('pending-empty').hidden = pending.length > 0;
    $('pending-table').parentElement.hidden = !pending.length;
    $('pending-table').tBodies[0].replaceChildren(...pending.map((p) => el('tr', { 'data-request-id': p.requestId },
      el('td', { title: p.deviceId }, el('code', { text: short(p.deviceId) }), p.displayName ? ' ' + p.displayName : ''),
      el('td', { text: [p.clientId, p.clientMode && `(${p.clientMode})`, p.platform].filter(Boolean).join(' ') }),
      el('td', { class: 'wrap', title: list(p.scopes), text: [p.role || list(p.roles), list((p.scopes || []).map((x) => String(x).replace(/^operator\./, '')))].filter(Boolean).join(': ') }),
      el('td', { text: p.remoteIp || '–' }),
      el('td', { text: p.ts ? dur(now - p.ts) : '–' }),
      el('td', { class: 'actions' },
        act('Approve', 'primary', () => call('device.pair.approve', { requestId: p.requestId })
          .then(() => toast(`Approved ${short(p.deviceId)}`)).catch(fail('approve')).finally(loadDevices), { 'data-action': 'approve' }),
        act('Reject', 'danger', () => call('device.pair.reject', { requestId: p.requestId })
          .then(() => toast(`Rejected ${short(p.deviceId)}`)).catch(fail('reject')).finally(loadDevices), { 'data-action': 'reject' })))));
    $('paired-empty').hidden = paired.length > 0;
    $('paired-table').parentElement.hidden = !paired.length;
    $('paired-table').tBodies[0].replaceChildren(...paired.map((d) => el('tr', { 'data-device-id': d.deviceId },
      el('td', { title: d.deviceId }, el('code', { text: short(d.deviceId) }), d.deviceId === device.id ? ' (this browser)' : d.displayName ? ' ' + d.displayName : ''),
      el('td', { text: [d.clientId, d.clientMode && `(${d.clientMode})`, d.platform].filter(Boolean).join(' ') }),
      el('td', { text: d.remoteIp || '–' }),
      el('td', null, tokenList(d).map((t) => el('span', { class: 'tok' + (t.revokedAtMs ? ' revoked' : ''), title: list(t.scopes) },
        t.role,
        t.revokedAtMs ? null : act('Revoke', 'danger', () => call('device.token.revoke', { deviceId: d.deviceId, role: t.role })
          .then(() => toast(`Revoked ${t.role} token of ${short(d.deviceId)}`)).catch(fail('revoke')).finally(loadDevices),
        { 'data-action': 'revoke', 'data-role': t.role })))),
      el('td', { class: 'actions' }, act('Remove', 'danger', () => {
        if (!confirm(`Remove device ${short(d.deviceId)}? It will need pairing again.`)) return;
        return call('device.pair.remove', { deviceId: d.deviceId })
          .then(() => toast(`Removed ${short(d.deviceId)}`)).catch(fail('remove')).finally(loadDevices);
      }, { 'data-action': 'remove' })))));
  }).catch(fail('devices'));
}
function setPendingCount(n) { const c = $('pending-count'); c.textContent = n; c.hidden = !n; }
function refreshPendingCount() {
  call('device.pair.list', {}).then((r) => setPendingCount((r.pending || []).length)).catch(() => {});
}
pages.devices = { enter: loadDevices };
$('devices-refresh').addEventListener('click', loadDevices);
on('device.pair.requested', (p) => {
  toast(`Pairing request from ${short(p.deviceId)}${p.remoteIp ? ' at ' + p.remoteIp : ''}`);
  if (current === 'devices') loadDevices(); else refreshPendingCount();
});
on('device.pair.resolved', () => { if (current === 'devices') loadDevices(); else refreshPendingCount(); });

// Sandboxes
function recreate(params, what) {
  return call('sandbox.recreate', params, 120000).then((r) => {
    const removed = r.removed || [], failed = r.failed || [];
    toast(`Recreate ${what}: removed ${removed.length}` + (failed.length ? `, failed ${failed.length}` : ''));
    for (const f of failed) toast(`${f.containerName}: ${f.error}`, 'error');
  }).catch(fail('recreate')).finally(loadSandboxes);
}
function loadSandboxes() {
  if (!conn.ready) return Promise.resolve();
  return call('sandbox.list', {}).then((r) => {
    const rows = r.containers || [];
    $('sandboxes-empty').hidden = rows.length > 0;
    $('sandboxes-table').parentElement.hidden = !rows.length;
    $('sandboxes-table').tBodies[0].replaceChildren(...rows.map((c) => el('tr', { 'data-container': c.containerName },
      el('td', null, el('code', { text: c.containerName })),
      el('td', { text: c.sessionKey || '–' }),
      el('td', { class: c.running ? 'yes' : 'muted', text: c.running ? 'running' : 'stopped' }),
      el('td', { text: dur(c.ageMs) }),
      el('td', { text: dur(c.idleMs) }),
      el('td', { text: c.image || '–' }),
      el('td', { class: c.imageMatch ? 'yes' : 'no', title: c.imageMatch ? 'image matches config' : 'image differs from config', text: c.imageMatch ? '✓' : '✗' }),
      el('td', { class: 'actions' }, act('Recreate', '', () => recreate({ session: c.sessionKey }, c.containerName), { 'data-action': 'recreate' })))));
  }).catch(fail('sandboxes'));
}
pages.sandboxes = { enter: loadSandboxes };
$('sandboxes-refresh').addEventListener('click', loadSandboxes);
$('recreate-all').addEventListener('click', () => {
  if (confirm('Remove all sandbox containers? They are created again on next use.')) recreate({ all: true }, 'all');
});

// Config
const cfg = { hash: null, dirty: false };
function problemText(p) {
  const loc = [p.file, p.line, p.column].filter((x) => x != null && x !== '').join(':');
  return `${p.path || '(root)'}: ${p.message}` + (loc ? ` (${loc})` : '');
}
function showProblems(problems, msg) {
  const items = (problems || []).map((p) => el('li', { text: problemText(p) }));
  $('config-errors').replaceChildren(...(msg ? [el('strong', { text: msg })] : []), ...(items.length ? [el('ul', null, items)] : []));
}
function loadConfig(force) {
  if (!conn.ready) return Promise.resolve();
  return call('config.get', {}).then((r) => {
    cfg.hash = r.hash || null;
    $('config-path').textContent = (r.path || '') + (r.exists === false ? ' (does not exist yet)' : '') + (r.valid === false ? ' — invalid' : '');
    if (force || !cfg.dirty) { $('config-editor').value = r.raw || ''; cfg.dirty = false; }
    if (force || !cfg.dirty) showProblems(r.valid === false ? r.problems : []);
  }).catch(fail('config'));
}
pages.config = { enter: () => loadConfig(false) };
$('config-editor').addEventListener('input', () => { cfg.dirty = true; $('config-status').textContent = ''; });
$('config-reload').addEventListener('click', () => { $('config-status').textContent = ''; loadConfig(true); });
$('config-save').addEventListener('click', () => {
  const btn = $('config-save');
  btn.disabled = true;
  $('config-status').textContent = '';
  const params = { raw: $('config-editor').value };
  if (cfg.hash) params.baseHash = cfg.hash;
  call('config.set', params).then((r) => {
    showProblems([]);
    cfg.dirty = false;
    if (r.hash) cfg.hash = r.hash;
    $('config-status').textContent = 'Saved';
    return loadConfig(false);
  }, (err) => {
    const problems = err.details && err.details.problems;
    showProblems(problems, problems && problems.length ? (err.message || 'Config invalid') : `${err.code ? err.code + ': ' : ''}${err.message}`);
  }).finally(() => { btn.disabled = false; });
});

// Logs
const logs = { cursor: undefined, lines: [], timer: 0, busy: false };
const MAX_LOG_LINES = 2000;
function lineText(l) {
  if (typeof l === 'string') return l;
  if (l && typeof l === 'object') {
    const t = l.time || l.ts;
    const msg = l.message != null ? l.message : l.msg != null ? l.msg : l.text != null ? l.text : l.line;
    if (msg != null) return [t && (typeof t === 'number' ? new Date(t).toISOString() : t), l.level, l.target, msg].filter(Boolean).join(' ');
  }
  return JSON.stringify(l);
}
function pollLogs() {
  clearTimeout(logs.timer);
  if (current !== 'logs') return;
  if (!conn.ready || document.hidden) { logs.timer = setTimeout(pollLogs, 2000); return; }
  if (logs.busy) return;
  logs.busy = true;
  const params = logs.cursor != null ? { cursor: logs.cursor } : {};
  call('logs.tail', params).then((r) => {
    if (r.cursor != null) logs.cursor = r.cursor;
    const add = (r.lines || []).map(lineText);
    if (!add.length) return;
    const pre = $('logs-output');
    logs.lines.push(...add);
    if (logs.lines.length > MAX_LOG_LINES) logs.lines.splice(0, logs.lines.length - MAX_LOG_LINES);
    pre.textContent = logs.lines.join('\n');
    if ($('logs-follow').checked) pre.scrollTop = pre.scrollHeight;
  }).catch(fail('logs')).finally(() => {
    logs.busy = false;
    if (current === 'logs' && conn.ready) logs.timer = setTimeout(pollLogs, 2000);
  });
}
function stopLogs() { clearTimeout(logs.timer); logs.timer = 0; }
pages.logs = { enter: pollLogs, leave: stopLogs };
$('logs-clear').addEventListener('click', () => { logs.lines = []; $('logs-output').textContent = ''; });

// Settings
function renderSettings() {
  const t = store.get(LS_TOKEN), dt = store.get(LS_DEVTOKEN);
  $('token-state').textContent = t ? `stored (${t.length} characters)` : 'none';
  $('device-token-state').textContent = dt ? (t ? 'stored (used when no gateway token is set)' : 'stored (in use)') : 'none';
  $('device-id').textContent = device.id;
  $('gateway-url').textContent = gatewayUrl();
}
pages.settings = { enter: renderSettings };
$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const v = $('token-input').value.trim();
  if (!v) { toast('Enter a token first', 'error'); return; }
  store.set(LS_TOKEN, v);
  $('token-input').value = '';
  renderSettings();
  toast('Token saved');
  conn.retry = 0;
  connect();
});
$('token-show').addEventListener('click', () => {
  const i = $('token-input'), show = i.type === 'password';
  i.type = show ? 'text' : 'password';
  $('token-show').textContent = show ? 'Hide' : 'Show';
});
$('token-clear').addEventListener('click', () => { store.set(LS_TOKEN, ''); renderSettings(); toast('Token cleared'); });
$('device-token-clear').addEventListener('click', () => { store.set(LS_DEVTOKEN, ''); renderSettings(); toast('Device token forgotten'); });
$('reconnect').addEventListener('click', () => { conn.retry = 0; connect(); });
$('copy-approve').addEventListener('click', () => {
  const text = $('approve-command').textContent;
  const done = () => toast('Copied');
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fail('copy'));
  else { const r = document.createRange(); r.selectNodeContents($('approve-command')); const s = getSelection(); s.removeAllRanges(); s.addRange(r); toast('Selected: press Ctrl+C'); }
});
document.addEventListener('visibilitychange', () => { if (!document.hidden && current === 'logs') pollLogs(); });
on('shutdown', (p) => toast(`Gateway shutting down${p.reason ? ': ' + p.reason : ''}`, 'error'));

window.openclawTest = { sha256hex, toasts: toastLog, deviceId: () => device.id, showPage, state: () => ({ ready: conn.ready, pairing: conn.pairing, page: current }) };
renderSettings();
showPage('chat');
connect();
})();
