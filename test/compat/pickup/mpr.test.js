// Drives liveplane's pickup gateway with rpc-websockets@7.11.2, the
// transport library of @2060.io/message-pickup-repository-client, called
// exactly as that client calls it: `new Client(url)` with the library's
// defaults (reconnect every 1000 ms, at most 5 times), `subscribe` and a
// `messagesReceived` listener on every 'open', named params, and a 2000 ms
// reply timeout on every call but ping.
//
//   LIVEPLANE_PICKUP_URL=ws://TOKEN@127.0.0.1:3100 node --test
//
// The e2e test in e2e/pickup_compat_test.go runs this against the real binary.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { Client } = require('rpc-websockets')

const URL_ = process.env.LIVEPLANE_PICKUP_URL
if (!URL_) throw new Error('LIVEPLANE_PICKUP_URL is not set')
const TIMEOUT = 2000 // the MPR client's reply timeout

// MPRClient mirrors MessagePickupRepositoryClient's use of the library.
class MPRClient {
  constructor (url) {
    this.url = url
    this.received = []
    this.opens = 0
  }

  connect () {
    return new Promise((resolve, reject) => {
      this.client = new Client(this.url)
      this.client.on('open', () => {
        this.opens++
        this.client.subscribe('messagesReceived')
        this.client.addListener('messagesReceived', (data) => this.received.push(data))
        resolve()
      })
      this.client.on('error', reject)
    })
  }

  call (method, params) { return this.client.call(method, params, TIMEOUT) }

  async addMessage (params) {
    const result = await this.call('addMessage', params)
    assert.equal(typeof result, 'object') // the client stringifies objects, '' for null
    return JSON.parse(JSON.stringify(result)).messageId
  }

  ping () { return this.client.call('ping') }
  close () { this.client.setAutoReconnect(false); this.client.close() }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const uniq = (p) => `${p}-${process.pid}-${Math.random().toString(36).slice(2)}`
const payload = (i) => ({ protected: 'eyJlbmMiOiJ4In0', iv: 'aXY', ciphertext: `Y3Q-${i}`, tag: 'dGFn' })

async function until (what, fn, ms = 3000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await fn()) return
    await sleep(20)
  }
  throw new Error(`timed out waiting for ${what}`)
}

test('every method, with the client\'s parameter shapes and result checks', async () => {
  const c = new MPRClient(URL_)
  await c.connect()
  try {
    assert.equal(await c.ping(), 'pong')
    const conn = uniq('conn')
    const ids = []
    for (let i = 0; i < 3; i++) {
      ids.push(await c.addMessage({ connectionId: conn, recipientDids: ['did:key:z6MkR'], payload: payload(i), pushNotificationToken: undefined }))
    }
    assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0))
    assert.equal(await c.call('getAvailableMessageCount', { connectionId: conn }), 3)
    assert.equal(await c.call('getAvailableMessageCount', { connectionId: conn, recipientDid: 'did:other' }), 0)

    const taken = await c.call('takeFromQueue', { connectionId: conn, limit: 2 })
    assert.ok(Array.isArray(taken))
    assert.deepEqual(taken.map((m) => m.id), ids.slice(0, 2))
    for (const m of taken) {
      assert.deepEqual(Object.keys(m).sort(), ['encryptedMessage', 'id', 'receivedAt'])
      assert.ok(!Number.isNaN(new Date(m.receivedAt).getTime()))
      assert.equal(new Date(m.receivedAt).toJSON(), m.receivedAt) // Date.toJSON form
    }
    assert.deepEqual(taken[0].encryptedMessage, payload(0))
    assert.equal(typeof await c.call('removeMessages', { connectionId: conn, messageIds: taken.map((m) => m.id) }), 'boolean')

    // limitBytes is exact: the third message alone is JSON.stringify(payload(2)) bytes.
    const size = Buffer.byteLength(JSON.stringify(payload(2)))
    assert.deepEqual(await c.call('takeFromQueue', { connectionId: conn, limitBytes: size - 1 }), [])
    const byBytes = await c.call('takeFromQueue', { connectionId: conn, limitBytes: size, deleteMessages: true })
    assert.deepEqual(byBytes.map((m) => m.id), [ids[2]])
    assert.equal(await c.call('getAvailableMessageCount', { connectionId: conn }), 0)

    await c.addMessage({ connectionId: conn, recipientDids: ['did:a', 'did:b'], payload: payload(9) })
    assert.equal(await c.call('removeAllMessages', { connectionId: conn, recipientDid: 'did:b' }), true)
    assert.equal(await c.call('getAvailableMessageCount', { connectionId: conn }), 0)

    assert.equal(await c.call('getLiveSession', { connectionId: conn }), false)
    assert.equal(await c.call('addLiveSession', { connectionId: conn, sessionId: uniq('session') }), true)
    assert.equal(await c.call('getLiveSession', { connectionId: conn }), true)
    assert.equal(await c.call('removeLiveSession', { connectionId: conn }), true)
    assert.equal(await c.call('getLiveSession', { connectionId: conn }), false)
  } finally {
    c.close()
  }
})

