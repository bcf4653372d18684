// Accounts (admin): list, create, delete; per-cluster provisioning
// conditions, refreshed while an account provisions or is being deleted;
// the clusters list with health.
import { call } from './api.js';
import { h, ago, badge, shortState, say } from './dom.js';

const BUSY = new Set(['ACCOUNT_STATE_PROVISIONING', 'ACCOUNT_STATE_DELETING']);

export async function accountsPage() {
  const tbody = h('tbody');
  const clusters = h('tbody');
  const secret = h('div', { 'aria-live': 'polite' });
  let timer = 0;
  let stopped = false;

  const name = h('input', { id: 'acc-name', name: 'name', required: true, pattern: '[a-z0-9]([a-z0-9\\-]*[a-z0-9])?', maxlength: '63', autocomplete: 'off' });
  const display = h('input', { id: 'acc-display', name: 'display', autocomplete: 'off' });
  const withKey = h('input', { id: 'acc-key', type: 'checkbox', checked: true });
  const form = h('form', {
    class: 'card inline', 'aria-labelledby': 'acc-new',
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await call('AccountService', 'CreateAccount', { name: name.value.trim(), displayName: display.value.trim(), createApiKey: withKey.checked });
        say(`Account ${r.account.name} created`);
        secret.replaceChildren(r.apiKeySecret ? h('p', { class: 'secret' }, 'API key (shown once): ', h('code', {}, r.apiKeySecret)) : '');
        name.value = ''; display.value = '';
        await refresh();
      } catch (e) { say(`Create failed: ${e.message}`, 'error'); }
    },
  },
  h('h2', { id: 'acc-new' }, 'New account'),
  h('label', { for: 'acc-name' }, 'Name (DNS label)'), name,
  h('label', { for: 'acc-display' }, 'Display name'), display,
  h('label', { class: 'check' }, withKey, ' create an API key'),
  h('button', { type: 'submit' }, 'Create'));

  async function remove(a) {
    if (!confirm(`Delete account ${a.name}? Its namespaces on every cluster are removed.`)) return;
    try {
      await call('AccountService', 'DeleteAccount', { id: a.id, expectedGeneration: a.generation });
      say(`Deleting ${a.name}`);
      await refresh();
    } catch (e) { say(`Delete failed: ${e.message}`, 'error'); }
  }

  function conditions(a) {
    if (!a.clusters?.length) return h('span', { class: 'muted' }, 'no cluster has reported');
    return h('ul', { class: 'conds' }, a.clusters.map((c) => h('li', {},
      h('strong', {}, c.cluster), ' ',
      c.deleted ? badge('deleted') : null,
      (c.conditions || []).map((k) => h('span', { class: `cond ${k.status === 'True' ? 'ok' : 'bad'}`, title: k.message || '' },
        `${k.type}=${k.status}`, k.reason ? ` (${k.reason})` : '')),
      ' ', ago(c.reportTime))));
  }

  async function refresh() {
    clearTimeout(timer);
    const [acc, cl] = await Promise.all([
      call('AccountService', 'ListAccounts', { pageSize: 100 }),
      call('ClusterService', 'ListClusters', {}).catch(() => ({ clusters: [] })),
    ]);
    if (stopped) return;
    const list = acc.accounts || [];
    tbody.replaceChildren(...list.map((a) => {
      const st = shortState(a.state, 'ACCOUNT_STATE_');
      return h('tr', { 'data-account': a.name },
        h('td', {}, h('a', { href: `#/devices?account=${encodeURIComponent(a.id)}` }, a.displayName || a.name), h('div', { class: 'muted small' }, a.id)),
        h('td', {}, badge(st)),
        h('td', {}, conditions(a)),
        h('td', {}, ago(a.createTime)),
        h('td', {}, a.state === 'ACCOUNT_STATE_DELETING' ? '' : h('button', { type: 'button', class: 'danger', onclick: () => remove(a), 'aria-label': `Delete ${a.name}` }, 'Delete')));
    }));
    if (!list.length) tbody.append(h('tr', {}, h('td', { colspan: '5', class: 'muted' }, 'No accounts yet.')));
    clusters.replaceChildren(...(cl.clusters || []).map((c) => h('tr', {},
      h('td', {}, c.name), h('td', {}, badge(shortState(c.health, 'CLUSTER_HEALTH_'))),
      h('td', {}, c.daemonVersion || ''), h('td', {}, ago(c.lastHeartbeatTime)))));
    if (!cl.clusters?.length) clusters.append(h('tr', {}, h('td', { colspan: '4', class: 'muted' }, 'No cluster daemon has registered.')));
    if (list.some((a) => BUSY.has(a.state))) timer = setTimeout(() => refresh().catch(() => {}), 2000);
  }

  await refresh();
  const el = h('section', { 'aria-labelledby': 'acc-h' },
    h('h1', { id: 'acc-h' }, 'Accounts'),
    form, secret,
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'sr-only' }, 'Accounts and their per-cluster provisioning status'),
      h('thead', {}, h('tr', {}, ['Account', 'State', 'Clusters', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)),
    h('h2', {}, 'Clusters'),
    h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Cluster', 'Health', 'Daemon', 'Last heartbeat'].map((t) => h('th', { scope: 'col' }, t)))),
      clusters)));
  return { el, title: 'Accounts', stop: () => { stopped = true; clearTimeout(timer); } };
}
