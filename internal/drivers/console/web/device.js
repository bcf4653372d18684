// One device: configuration (reported vs desired, delta highlighted, an
// editor patching desired config at the expected version), its history,
// telemetry (temperature chart, activity breakdown) and the Live Logs tab.
import { call } from './api.js';
import { h, ago, badge, shortState, say } from './dom.js';
import { LiveLogs } from './logs.js';
import { temperatureChart, activityBars } from './charts.js';

const TABS = [['config', 'Configuration'], ['history', 'History'], ['telemetry', 'Telemetry'], ['logs', 'Live Logs']];

export async function devicePage(id, tab) {
  if (!TABS.some(([k]) => k === tab)) tab = 'config';
  const dev = (await call('DeviceService', 'GetDevice', { id })).device;
  const panel = h('div', { class: 'panel', role: 'tabpanel', id: 'panel', 'aria-labelledby': `tab-${tab}`, tabindex: '0' });
  const tabs = h('div', { role: 'tablist', class: 'tabs', 'aria-label': 'Device views' },
    TABS.map(([k, label]) => h('a', {
      role: 'tab', id: `tab-${k}`, href: `#/devices/${encodeURIComponent(id)}/${k}`,
      'aria-selected': String(k === tab), 'aria-controls': 'panel',
    }, label)));
  const el = h('section', { 'aria-labelledby': 'dev-title' },
    h('p', {}, h('a', { href: `#/devices?account=${encodeURIComponent(dev.accountId)}` }, '← Devices')),
    h('h1', { id: 'dev-title' }, dev.name || dev.id, dev.disabled ? badge('disabled') : null),
    h('p', { class: 'muted small' }, dev.id),
    tabs, panel);
  let stop = () => {};
  if (tab === 'config') stop = await configTab(id, panel);
  else if (tab === 'history') await historyTab(id, panel);
  else if (tab === 'telemetry') stop = await telemetryTab(id, panel);
  else {
    const logs = new LiveLogs(id);
    panel.append(logs.el);
    stop = () => logs.stop();
  }
  return { el, title: dev.name || dev.id, stop: () => stop() };
}

