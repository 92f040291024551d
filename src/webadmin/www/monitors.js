/* monitors.js: Monitors realm: live XMPP connections, queues and counters; the System Log. */
'use strict';

/* A small area chart of values (oldest first) in an SVG of 200 x 46. */
function sparkline(values) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 200 46');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (values.length < 2) return svg;
  const max = Math.max(1, ...values);
  const step = 200 / (values.length - 1);
  const pts = values.map((v, i) => [i * step, 44 - (v / max) * 40]);
  const line = pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join(' ');
  const area = document.createElementNS(NS, 'path');
  area.setAttribute('d', line + ' L200 46 L0 46 Z');
  area.setAttribute('class', 'area');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', line);
  path.setAttribute('class', 'line');
  svg.append(area, path);
  return svg;
}

/* Per-second rates of a counter between successive samples. */
function rates(samples, key) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t || 1;
    out.push(Math.max(0, ((samples[i][key] || 0) - (samples[i - 1][key] || 0)) / dt));
  }
  return out;
}

function card(id, label, value, sub, values) {
  return el('div', { class: 'card', id }, el('div', { class: 'label' }, label),
            el('div', { class: 'value' }, value), el('div', { class: 'sub' }, sub), sparkline(values));
}

function fmtRate(r) {
  return r >= 10 ? r.toFixed(0) : r.toFixed(2).replace(/\.?0+$/, '') || '0';
}

/* The charts' span: the last ten minutes (a sample every 2 s) or the last day (one a minute). */
function spanButtons() {
  const pick = day => el('button', { type: 'button', id: day ? 'chart-24h' : 'chart-10m',
    class: (!!WA.chartDay === day) ? 'active' : '', onclick: () => { WA.chartDay = day; route(); } },
    day ? '24 h' : '10 min');
  return el('div', { class: 'chart-span' }, pick(false), pick(true));
}

async function renderCards(box, tally) {
  const h = await api('stats.history');
  const s = WA.chartDay && h.day ? h.day.samples : h.samples;
  if (!s.length) { box.replaceChildren(spanButtons(), el('p', { class: 'muted' }, 'Collecting counters…')); return; }
  const last = s[s.length - 1];
  const lastRate = (key) => { const r = rates(s.slice(-2), key); return r.length ? r[0] : 0; };
  const minutes = Math.round((s[s.length - 1].t - s[0].t) / 60);
  const span = minutes > 90 ? 'last ' + Math.round(minutes / 60) + ' h' : 'last ' + (minutes || 1) + ' min';
  const stanzas = rates(s, 'stanzas_in').map((v, i) => v + rates(s, 'stanzas_out')[i]);
  const errors = rates(s, 'stream_errors').map((v, i) => v + rates(s, 'auth_failures')[i]);
  box.replaceChildren(spanButtons(),
    // The value counts the rows of the connection table (issue 20: the counters count what the
    // table shows); the chart is the history of the open incoming connections.
    card('card-connections', 'Connections', tally.open,
         tally.in + ' in, ' + tally.out + ' out' + (tally.detached ? ', ' + tally.detached + ' detached' : '') +
         ' · ' + (last.connections_accepted || 0) + ' accepted, ' + (last.connections_refused || 0) + ' refused',
         s.map(x => x.connections_open)),
    card('card-logins', 'Logins / s', fmtRate(lastRate('logins')), (last.logins || 0) + ' in all · ' + span,
         rates(s, 'logins')),
    card('card-stanzas', 'Stanzas / s', fmtRate(lastRate('stanzas_in') + lastRate('stanzas_out')),
         (last.stanzas_in || 0) + ' in, ' + (last.stanzas_out || 0) + ' out · ' + span, stanzas),
    card('card-errors', 'Errors / s', fmtRate(lastRate('stream_errors') + lastRate('auth_failures')),
         (last.stream_errors || 0) + ' stream errors, ' + (last.auth_failures || 0) + ' failed logins', errors));
}

/* What the connection table shows, by kind and state: a detached XEP-0198 session is a row
 * but not a connection; outgoing s2s rows include those still resolving or connecting. */
function tallyConnections(rows) {
  const t = { open: 0, c2s: 0, s2sIn: 0, s2sOut: 0, detached: 0, in: 0, out: 0 };
  for (const c of rows) {
    if (c.state === 'detached') { t.detached++; continue; }
    t.open++;
    if (c.kind === 's2s-out') { t.s2sOut++; t.out++; } else { t.in++; }
    if (c.kind === 'c2s') t.c2s++;
    if (c.kind === 's2s') t.s2sIn++;
  }
  return t;
}

