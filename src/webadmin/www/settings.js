/* settings.js: Settings realm: XMPP Receiving, Listener, Sending, WebAdmin, All Settings. */
'use strict';

const LOG_LEVELS = ['None', 'Crash', 'Failures', 'Major', 'Problems', 'Low-Level', 'All Info'];

/* One input for a setting. kind: level | int | bool | text | choice. */
function settingInput(key, kind, value, choices) {
  let input;
  if (kind === 'level' || kind === 'choice' || kind === 'bool') {
    const opts = kind === 'level' ? LOG_LEVELS : kind === 'bool' ? ['yes', 'no'] : choices;
    input = el('select', { name: key, id: 'f-' + key },
      opts.map(o => el('option', { value: o }, kind === 'bool' ? (o === 'yes' ? 'Yes' : 'No') : o)));
  } else {
    input = el('input', { name: key, id: 'f-' + key, type: kind === 'int' ? 'number' : 'text',
                          min: kind === 'int' ? 0 : null });
  }
  input.value = value;
  input.dataset.initial = value;
  input.addEventListener('input', () => {
    input.classList.toggle('changed', input.value !== input.dataset.initial);
    input.classList.remove('invalid');
  });
  return input;
}

/* A form of settings; fields: [key, label, kind, hint, choices]. Saves the changed ones. */
function settingsPanel(title, fields, values, after) {
  const inputs = {};
  const form = el('div', { class: 'form' });
  for (const [key, label, kind, hint, choices] of fields) {
    const input = settingInput(key, kind, values[key] === undefined ? '' : values[key], choices);
    inputs[key] = input;
    form.append(el('label', { for: input.id }, label), input, el('span', { class: 'hint' }, hint || ''));
  }
  const save = el('button', { class: 'primary', type: 'button', id: 'save-settings' }, 'Update');
  const reset = el('button', { type: 'button' }, 'Reset');
  save.addEventListener('click', async () => {
    let changed = 0;
    for (const [key, input] of Object.entries(inputs)) {
      if (input.value === input.dataset.initial) continue;
      try {
        await api('settings.set', { key, value: input.value });
        input.dataset.initial = input.value;
        input.classList.remove('changed');
        changed++;
      } catch (e) {
        input.classList.add('invalid');
        toast(e.message, 'error');
        return;
      }
    }
    toast(changed ? 'Settings updated and applied' : 'Nothing to update', changed ? 'ok' : '');
    if (after) after();
  });
  reset.addEventListener('click', () => {
    for (const input of Object.values(inputs)) {
      input.value = input.dataset.initial;
      input.classList.remove('changed', 'invalid');
    }
  });
  return el('section', { class: 'panel' }, el('h2', {}, title), form,
            el('div', { class: 'form-actions' }, save, reset));
}

/* ---- listener sockets: "[address:]port[/tls], …" ---- */

function parseListener(text) {
  return (text || '').split(',').map(s => s.trim()).filter(Boolean).map(item => {
    let tls = false;
    if (/\/tls$/i.test(item)) { tls = true; item = item.slice(0, -4); }
    let address = '';
    let port = item;
    const v6 = item.match(/^\[([^\]]+)\]:(\d+)$/);
    if (v6) { address = v6[1]; port = v6[2]; }
    else if (item.includes(':')) { [address, port] = item.split(':'); }
    return { address, port: port, tls };
  });
}

function formatListener(rows) {
  return rows.map(r => {
    const addr = r.address ? (r.address.includes(':') ? '[' + r.address + ']:' : r.address + ':') : '';
    return addr + r.port + (r.tls ? '/tls' : '');
  }).join(', ');
}