async function configTab(id, panel) {
  let cfg = (await call('ConfigService', 'GetConfig', { deviceId: id })).config;
  let rep = await call('DeviceService', 'GetReportedConfig', { deviceId: id }).catch(() => ({}));
  let timer = 0;
  let stopped = false;
  const view = h('div');
  const editor = h('textarea', { id: 'cfg-editor', rows: '8', spellcheck: 'false', 'aria-describedby': 'cfg-help' });
  const conflict = h('div', { role: 'alert' });
  let base = cfg; // the version the editor's text is based on

  function table() {
    const desired = cfg.effective || {};
    const reported = Object.fromEntries(Object.entries(cfg.reported || {}).map(([k, v]) => [k, v.value]));
    const delta = cfg.delta || {};
    const keys = [...new Set([...Object.keys(desired), ...Object.keys(reported)])].sort();
    const own = cfg.desired || {};
    return h('div', { class: 'scroll' }, h('table', { class: 'cfg' },
      h('caption', {}, 'Desired (what the device should run) against reported (what it last said it runs). Highlighted rows differ.'),
      h('thead', {}, h('tr', {}, ['Key', 'Desired', 'Reported'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, keys.map((k) => h('tr', { class: k in delta ? 'delta' : '', 'data-key': k },
        h('th', { scope: 'row' }, k, k in delta ? h('span', { class: 'sr-only' }, ' (differs)') : null),
        h('td', { 'data-label': 'Desired' }, k in desired ? desired[k] : h('span', { class: 'muted' }, 'unset'), k in own || !(k in desired) ? null : h('span', { class: 'muted small' }, ' (default)')),
        h('td', { 'data-label': 'Reported' }, k in reported ? reported[k] : h('span', { class: 'muted' }, 'not reported')))),
      keys.length ? null : h('tr', {}, h('td', { colspan: '3', class: 'muted' }, 'No configuration yet.')))));
  }

  // While the device has not caught up, follow it (every 3 s).
  async function poll() {
    try {
      [cfg, rep] = await Promise.all([
        call('ConfigService', 'GetConfig', { deviceId: id }).then((r) => r.config),
        call('DeviceService', 'GetReportedConfig', { deviceId: id }).catch(() => rep),
      ]);
    } catch { /* shown by the next user action */ }
    if (!stopped) render();
  }

  function render() {
    clearTimeout(timer);
    const st = shortState(cfg.syncState, 'CONFIG_SYNC_STATE_');
    if (!stopped && (st === 'pending' || st === 'stuck')) timer = setTimeout(poll, 3000);
    view.replaceChildren(...[
      h('p', { class: 'sync' }, 'Sync: ', h('span', { id: 'sync-state' }, badge(st)),
        ` · desired version ${cfg.version || 0} · acknowledged ${cfg.ackedVersion || 0}`,
        ' · last report ', ago(rep.reportTime), rep.firmwareVersion ? ` · firmware ${rep.firmwareVersion}` : ''),
      (cfg.rejected || []).length ? h('p', { class: 'error' }, 'Rejected by the device: ', cfg.rejected.map((r) => `${r.key} (${r.reason})`).join(', ')) : null,
      st === 'stuck' ? h('p', { class: 'error' }, `No acknowledgement after ${cfg.uplinksWithoutAck} uplinks.`) : null,
      table()].filter(Boolean));
  }

  const ownValues = (c) => Object.fromEntries(Object.entries(c.desired || {}).map(([k, v]) => [k, v.value]));
  const resetEditor = () => { editor.value = JSON.stringify(ownValues(base), null, 2); };

  async function save(ev) {
    ev.preventDefault();
    conflict.replaceChildren();
    let next;
    try {
      next = JSON.parse(editor.value);
      if (!next || typeof next !== 'object' || Array.isArray(next)) throw new Error('want a JSON object of "key": "value"');
      for (const [k, v] of Object.entries(next)) if (typeof v !== 'string') throw new Error(`${k}: values are strings`);
    } catch (e) { say(`Not saved: ${e.message}`, 'error'); return; }
    const before = ownValues(base);
    const patch = {};
    for (const k of Object.keys(before)) if (!(k in next)) patch[k] = null;
    for (const [k, v] of Object.entries(next)) if (before[k] !== v) patch[k] = v;
    if (!Object.keys(patch).length) { say('Nothing changed'); return; }
    try {
      cfg = (await call('ConfigService', 'PatchConfig', { deviceId: id, mergePatch: JSON.stringify(patch), expectedVersion: String(base.version || 0) })).config;
      base = cfg;
      resetEditor();
      render();
      say(`Saved: desired version ${cfg.version}`);
    } catch (e) {
      if (e.code !== 'aborted') { say(`Not saved: ${e.message}`, 'error'); return; }
      const now = (await call('ConfigService', 'GetConfig', { deviceId: id })).config;
      const theirs = ownValues(now);
      const changed = [...new Set([...Object.keys(before), ...Object.keys(theirs)])].filter((k) => before[k] !== theirs[k]).sort();
      conflict.replaceChildren(h('div', { class: 'conflict' },
        h('p', {}, `Not saved: someone changed the desired configuration (version ${base.version || 0} → ${now.version}). Their changes:`),
        h('ul', {}, changed.map((k) => h('li', {}, h('code', {}, k), `: ${before[k] ?? 'unset'} → ${theirs[k] ?? 'unset'}`))),
        h('p', {}, 'Your text is kept; review it and save again to apply it on top of their version.')));
      base = now; cfg = now;
      render();
    }
  }

  render();
  resetEditor();
  panel.append(view,
    h('form', { class: 'card', onsubmit: save, 'aria-labelledby': 'cfg-edit-h' },
      h('h2', { id: 'cfg-edit-h' }, 'Edit desired configuration'),
      h('label', { for: 'cfg-editor' }, 'Device values (JSON object; remove a key to fall back to the account default)'),
      editor,
      h('p', { id: 'cfg-help', class: 'muted small' }, 'Saved as a merge patch that applies only if nobody changed the configuration since you loaded it.'),
      h('button', { type: 'submit' }, 'Save'), ' ',
      h('button', { type: 'button', class: 'link', onclick: resetEditor }, 'Reset')),
    conflict);
  return () => { stopped = true; clearTimeout(timer); };
}

async function historyTab(id, panel) {
  const r = await call('ConfigService', 'ListConfigHistory', { deviceId: id, pageSize: 100 });
  const rows = (r.changes || []).map((c) => h('tr', {},
    h('td', {}, ago(c.changeTime)), h('th', { scope: 'row' }, c.key),
    h('td', {}, c.oldValue ?? h('span', { class: 'muted' }, 'unset')), h('td', {}, c.newValue ?? h('span', { class: 'muted' }, 'deleted')),
    h('td', {}, String(c.version)), h('td', {}, c.actor || ''), h('td', {}, c.ackTime ? ago(c.ackTime) : h('span', { class: 'muted' }, 'not yet'))));
  panel.append(h('div', { class: 'scroll' }, h('table', {},
    h('caption', {}, 'Changes of the desired configuration, newest first'),
    h('thead', {}, h('tr', {}, ['When', 'Key', 'Old', 'New', 'Version', 'By', 'Acknowledged'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: '7', class: 'muted' }, 'No changes yet.'))))));
}

async function telemetryTab(id, panel) {
  const RANGES = [['1h', 3600], ['24h', 86400], ['7d', 604800]];
  const sel = h('select', { id: 'tel-range' }, RANGES.map(([k]) => h('option', { value: k, selected: k === '24h' }, k)));
  const out = h('div');
  async function load() {
    const secs = RANGES.find(([k]) => k === sel.value)[1];
    const range = { since: new Date(Date.now() - secs * 1000).toISOString() };
    const [s, a] = await Promise.all([
      call('DeviceService', 'ListSensorData', { deviceId: id, range, pageSize: 1000 }),
      call('DeviceService', 'ListActivity', { deviceId: id, range, pageSize: 1000 }),
    ]);
    out.replaceChildren(
      h('h2', {}, 'Temperature'), temperatureChart(s.readings || []),
      h('h2', {}, 'Activity'), activityBars(a.records || []));
  }
  sel.addEventListener('change', () => load().catch((e) => say(e.message, 'error')));
  panel.append(h('div', { class: 'toolbar' }, h('label', { for: 'tel-range' }, 'Range'), sel), out);
  await load();
  return () => {};
}