function connectionsSummary(t) {
  const parts = [t.c2s + ' c2s', t.s2sIn + ' s2s in', t.s2sOut + ' s2s out'];
  if (t.open - t.c2s - t.s2sIn - t.s2sOut) parts.push((t.open - t.c2s - t.s2sIn - t.s2sOut) + ' other');
  return t.open + (t.open === 1 ? ' connection' : ' connections') + ' (' + parts.join(', ') + ')' +
    (t.detached ? ' + ' + t.detached + (t.detached === 1 ? ' detached session' : ' detached sessions') : '');
}

/* Closes a server-to-server link after a confirmation (op s2s.close; its queue stays). */
function closeLink(c) {
  if (!confirm('Close the server-to-server connection ' + c.id + ' (' + (c.jid || c.peer || '') + ')?')) return;
  attempt(() => api('s2s.close', { id: c.id }), 'Closed connection ' + c.id);
}

function connectionsTable(rows) {
  const body = el('tbody', { id: 'conn-rows' });
  rows.sort((a, b) => (a.id || 0) - (b.id || 0));
  for (const c of rows) {
    const kind = c.kind === 's2s' ? 's2s-in' : c.kind;
    body.append(el('tr', { 'data-id': c.id, 'data-jid': c.jid || '' },
      el('td', { class: 'num' }, el('a', { href: '#/monitors/logs/conn/' + c.id, title: 'Its log records' }, String(c.id))),
      el('td', {}, el('span', { class: 'tag' }, kind)),
      el('td', { class: 'mono' }, c.peer || '—'),
      el('td', {}, c.jid ? (c.kind === 'c2s' ? el('a', { href: accountHash(c.jid.split('/')[0]) }, c.jid) : c.jid)
                         : el('span', { class: 'muted' }, '—')),
      el('td', {}, c.tls ? el('span', { class: 'tag tls', title: c.cipher || '' }, c.tls) : el('span', { class: 'tag warn' }, 'clear')),
      el('td', { class: 'mono' }, c.cipher || ''),
      el('td', {}, c.mechanism || ''),
      el('td', {}, c.state),
      el('td', {}, fmtAge(c.since)),
      el('td', { class: 'num' }, c.state === 'detached' ? c.unacked + ' unacked' : c.stanzas_in + ' / ' + c.stanzas_out),
      el('td', { class: 'num' }, c.state === 'detached' ? '' : fmtBytes(c.bytes_in) + ' / ' + fmtBytes(c.bytes_out)),
      el('td', {}, (c.kind === 's2s' || c.kind === 's2s-out') && c.id && isServerAdmin()
        ? el('button', { type: 'button', class: 'close-link', onclick: () => closeLink(c) }, 'Close') : '')));
  }
  if (!rows.length) body.append(el('tr', {}, el('td', { colspan: 12, class: 'empty' }, 'No connections')));
  return el('div', { class: 'table-scroll' }, el('table', { id: 'connections-table' },
    el('thead', {}, el('tr', {}, ['ID', 'Kind', 'Remote address', 'Account / domain', 'TLS', 'Cipher', 'Login',
      'State', 'Since', 'Stanzas in / out', 'Bytes in / out', ''].map(h => el('th', {}, h)))), body));
}

function queueList(q) {
  return Array.isArray(q) ? q : (q.queues || []);
}

function queuesSummary(list) {
  const waiting = list.reduce((n, x) => n + (x.stanzas || 0), 0);
  return list.length + (list.length === 1 ? ' queue, ' : ' queues, ') + waiting +
    (waiting === 1 ? ' stanza waiting' : ' stanzas waiting');
}

