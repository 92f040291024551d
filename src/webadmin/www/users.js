/* users.js: Users realm: domains, a domain's settings and accounts, an account. */
'use strict';

const LOGIN_METHODS = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN', 'LOGIN',
                       'CRAM-MD5', 'DIGEST-MD5', 'EXTERNAL'];

function domainHash(d) { return '#/users/domain/' + encodeURIComponent(d); }
function accountHash(j) { return '#/users/account/' + encodeURIComponent(j); }

function yesNoSelect(name, value, withDefault) {
  const opts = withDefault ? ['default', 'yes', 'no'] : ['yes', 'no'];
  const s = el('select', { name, id: 'f-' + name },
    opts.map(o => el('option', { value: o }, o === 'default' ? 'Default (domain)' : o === 'yes' ? 'Yes' : 'No')));
  s.value = value;
  return s;
}

register('users/domains', 'users', async main => {
  const domains = await api('domain.list');
  const body = el('tbody', { id: 'domain-rows' });
  for (const d of domains) {
    const info = await api('domain.show', { name: d });
    const remove = el('button', { class: 'danger', type: 'button' }, 'Remove');
    remove.addEventListener('click', async () => {
      if (!confirm('Remove the domain ' + d + ' with all its accounts?')) return;
      if (await attempt(() => api('domain.remove', { name: d }), 'Domain ' + d + ' removed') !== undefined) route();
    });
    body.append(el('tr', { 'data-domain': d },
      el('td', {}, el('a', { href: domainHash(d) }, d)),
      el('td', {}, info.aliases || el('span', { class: 'muted' }, '—')),
      el('td', {}, info.xmpp === 'yes' ? el('span', { class: 'tag ok' }, 'enabled') : el('span', { class: 'tag bad' }, 'disabled')),
      el('td', {}, info.auto_signup === 'yes' ? 'yes' : 'no'),
      el('td', {}, info.chat_service || ''),
      el('td', {}, isServerAdmin() ? remove : null)));
  }
  if (!domains.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No domains')));
  const name = el('input', { id: 'new-domain', placeholder: 'example.com', 'aria-label': 'New domain name' });
  const create = el('button', { class: 'primary', type: 'submit', id: 'create-domain' }, 'Create Domain');
  const form = el('form', { class: 'inline-form' }, name, create);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const n = name.value.trim();
    if (await attempt(() => api('domain.add', { name: n }), 'Domain ' + n + ' created') !== undefined) {
      location.hash = domainHash(n);
    }
  });
  main.replaceChildren(
    pageHead('Domains', 'Each domain has its accounts, login methods and policies.',
             isServerAdmin() ? form : null),
    el('section', { class: 'panel flush' }, el('table', { id: 'domains-table' },
      el('thead', {}, el('tr', {}, ['Domain', 'Aliases', 'XMPP', 'Auto Signup', 'Chat service', ''].map(h => el('th', {}, h)))),
      body)));
});

