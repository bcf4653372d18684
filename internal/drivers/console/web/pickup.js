// Pickup queues (admin): per connection, stored messages, the oldest one's
// age, the live session holder and pushes sent. Refreshed every 5 s while
// the page is open; ages are computed against the server's read time.
import { call } from './api.js';
import { h, badge } from './dom.js';

const REFRESH_MS = 5000;
const SORTS = [['depth', 'QUEUE_SORT_DEPTH', 'Deepest first'], ['age', 'QUEUE_SORT_AGE', 'Oldest message first'],
  ['connection', 'QUEUE_SORT_UNSPECIFIED', 'Account, connection']];

// span renders a duration in seconds as "42 s", "3 min 12 s", "2 h 5 min", "3 d 4 h".
export function span(s) {
  s = Math.max(0, Math.floor(s));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor(s % 3600 / 60) ? ` ${Math.floor(s % 3600 / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${Math.floor(s % 86400 / 3600) ? ` ${Math.floor(s % 86400 / 3600)} h` : ''}`;
}

function age(ts, now) {
  if (!ts) return h('span', { class: 'muted' }, '—');
  const t = new Date(ts);
  return h('time', { datetime: t.toISOString(), title: t.toLocaleString() }, span((now - t.getTime()) / 1000));
}

const bytes = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

export async function pickupPage(query) {
  let sort = SORTS.find(([k]) => k === query.get('sort'))?.[0] || 'depth';
  const tokens = ['']; // page tokens of the pages before this one
  let timer = 0;
  let ticker = 0;
  let stopped = false;
  let updatedAt = 0;
  let seq = 0; // the latest refresh; older answers are dropped

  const tbody = h('tbody');
  const updated = h('span', { id: 'pickup-updated', class: 'muted' }, 'loading…');
  const err = h('p', { class: 'error', role: 'alert' });
  const prev = h('button', { type: 'button', class: 'link', disabled: true, hidden: true, onclick: () => { tokens.pop(); refresh(); } }, '← Previous page');
  const next = h('button', { type: 'button', class: 'link', disabled: true, hidden: true, onclick: () => { tokens.push(next.dataset.token); refresh(); } }, 'Next page →');
  const sel = h('select', {
    id: 'pickup-sort',
    onchange: () => { sort = sel.value; tokens.splice(1); history.replaceState(null, '', `#/pickup?sort=${sort}`); refresh(); },
  }, SORTS.map(([k, , label]) => h('option', { value: k, selected: k === sort }, label)));

  function session(s, now) {
    if (!s) return h('span', { class: 'muted' }, 'none');
    return [h('code', {}, s.sessionId), ' ', s.live ? badge('live', 'healthy') : badge('instance down', 'gone'),
      h('div', { class: 'muted small' }, 'on ', h('code', {}, s.instance), s.startTime ? [' for ', age(s.startTime, now)] : '')];
  }

  function row(q, now) {
    return h('tr', { 'data-connection': q.connectionId, 'data-account': q.accountId },
      h('th', { scope: 'row' }, h('code', {}, q.connectionId), h('div', { class: 'muted small' }, 'account ', q.accountId || '—')),
      h('td', { 'data-label': 'Depth' }, String(q.depth || 0)),
      h('td', { 'data-label': 'Pending' }, String(q.pending || 0)),
      h('td', { 'data-label': 'Size' }, bytes(Number(q.bytes || 0))),
      h('td', { 'data-label': 'Oldest message' }, age(q.oldestMessageTime, now)),
      h('td', { 'data-label': 'Session' }, session(q.session, now)),
      h('td', { 'data-label': 'Pushes sent' }, String(q.pushesSent || 0),
        q.lastPushTime ? h('div', { class: 'muted small' }, 'last ', age(q.lastPushTime, now), ' ago') : null));
  }

  function tick() {
    if (updatedAt) updated.textContent = `updated ${span((Date.now() - updatedAt) / 1000)} ago`;
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++seq;
    try {
      const r = await call('PickupService', 'ListQueues', {
        sort: SORTS.find(([k]) => k === sort)[1], pageSize: 100, pageToken: tokens[tokens.length - 1],
      });
      if (stopped || mine !== seq) return;
      const now = r.readTime ? new Date(r.readTime).getTime() : Date.now();
      const list = r.queues || [];
      tbody.replaceChildren(...list.map((q) => row(q, now)));
      if (!list.length) tbody.append(h('tr', {}, h('td', { colspan: '7', class: 'muted' }, 'No queues on this page.')));
      next.dataset.token = r.nextPageToken || '';
      next.disabled = next.hidden = !r.nextPageToken;
      prev.disabled = prev.hidden = tokens.length < 2;
      err.textContent = '';
      updatedAt = Date.now();
      tick();
    } catch (e) {
      if (stopped || mine !== seq || e.status === 401) return;
      err.textContent = `Could not load the queues: ${e.message}`;
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }

  await refresh();
  ticker = setInterval(tick, 1000);
  const el = h('section', { 'aria-labelledby': 'pickup-h' },
    h('h1', { id: 'pickup-h' }, 'Pickup queues'),
    h('p', { class: 'muted' }, 'Message pickup queues of every account, one per mediator connection. Refreshed every 5 s.'),
    h('div', { class: 'toolbar' }, h('label', { for: 'pickup-sort' }, 'Sort'), sel, updated),
    err,
    h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'sr-only' }, 'Pickup queues: depth, oldest message age, live session holder and pushes sent'),
      h('thead', {}, h('tr', {}, ['Connection', 'Depth', 'Pending', 'Size', 'Oldest message', 'Session', 'Pushes sent']
        .map((t) => h('th', { scope: 'col' }, t)))),
      tbody)),
    h('div', { class: 'toolbar' }, prev, next));
  return { el, title: 'Pickup queues', stop: () => { stopped = true; clearTimeout(timer); clearInterval(ticker); } };
}
