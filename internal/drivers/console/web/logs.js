// The Live Logs tab: recent history, then the live tail of serve's stream
// (docs/live-logs.md) through the console's cookie-authenticated /console/ws,
// or through liveplane relay (docs/relay.md) with a ticket when serve names
// one. It resumes with (epoch, seq) after any drop, shows "reconnecting…"
// while it does, and marks every gap it learns of in the list itself.
//
// Nothing is dropped silently. The view is bounded twice, and the lines a
// bound keeps out are counted into one "N lines suppressed" marker in their
// place: a pause holds the newest PAUSE_KEEP lines (the older ones of the
// pause are suppressed when it ends), and the list keeps the newest MAX_ROWS
// rows (older ones leave, counted in a marker at the top).
import { h } from './dom.js';
import { streamURL, streamProtocols, relayURL, relayStreamURL, relayTicket } from './api.js';

const HISTORY = 200;
const MAX_ROWS = 2000;
const PAUSE_KEEP = 20;
const FATAL = new Set([1003, 1007, 1008, 1009]); // our bug: do not retry

export class LiveLogs {
  constructor(deviceId) {
    this.deviceId = deviceId;
    this.epoch = '';
    this.lastSeq = 0;
    this.paused = false;
    this.held = []; // rows that arrived while paused: markers, and at most PAUSE_KEEP lines
    this.heldLines = 0;
    this.heldSuppressed = 0;
    this.heldMarker = null; // the pause's "suppressed" marker, in held where its lines were
    this.trimmed = 0; // lines that left the top of the list
    this.trimMarker = null;
    this.types = new Set();
    this.backoff = 500;
    this.stopped = false;
    this.filter = { type: '', text: '' };

    this.state = h('span', { class: 'conn', 'data-state': 'connecting', 'data-via': relayURL() ? 'relay' : 'serve' }, 'connecting…');
    this.typeSel = h('select', { id: 'log-type', onchange: () => this.setFilter() }, h('option', { value: '' }, 'all types'));
    this.textIn = h('input', { id: 'log-text', type: 'search', placeholder: 'filter text', oninput: () => this.setFilter() });
    this.pauseBtn = h('button', { type: 'button', 'aria-pressed': 'false', onclick: () => this.togglePause() }, 'Pause');
    this.heldNote = h('span', { class: 'muted', 'aria-live': 'polite' });
    this.list = h('ol', { class: 'logs', role: 'log', 'aria-label': 'Live log lines', 'aria-live': 'off' });
    this.el = h('section', { class: 'livelogs', 'aria-label': 'Live logs' },
      h('div', { class: 'toolbar' },
        h('span', {}, relayURL() ? 'Stream (relay): ' : 'Stream: ', this.state),
        h('label', { for: 'log-type' }, 'Type'), this.typeSel,
        h('label', { for: 'log-text', class: 'sr-only' }, 'Filter text'), this.textIn,
        this.pauseBtn, this.heldNote),
      this.list);
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    const q = this.epoch ? { seq: this.lastSeq, epoch: this.epoch } : { last: HISTORY };
    let ws;
    try {
      if (relayURL()) {
        const ticket = await relayTicket(this.deviceId); // one per connection attempt
        if (this.stopped) return;
        ws = new WebSocket(relayStreamURL(this.deviceId, q), ['liveplane.v1', `ticket.${ticket}`]);
      } else {
        ws = new WebSocket(streamURL(this.deviceId, q), streamProtocols());
      }
    } catch (e) {
      if (e.status === 401 || e instanceof SyntaxError) { this.setState('error', `cannot open the stream: ${e.message}`); return; }
      this.retry(); // serve unreachable for a ticket: as a dropped stream
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.backoff = 500; };
    ws.onmessage = (ev) => this.frame(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (this.stopped) return;
      if (FATAL.has(ev.code)) { this.setState('error', `stream closed (${ev.code}): ${ev.reason}`); return; }
      // A refused upgrade (401/403/404) also ends here with 1006 before open;
      // retry slowly, the page's own API calls will notice a lost session.
      this.retry(ev.code === 4008 ? 0 : undefined, opened);
    };
  }

  retry(wait = this.backoff, opened = false) {
    this.backoff = Math.min(this.backoff * 2, opened ? 5000 : 15000);
    this.setState('reconnecting', 'reconnecting…');
    this.timer = setTimeout(() => this.connect(), wait);
  }

