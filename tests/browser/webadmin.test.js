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
  BUILD, freePort, sleep, waitFor, stopServer, launchBrowser, watchPageErrors, startClient,
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

/* The Monitors → XMPP counters against the rows of their tables (issue 20: the counters count
 * what the table shows), read in one go between two refreshes. */
async function countersMatchTables(page) {
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#conn-rows tr[data-id]')];
    const open = rows.filter(r => r.children[7].textContent !== 'detached');
    const kind = k => open.filter(r => r.children[1].textContent === k).length;
    const count = document.querySelector('#conn-count').textContent;
    const card = document.querySelector('#card-connections .value');
    const want = open.length + (open.length === 1 ? ' connection' : ' connections') + ' (' +
      kind('c2s') + ' c2s, ' + kind('s2s-in') + ' s2s in, ' + kind('s2s-out') + ' s2s out)';
    const detached = rows.length - open.length;
    return count === want + (detached ? ' + ' + detached + (detached === 1 ? ' detached session' : ' detached sessions') : '') &&
      card && card.textContent === String(open.length);
  }, null, { timeout: 10000 });
  const queues = await page.$('#queue-rows');
  if (queues && await page.isVisible('#queue-count')) {
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#queue-rows tr[data-target]')];
      const waiting = rows.reduce((n, r) => n + Number(r.querySelector('td.queued').textContent), 0);
      const m = /^(\d+) queues?, (\d+) stanzas? waiting$/.exec(document.querySelector('#queue-count').textContent);
      return m && Number(m[1]) === rows.length && Number(m[2]) === waiting;
    }, null, { timeout: 10000 });
  }
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
  watchPageErrors(state);
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

  await startClient(state, state.xmppPort, 'alice@browser.test/desk', PW);
  assert.match(state.clientOut, /^online alice@browser\.test\/desk/m, state.clientOut);
});

test('Users → Online: the client\'s session, and an announcement reaches it (issue 20)', async () => {
  const page = state.page;
  await go('#/users/online/browser.test');
  const row = '#online-rows tr[data-jid="alice@browser.test/desk"]';
  await page.waitForSelector(row, { timeout: 10000 });
  assert.match(await page.textContent(row), /127\.0\.0\.1/);
  // The client software: the caps node of its presence.
  await page.waitForFunction(r => /slixmpp\.test\/browser/.test(document.querySelector(r + ' td.client').textContent), row);
  assert.match(await page.textContent('#online-count'), /1 account, 1 session/);
  await page.fill('#announce-subject', 'Notice');
  await page.fill('#announce-text', 'Maintenance tonight');
  await page.click('#announce-send');
  await page.waitForFunction(() => /Sent to 1 user/.test(document.querySelector('#announce-result').textContent));
  await waitFor(() => /^message headline Maintenance tonight/m.test(state.clientOut), 'the announcement');
  await shot('08b-users-online');
  assert.deepEqual(state.errors, []);
});

