// Entry point: session check, hash router (#/accounts, #/devices,
// #/devices/ID[/tab]) and the sign-in page. Pages live in their own modules
// and return {el, stop?}; the router stops the old page (timers, sockets).
import * as api from './api.js';
import { h, $, say } from './dom.js';
import { accountsPage } from './accounts.js';
import { devicesPage } from './devices.js';
import { devicePage } from './device.js';
import { pickupPage } from './pickup.js';

let page = null;

function mount(p) {
  if (page?.stop) page.stop();
  page = p;
  const main = $('#main');
  main.replaceChildren(p.el);
  if (p.title) document.title = `${p.title} · liveplane`;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

async function route() {
  const s = api.current();
  if (!s) { mount(signInPage()); showNav(false); return; }
  showNav(true);
  const { parts, query } = parseHash();
  try {
    if (parts[0] === 'devices' && parts[1]) mount(await devicePage(parts[1], parts[2] || 'config'));
    else if (parts[0] === 'pickup' && s.admin) mount(await pickupPage(query));
    else if (parts[0] === 'devices' || !s.admin) mount(await devicesPage(query));
    else mount(await accountsPage());
  } catch (e) {
    if (e.status === 401) return; // handled: back to sign-in
    mount({ el: h('section', {}, h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, e.message)) });
  }
  for (const a of document.querySelectorAll('#nav a')) {
    const here = location.hash.startsWith(a.getAttribute('href'));
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function showNav(on) {
  const nav = $('#nav');
  nav.hidden = !on;
  const s = api.current();
  if (!on || !s) return;
  for (const li of nav.querySelectorAll('[data-admin]')) li.hidden = !s.admin;
  $('#who').textContent = s.admin ? 'admin' : `account ${s.accountId}`;
}

function signInPage() {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', {
    class: 'card narrow', 'aria-labelledby': 'signin-h',
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      try {
        await api.signIn(input.value.trim());
        input.value = '';
        say('Signed in');
        if (!location.hash || location.hash === '#/' || location.hash === '#/signin') location.hash = '#/';
        await route();
      } catch (e) {
        err.textContent = e.status === 401 ? 'That token is unknown, revoked or malformed.' : e.message;
        input.focus();
      }
    },
  },
  h('h1', { id: 'signin-h' }, 'Sign in'),
  h('p', { class: 'muted' }, 'Paste an account API key (lpk_…) or the admin token (lpa_…, in DATA_DIR/admin.token).'),
  h('label', { for: 'token' }, 'Token'), input,
  h('button', { type: 'submit' }, 'Sign in'), err);
  setTimeout(() => input.focus(), 0);
  return { el: form, title: 'Sign in' };
}

api.setUnauthenticatedHandler(() => {
  say('Your session ended: sign in again.', 'error');
  route();
});

$('#signout').addEventListener('click', async () => {
  await api.signOut();
  say('Signed out');
  location.hash = '#/';
  route();
});

window.addEventListener('hashchange', route);
await api.load().catch(() => null);
route();
