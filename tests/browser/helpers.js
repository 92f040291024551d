// helpers.js: what the browser tests share: free ports, waiting, temporary folders, stopping
// starlingd, Debian's chromium through playwright-core, screenshots.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const BUILD = process.env.STARLING_BUILD || path.join(REPO, 'build');
const ARTIFACTS = path.join(REPO, 'build', 'browser-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PYTHON = '/usr/bin/python3';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise(r => setTimeout(r, ms));
}

async function waitFor(pred, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(100);
  }
}

/* A temporary folder, listed in state.dirs for the cleanup. */
function tmpdir(state, prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  state.dirs.push(d);
  return d;
}

/* SIGTERM to state.server, SIGKILL after 10 s. */
async function stopServer(state) {
  if (!state.server || state.server.exitCode !== null) return;
  const exited = new Promise(r => state.server.once('exit', r));
  state.server.kill('SIGTERM');
  await Promise.race([exited, sleep(10000)]);
  if (state.server.exitCode === null) state.server.kill('SIGKILL');
}

/* Headless chromium with a fresh profile in a temporary folder; sets state.context. */
async function launchBrowser(state) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  state.context = await chromium.launchPersistentContext(tmpdir(state, 'starling-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return state.context.pages()[0] || await state.context.newPage();
}

/* Script errors of state.page (uncaught exceptions, console errors) go into state.errors. HTTP
 * errors the pages expect (401 before login, 404 of feature detection) are not script errors. */
function watchPageErrors(state) {
  state.errors = [];
  state.page.on('pageerror', e => state.errors.push(String(e)));
  state.page.on('console', m => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) state.errors.push(m.text());
  });
}

/* xmpp_client.py logged in as `jid` on host:port (state.client, its output in state.clientOut);
 * resolves once it says "online" or "failed". */
async function startClient(state, port, jid, password, host = '127.0.0.1') {
  state.client = spawn(PYTHON, [path.join(__dirname, 'xmpp_client.py'), String(port), jid, password, host],
                       { stdio: ['pipe', 'pipe', 'pipe'] });
  state.clientOut = '';
  state.client.stdout.on('data', d => { state.clientOut += d; });
  state.client.stderr.on('data', d => { state.clientOut += d; });
  await waitFor(() => /^online /m.test(state.clientOut) || /^failed/m.test(state.clientOut),
                'the slixmpp login', 20000);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
}

module.exports = {
  REPO, BUILD, ARTIFACTS, PYTHON, freePort, sleep, waitFor, tmpdir, stopServer, launchBrowser,
  watchPageErrors, startClient, shot,
};
