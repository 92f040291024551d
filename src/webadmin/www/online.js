/* online.js: Users → Online (issue 20): a domain's online sessions (users.online) and an
 * announcement to every online user of the domain or of the server (announce, announce.all). */
SUBNAV.users.push(['#/users/online', 'Online']);

/* The domain a per-domain page shows (its hash's parameter, else the administrator's own, else
 * the first) and a picker that moves to `base`/<domain>; also used by features.js. */
async function domainPicker(base, params, id) {
  const domains = await api('domain.list');
  const domain = params[0] || WA.me.domain || domains[0] || '';
  const pick = el('select', { id }, domains.map(d => el('option', { value: d }, d)));
  pick.value = domain;
  pick.addEventListener('change', () => { location.hash = base + encodeURIComponent(pick.value); });
  return { domain, pick };
}

register('users/online', 'users', async (main, params) => {
  const { domain, pick } = await domainPicker('#/users/online/', params, 'online-domain');
  const count = el('span', { class: 'muted', id: 'online-count' });
  const table = el('div', { id: 'online-result' });

  async function load() {
    const rows = await api('users.online', { domain });
    rows.sort((a, b) => (a.jid + '/' + a.resource).localeCompare(b.jid + '/' + b.resource));
    const accounts = new Set(rows.map(r => r.jid));
    const detached = rows.filter(r => r.state === 'detached').length;
    count.textContent = accounts.size + (accounts.size === 1 ? ' account, ' : ' accounts, ') +
      rows.length + (rows.length === 1 ? ' session' : ' sessions') + (detached ? ' (' + detached + ' detached)' : '');
    const body = el('tbody', { id: 'online-rows' }, rows.map(r => el('tr', { 'data-jid': r.jid + '/' + r.resource },
      el('td', {}, el('a', { href: '#/users/account/' + encodeURIComponent(r.jid) }, r.jid)),
      el('td', {}, r.resource),
      el('td', { class: 'client' }, r.client || '—'),
      el('td', { class: 'mono' }, r.peer || '—'),
      el('td', {}, r.state === 'detached' ? el('span', { class: 'tag', title: 'Waiting for its client to resume (XEP-0198)' }, 'detached')
        : r.tls ? el('span', { class: 'tag tls' }, r.tls) : el('span', { class: 'tag warn' }, 'clear')),
      el('td', {}, fmtAge(r.since)),
      el('td', {}, el('a', { href: '#/monitors/logs/conn/' + r.id }, 'log')))));
    if (!rows.length) body.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'Nobody is online')));
    table.replaceChildren(el('table', { id: 'online-table' }, el('thead', {}, el('tr', {},
      ['Account', 'Resource', 'Client', 'Address', 'TLS', 'Online for', 'Records'].map(h => el('th', {}, h)))), body));
  }

  const subject = el('input', { id: 'announce-subject', placeholder: 'optional' });
  const text = el('textarea', { id: 'announce-text', rows: 3, cols: 60, required: true });
  const all = el('input', { type: 'checkbox', id: 'announce-all' });
  const result = el('span', { class: 'muted', id: 'announce-result' });
  const form = el('form', { class: 'filters', id: 'announce-form' },
    el('label', {}, 'Subject', subject), el('label', {}, 'Announcement', text),
    isServerAdmin() ? el('label', {}, 'To every domain', el('span', {}, all)) : null,
    el('button', { class: 'primary', type: 'submit', id: 'announce-send' }, 'Send to online users'), result);
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    attempt(async () => {
      const args = { text: text.value };
      if (subject.value.trim()) args.subject = subject.value.trim();
      const r = all.checked ? await api('announce.all', args) : await api('announce', { ...args, domain });
      result.textContent = 'Sent to ' + r.recipients + (r.recipients === 1 ? ' user' : ' users');
    });
  });

  main.replaceChildren(
    pageHead('Online users', 'Sessions of a domain; an announcement reaches every online user (XEP-0133).'),
    el('section', { class: 'panel' }, el('label', {}, 'Domain ', pick)),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Sessions'), count), table),
    el('section', { class: 'panel' }, el('h2', {}, 'Announcement'), form));
  if (domain) await load();
  every(main, 3000, () => load().catch(() => {}));
});
