// converse.test.js: Converse.js (npm converse.js) in Debian's chromium (playwright-core) against
// Starling's user-facing HTTP listener: log in over WebSocket (RFC 7395), exchange messages with
// a TCP client, share a file (XEP-0363), join a room; then log in over BOSH (XEP-0206) in another
// tab, chat and talk in the room again. Starts its own starlingd and a static page server on free loopback
// ports; screenshots go to build/browser-artifacts/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const helpers = require('./helpers');
const { BUILD, ARTIFACTS, PYTHON, freePort, launchBrowser } = helpers;

const DIST = path.join(__dirname, 'node_modules', 'converse.js', 'dist');
const PW = 'Converse-secret-1';
const ROOM = 'lounge@conference.localhost';

const state = { dirs: [], peers: [] };

function tmpdir(prefix) {
  return helpers.tmpdir(state, prefix);
}

/* A login and the first stanzas of Converse.js may take a while on a loaded machine. */
function waitFor(pred, what, timeoutMs = 20000) {
  return helpers.waitFor(pred, what, timeoutMs);
}

function ctl(...args) {
  return execFileSync(path.join(BUILD, 'starlingctl'), ['-d', state.datadir, ...args], { encoding: 'utf8' });
}

async function startServer() {
  state.datadir = tmpdir('starling-converse-');
  state.xmppPort = await freePort();
  state.httpPort = await freePort();
  const opts = {
    'xmpp.listener': `127.0.0.1:${state.xmppPort}`,
    'http.listener': `127.0.0.1:${state.httpPort}`,
    'http.public_url': `http://127.0.0.1:${state.httpPort}`,
    'webadmin.listener': '',
    'server.workers': '2',
    'xmpp.receiving.auth_failure_delay': '0',
    'xmpp.receiving.log_level': 'All Info',
  };
  const argv = ['-d', state.datadir];
  for (const [k, v] of Object.entries(opts)) argv.push('-o', `${k}=${v}`);
  state.stderr = '';
  state.server = spawn(path.join(BUILD, 'starlingd'), argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  state.server.stderr.on('data', d => { state.stderr += d; });
  await waitFor(() => /\bready\b/.test(state.stderr), 'starlingd to start:\n' + state.stderr, 20000);
  ctl('account', 'add', 'alice@localhost', '--password', PW);
  ctl('account', 'add', 'bob@localhost', '--password', PW);
  ctl('account', 'add', 'carol@localhost', '--password', PW);
}

/* The test page and Converse's files, from another origin than the XMPP endpoints. */
function startPages() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css',
                  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml' };
  state.pages = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = null;
    if (url.pathname === '/') file = path.join(__dirname, 'converse', 'index.html');
    else {
      /* Converse's files, also those it asks for at the root (its wasm, its chunks). */
      const rel = url.pathname.replace(/^\/dist\//, '/');
      file = path.join(DIST, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
    }
    if (!file || !file.startsWith(__dirname) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise(r => state.pages.listen(0, '127.0.0.1', () => r(state.pages.address().port)));
}

/* bob on plain TCP (tests/browser/xmpp_peer.py); resolves once it is online. */
async function startPeer(user) {
  const peer = { out: '' };
  peer.proc = spawn(PYTHON, [path.join(__dirname, 'xmpp_peer.py'), String(state.xmppPort), user, PW],
                    { stdio: ['pipe', 'pipe', 'pipe'] });
  peer.proc.stdout.on('data', d => { peer.out += d; });
  peer.proc.stderr.on('data', d => { peer.out += d; });
  peer.send = line => peer.proc.stdin.write(line + '\n');
  state.peers.push(peer);
  await waitFor(() => /^online /m.test(peer.out), user + ' on TCP to log in: ' + peer.out);
  return peer;
}

async function shot(name) {
  await helpers.shot(state.page, name);
}

async function connected() {
  return state.page.evaluate(() => {
    const c = window.starlingTest;
    return !!(c && c.api && c.api.connection.connected() && c.session && c.session.get('jid'));
  });
}

/* Whether the chat with `jid` (a contact or a room) holds a message with `body` in Converse's
 * model. */
async function chatHas(jid, body, room = false) {
  return state.page.evaluate(async ([j, b, r]) => {
    const api = window.starlingTest.api;
    const chat = r ? await api.rooms.get(j) : await api.chats.get(j);
    return !!chat && chat.messages.models.some(m => m.get('body') === b);
  }, [jid, body, room]);
}

/* Whether the page shows `text`. */
async function pageShows(text) {
  return state.page.evaluate(t => document.body.innerText.includes(t), text);
}

async function typeInto(selector, text) {
  const box = state.page.locator(selector).last();
  await box.waitFor();
  await box.fill(text);
  await box.press('Enter');
}

before(async () => {
  await startServer();
  state.pagePort = await startPages();
  state.page = await launchBrowser(state);
  state.page.setDefaultTimeout(15000);
  state.console = [];
  state.page.on('console', m => state.console.push(m.type() + ': ' + m.text()));
  state.page.on('pageerror', e => state.console.push('pageerror: ' + e.message));
  state.bob = await startPeer('bob@localhost');
});

after(async () => {
  if (process.env.CONVERSE_DEBUG) fs.writeFileSync(path.join(ARTIFACTS, 'converse-server.log'), state.stderr);
  for (const p of state.peers) {
    try { p.send('quit'); } catch (e) { /* gone */ }
    p.proc.kill();
  }
  if (state.context) await state.context.close();
  if (state.pages) state.pages.close();
  await helpers.stopServer(state);
  /* An ASan/UBSan build reports at exit: such a report fails the run. */
  const report = state.stderr.match(/(ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:).*/);
  if (report) throw new Error('sanitizer report from starlingd: ' + report[0]);
  for (const d of state.dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('Converse.js logs in over WebSocket and chats with a TCP client', async () => {
  const ws = `ws://127.0.0.1:${state.httpPort}/xmpp-websocket`;
  await state.page.goto(`http://127.0.0.1:${state.pagePort}/?ws=${encodeURIComponent(ws)}` +
                        `&jid=alice@localhost&pw=${PW}`);
  try {
    await waitFor(connected, 'Converse.js to log in over WebSocket');
  } finally {
    await shot('converse-ws-login');
    if (process.env.CONVERSE_DEBUG) console.log(state.console.join('\n'));
  }
  assert.match(state.stderr, /WebSocket opened/);
  state.bob.send('send alice@localhost Hello from TCP');
  await waitFor(() => chatHas('bob@localhost', 'Hello from TCP'), 'the TCP message in Converse');
  await state.page.evaluate(() => window.starlingTest.api.chats.open('bob@localhost', {}, true));
  await waitFor(() => pageShows('Hello from TCP'), 'the TCP message on the page');
  await typeInto('converse-chats textarea.chat-textarea', 'Hello from the browser');
  await waitFor(() => /^message alice@localhost\/\S+ Hello from the browser$/m.test(state.bob.out),
                'the browser message at the TCP client: ' + state.bob.out);
  await shot('converse-ws-chat');
});

test('Converse.js shares a file (XEP-0363): the TCP client gets its URL, the bytes are the same', async () => {
  const content = Buffer.from('A file from the browser: ' + 'x'.repeat(3000) + '\n');
  await state.page.locator('converse-chats input.fileupload').last()
    .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: content });
  const m = await waitFor(() => state.bob.out.match(/^message alice@localhost\/\S+ (http:\/\/\S+\/notes\.txt)$/m),
                          'the file URL at the TCP client: ' + state.bob.out);
  const res = await fetch(m[1]);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), content);
  await shot('converse-ws-upload');
});

test('Converse.js joins a room and talks with the TCP client in it', async () => {
  await state.page.evaluate(room => window.starlingTest.api.rooms.open(room, { nick: 'alice' }, true), ROOM);
  await waitFor(() => state.page.evaluate(async room => {
    const r = await window.starlingTest.api.rooms.get(room);
    return r && r.isEntered();
  }, ROOM), 'the room to be entered');
  state.bob.send(`join ${ROOM} bob`);
  await waitFor(() => state.page.evaluate(async room => {
    const r = await window.starlingTest.api.rooms.get(room);
    return !!r.occupants.findWhere({ nick: 'bob' });
  }, ROOM), 'bob among the occupants');
  state.bob.send(`say ${ROOM} Hi room from TCP`);
  await waitFor(() => chatHas(ROOM, 'Hi room from TCP', true), 'the groupchat message in Converse');
  await waitFor(() => pageShows('Hi room from TCP'), 'the groupchat message on the page');
  await typeInto('converse-muc textarea.chat-textarea', 'Hi room from the browser');
  await waitFor(() => /^groupchat \S+\/alice Hi room from the browser$/m.test(state.bob.out),
                'the browser groupchat at the TCP client: ' + state.bob.out);
  await shot('converse-ws-room');
});

test('Converse.js logs in over BOSH and chats with the TCP client', async () => {
  state.page = await state.context.newPage(); /* its own session storage */
  state.page.setDefaultTimeout(15000);
  const bosh = `http://127.0.0.1:${state.httpPort}/http-bind`;
  await state.page.goto(`http://127.0.0.1:${state.pagePort}/?bosh=${encodeURIComponent(bosh)}` +
                        `&jid=carol@localhost&pw=${PW}`);
  try {
    await waitFor(connected, 'Converse.js to log in over BOSH');
  } finally {
    await shot('converse-bosh-login');
  }
  assert.match(state.stderr, /BOSH session [0-9a-f]+ to localhost/);
  state.bob.send('send carol@localhost Hello BOSH from TCP');
  await waitFor(() => chatHas('bob@localhost', 'Hello BOSH from TCP'), 'the TCP message in Converse');
  await state.page.evaluate(() => window.starlingTest.api.chats.open('bob@localhost', {}, true));
  await waitFor(() => pageShows('Hello BOSH from TCP'), 'the TCP message on the page');
  await typeInto('converse-chats textarea.chat-textarea', 'Hello from BOSH');
  await waitFor(() => /^message carol@localhost\/\S+ Hello from BOSH$/m.test(state.bob.out),
                'the BOSH message at the TCP client: ' + state.bob.out);
});

test('Converse.js over BOSH shares a file', async () => {
  const content = Buffer.from('Shared over BOSH\n');
  await state.page.locator('converse-chats input.fileupload').last()
    .setInputFiles({ name: 'bosh.txt', mimeType: 'text/plain', buffer: content });
  const m = await waitFor(() => state.bob.out.match(/^message carol@localhost\/\S+ (http:\/\/\S+\/bosh\.txt)$/m),
                          'the file URL at the TCP client: ' + state.bob.out);
  const res = await fetch(m[1]);
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), content);
});

test('Converse.js over BOSH talks in the room', async () => {
  await state.page.evaluate(room => window.starlingTest.api.rooms.open(room, { nick: 'carol' }, true), ROOM);
  await waitFor(() => state.page.evaluate(async room => {
    const r = await window.starlingTest.api.rooms.get(room);
    return r && r.isEntered();
  }, ROOM), 'the room to be entered over BOSH');
  state.bob.send(`say ${ROOM} Hi carol from TCP`);
  await waitFor(() => chatHas(ROOM, 'Hi carol from TCP', true), 'the groupchat message in Converse');
  await typeInto('converse-muc textarea.chat-textarea', 'Hi room over BOSH');
  await waitFor(() => /^groupchat \S+\/carol Hi room over BOSH$/m.test(state.bob.out),
                'the BOSH groupchat at the TCP client: ' + state.bob.out);
  await shot('converse-bosh-room');
});
