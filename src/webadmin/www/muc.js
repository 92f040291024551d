/* muc.js: Users → Group chat (issue 20): the rooms of a domain's chat service (persistent or
 * temporary, occupants, last activity), a room's configuration, occupants (kick, ban) and
 * affiliations, destroying it with a reason, and the defaults for new rooms (muc.* settings). */
SUBNAV.users.push(['#/users/rooms', 'Group chat']);

function roomHash(domain, jid) {
  return '#/users/room/' + encodeURIComponent(domain) + '/' + encodeURIComponent(jid);
}

register('users/rooms', 'users', async (main, params) => {
  const { domain, pick } = await domainPicker('#/users/rooms/', params, 'rooms-domain');
  const rooms = await api('muc.rooms', { domain });
  rooms.sort((a, b) => a.jid.localeCompare(b.jid));
  const body = el('tbody', { id: 'room-rows' }, rooms.map(r => el('tr', { 'data-room': r.jid },
    el('td', {}, el('a', { href: roomHash(domain, r.jid) }, r.jid)), el('td', {}, r.name || ''),
    el('td', {}, el('span', { class: 'tag' + (r.persistent ? ' ok' : '') }, r.persistent ? 'persistent' : 'temporary'),
      r.locked ? el('span', { class: 'tag warn' }, 'locked') : null),
    el('td', { class: 'num' }, String(r.occupants)),
    el('td', {}, r.last_activity ? fmtTime(r.last_activity) : '—'))));
  if (!rooms.length) body.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'No rooms')));
  const sections = [
    pageHead('Group chat', 'The rooms of the chat service of ' + domain + '.'),
    el('section', { class: 'panel' }, el('label', {}, 'Domain ', pick)),
    el('section', { class: 'panel flush' }, el('table', { id: 'room-table' }, el('thead', {}, el('tr', {},
      ['Room', 'Name', 'Kind', 'Occupants', 'Last message'].map(h => el('th', {}, h)))), body)),
  ];
  if (isServerAdmin()) {
    // The defaults for new rooms are server settings (muc.*): shown here, edited in All Settings.
    const v = await api('settings.get');
    const keys = Object.keys(v).filter(k => k.startsWith('muc.'));
    sections.push(el('section', { class: 'panel', id: 'muc-defaults' }, el('h2', {}, 'Defaults for new rooms'),
      el('table', {}, el('tbody', {}, keys.map(k => el('tr', {}, el('td', { class: 'mono' }, k), el('td', {}, v[k]))))),
      el('p', {}, el('a', { href: '#/settings/all' }, 'Change them in All Settings'))));
  }
  main.replaceChildren(...sections);
});

register('users/room', 'users', async (main, params) => {
  const [domain, jid] = params;
  const r = await api('muc.room', { domain, room: jid });
  const reason = el('input', { id: 'room-reason', placeholder: 'optional', size: 40 });
  const act = (op, args, done) => attempt(async () => {
    await api(op, { domain, room: jid, ...args });
    toast(done, 'ok');
    route();
  });
  const occ = el('tbody', { id: 'occupant-rows' }, r.occupants.map(o => el('tr', { 'data-nick': o.nick },
    el('td', {}, o.nick), el('td', { class: 'mono' }, o.jid), el('td', {}, o.role), el('td', {}, o.affiliation),
    el('td', {},
      el('button', { type: 'button', class: 'kick', onclick: () => act('muc.kick', { nick: o.nick, reason: reason.value || null }, 'Kicked ' + o.nick) }, 'Kick'),
      el('button', { type: 'button', class: 'ban', onclick: () => act('muc.ban', { jid: o.jid.split('/')[0], reason: reason.value || null }, 'Banned ' + o.jid.split('/')[0]) }, 'Ban')))));
  if (!r.occupants.length) occ.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'Nobody is in the room')));
  const affs = el('tbody', { id: 'affiliation-rows' }, r.affiliations.map(a => el('tr', { 'data-jid': a.jid },
    el('td', { class: 'mono' }, a.jid), el('td', {}, a.affiliation), el('td', {}, a.nick || ''), el('td', {}, a.reason || ''))));
  const destroy = el('button', { type: 'button', class: 'danger', id: 'room-destroy' }, 'Destroy the room');
  destroy.addEventListener('click', () => attempt(async () => {
    await api('muc.destroy', { domain, room: jid, reason: reason.value || null });
    toast('Destroyed ' + jid, 'ok');
    location.hash = '#/users/rooms/' + encodeURIComponent(domain);
  }));
  const table = (head, body) => el('table', {}, el('thead', {}, el('tr', {}, head.map(h => el('th', {}, h)))), body);
  main.replaceChildren(
    pageHead(jid, (r.persistent ? 'Persistent' : 'Temporary') + ' room' + (r.locked ? ', locked (not configured yet)' : '') +
      (r.subject ? ' · subject: ' + r.subject : ''), el('a', { href: '#/users/rooms/' + encodeURIComponent(domain) }, 'All rooms')),
    el('section', { class: 'panel' }, el('label', {}, 'Reason (kick, ban, destroy) ', reason), destroy),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Occupants')),
      table(['Nick', 'Session', 'Role', 'Affiliation', ''], occ)),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Affiliations')),
      table(['JID', 'Affiliation', 'Nick', 'Reason'], affs)),
    el('section', { class: 'panel' }, el('h2', {}, 'Configuration'), el('pre', { id: 'room-config' }, r.config)));
});