register('users/domain', 'users', async (main, params) => {
  const d = params[0];
  const info = await api('domain.show', { name: d });
  const accounts = await api('account.list', { domain: d });
  crumbs(main, el('span', { class: 'crumb' }, '›'),
    el('a', { href: domainHash(d), class: 'active' }, d));

  /* Settings */
  const methods = (info.login_methods || '').split(',').map(s => s.trim().toUpperCase());
  const checks = el('div', { class: 'checks', id: 'login-methods' }, LOGIN_METHODS.map(m =>
    el('label', {}, el('input', { type: 'checkbox', value: m, checked: methods.includes(m) }), m)));
  const fields = {
    password_storage: el('select', { id: 'f-password_storage' },
      el('option', { value: 'scram' }, 'SCRAM keys only (recommended)'),
      el('option', { value: 'clear' }, 'Clear text and SCRAM keys')),
    auto_signup: yesNoSelect('auto_signup', info.auto_signup),
    allow_modify_password: yesNoSelect('allow_modify_password', info.allow_modify_password),
    xmpp: yesNoSelect('xmpp', info.xmpp),
    chat_service: el('input', { id: 'f-chat_service', value: info.chat_service || '' }),
  };
  fields.password_storage.value = info.password_storage;
  const aliases = el('input', { id: 'f-aliases', value: info.aliases || '', placeholder: 'alias.example.com, …',
                                disabled: !isServerAdmin() });
  const extra = Object.keys(info).filter(k => !['login_methods', 'password_storage', 'auto_signup',
    'allow_modify_password', 'xmpp', 'chat_service', 'aliases'].includes(k));
  for (const k of extra) {
    fields[k] = ['yes', 'no'].includes(info[k]) ? yesNoSelect(k, info[k]) : el('input', { id: 'f-' + k, value: info[k] });
  }
  const labels = { password_storage: 'Password storage', auto_signup: 'Auto Signup',
                   allow_modify_password: 'Allow to Modify Password', xmpp: 'XMPP service',
                   chat_service: 'Chat service', allow_cancel: 'Allow to Cancel Account',
                   signup_invite_only: 'Signup by Invitation Only',
                   s2s_blocked: 'Federation: blocked domains', s2s_allowed: 'Federation: only with' };
  // The domain's own federation lists (issue 20), applied with the server's xmpp.s2s_blocked / allowed.
  const hints = { s2s_blocked: 'Remote domains (and their subdomains) this domain does not federate with',
                  s2s_allowed: 'If set, the only remote domains this domain federates with' };
  for (const k of Object.keys(hints)) if (fields[k]) fields[k].placeholder = 'spam.example, …';
  const form = el('div', { class: 'form' }, el('label', {}, 'Login Methods'),
                  el('div', { class: 'wide' }, checks));
  for (const [k, input] of Object.entries(fields)) {
    form.append(el('label', { for: input.id }, labels[k] || k.replace(/_/g, ' ')), input,
                el('span', hints[k] ? { class: 'hint' } : {}, hints[k] || ''));
  }
  form.append(el('label', { for: 'f-aliases' }, 'Aliases'), aliases,
              el('span', { class: 'hint' }, 'Other names of this domain, comma separated'));
  form.append(el('label', {}, 'Certificate'), await certificateInfo(d));
  const save = el('button', { class: 'primary', type: 'button', id: 'save-domain' }, 'Update');
  save.addEventListener('click', async () => {
    const settings = {};
    const m = [...checks.querySelectorAll('input:checked')].map(i => i.value).join(',');
    if (m !== info.login_methods) settings.login_methods = m;
    for (const [k, input] of Object.entries(fields)) if (input.value !== (info[k] || '')) settings[k] = input.value;
    if (isServerAdmin() && aliases.value.trim() !== (info.aliases || '')) settings.aliases = aliases.value.trim();
    if (!Object.keys(settings).length) { toast('Nothing to update'); return; }
    if (await attempt(() => api('domain.set', { name: d, settings }), 'Domain updated') !== undefined) route();
  });

  /* Accounts: searched by name, with when each was last seen and its offline messages (issue 20) */
  const body = el('tbody', { id: 'account-rows' });
  const search = el('input', { id: 'account-search', type: 'search', placeholder: 'search…', 'aria-label': 'Search accounts' });
  async function fillAccounts() {
    const rows = await apiOptional('account.overview', { domain: d, search: search.value.trim() || null }) ||
      accounts.map(jid => ({ jid, last_seen: 0, last_login: 0, offline: 0 }));
    body.replaceChildren(...rows.map(r => {
      const remove = el('button', { class: 'danger', type: 'button' }, 'Remove');
      remove.addEventListener('click', async () => {
        if (!confirm('Remove the account ' + r.jid + '?')) return;
        if (await attempt(() => api('account.remove', { jid: r.jid }), r.jid + ' removed') !== undefined) route();
      });
      return el('tr', { 'data-jid': r.jid }, el('td', {}, el('a', { href: accountHash(r.jid) }, r.jid)),
        el('td', { class: 'last-seen' }, r.last_seen ? fmtTime(r.last_seen) : '—'),
        el('td', { class: 'last-login', title: r.last_login_address || '' },
           r.last_login ? fmtTime(r.last_login) + (r.last_login_address ? ' from ' + r.last_login_address : '') : '—'),
        el('td', { class: 'num offline' }, String(r.offline)), el('td', {}, remove));
    }));
    if (!rows.length) body.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, accounts.length ? 'No account matches' : 'No accounts yet')));
  }
  search.addEventListener('input', () => fillAccounts().catch(e => toast(e.message, 'error')));
  await fillAccounts();
  const uname = el('input', { id: 'new-account', placeholder: 'name', 'aria-label': 'Account name' });
  const upass = el('input', { id: 'new-password', type: 'password', placeholder: 'password', 'aria-label': 'Password',
                              autocomplete: 'new-password' });
  const addForm = el('form', { class: 'inline-form' }, uname, el('span', { class: 'muted' }, '@' + d), upass,
                     el('button', { class: 'primary', type: 'submit', id: 'create-account' }, 'Create Account'));
  addForm.addEventListener('submit', async ev => {
    ev.preventDefault();
    const jid = uname.value.trim() + '@' + d;
    if (await attempt(() => api('account.add', { jid, password: upass.value }), jid + ' created') !== undefined) route();
  });

  const pubsub = await pubsubPanel(d);
  const invites = await invitePanel(d);
  main.replaceChildren(
    pageHead(d, 'Domain settings and accounts.'),
    el('div', { class: 'grid2' },
      el('section', { class: 'panel' }, el('h2', {}, 'Domain Settings'), form,
         el('div', { class: 'form-actions' }, save)),
      el('section', { class: 'panel' },
         el('div', { class: 'panel-head' }, el('h2', {}, 'Accounts (' + accounts.length + ')')),
         addForm, search, el('table', { id: 'accounts-table' }, el('thead', {}, el('tr', {},
           ['Account', 'Last seen', 'Last login', 'Offline messages', ''].map(h => el('th', {}, h)))), body))),
    invites, pubsub || '');
});

