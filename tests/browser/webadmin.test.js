// webadmin.test.js: the WebAdmin in Debian's chromium (playwright-core): log in, change settings,
// add a listener socket, create a domain and an account, watch its client on the Monitors page,
// filter the log. Starts its own starlingd on free loopback ports; screenshots go to
// build/browser-artifacts/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const {
  BUILD, PYTHON, freePort, sleep, waitFor, stopServer, launchBrowser,
} = require('./helpers');

const PW = 'Browser-secret-1';

const state = { dirs: [] };

function tmpdir(prefix) {
  return require('./helpers').tmpdir(state, prefix);
}

function ctl(...args) {
  return execFileSync(path.join(BUILD, 'starlingctl'), ['-d', state.datadir, ...args], { encoding: 'utf8' });
}

/* Connects to a port, sends a stream header and resolves with the first bytes of the answer. */
function xmppProbe(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no answer on port ' + port)); }, 5000);
    s.on('connect', () => s.write("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' " +
                                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"));
    s.on('data', d => {
      data += d.toString();
      if (data.includes('stream:features') || data.includes('</stream:stream>')) {
        clearTimeout(timer);
        s.destroy();
        resolve(data);
      }
    });
    s.on('error', e => { clearTimeout(timer); reject(e); });
  });
}

async function startServer() {
  state.datadir = tmpdir('starling-browser-');
  state.xmppPort = await freePort();
  state.tlsPort = await freePort();
  state.webPort = await freePort();
  state.httpPort = await freePort();
  const opts = {
    'xmpp.listener': `127.0.0.1:${state.xmppPort}, 127.0.0.1:${state.tlsPort}/tls`,
    'webadmin.listener': `127.0.0.1:${state.webPort}`,
    'http.listener': `127.0.0.1:${state.httpPort}`,
    'server.workers': '2',
    'xmpp.receiving.auth_failure_delay': '0',
    'xmpp.receiving.log_level': 'All Info',
    'xmpp.receiving.require_tls': 'no',
  };
  const argv = ['-d', state.datadir];
  for (const [k, v] of Object.entries(opts)) argv.push('-o', `${k}=${v}`);
  state.stdout = '';
  state.stderr = '';
  state.server = spawn(path.join(BUILD, 'starlingd'), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  state.server.stdout.on('data', d => { state.stdout += d; });
  state.server.stderr.on('data', d => { state.stderr += d; });
  state.password = await waitFor(() => {
    const m = state.stdout.match(/^postmaster@localhost password: (\S+)$/m);
    return m && /\bready\b/.test(state.stderr) && m[1];
  }, 'starlingd to start:\n' + state.stderr, 20000);
}

async function shot(name) {
  await require('./helpers').shot(state.page, name);
}

async function go(hash) {
  await state.page.evaluate(h => { location.hash = h; }, hash);
}

before(async () => {
  await startServer();
  state.page = await launchBrowser(state);
  state.page.setDefaultTimeout(10000);
  state.errors = [];
  state.page.on('pageerror', e => state.errors.push(String(e)));
  // HTTP errors the pages expect (401 before login, 404 of feature detection) are not script errors.
  state.page.on('console', m => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) state.errors.push(m.text());
  });
});