test('Users → Group chat: the client\'s room, its occupant kicked, the room destroyed (issue 20)', async () => {
  const page = state.page;
  await go('#/users/rooms/browser.test');
  const row = '#room-rows tr[data-room="lobby@conference.browser.test"]';
  await page.waitForSelector(row, { timeout: 10000 });
  assert.match(await page.textContent(row), /temporary/);
  assert.match(await page.textContent('#muc-defaults'), /muc\./);
  await page.click(row + ' a');
  await page.waitForSelector('#occupant-rows tr[data-nick="Alice"]');
  assert.match(await page.textContent('#occupant-rows tr[data-nick="Alice"]'), /alice@browser\.test\/desk/);
  assert.match(await page.textContent('#affiliation-rows'), /owner/);
  await shot('08c-users-room');
  await page.fill('#room-reason', 'test kick');
  await page.click('#occupant-rows tr[data-nick="Alice"] button.kick');
  await waitFor(() => /^unavailable lobby@conference\.browser\.test\/Alice/m.test(state.clientOut), 'the kick');
  // Empty and never configured, the room is gone; its page says so.
  await go('#/users/rooms/browser.test');
  await page.waitForSelector('#room-table');
  await page.waitForFunction(() => !document.querySelector('#room-rows tr[data-room="lobby@conference.browser.test"]'));
  assert.deepEqual(state.errors, []);
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
  // Its id links to its log records (issue 20).
  const cid = await page.getAttribute(row, 'data-id');
  assert.equal(await page.getAttribute(row + ' td:first-child a', 'href'), '#/monitors/logs/conn/' + cid);
  await page.waitForSelector('#card-connections');
  await countersMatchTables(page);
  // Failed logins by account (auth.lock_*): the table is there, empty or not.
  await page.waitForSelector('#lockout-table');
  await sleep(2500); // one more refresh, so the charts have points
  await shot('08-monitors-xmpp');

  await go('#/users/account/' + encodeURIComponent('alice@browser.test'));
  await page.waitForSelector('#session-rows');
  await page.waitForFunction(() => document.querySelector('#session-rows').textContent.includes('desk'));
  // The account page: the last login (written behind a moment after the login) and last seen.
  await waitFor(() => /\[127\.0\.0\.1\]/.test(ctl('account', 'show', 'alice@browser.test')), 'the login recorded');
  await go('#/users/account/' + encodeURIComponent('alice@browser.test'));
  await page.waitForSelector('#last-login');
  assert.match(await page.textContent('#last-login'), / from \[127\.0\.0\.1\]:\d+/);
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

test('Monitors → Logs: newest first, and one connection\'s records (issue 20)', async () => {
  const page = state.page;
  await go('#/monitors/logs');
  await page.waitForSelector('#log-rows tr[data-tag]');
  const times = await page.$$eval('#log-rows tr[data-tag] td:first-child', tds => tds.map(t => t.textContent));
  assert.ok(times.length > 1);
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] >= times[i], times[i - 1] + ' before ' + times[i]);
  assert.match(await page.textContent('#log-summary'), /newest first/);
  // A connection id from the records: its drill-down shows that connection's records only.
  const ids = await page.$$eval('#log-rows tr[data-tag] td:nth-child(4)', tds => tds.map(t => t.textContent).filter(Boolean));
  assert.ok(ids.length > 0, 'no record names a connection');
  const id = String(Number(ids[0]));
  await go('#/monitors/logs/conn/' + id);
  await page.waitForSelector('#log-rows');
  assert.equal(await page.inputValue('#log-conn'), id);
  const conns = await page.$$eval('#log-rows tr[data-tag] td:nth-child(4)', tds => tds.map(t => Number(t.textContent)));
  assert.ok(conns.length > 0);
  assert.ok(conns.every(c => c === Number(id)), conns.join(','));
  assert.deepEqual(state.errors, []);
});

test('Users → Certificates: the list, and an uploaded certificate checked and installed (issue 20)', async () => {
  const page = state.page;
  await go('#/users/certificates');
  const row = '#cert-rows tr[data-domain="browser.test"]';
  await page.waitForSelector(row);
  assert.match(await page.textContent(row), /self-signed/);
  const dir = tmpdir('starling-cert-');
  const crt = path.join(dir, 'c.pem');
  const key = path.join(dir, 'k.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '20', '-subj', '/CN=browser.test', '-addext',
    'subjectAltName=DNS:browser.test,DNS:conference.browser.test', '-keyout', key, '-out', crt], { stdio: 'ignore' });
  await page.selectOption('#cert-domain', 'browser.test');
  // The wrong key first: refused, nothing changes.
  await page.fill('#cert-pem', fs.readFileSync(crt, 'utf8'));
  await page.fill('#cert-key', 'not a key');
  await page.click('#cert-upload');
  await page.waitForSelector('.toast.error');
  await page.fill('#cert-key', fs.readFileSync(key, 'utf8'));
  await page.click('#cert-upload');
  await page.waitForFunction(() => /Installed for browser\.test/.test(document.querySelector('#cert-result').textContent));
  const warnings = await page.textContent('#cert-result');
  assert.match(warnings, /self-signed/);
  assert.match(warnings, /expires in (19|20) days/);
  await page.waitForFunction(() => /conference\.browser\.test/.test(
    document.querySelector('#cert-rows tr[data-domain="browser.test"]').textContent));
  assert.match(await page.textContent(row + ' .cert-state'), /expires in (19|20) days/);
  fs.rmSync(dir, { recursive: true, force: true });
  await shot('12-users-certificates');
  assert.deepEqual(state.errors, []);
});

test('Settings → XMPP Sending: the federation settings and the block list, saved live (issue 20)', async () => {
  const page = state.page;
  await go('#/settings/xmpp/sending');
  const blocked = '[id="f-xmpp.s2s_blocked"]';
  await page.waitForSelector(blocked);
  assert.ok(await page.$('[id="f-xmpp.sending.dns_servers"]'));
  assert.ok(await page.$('[id="f-xmpp.sending.queue_timeout"]'));
  await page.fill(blocked, 'spam.example, bad.example');
  await page.click('#save-federation');
  await waitFor(() => ctl('settings', 'get', 'xmpp.s2s_blocked').includes('spam.example, bad.example'), 'the block list saved');
  await go('#/settings/xmpp/receiving');
  await page.waitForSelector('[id="f-xmpp.receiving.dialback"]');
  assert.equal(await page.inputValue(blocked), 'spam.example, bad.example');
  await page.fill(blocked, '');
  await page.click('#save-federation');
  await waitFor(() => ctl('settings', 'get', 'xmpp.s2s_blocked').trim() === '', 'the block list emptied');
  await shot('13-settings-federation');
  assert.deepEqual(state.errors, []);
});