/* The Listener table (CommuniGate style): a new row with a port adds a socket, port 0 removes. */
async function listenerPage(main, key, title, clearLabel, tlsLabel, intro) {
  const value = await api('settings.get', { key });
  const rows = parseListener(value);
  const body = el('tbody', { id: 'listener-rows' });
  const rowEl = (r, isNew) => el('tr', { class: isNew ? 'new-row' : '' },
    el('td', {}, el('input', { type: 'number', min: 0, max: 65535, class: 'port', value: r.port,
                               placeholder: isNew ? 'new port' : '', 'aria-label': 'Port' })),
    el('td', {}, el('input', { class: 'address', value: r.address, placeholder: 'all addresses',
                               'aria-label': 'Address' })),
    el('td', {}, el('select', { class: 'security', 'aria-label': 'Security' },
      el('option', { value: 'clear' }, clearLabel), el('option', { value: 'tls' }, tlsLabel))));
  rows.forEach(r => {
    const tr = rowEl(r, false);
    tr.querySelector('select').value = r.tls ? 'tls' : 'clear';
    body.append(tr);
  });
  body.append(rowEl({ port: '', address: '', tls: false }, true));
  const save = el('button', { class: 'primary', id: 'save-listener', type: 'button' }, 'Update');
  save.addEventListener('click', async () => {
    const out = [];
    for (const tr of body.querySelectorAll('tr')) {
      const port = tr.querySelector('.port').value.trim();
      if (port === '' || port === '0') continue;
      out.push({ port, address: tr.querySelector('.address').value.trim(),
                 tls: tr.querySelector('.security').value === 'tls' });
    }
    const ok = await attempt(() => api('settings.set', { key, value: formatListener(out) }),
                             'Listener updated');
    if (ok !== undefined) route();
  });
  main.replaceChildren(
    pageHead(title, intro),
    el('section', { class: 'panel flush' },
      el('table', { id: 'listener-table' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Port'), el('th', {}, 'Address'),
                                      el('th', {}, 'Security'))), body)),
    el('p', { class: 'muted' }, 'Type a port in the last row to add a socket; set a port to 0 to remove its socket. ',
       'Changes apply at once and are kept across restarts.'),
    el('div', { class: 'form-actions' }, save, el('code', { class: 'muted' }, key + ' = ' + value)));
}

register('settings/xmpp/receiving', 'settings', async main => {
  const v = await api('settings.get');
  main.replaceChildren(
    pageHead('XMPP Receiving', 'Incoming connections from clients and servers.',
             el('a', { href: '#/settings/xmpp/listener', id: 'listener-link' }, 'Listener…')),
    settingsPanel('Processing', [
      ['xmpp.receiving.log_level', 'Log Level', 'level', 'XMPPI and XMPPS records in the System Log'],
      ['xmpp.receiving.channels', 'Channels', 'int', 'Simultaneous incoming connections; 0 closes the listener'],
      ['xmpp.receiving.per_address_limit', 'Per-address limit', 'int', 'Connections from one remote address; 0 = no limit'],
      ['xmpp.receiving.require_tls', 'Require TLS', 'bool', 'Before authentication'],
      ['xmpp.receiving.max_stanza_size', 'Maximum stanza size', 'int', 'Bytes; a larger stanza ends the stream'],
      ['xmpp.receiving.max_depth', 'Maximum element depth', 'int', 'Nesting of XML elements'],
      ['xmpp.receiving.send_queue_limit', 'Send queue limit', 'int', 'Bytes waiting for a slow peer before it is dropped'],
      ['xmpp.receiving.auth_timeout', 'Login time limit', 'int', 'Seconds to authenticate'],
      ['xmpp.receiving.max_auth_failures', 'Failed logins per stream', 'int', 'Then the stream is closed'],
      ['xmpp.receiving.auth_failure_delay', 'Failed login delay', 'int', 'Milliseconds, doubling with each failure'],
      ['xmpp.receiving.ping_interval', 'Ping silent clients after', 'int', 'Seconds; 0 = never'],
    ], v),
    federationPanel(v, [['xmpp.receiving.dialback', 'Accept dialback', 'bool', 'Servers may authenticate by Server Dialback']]));
});

/* Federation (issue 20): dialback, time limits, DNS and the allow and block lists, applied live. */
function federationPanel(v, fields) {
  const panel = settingsPanel('Federation', fields.concat([
    ['xmpp.s2s_blocked', 'Blocked domains', 'text', 'Comma list, subdomains included: refused, their links closed at once'],
    ['xmpp.s2s_allowed', 'Allowed domains', 'text', 'When not empty, the only domains this server federates with'],
  ]), v);
  panel.querySelector('#save-settings').id = 'save-federation';
  return panel;
}

register('settings/xmpp/listener', 'settings', main =>
  listenerPage(main, 'xmpp.listener', 'XMPP Listener', 'Clear text / STARTTLS', 'TLS (direct)',
               'The sockets that accept client and server connections.'));

