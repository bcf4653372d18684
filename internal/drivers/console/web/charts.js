// Inline SVG plots: no chart library.
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

// temperatureChart plots readings (centi-degrees) over receive time.
export function temperatureChart(readings) {
  const pts = readings.filter((r) => r.temperatureCentiCelsius !== undefined)
    .map((r) => [new Date(r.receiveTime).getTime() + (r.index || 0), r.temperatureCentiCelsius / 100]);
  if (pts.length < 2) return h('p', { class: 'muted' }, pts.length ? `One reading: ${pts[0][1]} °C` : 'No temperature readings in this range.');
  const W = 600, H = 200, P = 32;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const X = (x) => P + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * P);
  const Y = (y) => H - P - ((y - y0) / (y1 - y0)) * (H - 2 * P);
  const d = pts.map((p, i) => `${i ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join('');
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `Temperature from ${y0.toFixed(1)} to ${y1.toFixed(1)} °C, ${pts.length} readings` },
    s('path', { d, class: 'line' }),
    s('text', { x: 2, y: Y(y1) + 4, class: 'axis' }, `${y1.toFixed(1)}°`),
    s('text', { x: 2, y: Y(y0) + 4, class: 'axis' }, `${y0.toFixed(1)}°`),
    s('text', { x: P, y: H - 8, class: 'axis' }, new Date(x0).toLocaleString()),
    s('text', { x: W - P, y: H - 8, class: 'axis', 'text-anchor': 'end' }, new Date(x1).toLocaleString()));
}

const PARTS = [['sleepSeconds', 'sleep'], ['modemSeconds', 'modem'], ['gnssSeconds', 'GNSS'], ['wifiSeconds', 'Wi-Fi'], ['otherSeconds', 'other']];

// activityBars is one stacked bar of where the device spent its time.
export function activityBars(records) {
  const sum = Object.fromEntries(PARTS.map(([k]) => [k, 0]));
  for (const r of records) for (const [k] of PARTS) sum[k] += r.activity?.[k] || 0;
  const total = Object.values(sum).reduce((a, b) => a + b, 0);
  if (!total) return h('p', { class: 'muted' }, 'No activity records in this range.');
  let x = 0;
  const W = 600;
  const bars = PARTS.map(([k, label], i) => {
    const w = (sum[k] / total) * W;
    const r = s('rect', { x, y: 0, width: w, height: 28, class: `a${i}` }, s('title', {}, `${label}: ${sum[k]} s`));
    x += w;
    return r;
  });
  return h('figure', {},
    s('svg', { viewBox: `0 0 ${W} 28`, class: 'bars', role: 'img', 'aria-label': 'Activity breakdown' }, ...bars),
    h('figcaption', {}, h('ul', { class: 'legend' }, PARTS.map(([k, label], i) => h('li', {}, h('span', { class: `sw a${i}` }), `${label} ${Math.round((sum[k] / total) * 100)} % (${sum[k]} s)`)))));
}
