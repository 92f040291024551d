/* features.js: Users → Features (issue 20): what a domain offers — the protocols the server
 * answers (its disco#info features) and those a setting turns on or off — so an operator can
 * answer "why doesn't my client's file upload work". */
SUBNAV.users.push(['#/users/features', 'Features']);

register('users/features', 'users', async (main, params) => {
  const { domain, pick } = await domainPicker('#/users/features/', params, 'features-domain');
  const f = await api('features', { domain });
  const onOff = on => el('span', { class: 'tag ' + (on ? 'ok' : 'warn') }, on ? 'on' : 'off');
  const switches = el('tbody', { id: 'feature-switches' }, f.switches.map(s => el('tr', { 'data-what': s.what },
    el('td', {}, s.what), el('td', {}, onOff(s.on)), el('td', { class: 'mono' }, s.setting), el('td', {}, s.value))));
  const list = (id, items) => el('tbody', { id }, items.map(x => el('tr', { 'data-feature': x.feature },
    el('td', {}, x.name || ''), el('td', { class: 'mono' }, x.feature))));
  const table = (head, body) => el('table', {}, el('thead', {}, el('tr', {}, head.map(h => el('th', {}, h)))), body);
  main.replaceChildren(
    pageHead('Features', 'What ' + domain + ' offers its users and other servers.'),
    el('section', { class: 'panel' }, el('label', {}, 'Domain ', pick)),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'On or off by setting')),
      table(['Protocol', 'State', 'Setting', 'Value'], switches)),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Answered by the server (disco#info)')),
      table(['Protocol', 'Namespace'], list('features-server', f.server))),
    el('section', { class: 'panel flush' }, el('div', { class: 'panel-head' }, el('h2', {}, 'Answered for each account')),
      table(['Protocol', 'Namespace'], list('features-account', f.account))));
});