register('settings/xmpp/sending', 'settings', async main => {
  const v = await api('settings.get');
  const routes = (v['xmpp.sending.routes'] || '').split(',').map(s => s.trim()).filter(Boolean);
  const body = el('tbody', { id: 'route-rows' });
  const row = (dom, dest) => el('tr', {},
    el('td', {}, el('input', { class: 'rdomain', value: dom, placeholder: 'remote domain', 'aria-label': 'Domain' })),
    el('td', {}, el('input', { class: 'rdest', value: dest, placeholder: 'host:5269', 'aria-label': 'Relay' })));
  for (const r of routes) {
    const [dom, dest] = r.split('=');
    body.append(row(dom, dest));
  }
  body.append(row('', ''));
  const saveRoutes = el('button', { class: 'primary', type: 'button', id: 'save-routes' }, 'Update');
  saveRoutes.addEventListener('click', async () => {
    const out = [];
    for (const tr of body.querySelectorAll('tr')) {
      const d = tr.querySelector('.rdomain').value.trim();
      const h = tr.querySelector('.rdest').value.trim();
      if (d && h) out.push(d + '=' + h);
    }
    const ok = await attempt(() => api('settings.set', { key: 'xmpp.sending.routes', value: out.join(', ') }),
                             'Routes updated');
    if (ok !== undefined) route();
  });
  main.replaceChildren(
    pageHead('XMPP Sending', 'Outgoing server-to-server connections.'),
    settingsPanel('Processing', [
      ['xmpp.sending.log_level', 'Log Level', 'level', 'XMPPO records in the System Log'],
      ['xmpp.sending.max_connections', 'Outgoing connections', 'int', 'Simultaneous server-to-server connections'],
      ['xmpp.sending.idle_timeout', 'Keep idle connections', 'int', 'Seconds with nothing to send'],
      ['xmpp.sending.connect_timeout', 'Connect time limit', 'int', 'Seconds to connect and set up the stream'],
      ['xmpp.sending.response_timeout', 'Response time limit', 'int', 'Seconds to wait for the remote server'],
    ], v),
    federationPanel(v, [
      ['xmpp.sending.dialback', 'Use dialback', 'bool', 'When SASL EXTERNAL is not possible'],
      ['xmpp.sending.queue_timeout', 'Queue time limit', 'int', 'Seconds a stanza may wait before it is bounced'],
      ['xmpp.sending.dns_servers', 'DNS servers', 'text', 'Comma list of ip[:port]; empty = the system\'s resolver'],
    ]),
    el('section', { class: 'panel' },
      el('h2', {}, 'Static routes'),
      el('p', { class: 'muted' }, 'Used instead of DNS SRV records. Clear a row to remove its route.'),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Domain'), el('th', {}, 'Relay (host:port)'))), body),
      el('div', { class: 'form-actions' }, saveRoutes)));
});

register('settings/webadmin', 'settings', async main => {
  const v = await api('settings.get');
  await listenerPage(main, 'webadmin.listener', 'WebAdmin', 'HTTP', 'HTTPS',
                     'The sockets of this web interface. HTTPS uses the main domain\'s certificate.');
  main.append(settingsPanel('Access', [
    ['webadmin.session_timeout', 'Session idle timeout', 'int', 'Seconds without a request before a new login is needed'],
    ['webadmin.metrics', 'Metrics (/metrics)', 'choice', 'OpenMetrics counters for Prometheus', ['off', 'local', 'on']],
  ], v));
});

register('settings/all', 'settings', async main => {
  const v = await api('settings.get');
  const filter = el('input', { placeholder: 'Filter settings', id: 'settings-filter' });
  const body = el('tbody');
  for (const [key, value] of Object.entries(v)) {
    const input = el('input', { value, 'aria-label': key });
    const save = el('button', { type: 'button' }, 'Save');
    save.addEventListener('click', () => attempt(() => api('settings.set', { key, value: input.value }), key + ' updated'));
    body.append(el('tr', { 'data-key': key }, el('td', {}, el('code', {}, key)), el('td', {}, input), el('td', {}, save)));
  }
  filter.addEventListener('input', () => {
    for (const tr of body.querySelectorAll('tr')) tr.hidden = !tr.dataset.key.includes(filter.value.trim());
  });
  main.replaceChildren(pageHead('All Settings', 'Every server setting; docs/settings.md describes them.', filter),
    el('section', { class: 'panel flush' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, 'Setting'), el('th', {}, 'Value'), el('th', {}, ''))), body)));
});