/* Where invited people open a landing page: the user-facing HTTP listener (http.public_url, or
 * its first HTTPS socket on this host); null when it has no socket (no landing pages then). */
async function inviteBase() {
  const pub = await apiOptional('settings.get', { key: 'http.public_url' });
  if (pub) return pub;
  const rows = parseListener(await apiOptional('settings.get', { key: 'http.listener' }));
  if (!rows.length) return null;
  const r = rows.find(x => x.tls) || rows[0];
  const host = r.address && r.address !== '0.0.0.0' && r.address !== '::' ? r.address : location.hostname;
  return (r.tls ? 'https://' : 'http://') + (host.includes(':') ? '[' + host + ']' : host) + ':' + r.port;
}

function inviteLink(base, token, attrs, text) {
  return base ? el('a', Object.assign({ href: base + '/invite/' + token, target: '_blank', rel: 'noopener' }, attrs), text)
              : el('span', attrs, text);
}

/* Invitations of the domain (XEP-0401): create one (uses, link to its landing page), list, revoke. */
async function invitePanel(d) {
  const base = await inviteBase();
  const rows = el('tbody', { id: 'invite-rows' });
  const result = el('div', { id: 'invite-result' });
  const uses = el('input', { id: 'invite-uses', type: 'number', min: 1, max: 1000, value: 1, 'aria-label': 'Uses' });
  const create = el('button', { class: 'primary', type: 'button', id: 'create-invite' }, 'Create Invitation');
  async function refresh() {
    const list = (await apiOptional('invite.list', { domain: d })) || [];
    rows.replaceChildren(...list.map(i => {
      const revoke = el('button', { class: 'danger', type: 'button' }, 'Revoke');
      revoke.addEventListener('click', async () => {
        if (await attempt(() => api('invite.revoke', { domain: d, token: i.token }), 'Invitation revoked') !== undefined) refresh();
      });
      return el('tr', { 'data-token': i.token }, el('td', {}, inviteLink(base, i.token, {}, i.token)),
        el('td', {}, i.inviter || 'administrator'), el('td', { class: 'num' }, String(i.uses)), el('td', {}, fmtTime(i.expires)),
        el('td', {}, revoke));
    }));
    if (!list.length) rows.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'No invitations')));
  }
  create.addEventListener('click', async () => {
    const r = await attempt(() => api('invite', { domain: d, uses: parseInt(uses.value, 10) || 1 }), 'Invitation created');
    if (r === undefined) return;
    result.replaceChildren(el('code', { id: 'invite-uri' }, r.uri), ' ',
      inviteLink(base, r.token, { id: 'invite-link' }, base ? 'landing page' : 'no landing page: http.listener has no socket'));
    refresh();
  });
  await refresh();
  return el('section', { class: 'panel', id: 'invitations' }, el('h2', {}, 'Invitations'),
    el('div', { class: 'inline-form' }, el('label', { for: 'invite-uses' }, 'Uses'), uses, create), result,
    el('table', {}, el('thead', {}, el('tr', {}, ['Token', 'Inviter', 'Uses left', 'Valid until', ''].map(h => el('th', {}, h)))), rows));
}