after(async () => {
  if (state.client && state.client.exitCode === null) state.client.kill();
  if (state.context) await state.context.close();
  await stopServer(state);
  for (const d of state.dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('a wrong password is refused, the postmaster logs in', async () => {
  const page = state.page;
  await page.goto(`http://127.0.0.1:${state.webPort}/`);
  await page.waitForSelector('#login-form');
  await shot('01-login');
  await page.fill('#login-user', 'postmaster@localhost');
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForSelector('#login-error:not([hidden])');
  assert.match(await page.textContent('#login-error'), /wrong user name or password/);
  await page.fill('#login-password', state.password);
  await page.click('#login-submit');
  await page.waitForSelector('#who-jid');
  assert.equal(await page.textContent('#who-jid'), 'postmaster@localhost');
  const cookies = await state.context.cookies();
  const sid = cookies.find(c => c.name === 'sid');
  assert.ok(sid && sid.httpOnly && sid.sameSite === 'Strict', JSON.stringify(cookies));
});

test('Settings → XMPP Receiving: Channels changed and applied', async () => {
  const page = state.page;
  await go('#/settings/xmpp/receiving');
  await page.waitForSelector('#f-xmpp\\.receiving\\.channels');
  await page.fill('#f-xmpp\\.receiving\\.channels', '777');
  await page.selectOption('#f-xmpp\\.receiving\\.log_level', 'All Info');
  await page.click('#save-settings');
  await page.waitForSelector('.toast.ok');
  await waitFor(() => /777/.test(ctl('settings', 'get', 'xmpp.receiving.channels')), 'Channels = 777');
  assert.match(ctl('settings', 'get', 'xmpp.receiving.channels'), /\b777\b/);
  assert.match(fs.readFileSync(path.join(state.datadir, 'starling.conf'), 'utf8'),
               /^xmpp\.receiving\.channels = 777$/m);
  await shot('02-settings-receiving');
  await page.click('#listener-link');
  await page.waitForSelector('#listener-table');
});

test('Settings → XMPP Listener: a new socket accepts XMPP connections', async () => {
  const page = state.page;
  const port = await freePort();
  await go('#/settings/xmpp/listener');
  await page.waitForSelector('#listener-table tr.new-row');
  await page.fill('#listener-table tr.new-row input.port', String(port));
  await page.fill('#listener-table tr.new-row input.address', '127.0.0.1');
  await page.click('#save-listener');
  await page.waitForSelector('.toast.ok');
  await waitFor(() => ctl('settings', 'get', 'xmpp.listener').includes('127.0.0.1:' + port), 'listener saved');
  const answer = await waitFor(() => xmppProbe(port).catch(() => null), 'the new socket to answer');
  assert.match(answer, /stream:features|<stream:stream/);
  await page.waitForSelector(`#listener-table input.port[value="${port}"]`);
  await shot('03-settings-listener');
  // Port 0 removes the socket again.
  const row = page.locator('#listener-table tr', { has: page.locator(`input.port[value="${port}"]`) });
  await row.locator('input.port').fill('0');
  await page.click('#save-listener');
  await waitFor(() => !ctl('settings', 'get', 'xmpp.listener').includes(':' + port), 'socket removed');
  await go('#/settings/xmpp/sending');
  await page.waitForSelector('#route-rows');
  await shot('04-settings-sending');
  await go('#/settings/webadmin');
  await page.waitForSelector('#listener-table');
  await shot('05-settings-webadmin');
});

test('Users: create a domain and an account, then log in as that account', async () => {
  const page = state.page;
  await go('#/users/domains');
  await page.waitForSelector('#new-domain');
  await page.fill('#new-domain', 'browser.test');
  await page.click('#create-domain');
  await page.waitForSelector('#new-account');
  assert.match(ctl('domain', 'list'), /browser\.test/);
  await page.fill('#new-account', 'alice');
  await page.fill('#new-password', PW);
  await page.click('#create-account');
  await page.waitForSelector('#account-rows tr[data-jid="alice@browser.test"]');
  // The domain's publish-subscribe service and its nodes (none yet).
  await page.waitForSelector('#pubsub-rows');
  assert.match(await page.textContent('#pubsub'), /pubsub\.browser\.test/);
  await shot('06-users-domain');
  await go('#/users/domains');
  await page.waitForSelector('#domain-rows tr[data-domain="browser.test"]');
  await shot('07-users-domains');

  state.client = spawn(PYTHON, [path.join(__dirname, 'xmpp_client.py'), String(state.xmppPort),
                                'alice@browser.test/desk', PW], { stdio: ['pipe', 'pipe', 'pipe'] });
  state.clientOut = '';
  state.client.stdout.on('data', d => { state.clientOut += d; });
  state.client.stderr.on('data', d => { state.clientOut += d; });
  await waitFor(() => /^online /m.test(state.clientOut) || /^failed/m.test(state.clientOut),
                'the slixmpp login', 20000);
  assert.match(state.clientOut, /^online alice@browser\.test\/desk/m, state.clientOut);
});

test('Monitors → XMPP: the client appears, then disappears after it disconnects', async () => {
  const page = state.page;
  await go('#/monitors/xmpp');
  const row = '#conn-rows tr[data-jid="alice@browser.test/desk"]';
  await page.waitForSelector(row, { timeout: 10000 });
  const text = await page.textContent(row);
  assert.match(text, /c2s/);
  assert.match(text, /127\.0\.0\.1/);
  assert.match(text, /TLS/);
  await page.waitForSelector('#card-connections');
  // Failed logins by account (auth.lock_*): the table is there, empty or not.
  await page.waitForSelector('#lockout-table');
  await sleep(2500); // one more refresh, so the charts have points
  await shot('08-monitors-xmpp');

  await go('#/users/account/' + encodeURIComponent('alice@browser.test'));
  await page.waitForSelector('#session-rows');
  await page.waitForFunction(() => document.querySelector('#session-rows').textContent.includes('desk'));
  // The account's PEP nodes: the client published none.
  await page.waitForSelector('#pep-rows');
  assert.match(await page.textContent('#pep'), /PEP nodes \(0\)/);
  await shot('09-users-account');

  await go('#/monitors/xmpp');
  await page.waitForSelector(row);
  state.client.stdin.end('quit\n');
  await waitFor(() => /^offline/m.test(state.clientOut), 'the client to log out');
  await page.waitForSelector(row, { state: 'detached', timeout: 10000 });
  assert.equal(await page.locator('#conn-rows tr[data-jid^="alice@"]').count(), 0);
});

test('Users: create an invitation, see its landing page, revoke it; the devices panel', async () => {
  const page = state.page;
  await go('#/users/domain/' + encodeURIComponent('browser.test'));
  await page.waitForSelector('#create-invite');
  await page.fill('#invite-uses', '2');
  await page.click('#create-invite');
  await page.waitForSelector('#invite-uri');
  const uri = await page.textContent('#invite-uri');
  const token = /preauth=([A-Za-z0-9_-]+)/.exec(uri)[1];
  assert.match(uri, /^xmpp:browser\.test\?register;preauth=/);
  const row = `#invite-rows tr[data-token="${token}"]`;
  await page.waitForSelector(row);
  assert.match(await page.textContent(row), /administrator/);
  assert.ok(JSON.parse(ctl('invite', 'list', 'browser.test').trim().split('\n')
    .find(l => l.includes(token))).uses === 2);
  await shot('10a-users-invitations');
  // The landing page is on the user-facing HTTP listener (the WebAdmin may be loopback-only).
  const href = await page.getAttribute('#invite-link', 'href');
  assert.equal(href, `http://127.0.0.1:${state.httpPort}/invite/${token}`);
  const landing = await fetch(href);
  assert.equal(landing.status, 200);
  assert.match(await landing.text(), /You are invited to browser\.test/);
  assert.equal((await fetch(`http://127.0.0.1:${state.webPort}/invite/${token}`)).status, 404);
  await page.click(`${row} button`);
  await page.waitForSelector(row, { state: 'detached' });
  assert.doesNotMatch(ctl('invite', 'list', 'browser.test'), new RegExp(token));
  await go('#/users/account/' + encodeURIComponent('alice@browser.test'));
  await page.waitForSelector('#device-rows');
  await shot('10b-users-account-devices');
});

test('Monitors → Logs: filtered by tag and text', async () => {
  const page = state.page;
  await go('#/monitors/logs');
  await page.waitForSelector('#log-rows');
  for (const t of ['SYSTEM', 'ADMIN', 'XMPPI', 'XMPPO']) {
    await page.uncheck(`#log-tags input[value="${t}"]`);
  }
  await page.fill('#log-text', 'alice@browser.test');
  await page.click('#log-apply');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#log-rows tr[data-tag]')];
    return rows.length > 0 && rows.every(r => r.dataset.tag === 'XMPPS');
  });
  const texts = await page.$$eval('#log-rows tr[data-tag] td.text', tds => tds.map(t => t.textContent));
  assert.ok(texts.length > 0);
  const summary = await page.textContent('#log-summary');
  assert.match(summary, /matching records/);
  await shot('10-monitors-logs');

  // Only ADMIN records: the actions above are there with who made them.
  await page.uncheck('#log-tags input[value="XMPPS"]');
  await page.check('#log-tags input[value="ADMIN"]');
  await page.fill('#log-text', 'domain.add');
  await page.click('#log-apply');
  await page.waitForFunction(() => [...document.querySelectorAll('#log-rows td.text')]
    .some(t => /WebAdmin postmaster@localhost: domain\.add .*browser\.test/.test(t.textContent)));
  await go('#/settings/all');
  await page.waitForSelector('#settings-filter');
  await shot('11-settings-all');
  assert.deepEqual(state.errors, []);
});

test('logging out returns to the login form', async () => {
  const page = state.page;
  await page.click('#logout');
  await page.waitForSelector('#login-form');
  await page.reload();
  await page.waitForSelector('#login-form');
  assert.equal(await page.isVisible('#app'), false);
});