function queuesTable(q) {
  const list = queueList(q);
  // Flush: connect now; Drop: bounce what waits (ops queue.flush, queue.drop; issue 20).
  const act = (op, x) => attempt(() => api(op, { target: x.target, source: x.source }),
                                 (op === 'queue.flush' ? 'Flushing ' : 'Dropped ') + x.source + ' → ' + x.target);
  const body = el('tbody', { id: 'queue-rows' }, list.map(x => el('tr', { 'data-target': x.target },
    el('td', {}, x.target || ''), el('td', {}, x.source || ''),
    el('td', {}, x.state || ''), el('td', { class: 'num queued' }, String(x.stanzas || 0)),
    el('td', {}, x.error || ''),
    el('td', {}, el('button', { type: 'button', class: 'flush', onclick: () => act('queue.flush', x) }, 'Flush'),
      el('button', { type: 'button', class: 'drop', onclick: () => act('queue.drop', x) }, 'Drop')))));
  if (!list.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No queues')));
  return el('table', { id: 'queues-table' }, el('thead', {}, el('tr', {},
    ['Target domain', 'Source domain', 'State', 'Queued stanzas', 'Last error', ''].map(h => el('th', {}, h)))), body);
}

function nodesTable(st) {
  const body = el('tbody', {}, st.nodes.map(n => el('tr', {},
    el('td', {}, n.id + (n.self ? ' (this node)' : '')), el('td', {}, n.address || ''),
    el('td', { class: 'num' }, n.self ? '' : n.age_ms + ' ms'),
    el('td', { class: 'num' }, String(n.sessions ?? '')), el('td', { class: 'num' }, String(n.rooms ?? '')))));
  return el('table', { id: 'nodes-table' }, el('thead', {}, el('tr', {},
    ['Node', 'Client address', 'Last heartbeat', 'Sessions', 'Rooms'].map(h => el('th', {}, h)))), body);
}

function lockoutTable(list) {
  const body = el('tbody', {}, list.map(x => el('tr', {},
    el('td', {}, x.jid), el('td', { class: 'num' }, x.failures),
    el('td', {}, x.locked > 0 ? 'locked, ' + x.locked + ' s left' : 'not locked'),
    el('td', { class: 'num' }, x.last_failure + ' s ago'))));
  if (!list.length) body.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No failed logins')));
  return el('table', { id: 'lockout-table' }, el('thead', {}, el('tr', {},
    ['Account', 'Failed logins', 'State', 'Last failure'].map(h => el('th', {}, h)))), body);
}

register('monitors/xmpp', 'monitors', async main => {
  const cards = el('div', { class: 'cards', id: 'cards' });
  const conns = el('div', { id: 'connections' });
  const queues = el('div', { id: 'queues' });
  const status = el('span', { class: 'live', id: 'live' }, 'Live');
  const count = el('span', { class: 'muted', id: 'conn-count' });
  let paused = false;
  const pause = el('button', { type: 'button', id: 'pause' }, 'Pause');
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    status.classList.toggle('paused', paused);
    status.textContent = paused ? 'Paused' : 'Live';
  });
  const queueCount = el('span', { class: 'muted', id: 'queue-count' });
  const queuesPanel = el('section', { class: 'panel', hidden: true },
    el('div', { class: 'panel-head' }, el('h2', {}, 'Server-to-server queues'), queueCount), queues);
  const lockouts = el('div', { id: 'lockouts' });
  const lockoutPanel = el('section', { class: 'panel', hidden: true },
    el('h2', {}, 'Failed logins by account'), lockouts);
  const nodes = el('div', { id: 'nodes' });
  const nodesPanel = el('section', { class: 'panel', hidden: true },
    el('h2', {}, 'Cluster nodes'), nodes);
  main.replaceChildren(
    pageHead('XMPP', 'Connections, queues and counters, refreshed every 2 seconds.', status, pause),
    isServerAdmin() ? cards : null, nodesPanel,
    el('section', { class: 'panel flush' },
      el('div', { class: 'panel-head' }, el('h2', {}, 'Connections'), count), conns),
    lockoutPanel, queuesPanel);
  // Certificates expired or expiring within 30 days (certs.js), under the page's title.
  certWarnings().then(w => { if (w) main.firstChild.after(w); }).catch(() => {});
  async function refresh() {
    if (paused) return;
    const rows = await api('connections');
    const tally = tallyConnections(rows);
    count.textContent = connectionsSummary(tally);
    conns.replaceChildren(connectionsTable(rows));
    const failed = await apiOptional('logins.failed');
    lockoutPanel.hidden = failed === null;
    if (failed !== null) lockouts.replaceChildren(lockoutTable(failed));
    if (isServerAdmin()) {
      await renderCards(cards, tally);
      const cs = await apiOptional('cluster.status');
      nodesPanel.hidden = !cs || !cs.self;
      if (cs && cs.self) nodes.replaceChildren(nodesTable(cs));
      const q = await apiOptional('queues');
      queuesPanel.hidden = q === null;
      if (q !== null) {
        queueCount.textContent = queuesSummary(queueList(q));
        queues.replaceChildren(queuesTable(q));
      }
    }
  }
  await refresh();
  every(main, 2000, () => refresh().catch(e => { status.textContent = e.message; }));
});

