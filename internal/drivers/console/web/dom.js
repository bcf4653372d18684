// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so
// device-supplied strings cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

// ago renders a timestamp as "3 min ago" with the exact time as a title.
export function ago(ts) {
  if (!ts) return h('span', { class: 'muted' }, 'never');
  const t = new Date(ts);
  const s = Math.round((Date.now() - t.getTime()) / 1000);
  let text;
  if (s < 5) text = 'just now';
  else if (s < 90) text = `${s} s ago`;
  else if (s < 5400) text = `${Math.round(s / 60)} min ago`;
  else if (s < 129600) text = `${Math.round(s / 3600)} h ago`;
  else text = `${Math.round(s / 86400)} d ago`;
  return h('time', { datetime: t.toISOString(), title: t.toLocaleString() }, text);
}

export const shortState = (s, prefix) => (s || `${prefix}UNSPECIFIED`).replace(prefix, '').toLowerCase().replace(/_/g, ' ');

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || text.replace(/\s+/g, '-')}` }, text);
}

let statusTimer;
// say shows a message in the polite live region (errors stay until replaced).
export function say(msg, kind = 'info') {
  const el = document.getElementById('status');
  el.textContent = msg;
  el.className = `status ${kind}`;
  clearTimeout(statusTimer);
  if (kind !== 'error') statusTimer = setTimeout(() => { el.textContent = ''; el.className = 'status'; }, 4000);
}
