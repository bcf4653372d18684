// Devices of one account: search, last seen, firmware, config sync state;
// create a device (its key and PSK are shown once).
import { call, current } from './api.js';
import { h, ago, badge, shortState, say } from './dom.js';

export async function devicesPage(query) {
  const s = current();
  let accountId = query.get('account') || (s.admin ? '' : s.accountId);
  let accounts = [];
  if (s.admin) {
    accounts = (await call('AccountService', 'ListAccounts', { pageSize: 100 })).accounts || [];
    if (!accountId && accounts.length) accountId = accounts[0].id;
  }
  const el = h('section', { 'aria-labelledby': 'dev-h' }, h('h1', { id: 'dev-h' }, 'Devices'));
  if (!accountId) {
    el.append(h('p', { class: 'muted' }, 'Create an account first.'), h('a', { href: '#/accounts' }, 'Accounts'));
    return { el, title: 'Devices' };
  }
  if (s.admin) {
    const sel = h('select', { id: 'dev-account', onchange: () => { location.hash = `#/devices?account=${encodeURIComponent(sel.value)}`; } },
      accounts.map((a) => h('option', { value: a.id, selected: a.id === accountId }, a.displayName || a.name)));
    el.append(h('div', { class: 'toolbar' }, h('label', { for: 'dev-account' }, 'Account'), sel));
  }

  const tbody = h('tbody');
  const search = h('input', { id: 'dev-search', type: 'search', placeholder: 'name or id', oninput: () => filter() });
  const secret = h('div', { 'aria-live': 'polite' });
  const name = h('input', { id: 'dev-name', required: true, maxlength: '100', autocomplete: 'off' });
  const form = h('form', {
    class: 'card inline', 'aria-labelledby': 'dev-new',
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await call('DeviceService', 'CreateDevice', { accountId, name: name.value.trim() });
        secret.replaceChildren(h('p', { class: 'secret' }, `Device ${r.device.id}: key `, h('code', {}, r.key), ' PSK ', h('code', {}, r.psk), ' (shown once)'));
        name.value = '';
        say('Device created');
        await refresh();
      } catch (e) { say(`Create failed: ${e.message}`, 'error'); }
    },
  }, h('h2', { id: 'dev-new' }, 'New device'), h('label', { for: 'dev-name' }, 'Name'), name, h('button', { type: 'submit' }, 'Create'));

  function filter() {
    const q = search.value.trim().toLowerCase();
    for (const tr of tbody.children) tr.hidden = !!q && !(tr.dataset.search || '').includes(q);
  }

  async function refresh() {
    const list = (await call('DeviceService', 'ListDevices', { accountId, pageSize: 100 })).devices || [];
    // The list has no telemetry: one small read per device, in parallel
    // (a page holds at most 100).
    const rows = await Promise.all(list.map(async (d) => {
      const [rep, cfg] = await Promise.all([
        call('DeviceService', 'GetReportedConfig', { deviceId: d.id }).catch(() => ({})),
        call('ConfigService', 'GetConfig', { deviceId: d.id }).then((r) => r.config).catch(() => ({})),
      ]);
      const sync = shortState(cfg.syncState, 'CONFIG_SYNC_STATE_');
      return h('tr', { 'data-device': d.id, 'data-search': `${d.name} ${d.id}`.toLowerCase() },
        h('td', {}, h('a', { href: `#/devices/${encodeURIComponent(d.id)}` }, d.name || d.id), h('div', { class: 'muted small' }, d.id)),
        h('td', { 'data-label': 'Last seen' }, ago(rep.reportTime)),
        h('td', { 'data-label': 'Firmware' }, rep.firmwareVersion || h('span', { class: 'muted' }, '—')),
        h('td', { 'data-label': 'Config' }, badge(sync), d.disabled ? badge('disabled') : null));
    }));
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No devices yet.')));
    filter();
  }

  await refresh();
  el.append(form, secret,
    h('div', { class: 'toolbar' }, h('label', { for: 'dev-search' }, 'Search'), search),
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'sr-only' }, 'Devices'),
      h('thead', {}, h('tr', {}, ['Device', 'Last seen', 'Firmware', 'Config'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));
  return { el, title: 'Devices' };
}