const LOG_TAGS = ['SYSTEM', 'ADMIN', 'XMPPI', 'XMPPS', 'XMPPO'];

/* Records newest first by their time: threads write their records a moment after stamping them,
 * so the file's order is only nearly the time order (a stable sort keeps it for equal times). */
function newestFirst(records) {
  return records.slice().reverse().sort((a, b) => (a.time < b.time) - (a.time > b.time));
}

register('monitors/logs', 'monitors', async (main, params) => {
  const files = await api('logs.list');
  const file = el('select', { id: 'log-file' }, files.map(f =>
    el('option', { value: f.name }, f.name + ' (' + fmtBytes(f.size) + ')')));
  const tags = el('div', { class: 'checks', id: 'log-tags' }, LOG_TAGS.map(t =>
    el('label', {}, el('input', { type: 'checkbox', value: t, checked: true }), t)));
  const level = el('select', { id: 'log-level' }, LOG_LEVELS.slice(1).map((n, i) => el('option', { value: i }, n)));
  level.value = '5';
  const from = el('input', { id: 'log-from', placeholder: 'HH:MM', size: 8 });
  const to = el('input', { id: 'log-to', placeholder: 'HH:MM', size: 8 });
  const text = el('input', { id: 'log-text', placeholder: 'contains…' });
  // A connection's records (its id links here from the XMPP monitor: #/monitors/logs/conn/ID).
  const conn = el('input', { id: 'log-conn', placeholder: 'any', size: 8 });
  if (params && params[0] === 'conn' && /^\d+$/.test(params[1] || '')) conn.value = params[1];
  const limit = el('select', { id: 'log-limit' }, [100, 500, 2000, 5000].map(n => el('option', { value: n }, 'last ' + n)));
  limit.value = '500';
  const follow = el('input', { type: 'checkbox', id: 'log-follow' });
  const apply = el('button', { class: 'primary', type: 'submit', id: 'log-apply' }, 'Show');
  const result = el('div', { id: 'log-result' });
  const summary = el('span', { class: 'muted', id: 'log-summary' });
  const form = el('form', { class: 'filters' },
    el('label', {}, 'File', file), el('label', {}, 'Tags', tags), el('label', {}, 'Up to level', level),
    el('label', {}, 'From', from), el('label', {}, 'To', to), el('label', {}, 'Text', text),
    el('label', {}, 'Connection', conn),
    el('label', {}, 'Records', limit),
    el('label', {}, 'Follow', el('span', {}, follow)), apply);
  async function load() {
    const args = {
      file: file.value || null, level: Number(level.value), limit: Number(limit.value),
      tags: [...tags.querySelectorAll('input:checked')].map(i => i.value),
    };
    if (from.value.trim()) args.from = from.value.trim();
    if (to.value.trim()) args.to = to.value.trim();
    if (text.value.trim()) args.text = text.value.trim();
    if (/^\d+$/.test(conn.value.trim())) args.conn = Number(conn.value.trim());
    if (!args.tags.length) args.tags = ['NONE'];
    const r = await api('logs.read', args);
    summary.textContent = r.matched + ' matching records' + (r.truncated ? ', showing the last ' + r.records.length : '') +
      ', newest first';
    const body = el('tbody', { id: 'log-rows' }, newestFirst(r.records).map(x => el('tr', { class: 'l' + x.level, 'data-tag': x.tag },
      el('td', {}, x.time), el('td', {}, x.level), el('td', {}, x.tag),
      el('td', {}, x.conn !== null ? String(x.conn).padStart(6, '0') : ''),
      el('td', {}, x.peer || ''), el('td', { class: 'text' }, x.text))));
    if (!r.records.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No records match')));
    result.replaceChildren(el('div', { class: 'table-scroll' }, el('table', { class: 'log', id: 'log-table' },
      el('thead', {}, el('tr', {}, ['Time', 'Lvl', 'Tag', 'Conn', 'Peer', 'Text'].map(h => el('th', {}, h)))), body)));
  }
  form.addEventListener('submit', ev => { ev.preventDefault(); attempt(load); });
  main.replaceChildren(
    pageHead('Logs', 'The System Log: one file a day in SystemLogs/.'),
    el('section', { class: 'panel' }, form),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Records'), summary), result));
  if (files.length) await load();
  else result.replaceChildren(el('p', { class: 'empty' }, 'No log files yet'));
  every(main, 2000, () => { if (follow.checked) load().catch(() => {}); });
});
