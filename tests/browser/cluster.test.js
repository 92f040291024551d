// cluster.test.js: the WebAdmin's "Cluster nodes" panel (Monitors → XMPP) in Debian's chromium
// (playwright-core), on a real two-node cluster (issue 19): a throwaway PostgreSQL (initdb +
// pg_ctl in a temporary folder, as tests/integration/pgfixture.py), a nats-server, node n1 on
// 127.0.0.2 with the WebAdmin and node n2 on 127.0.0.3, all on free loopback ports. The panel
// lists both nodes, counts a client's session on n2, and drops n2 once it is stopped.
// Skipped when initdb or nats-server is missing (CI installs both: scripts/deps/cluster.test).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const {
  BUILD, freePort, sleep, waitFor, stopServer, launchBrowser, watchPageErrors, startClient, shot,
} = require('./helpers');

const PW = 'Cluster-secret-1';
// Linux answers on all of 127.0.0.0/8: each node gets its own client address.
const HOSTS = ['127.0.0.2', '127.0.0.3'];

/* The highest installed PostgreSQL's binaries (STARLING_PG_BIN overrides), as pgfixture.py. */
function pgBin() {
  if (process.env.STARLING_PG_BIN) return process.env.STARLING_PG_BIN;
  let versions = [];
  try {
    versions = fs.readdirSync('/usr/lib/postgresql').filter(v => /^\d+$/.test(v)).sort((a, b) => a - b);
  } catch (e) { /* no PostgreSQL */ }
  return path.join('/usr/lib/postgresql', versions.length ? versions[versions.length - 1] : '15', 'bin');
}