test('Monitors → XMPP: a certificate expiring within 30 days is a warning on the dashboard (issue 20)', async () => {
  const page = state.page;
  await go('#/monitors/xmpp');
  await page.waitForSelector('#cert-warnings');
  assert.match(await page.textContent('#cert-warnings'), /browser\.test: the certificate expires in (19|20) days/);
  assert.deepEqual(state.errors, []);
});

test('Users → a domain: account search, last seen and offline messages (issue 20)', async () => {
  const page = state.page;
  ctl('account', 'add', 'zed@browser.test', '--password', 'Zed-secret-1');
  ctl('send', 'browser.test', 'zed@browser.test', 'kept for later');
  await go('#/users/domain/browser.test');
  const zed = '#account-rows tr[data-jid="zed@browser.test"]';
  await page.waitForSelector(zed);
  await page.waitForFunction(() => document.querySelector('#account-rows tr[data-jid="zed@browser.test"] td.offline').textContent === '1');
  assert.notEqual(await page.textContent('#account-rows tr[data-jid="alice@browser.test"] td.last-seen'), '—');
  // Its own column: alice's last login, with the address it came from.
  assert.match(await page.textContent('#account-rows tr[data-jid="alice@browser.test"] td.last-login'), / from \[127\.0\.0\.1\]:\d+/);
  assert.equal(await page.textContent('#account-rows tr[data-jid="zed@browser.test"] td.last-login'), '—');
  await page.fill('#account-search', 'ze');
  await page.waitForFunction(() => [...document.querySelectorAll('#account-rows tr[data-jid]')].every(r => r.dataset.jid.startsWith('zed@')));
  assert.equal(await page.locator('#account-rows tr[data-jid]').count(), 1);
  ctl('account', 'remove', 'zed@browser.test');
  assert.deepEqual(state.errors, []);
});

test('Users → a domain: its own federation block and allow lists, saved live (issue 20)', async () => {
  const page = state.page;
  await go('#/users/domain/browser.test');
  const blocked = '#f-s2s_blocked';
  await page.waitForSelector(blocked);
  assert.equal(await page.inputValue(blocked), '');
  await page.fill(blocked, 'Spam.example bad.example');
  await page.click('#save-domain');
  await waitFor(() => /^s2s_blocked = spam\.example, bad\.example$/m.test(ctl('domain', 'show', 'browser.test')),
                'the domain block list saved');
  // The page shows the stored (normalised) list after the update.
  await page.waitForFunction(() => { const e = document.querySelector('#f-s2s_blocked'); return e && e.value === 'spam.example, bad.example'; });
  await shot('07b-users-domain-federation');
  await page.fill(blocked, '');
  await page.click('#save-domain');
  await waitFor(() => /^s2s_blocked = $/m.test(ctl('domain', 'show', 'browser.test')), 'the block list emptied');
  assert.deepEqual(state.errors, []);
});

test('a page still loading when the admin moves on never covers the page moved to', async () => {
  const page = state.page;
  // The domain page's account list answers late: by then the Monitors page is shown.
  let delayed = 0;
  const slow = async r => {
    const body = r.request().postData() || '';
    if (/"op":"account\.list"/.test(body)) { delayed++; await sleep(1500); }
    await r.continue();
  };
  await page.route('**/api', slow);
  try {
    await go('#/users/domain/browser.test');
    await waitFor(() => delayed === 1, 'the account list asked for');
    await go('#/monitors/xmpp');
    await page.waitForSelector('#chart-10m');
    await sleep(2000);
    assert.ok(await page.$('#chart-10m'), 'the Monitors page stays');
    assert.equal(await page.$('#account-rows'), null);
    assert.equal(await page.locator('#subnav .crumb').count(), 0);
  } finally {
    await page.unroute('**/api', slow);
  }
  assert.deepEqual(state.errors, []);
});

test('Monitors → XMPP: the charts show the last 10 minutes or the last day (issue 20)', async () => {
  const page = state.page;
  await go('#/monitors/xmpp');
  await page.waitForSelector('#chart-24h');
  assert.match(await page.getAttribute('#chart-10m', 'class'), /active/);
  await page.click('#chart-24h');
  await page.waitForFunction(() => { const e = document.querySelector('#chart-24h'); return e && /active/.test(e.className); });
  await page.waitForSelector('#card-connections');
  await page.click('#chart-10m');
  await page.waitForFunction(() => { const e = document.querySelector('#chart-10m'); return e && /active/.test(e.className); });
  assert.deepEqual(state.errors, []);
});