test('messagesReceived reaches the socket holding the session, in the MPR shape', async () => {
  const holder = new MPRClient(URL_)
  const sender = new MPRClient(URL_)
  await holder.connect()
  await sender.connect()
  try {
    const conn = uniq('live')
    const queued = await sender.addMessage({ connectionId: conn, recipientDids: ['did:r'], payload: payload(0) })
    assert.equal(await holder.call('addLiveSession', { connectionId: conn, sessionId: uniq('s') }), true)
    const live = await sender.addMessage({ connectionId: conn, recipientDids: ['did:r'], payload: payload(1) })
    await until('two notified messages', () => holder.received.flatMap((d) => d.messages).length >= 2)
    const note = holder.received[0]
    assert.equal(note.connectionId, conn)
    assert.ok(Array.isArray(note.messages))
    assert.deepEqual(Object.keys(note.messages[0]).sort(), ['encryptedMessage', 'id', 'receivedAt'])
    assert.deepEqual(holder.received.flatMap((d) => d.messages).map((m) => m.id), [queued, live])
    assert.equal(sender.received.length, 0)
  } finally {
    holder.close()
    sender.close()
  }
})

test('errors are JSON-RPC errors the client rejects with', async () => {
  const c = new MPRClient(URL_)
  await c.connect()
  try {
    await assert.rejects(c.call('nope', {}), (e) => e.code === -32601 && /Method not found/.test(e.message))
    await assert.rejects(c.call('addMessage', { recipientDids: ['d'], payload: payload(0) }),
      (e) => e.code === -32602 && /connectionId/.test(e.message))
    await assert.rejects(c.call('takeFromQueue', { connectionId: 'c', limit: 'ten' }),
      (e) => e.code === -32602 && /limit/.test(e.message))
    const huge = { protected: 'x', iv: 'x', ciphertext: 'x'.repeat(1100000), tag: 'x' }
    const conn = uniq('big')
    await assert.rejects(c.call('addMessage', { connectionId: conn, recipientDids: ['d'], payload: huge }),
      (e) => e.code === -32002 && /nothing was stored/.test(e.message))
    assert.equal(await c.call('getAvailableMessageCount', { connectionId: conn }), 0)
  } finally {
    c.close()
  }
})

// A TCP proxy the test can cut, standing in for a network drop or a gateway
// restart: the library must reconnect (1006, not 1000), the client's 'open'
// handler re-subscribes, and calls and live delivery work again.
test('the client reconnects after the connection drops and carries on', async () => {
  const target = new URL(URL_.replace(/^ws/, 'http'))
  const sockets = new Set()
  const proxy = net.createServer((down) => {
    const up = net.connect(Number(target.port), target.hostname)
    sockets.add(down); sockets.add(up)
    down.pipe(up); up.pipe(down)
    const end = () => { down.destroy(); up.destroy() }
    down.on('error', end); up.on('error', end); down.on('close', end); up.on('close', end)
  })
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const via = URL_.replace(`${target.hostname}:${target.port}`, `127.0.0.1:${proxy.address().port}`)
  const c = new MPRClient(via)
  const sender = new MPRClient(URL_)
  await c.connect()
  await sender.connect()
  try {
    const conn = uniq('recon')
    assert.equal(await c.call('addLiveSession', { connectionId: conn, sessionId: uniq('s1') }), true)
    const closed = new Promise((resolve) => c.client.once('close', (code) => resolve(code)))
    for (const s of sockets) s.destroy()
    sockets.clear()
    assert.notEqual(await closed, 1000) // abnormal: the library reconnects
    await assert.rejects(c.call('ping'), /socket not ready/)
    await until('the reconnect', () => c.opens === 2, 3000)
    assert.equal(await c.ping(), 'pong')
    // The dropped socket's session ended with it; the mediator adds it again.
    await until('the old session to end', async () => !(await sender.call('getLiveSession', { connectionId: conn })))
    assert.equal(await c.call('addLiveSession', { connectionId: conn, sessionId: uniq('s2') }), true)
    const id = await sender.addMessage({ connectionId: conn, recipientDids: ['did:r'], payload: payload(7) })
    await until('live delivery after the reconnect', () => c.received.some((d) => d.messages.some((m) => m.id === id)))
  } finally {
    c.close()
    sender.close()
    proxy.close()
  }
})

test('every call answers well inside the client\'s 2000 ms timeout', async () => {
  const c = new MPRClient(URL_)
  await c.connect()
  try {
    const conn = uniq('fast')
    const started = Date.now()
    const calls = []
    for (let i = 0; i < 500; i++) {
      calls.push(c.addMessage({ connectionId: conn, recipientDids: ['did:r'], payload: payload(i) }))
    }
    await Promise.all(calls) // 500 in flight on one socket: none may hit the 2000 ms timeout
    assert.equal(await c.call('getAvailableMessageCount', { connectionId: conn }), 500)
    const all = await c.call('takeFromQueue', { connectionId: conn, deleteMessages: true })
    assert.equal(all.length, 500)
    assert.ok(Date.now() - started < TIMEOUT, `500 pipelined adds took ${Date.now() - started} ms`)
  } finally {
    c.close()
  }
})