function onPath(name) {
  const dirs = (process.env.PATH || '').split(':').filter(Boolean).concat(['/usr/sbin', '/usr/bin']);
  for (const d of dirs) {
    const p = path.join(d, name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch (e) { /* next */ }
  }
  return null;
}

const PG_BIN = pgBin();
const NATS = onPath('nats-server');
const SKIP = !fs.existsSync(path.join(PG_BIN, 'initdb')) ? 'no initdb in ' + PG_BIN
  : !NATS ? 'no nats-server' : false;

const state = { dirs: [], nodes: [] };

function tmpdir(prefix) {
  return require('./helpers').tmpdir(state, prefix);
}

/* ---- PostgreSQL: one cluster in a temporary folder, run as "nobody" when we are root ---- */

function pgRun(tool, ...args) {
  const argv = [path.join(PG_BIN, tool), ...args];
  const asUser = process.getuid() === 0 ? ['runuser', '-u', 'nobody', '--'] : [];
  const all = asUser.concat(argv);
  return execFileSync(all[0], all.slice(1), { cwd: state.pg.dir, stdio: ['ignore', 'pipe', 'pipe'],
                                              encoding: 'utf8', timeout: 60000 });
}

function psql(sql) {
  return execFileSync(path.join(PG_BIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', state.pg.dir,
    '-p', String(state.pg.port), '-U', 'postgres', '-d', 'postgres', '-At', '-c', sql],
  { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60000 });
}

async function startPostgres() {
  state.pg = { dir: tmpdir('starling-pg-') };
  if (process.getuid() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
    fs.chownSync(state.pg.dir, uid, gid);
  }
  const data = path.join(state.pg.dir, 'data');
  pgRun('initdb', '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync');
  let last;
  for (let attempt = 0; attempt < 5; attempt++) {
    state.pg.port = await freePort();
    const opts = `-p ${state.pg.port} -k ${state.pg.dir} -c listen_addresses=127.0.0.1 -c fsync=off ` +
      '-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB';
    try {
      pgRun('pg_ctl', '-D', data, '-l', path.join(state.pg.dir, 'log'), '-o', opts, '-w', '-t', '60', 'start');
      state.pg.started = true;
      break;
    } catch (e) {
      last = e;
      await sleep(200 * (attempt + 1));
    }
  }
  if (!state.pg.started) throw new Error('pg_ctl start failed: ' + (last.stdout || '') + (last.stderr || ''));
  psql("CREATE DATABASE starling_browser TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
  return `host=${state.pg.dir} port=${state.pg.port} user=postgres dbname=starling_browser`;
}

function stopPostgres() {
  if (!state.pg || !state.pg.started) return;
  state.pg.started = false;
  try {
    pgRun('pg_ctl', '-D', path.join(state.pg.dir, 'data'), '-m', 'immediate', '-w', 'stop');
  } catch (e) { /* already gone */ }
}

/* ---- nats-server and the nodes ---- */

function accepts(port, host) {
  return new Promise(resolve => {
    const s = net.connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function startNats() {
  const port = await freePort();
  state.nats = spawn(NATS, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  state.natsLog = '';
  state.nats.stderr.on('data', d => { state.natsLog += d; });
  await waitFor(async () => state.nats.exitCode === null && await accepts(port, '127.0.0.1'),
                'nats-server:\n' + state.natsLog);
  return `nats://127.0.0.1:${port}`;
}

/* Starts node `id` on `host` and waits for "ready" (and its client port); node 1 also has the
 * WebAdmin. Returns { proc, id, host, port, datadir, stdout, stderr }. */
async function startNode(id, host, common, web) {
  const node = { id, host, datadir: tmpdir('starling-node-'), stdout: '', stderr: '' };
  node.port = await freePort();
  const opts = {
    ...common,
    'cluster.node_id': id,
    'xmpp.listener': `${host}:${node.port}`,
    'webadmin.listener': web ? `127.0.0.1:${web}` : '',
    'http.listener': '',
    'server.workers': '2',
    'auth.lock_after': '0',
    'xmpp.receiving.auth_failure_delay': '0',
    'xmpp.receiving.require_tls': 'no',
  };
  const argv = ['-d', node.datadir];
  for (const [k, v] of Object.entries(opts)) argv.push('-o', `${k}=${v}`);
  node.proc = spawn(path.join(BUILD, 'starlingd'), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  node.proc.stdout.on('data', d => { node.stdout += d; });
  node.proc.stderr.on('data', d => { node.stderr += d; });
  state.nodes.push(node);
  await waitFor(async () => {
    if (node.proc.exitCode !== null) throw new Error(`starlingd ${id} exited:\n${node.stderr}`);
    return /\bready\b/.test(node.stderr) && await accepts(node.port, host);
  }, `starlingd ${id} to start:\n${node.stderr}`, 20000);
  return node;
}

function ctl(node, ...args) {
  return execFileSync(path.join(BUILD, 'starlingctl'), ['-d', node.datadir, ...args], { encoding: 'utf8' });
}

/* The rows of #nodes-table as the page shows them: [{node, address, heartbeat, sessions, rooms}]. */
function nodeRows(page) {
  return page.$$eval('#nodes-table tbody tr', trs => trs.map(tr => {
    const [node, address, heartbeat, sessions, rooms] = [...tr.children].map(td => td.textContent);
    return { node, address, heartbeat, sessions, rooms };
  }));
}

/* Waits until the rows satisfy `pred`; the last rows seen go into the error otherwise. */
async function waitRows(page, pred, what, timeoutMs) {
  let rows = [];
  try {
    return await waitFor(async () => {
      rows = await nodeRows(page);
      return pred(rows) && rows;
    }, what, timeoutMs);
  } catch (e) {
    throw new Error(e.message + ': ' + JSON.stringify(rows));
  }
}

before(async () => {
  if (SKIP) return;
  const conninfo = await startPostgres();
  const common = {
    'store.backend': 'postgresql',
    'store.postgresql.conninfo': conninfo,
    'cluster.nats_url': await startNats(),
  };
  state.webPort = await freePort();
  // The first node on the empty database creates the postmaster; the second finds it.
  const n1 = await startNode('n1', HOSTS[0], common, state.webPort);
  state.password = await waitFor(() => {
    const m = n1.stdout.match(/^postmaster@localhost password: (\S+)$/m);
    return m && m[1];
  }, 'the postmaster password on n1:\n' + n1.stdout);
  const n2 = await startNode('n2', HOSTS[1], common, 0);
  assert.doesNotMatch(n2.stdout, /password:/, 'n2 found the postmaster n1 created');
  state.page = await launchBrowser(state);
  state.page.setDefaultTimeout(10000);
  watchPageErrors(state);
});

after(async () => {
  if (state.client && state.client.exitCode === null) state.client.kill();
  if (state.context) await state.context.close().catch(() => {});
  for (const node of state.nodes.slice().reverse()) await stopServer({ server: node.proc });
  await stopServer({ server: state.nats });
  stopPostgres();
  for (const d of state.dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('Monitors → XMPP: the Cluster nodes panel lists both nodes', { skip: SKIP }, async () => {
  const page = state.page;
  const [n1, n2] = state.nodes;
  await page.goto(`http://127.0.0.1:${state.webPort}/`);
  await page.waitForSelector('#login-form');
  await page.fill('#login-user', 'postmaster@localhost');
  await page.fill('#login-password', state.password);
  await page.click('#login-submit');
  await page.waitForSelector('#who-jid');
  await page.evaluate(() => { location.hash = '#/monitors/xmpp'; });
  await page.waitForSelector('section.panel:has(#nodes-table)', { state: 'visible' });
  assert.equal(await page.textContent('section.panel:has(#nodes-table) h2'), 'Cluster nodes');
  assert.deepEqual(await page.$$eval('#nodes-table thead th', ths => ths.map(th => th.textContent)),
                   ['Node', 'Client address', 'Last heartbeat', 'Sessions', 'Rooms']);
  const rows = await waitRows(page, r => r.length === 2, 'two nodes', 5000);
  assert.deepEqual(rows.map(r => [r.node, r.address]),
                   [['n1 (this node)', `${n1.host}:${n1.port}`], ['n2', `${n2.host}:${n2.port}`]]);
  assert.equal(rows[0].heartbeat, '');
  assert.match(rows[1].heartbeat, /^\d+ ms$/);
  // Heartbeats every 300 ms: the page never shows one much older than that.
  assert.ok(Number.parseInt(rows[1].heartbeat, 10) < 1500, rows[1].heartbeat);
  assert.deepEqual(rows.map(r => r.sessions), ['0', '0']);
  await shot(page, '20-monitors-cluster-nodes');
});

test('a client on n2 shows in n2\'s Sessions', { skip: SKIP }, async () => {
  const page = state.page;
  const [n1, n2] = state.nodes;
  // An account whose home is n2 (rendezvous hashing over the two live nodes).
  const user = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hugo', 'iris', 'jack']
    .find(u => JSON.parse(ctl(n1, 'cluster', 'status', `${u}@localhost`)).home === 'n2');
  assert.ok(user, 'one of ten accounts is homed on n2');
  ctl(n1, 'account', 'add', `${user}@localhost`, '--password', PW);
  await startClient(state, n2.port, `${user}@localhost/desk`, PW, n2.host);
  assert.match(state.clientOut, new RegExp(`^online ${user}@localhost/desk`, 'm'), state.clientOut);
  // n2's heartbeat carries its count (300 ms), the page refreshes every 2 s.
  const rows = await waitRows(page, r => r.length === 2 && r[1].sessions === '1', 'n2: 1 session', 5000);
  assert.equal(rows[0].sessions, '0');
  // The client also joined a room (xmpp_client.py): one node holds it.
  await waitRows(page, r => r.reduce((n, x) => n + Number(x.rooms), 0) === 1, 'one room', 5000);
  await shot(page, '21-monitors-cluster-session');
});

test('n2 stopped: the panel lists only n1', { skip: SKIP }, async () => {
  const page = state.page;
  const n2 = state.nodes[1];
  await stopServer({ server: n2.proc });
  assert.equal(n2.proc.exitCode, 0, n2.stderr);
  // Heartbeat timeout 1.5 s, then the next refresh (2 s).
  const rows = await waitRows(page, r => r.length === 1, 'n2 gone', 6000);
  assert.equal(rows[0].node, 'n1 (this node)');
  await shot(page, '22-monitors-cluster-one-node');
  assert.deepEqual(state.errors, []);
});