test('Monitors → XMPP: a queue\'s waiting stanzas counted, and dropped (issue 20)', async () => {
  const page = state.page;
  // A route to a port where nothing listens: the stanza to far.example waits to be retried.
  const routes = ctl('settings', 'get', 'xmpp.sending.routes').trim();
  ctl('settings', 'set', 'xmpp.sending.routes', 'far.example=127.0.0.1:' + (await freePort()));
  ctl('send', 'alice@browser.test', 'bob@far.example', 'waiting');
  await go('#/monitors/xmpp');
  const row = '#queue-rows tr[data-target="far.example"]';
  await page.waitForSelector(row, { timeout: 10000 });
  await page.waitForFunction(r => { const e = document.querySelector(r + ' td.queued'); return e && e.textContent === '1'; }, row);
  await countersMatchTables(page);
  await page.click(row + ' button.drop');
  await page.waitForFunction(r => { const e = document.querySelector(r + ' td.queued'); return !e || e.textContent === '0'; }, row);
  ctl('settings', 'set', 'xmpp.sending.routes', routes);
  assert.deepEqual(state.errors, []);
});

test('Monitors → XMPP: a server-to-server link closed by its button, after a confirmation (issue 20)', async () => {
  const page = state.page;
  // A peer that accepts the TCP connection and never answers: the outgoing link stays open.
  const sockets = [];
  const silent = net.createServer(s => { sockets.push(s); s.on('error', () => {}); });
  await new Promise(r => silent.listen(0, '127.0.0.1', r));
  const routes = ctl('settings', 'get', 'xmpp.sending.routes').trim();
  try {
    ctl('settings', 'set', 'xmpp.sending.routes', 'silent.example=127.0.0.1:' + silent.address().port);
    ctl('send', 'alice@browser.test', 'bob@silent.example', 'hello');
    await go('#/monitors/xmpp');
    const row = '#conn-rows tr[data-jid="browser.test -> silent.example"]';
    await page.waitForSelector(row + ' button.close-link', { timeout: 10000 });
    await countersMatchTables(page);
    const id = await page.getAttribute(row, 'data-id');
    // Cancelled: the link stays.
    page.once('dialog', d => d.dismiss());
    await page.click(row + ' button.close-link');
    await sleep(300);
    assert.ok(await page.$(`#conn-rows tr[data-id="${id}"]`));
    let asked = '';
    page.once('dialog', d => { asked = d.message(); d.accept(); });
    await page.click(row + ' button.close-link');
    await page.waitForSelector(`#conn-rows tr[data-id="${id}"]`, { state: 'detached', timeout: 10000 });
    assert.match(asked, new RegExp('Close the server-to-server connection ' + id));
    await shot('08c-monitors-s2s-close');
  } finally {
    ctl('settings', 'set', 'xmpp.sending.routes', routes);
    try { ctl('queue', 'drop', 'silent.example', 'browser.test'); } catch (e) { /* already gone */ }
    sockets.forEach(s => s.destroy());
    silent.close();
  }
  assert.deepEqual(state.errors, []);
});

test('Users → Features: what a domain offers, on or off by setting (issue 20)', async () => {
  const page = state.page;
  await go('#/users/features/browser.test');
  await page.waitForSelector('#feature-switches');
  const muc = await page.textContent('#feature-switches tr[data-what="Multi-user chat (XEP-0045)"]');
  assert.match(muc, /on/);
  assert.match(muc, /conference\.browser\.test/);
  // http.listener has a socket in this run (the invitation landing pages): upload is offered.
  assert.match(await page.textContent('#feature-switches tr[data-what="HTTP file upload (XEP-0363)"]'), /on/);
  assert.match(await page.textContent('#features-server'), /XMPP Ping \(XEP-0199\)/);
  // Turned off by a domain setting, the page says so.
  ctl('domain', 'set', 'browser.test', 'chat_service=none');
  await go('#/users/domains');
  await page.waitForSelector('#page h1');
  await go('#/users/features/browser.test');
  await page.waitForFunction(() => {
    const r = document.querySelector('#feature-switches tr[data-what="Multi-user chat (XEP-0045)"]');
    return r && /off/.test(r.textContent);
  });
  ctl('domain', 'set', 'browser.test', 'chat_service=default');
  await shot('14-users-features');
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