/* The account's devices: XEP-0388 user agents and their FAST tokens (XEP-0484), with revoke. */
async function devicesPanel(jid) {
  const rows = el('tbody', { id: 'device-rows' });
  async function refresh() {
    const list = (await apiOptional('account.devices', { jid })) || [];
    rows.replaceChildren(...list.map(dv => {
      const revoke = el('button', { class: 'danger', type: 'button', disabled: !dv.tokens }, 'Revoke');
      revoke.addEventListener('click', async () => {
        if (await attempt(() => api('account.device_revoke', { jid, agent: dv.agent }), 'Device revoked') !== undefined) refresh();
      });
      return el('tr', { 'data-agent': dv.agent }, el('td', {}, dv.software || ''), el('td', {}, dv.device || ''),
        el('td', {}, fmtTime(dv.last_seen)), el('td', {}, dv.tokens ? 'until ' + fmtTime(dv.token_expires) : 'none'),
        el('td', {}, revoke));
    }));
    if (!list.length) rows.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'No SASL2 logins yet')));
  }
  await refresh();
  return el('section', { class: 'panel', id: 'devices' }, el('h2', {}, 'Devices'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Software', 'Device', 'Last login', 'FAST token', ''].map(h => el('th', {}, h)))), rows));
}

function sessionsTable(rows) {
  const body = el('tbody', { id: 'session-rows' });
  for (const c of rows) {
    body.append(el('tr', {},
      el('td', {}, c.jid || ''), el('td', {}, c.peer), el('td', {}, c.tls ? el('span', { class: 'tag tls' }, c.tls) : 'clear'),
      el('td', {}, c.mechanism || ''), el('td', {}, fmtAge(c.since)),
      el('td', { class: 'num' }, c.stanzas_in + ' / ' + c.stanzas_out)));
  }
  if (!rows.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'Not connected')));
  return el('table', { id: 'sessions-table' }, el('thead', {}, el('tr', {},
    ['Resource', 'Address', 'TLS', 'Login', 'Connected', 'Stanzas in / out'].map(h => el('th', {}, h)))), body);
}

/* The domain's certificate: who it names, who issued it, until when, and its fingerprint. */
async function certificateInfo(domain) {
  let c = null;
  try {
    c = await apiOptional('domain.certificate', { name: domain });
  } catch (e) {
    return el('span', { class: 'wide error', id: 'cert-info' }, e.message);
  }
  if (!c) return el('span', { class: 'wide muted', id: 'cert-info' }, 'No certificate (one is generated at the next start)');
  const days = Math.floor((c.not_after * 1000 - Date.now()) / 86400000);
  return el('div', { class: 'wide', id: 'cert-info' },
    el('div', {}, c.subject, c.self_signed ? el('span', { class: 'tag' }, 'self-signed') : ' — issued by ' + c.issuer),
    el('div', { class: 'muted' }, 'Names: ' + (c.names || '—') + ' · valid until ' + fmtTime(c.not_after) +
       (days < 30 ? ' (' + days + ' days left!)' : '')),
    el('code', { class: 'muted' }, 'SHA-256 ' + c.fingerprint_sha256));
}

