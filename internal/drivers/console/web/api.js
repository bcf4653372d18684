// The console's only way to the server: the session endpoints and the
// Connect JSON protocol through /console/api (cookie session + CSRF header).

let session = null; // {csrf, admin, accountId, expires}

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

async function readError(res) {
  let body = {};
  try { body = await res.json(); } catch { /* not JSON */ }
  return new APIError(res.status, body.code, body.message);
}

export const current = () => session;

// load asks the server whether the cookie holds a session; null if not.
export async function load() {
  const res = await fetch('/console/session', { credentials: 'same-origin' });
  session = res.ok ? await res.json() : null;
  return session;
}

export async function signIn(token) {
  const res = await fetch('/console/session', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) throw await readError(res);
  session = await res.json();
  return session;
}

export async function signOut() {
  const csrf = session?.csrf || '';
  session = null;
  await fetch('/console/session', { method: 'DELETE', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } });
}

let onUnauthenticated = () => {};
export const setUnauthenticatedHandler = (fn) => { onUnauthenticated = fn; };

// call invokes a Connect procedure, e.g. call('AccountService', 'ListAccounts', {}).
export async function call(service, method, body = {}) {
  const res = await fetch(`/console/api/liveplane.v1.${service}/${method}`, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session?.csrf || '' },
    body: JSON.stringify(body),
  });
  if (!res.ok) {
    const err = await readError(res);
    if (res.status === 401) { session = null; onUnauthenticated(err); }
    throw err;
  }
  return res.json();
}

// streamURL and streamProtocols open the live-log stream of a device.
export function streamURL(deviceId, query) {
  const u = new URL('/console/ws', location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('deviceId', deviceId);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  return u.href;
}

export const streamProtocols = () => ['liveplane.v1', `csrf.${session?.csrf || ''}`];

// With a relay configured (serve's --console-relay-url) the Live Logs tab
// follows devices through it, with a ticket serve seals for one device, one
// connection and 30 s (the session cookie never goes to the relay).
export const relayURL = () => session?.relayUrl || '';

export function relayStreamURL(deviceId, query) {
  const u = new URL('/device-logs', relayURL());
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('deviceId', deviceId);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  return u.href;
}

export async function relayTicket(deviceId) {
  const res = await fetch('/console/tickets', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session?.csrf || '' },
    body: JSON.stringify({ deviceId }),
  });
  if (!res.ok) {
    const err = await readError(res);
    if (res.status === 401) { session = null; onUnauthenticated(err); }
    throw err;
  }
  return (await res.json()).ticket;
}
