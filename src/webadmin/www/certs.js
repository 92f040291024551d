/* certs.js: Users → Certificates (issue 20): each domain's certificate (names, validity, issuer)
 * with a warning when it expires within 30 days, and the upload of a new PEM certificate and key
 * (domain.certificate.set: checked by the server before it replaces the files). */
SUBNAV.users.push(['#/users/certificates', 'Certificates']);

function certRow(domain, c) {
  if (!c) {
    return el('tr', { 'data-domain': domain }, el('td', {}, domain),
      el('td', { colspan: 4, class: 'muted' }, 'no certificate'));
  }
  const days = Math.floor((c.not_after * 1000 - Date.now()) / 86400000);
  const state = days < 0 ? el('span', { class: 'tag warn' }, 'expired')
    : days < 30 ? el('span', { class: 'tag warn' }, 'expires in ' + days + ' days')
    : el('span', { class: 'tag tls' }, days + ' days left');
  return el('tr', { 'data-domain': domain }, el('td', {}, domain), el('td', {}, c.names || c.subject),
    el('td', {}, c.self_signed ? el('span', { class: 'tag warn' }, 'self-signed') : c.issuer),
    el('td', {}, fmtTime(c.not_after)), el('td', { class: 'cert-state' }, state));
}

/* The dashboard's warning (Monitors → XMPP): a panel naming each domain whose certificate has
 * expired or expires within 30 days, or null when none does. */
async function certWarnings() {
  const lines = [];
  for (const d of await api('domain.list')) {
    const c = await apiOptional('domain.certificate', { name: d }).catch(() => null);
    if (!c) continue;
    const days = Math.floor((c.not_after * 1000 - Date.now()) / 86400000);
    if (days < 30) {
      lines.push(el('p', {}, el('a', { href: '#/users/certificates' }, d), ': the certificate ' +
        (days < 0 ? 'has expired' : 'expires in ' + days + ' days')));
    }
  }
  return lines.length ? el('section', { class: 'panel warn', id: 'cert-warnings' }, ...lines) : null;
}

register('users/certificates', 'users', async main => {
  const domains = await api('domain.list');
  const certs = {};
  for (const d of domains) certs[d] = await apiOptional('domain.certificate', { name: d }).catch(() => null);
  const body = el('tbody', { id: 'cert-rows' }, domains.map(d => certRow(d, certs[d])));
  const table = el('table', { id: 'cert-table' }, el('thead', {}, el('tr', {},
    ['Domain', 'Names', 'Issuer', 'Valid until', 'State'].map(h => el('th', {}, h)))), body);

  const pick = el('select', { id: 'cert-domain' }, domains.map(d => el('option', { value: d }, d)));
  const cert = el('textarea', { id: 'cert-pem', rows: 6, cols: 64, placeholder: '-----BEGIN CERTIFICATE----- (then the chain)' });
  const key = el('textarea', { id: 'cert-key', rows: 4, cols: 64, placeholder: '-----BEGIN PRIVATE KEY-----' });
  const result = el('div', { id: 'cert-result' });
  const form = el('form', { class: 'filters', id: 'cert-form' },
    el('label', {}, 'Domain', pick), el('label', {}, 'Certificate (PEM)', cert),
    el('label', {}, 'Private key (PEM)', key),
    el('button', { class: 'primary', type: 'submit', id: 'cert-upload' }, 'Check and install'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    attempt(async () => {
      const r = await api('domain.certificate.set', { name: pick.value, cert: cert.value, key: key.value });
      result.replaceChildren(el('p', { class: 'ok' }, 'Installed for ' + pick.value + '; new connections use it.'),
        ...r.warnings.map(w => el('p', { class: 'warn' }, w)));
      const c = await apiOptional('domain.certificate', { name: pick.value }).catch(() => null);
      body.querySelector('tr[data-domain="' + pick.value + '"]').replaceWith(certRow(pick.value, c));
      key.value = '';
    });
  });
  main.replaceChildren(
    pageHead('Certificates', 'One PEM certificate (followed by its chain) and key per domain; its chat service uses it when it is named.'),
    el('section', { class: 'panel flush' }, table),
    el('section', { class: 'panel' }, el('h2', {}, 'Install a certificate'), form, result));
});