/* The account's roster (contacts, subscription states, groups). */
async function rosterPanel(jid) {
  for (const op of ['account.roster']) {
    let items;
    try {
      items = await apiOptional(op, { jid });
    } catch (e) {
      return el('section', { class: 'panel' }, el('h2', {}, 'Roster'), el('p', { class: 'error' }, e.message));
    }
    if (items === null) continue;
    const list = Array.isArray(items) ? items : (items.items || []);
    const body = el('tbody', {}, list.map(i => el('tr', {}, el('td', {}, i.jid), el('td', {}, i.name || ''),
      el('td', {}, i.subscription || ''), el('td', {}, (i.groups || []).join(', ')))));
    if (!list.length) body.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No contacts')));
    return el('section', { class: 'panel', id: 'roster' }, el('h2', {}, 'Roster (' + list.length + ')'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Contact', 'Name', 'Subscription', 'Groups'].map(h => el('th', {}, h)))), body));
  }
  return null;
}

function fmtBytes(n) {
  return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB';
}

/* The account's personal eventing nodes (XEP-0163): names, item counts, sizes. */
async function pepPanel(jid) {
  let nodes;
  try {
    nodes = await apiOptional('account.pep', { jid });
  } catch (e) {
    return el('section', { class: 'panel' }, el('h2', {}, 'PEP nodes'), el('p', { class: 'error' }, e.message));
  }
  if (nodes === null) return null;
  const body = el('tbody', { id: 'pep-rows' }, nodes.map(n => el('tr', {}, el('td', {}, n.node),
    el('td', {}, String(n.items)), el('td', {}, fmtBytes(n.bytes)))));
  if (!nodes.length) body.append(el('tr', {}, el('td', { colspan: 3, class: 'empty' }, 'No nodes')));
  return el('section', { class: 'panel', id: 'pep' }, el('h2', {}, 'PEP nodes (' + nodes.length + ')'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Node', 'Items', 'Size'].map(h => el('th', {}, h)))), body));
}

/* The nodes of the domain's publish-subscribe service, each deletable. */
async function pubsubPanel(domain) {
  let svc;
  try {
    svc = await apiOptional('pubsub.nodes', { domain });
  } catch (e) {
    return el('section', { class: 'panel' }, el('h2', {}, 'Publish-subscribe'), el('p', { class: 'error' }, e.message));
  }
  if (svc === null) return null;
  const body = el('tbody', { id: 'pubsub-rows' });
  for (const n of svc.nodes) {
    const del = el('button', { class: 'danger', type: 'button' }, 'Delete');
    del.addEventListener('click', async () => {
      if (!confirm('Delete the node ' + n.node + ' with its items?')) return;
      if (await attempt(() => api('pubsub.delete', { domain, node: n.node }), n.node + ' deleted') !== undefined) route();
    });
    body.append(el('tr', { 'data-node': n.node }, el('td', {}, n.node), el('td', {}, String(n.items)),
      el('td', {}, fmtBytes(n.bytes)), el('td', {}, del)));
  }
  if (!svc.nodes.length) body.append(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No nodes')));
  return el('section', { class: 'panel', id: 'pubsub' }, el('h2', {}, 'Publish-subscribe: ' + svc.service + ' (' + svc.nodes.length + ')'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Node', 'Items', 'Size', ''].map(h => el('th', {}, h)))), body));
}

register('users/account', 'users', async (main, params) => {
  const jid = params[0];
  const domain = jid.split('@')[1];
  const info = await api('account.show', { jid });
  crumbs(main, el('span', { class: 'crumb' }, '›'),
    el('a', { href: domainHash(domain) }, domain), el('span', { class: 'crumb' }, '›'),
    el('a', { href: accountHash(jid), class: 'active' }, jid.split('@')[0]));
  const fields = {
    real_name: el('input', { id: 'f-real_name', value: info.real_name || '' }),
    disabled: yesNoSelect('disabled', info.disabled),
    secure_method_required: yesNoSelect('secure_method_required', info.secure_method_required),
    auto_signup: yesNoSelect('auto_signup', info.auto_signup, true),
    allow_modify_password: yesNoSelect('allow_modify_password', info.allow_modify_password, true),
    domain_admin: yesNoSelect('domain_admin', info.domain_admin || 'no'),
  };
  if (isServerAdmin()) fields.admin = yesNoSelect('admin', info.admin);
  const labels = { real_name: 'Real name', disabled: 'Account disabled', secure_method_required: 'Secure login required',
                   auto_signup: 'Auto Signup', allow_modify_password: 'Allow to Modify Password',
                   domain_admin: 'Domain administrator', admin: 'Server administrator' };
  const form = el('div', { class: 'form' });
  for (const [k, input] of Object.entries(fields)) form.append(el('label', { for: input.id }, labels[k]), input, el('span'));
  form.append(el('label', {}, 'Created'), el('span', { class: 'muted' }, info.created || ''), el('span'));
  const save = el('button', { class: 'primary', type: 'button', id: 'save-account' }, 'Update');
  save.addEventListener('click', async () => {
    const settings = {};
    for (const [k, input] of Object.entries(fields)) if (input.value !== (info[k] || (k === 'domain_admin' ? 'no' : ''))) settings[k] = input.value;
    if (!Object.keys(settings).length) { toast('Nothing to update'); return; }
    if (await attempt(() => api('account.set', { jid, settings }), 'Account updated') !== undefined) route();
  });
  const pw = el('input', { type: 'password', id: 'reset-password', placeholder: 'new password', autocomplete: 'new-password',
                           'aria-label': 'New password' });
  const pwForm = el('form', { class: 'inline-form' }, pw, el('button', { type: 'submit', id: 'reset-submit' }, 'Reset Password'));
  pwForm.addEventListener('submit', async ev => {
    ev.preventDefault();
    if (await attempt(() => api('account.passwd', { jid, password: pw.value }), 'Password changed') !== undefined) pw.value = '';
  });

  const sessionsBox = el('div', { id: 'sessions' });
  const disconnect = el('button', { class: 'danger', type: 'button', id: 'disconnect' }, 'Disconnect');
  disconnect.addEventListener('click', async () => {
    if (await attempt(() => api('account.disconnect', { jid }), 'Sessions of ' + jid + ' ended') !== undefined) {
      setTimeout(refreshSessions, 500);
    }
  });
  async function refreshSessions() {
    const rows = await api('account.sessions', { jid });
    sessionsBox.replaceChildren(sessionsTable(rows));
    disconnect.disabled = !rows.length;
  }
  await refreshSessions();
  every(main, 3000, () => refreshSessions().catch(() => {}));

  const roster = await rosterPanel(jid);
  const pep = await pepPanel(jid);
  const devices = await devicesPanel(jid);
  main.replaceChildren(
    pageHead(jid, info.real_name || 'Account'),
    el('div', { class: 'grid2' },
      el('section', { class: 'panel' }, el('h2', {}, 'Settings'), form, el('div', { class: 'form-actions' }, save)),
      el('div', {},
        el('section', { class: 'panel', id: 'activity' }, el('h2', {}, 'Activity'),
          el('p', {}, 'Last login: ', el('span', { id: 'last-login' }, info.last_login
            ? fmtTime(info.last_login) + (info.last_login_address ? ' from ' + info.last_login_address : '') : 'never')),
          el('p', {}, 'Last seen: ', el('span', { id: 'last-seen' }, info.last_seen ? fmtTime(info.last_seen) : '—'))),
        el('section', { class: 'panel' }, el('h2', {}, 'Password'), pwForm),
        el('section', { class: 'panel' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Sessions'),
                                                   el('div', { class: 'actions' }, disconnect)), sessionsBox))),
    roster, devices, pep || '');
});