  frame(f) {
    if (f.seq === undefined && f.type === 'reconnecting') { // the relay lost serve; it resumes by itself
      this.setState('reconnecting', 'reconnecting…');
      return;
    }
    if (f.seq === undefined && f.type === 'live') {
      if (f.epoch) this.epoch = f.epoch;
      this.setState('live', 'live');
      return;
    }
    if (f.seq === undefined && f.type === 'gap') { // from the relay: serve lost lines
      const g = f.gap || {};
      this.marker(f.reason === 'window'
        ? `Gap: lines after seq ${g.afterSeq}${g.beforeSeq ? ` and before seq ${g.beforeSeq}` : ''} left the server's window and may be lost`
        : 'Gap: the live-log stream restarted (new epoch); lines sent meanwhile may be lost');
      if (f.epoch) this.epoch = f.epoch;
      this.lastSeq = 0;
      return;
    }
    if (f.type === 'hello' && f.seq === undefined) {
      if (this.epoch && !f.recovered) {
        if (f.reason === 'window' && f.gap) {
          const before = f.gap.beforeSeq ? ` and before seq ${f.gap.beforeSeq}` : '';
          this.marker(`Gap: lines after seq ${f.gap.afterSeq}${before} left the server's window and may be lost`);
        } else {
          this.marker('Gap: the live-log stream restarted (new epoch); lines sent meanwhile may be lost');
        }
      }
      this.epoch = f.epoch;
      this.lastSeq = f.lastSeq || 0;
      this.setState('live', 'live');
      return;
    }
    if (f.epoch === this.epoch && this.lastSeq && f.prev && f.prev !== this.lastSeq) {
      this.marker(`Gap: expected the line after seq ${this.lastSeq}, got one after seq ${f.prev}`);
    }
    this.lastSeq = f.seq;
    if (f.epoch) this.epoch = f.epoch;
    if (f.type === 'suppressed' || (f.data && Number.isInteger(f.data.suppressed))) {
      this.marker(`${f.data?.suppressed ?? ''} lines suppressed`.trim());
      return;
    }
    this.line(f);
  }

  line(f) {
    if (f.type && !this.types.has(f.type)) {
      this.types.add(f.type);
      this.typeSel.append(h('option', { value: f.type }, f.type));
    }
    const t = new Date(f.timestamp);
    const row = h('li', { class: 'line', 'data-type': f.type || '', 'data-seq': String(f.seq) },
      h('time', { datetime: f.timestamp, title: t.toLocaleString() }, t.toLocaleTimeString()),
      h('span', { class: `badge t-${(f.type || '').replace(/[^a-z0-9_-]/gi, '')}` }, f.type || '—'),
      h('span', { class: 'msg' }, f.message || ''),
      f.data !== undefined ? h('code', { class: 'data' }, JSON.stringify(f.data)) : null);
    this.add(row);
  }

  marker(text) {
    this.add(h('li', { class: 'marker', role: 'note' }, text));
  }

  add(row) {
    if (!this.paused) { this.show(row); return; }
    this.held.push(row);
    if (row.classList.contains('line') && ++this.heldLines > PAUSE_KEEP) {
      // Keep the newest PAUSE_KEEP: the oldest held line gives way, counted
      // in the pause's marker, which stands where the first of them was.
      const i = this.held.findIndex((r) => r.classList.contains('line'));
      if (this.heldMarker) this.held.splice(i, 1);
      else this.held[i] = this.heldMarker = h('li', { class: 'marker suppressed', role: 'note' });
      this.heldLines--;
      this.heldSuppressed++;
      this.heldMarker.textContent = `${this.heldSuppressed} lines suppressed while paused (a pause keeps the newest ${PAUSE_KEEP} lines)`;
    }
    const n = this.heldLines + this.heldSuppressed;
    this.heldNote.textContent = `${n} new while paused${this.heldSuppressed ? ` (the newest ${PAUSE_KEEP} will show)` : ''}`;
  }

  show(row) {
    row.hidden = !this.matches(row);
    // Follow the tail only if the reader is at the bottom; measure and
    // scroll once per frame, never per line (a forced layout per line would
    // delay the lines queued behind it).
    if (!this.scrollQueued) {
      this.scrollQueued = true;
      const l = this.list;
      const atBottom = l.scrollHeight - l.scrollTop - l.clientHeight < 40;
      requestAnimationFrame(() => {
        this.scrollQueued = false;
        if (atBottom) l.scrollTop = l.scrollHeight;
      });
    }
    this.list.append(row);
    if (this.list.childElementCount > MAX_ROWS + (this.trimMarker ? 1 : 0)) this.trim();
  }

  // trim removes the oldest rows past MAX_ROWS, counting the lines among
  // them in one marker at the top of the list.
  trim() {
    if (!this.trimMarker) {
      this.trimMarker = h('li', { class: 'marker suppressed', role: 'note' });
      this.list.prepend(this.trimMarker);
    }
    while (this.list.childElementCount > MAX_ROWS + 1) {
      const old = this.trimMarker.nextElementSibling;
      if (old.classList.contains('line')) this.trimmed++;
      old.remove();
    }
    this.trimMarker.textContent = `${this.trimmed} earlier lines suppressed (the view keeps the newest ${MAX_ROWS} lines)`;
  }

  matches(row) {
    if (row.classList.contains('marker')) return true;
    if (this.filter.type && row.dataset.type !== this.filter.type) return false;
    return !this.filter.text || row.textContent.toLowerCase().includes(this.filter.text);
  }

  setFilter() {
    this.filter = { type: this.typeSel.value, text: this.textIn.value.trim().toLowerCase() };
    for (const row of this.list.children) row.hidden = !this.matches(row);
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseBtn.textContent = this.paused ? 'Resume' : 'Pause';
    this.pauseBtn.setAttribute('aria-pressed', String(this.paused));
    if (!this.paused) {
      for (const row of this.held) this.show(row);
      this.held = [];
      this.heldLines = this.heldSuppressed = 0;
      this.heldMarker = null;
      this.heldNote.textContent = '';
    }
  }

  setState(state, text) {
    this.state.dataset.state = state;
    this.state.textContent = text;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }
}
