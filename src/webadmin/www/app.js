/* app.js: the WebAdmin shell: API calls, login, realms and pages, small DOM helpers. */
'use strict';

const WA = {
  me: null,          /* {jid, role, domain, csrf, server} */
  pages: {},         /* route prefix -> {realm, render(params)} */
  timers: [],        /* intervals of the current page, cleared on navigation */
  unknownOps: {},    /* ops the server does not have (feature detection) */
};

/* ---- DOM ---- */

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value' && tag === 'input') e.setAttribute('value', v);
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = !!v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function toast(text, kind) {
  const t = el('div', { class: 'toast ' + (kind || '') , role: 'status' }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 7000 : 3500);
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

function fmtAge(since) {
  let s = Math.max(0, Math.floor(Date.now() / 1000 - since));
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + s + 's';
  return s + 's';
}

function fmtTime(unix) {
  return new Date(unix * 1000).toLocaleString();
}

/* ---- API ---- */

class ApiError extends Error {
  constructor(resp, status) {
    super(resp.error || 'request failed');
    this.code = resp.code;
    this.status = status;
  }
}

async function api(op, args) {
  const headers = { 'Content-Type': 'application/json' };
  if (WA.me) headers['X-CSRF-Token'] = WA.me.csrf;
  const r = await fetch('/api', {
    method: 'POST', headers, credentials: 'same-origin',
    body: JSON.stringify({ op, args: args || {} }),
  });
  let body;
  try {
    body = await r.json();
  } catch (e) {
    throw new ApiError({ error: 'the server answered ' + r.status }, r.status);
  }
  if (r.status === 401 && op !== 'login') {
    WA.me = null;
    showLogin('Your session ended; please log in again.');
  }
  if (!body.ok) {
    if (body.code === 'notfound' && /^unknown op/.test(body.error)) WA.unknownOps[op] = true;
    throw new ApiError(body, r.status);
  }
  return body.result;
}

/* Calls an op that another part of the server may not have yet: null when it does not exist. */
async function apiOptional(op, args) {
  if (WA.unknownOps[op]) return null;
  try {
    return await api(op, args);
  } catch (e) {
    if (WA.unknownOps[op]) return null;
    throw e;
  }
}

/* Runs fn and reports its error as a toast; returns its result or undefined. */
async function attempt(fn, okText) {
  try {
    const r = await fn();
    if (okText) toast(okText, 'ok');
    return r;
  } catch (e) {
    toast(e.message, 'error');
    return undefined;
  }
}

/* ---- login ---- */

function showLogin(message) {
  document.getElementById('app').hidden = true;
  document.getElementById('login-view').hidden = false;
  const err = document.getElementById('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  document.getElementById('login-user').focus();
}

async function doLogin(ev) {
  ev.preventDefault();
  const user = document.getElementById('login-user').value.trim();
  const password = document.getElementById('login-password').value;
  const err = document.getElementById('login-error');
  try {
    WA.me = await api('login', { user, password });
    document.getElementById('login-password').value = '';
    err.hidden = true;
    startApp();
  } catch (e) {
    err.hidden = false;
    err.textContent = e.message;
  }
}

async function doLogout() {
  await attempt(() => api('logout'));
  WA.me = null;
  location.hash = '';
  showLogin('');
}

/* ---- realms and routing ---- */

const REALMS = [
  { id: 'settings', title: 'Settings', home: '#/settings/xmpp/receiving', server: true },
  { id: 'users', title: 'Users', home: '#/users/domains' },
  { id: 'monitors', title: 'Monitors', home: '#/monitors/xmpp' },
];

/* Sub-pages per realm: [hash, title, serverOnly]. */
const SUBNAV = {
  settings: [
    ['#/settings/xmpp/receiving', 'XMPP Receiving'],
    ['#/settings/xmpp/listener', 'XMPP Listener'],
    ['#/settings/xmpp/sending', 'XMPP Sending'],
    ['#/settings/webadmin', 'WebAdmin'],
    ['#/settings/all', 'All Settings'],
  ],
  users: [['#/users/domains', 'Domains']],
  monitors: [['#/monitors/xmpp', 'XMPP'], ['#/monitors/logs', 'Logs', true]],
};

function isServerAdmin() {
  return WA.me && WA.me.role === 'server';
}

function homeHash() {
  return isServerAdmin() ? '#/settings/xmpp/receiving' : '#/users/domain/' + WA.me.domain;
}

function register(prefix, realm, render) {
  WA.pages[prefix] = { realm, render };
}

function renderNav(realm, extra) {
  const realms = document.getElementById('realms');
  realms.replaceChildren(...REALMS.filter(r => !r.server || isServerAdmin()).map(r =>
    el('a', { href: r.id === 'users' && !isServerAdmin() ? homeHash() : r.home,
              class: r.id === realm ? 'active' : '', 'data-realm': r.id }, r.title)));
  const sub = document.getElementById('subnav');
  const here = location.hash;
  const items = (SUBNAV[realm] || []).filter(i => !i[2] || isServerAdmin());
  sub.replaceChildren(...items.map(([h, t]) =>
    el('a', { href: h, class: here === h || (here.startsWith(h + '/')) ? 'active' : '' }, t)),
  ...(extra || []));
}

async function route() {
  if (!WA.me) return;
  for (const t of WA.timers) clearInterval(t);
  WA.timers = [];
  let hash = location.hash || '';
  if (!hash || hash === '#/' || hash === '#') {
    location.replace(homeHash());
    return;
  }
  const parts = hash.replace(/^#\//, '').split('/').map(decodeURIComponent);
  let page = null;
  let params = [];
  for (let n = parts.length; n > 0 && !page; n--) {
    const key = parts.slice(0, n).join('/');
    if (WA.pages[key]) {
      page = WA.pages[key];
      params = parts.slice(n);
    }
  }
  const main = document.getElementById('page');
  if (!page) {
    renderNav('');
    main.replaceChildren(el('div', { class: 'panel' }, 'There is no such page. ',
                            el('a', { href: homeHash() }, 'Go to the start page.')));
    return;
  }
  renderNav(page.realm);
  // Each route renders into a view of its own: a render still awaiting the server when the
  // hash changes again writes into its detached view, never over the page shown now.
  const view = el('div', { class: 'view' }, el('p', { class: 'muted' }, 'Loading…'));
  main.replaceChildren(view);
  try {
    await page.render(view, params);
  } catch (e) {
    view.replaceChildren(el('div', { class: 'panel error' }, e.message));
  }
}

/* Appends breadcrumbs to the sub-navigation, unless view is no longer the page shown. */
function crumbs(view, ...nodes) {
  if (view.isConnected) document.getElementById('subnav').append(...nodes);
}

/* Repeats fn every ms while view (the one a page's render was given) is shown. */
function every(view, ms, fn) {
  const id = setInterval(() => {
    if (!view.isConnected) { clearInterval(id); return; }
    fn();
  }, ms);
  WA.timers.push(id);
}

function pageHead(title, subtitle, ...actions) {
  return el('div', { class: 'page-head' },
    el('div', {}, el('h1', {}, title), subtitle ? el('p', { class: 'muted' }, subtitle) : null),
    actions.length ? el('div', { class: 'actions' }, actions) : null);
}

function startApp() {
  document.getElementById('login-view').hidden = true;
  document.getElementById('app').hidden = false;
  const who = document.getElementById('who');
  who.replaceChildren(el('span', { id: 'who-jid' }, WA.me.jid), ' ',
    el('span', { class: 'role' }, isServerAdmin() ? 'server admin' : 'admin of ' + WA.me.domain));
  route();
}

async function boot() {
  document.getElementById('login-form').addEventListener('submit', doLogin);
  document.getElementById('logout').addEventListener('click', doLogout);
  window.addEventListener('hashchange', route);
  try {
    WA.me = await api('whoami');
    startApp();
  } catch (e) {
    showLogin('');
  }
}

document.addEventListener('DOMContentLoaded', boot);
