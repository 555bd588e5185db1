// The Server-Sent Events route: the same stream as the WebSocket one (hello, ids, resume by
// Last-Event-ID or query, resync), its refusals, heartbeats, expiry, shutdown and backpressure.

import { request as httpRequest, type IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import { eventId, parseEventId, sseMessage } from '../../lib/stream/event-stream.js'
import type { DAGStreamOptions } from '../../lib/index.js'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { tick, until } from '../support/wait.js'
import { frames, openEvents, streamKeyOf } from '../support/event-stream-helpers.js'

const path = '/api/dags/d/events'

async function serverWith (t: Test, options: DAGStreamOptions = {}, count = 3) {
  const server = await build(t, options)
  for (const event of events(count)) await server.app.dagStream.broadcast('d', event)
  const epoch = (await server.app.dagStream.snapshot('d'))?.epoch as string
  return { ...server, epoch }
}

t.test('a new reader gets hello (resync), then live events with id <epoch>:<seq>', async (t) => {
  const { app, http, epoch } = await serverWith(t)
  const stream = await openEvents(t, `${http}${path}`)
  t.equal(stream.response.status, 200)
  t.equal(stream.response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  t.equal(stream.response.headers.get('cache-control'), 'no-cache, no-transform')
  await until(() => frames(stream).length === 1, 'hello')
  t.match(frames(stream), [{ type: 'hello', dag_id: 'd', epoch, seq: 3, recovered: false }])
  t.equal(app.dagStream.connections('d'), 1)
  await app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  await until(() => frames(stream).length === 2, 'the live event')
  t.match(frames(stream)[1], { type: 'node_state', seq: 4, epoch })
  t.match(stream.text, `\n\nid: ${epoch}:4\ndata: {`, 'the event has an id')
  t.notMatch(stream.text, /id: [^\n]*\ndata: \{"type":"hello"/, 'hello has none')
  t.match(stream.text, /^event: stream\ndata: \{"key":"[\w-]+\.[\w-]{24}"\}\n\n/, 'first, before hello: the stream\'s key (144 random bits)')
  t.not(await streamKeyOf(stream), await streamKeyOf(await openEvents(t, `${http}${path}`)), 'one key per stream')
})

t.test('Last-Event-ID resumes within the epoch and wins over the query; another epoch or a foreign id resyncs', async (t) => {
  const { http, epoch } = await serverWith(t)
  const resumed = await openEvents(t, `${http}${path}?since=0&epoch=${epoch}`, { 'last-event-id': eventId(epoch, 1) })
  await until(() => frames(resumed).length === 3, 'hello and the two missed events')
  t.match(frames(resumed), [{ type: 'hello', seq: 3, recovered: true }, { seq: 2 }, { seq: 3 }])

  const byQuery = await openEvents(t, `${http}${path}?since=2&epoch=${epoch}`)
  await until(() => frames(byQuery).length === 2, 'hello and the missed event')
  t.match(frames(byQuery), [{ type: 'hello', recovered: true }, { seq: 3 }])

  const otherEpoch = await openEvents(t, `${http}${path}`, { 'last-event-id': 'gone:2' })
  await until(() => frames(otherEpoch).length === 1, 'hello')
  t.match(frames(otherEpoch), [{ type: 'hello', recovered: false, reason: 'epoch_changed' }])

  const foreign = await openEvents(t, `${http}${path}`, { 'last-event-id': 'not-ours' })
  await until(() => frames(foreign).length === 1, 'hello')
  t.match(frames(foreign), [{ type: 'hello', recovered: false }])
})

t.test('event ids: formatted and read back; anything else is not one', async (t) => {
  t.same(parseEventId(eventId('a:b', 12)), { epoch: 'a:b', seq: 12 }, 'an epoch may hold a colon')
  for (const value of ['', ':3', 'e:', 'e:x', 'e:1.5', `e:${2 ** 60}`]) t.equal(parseEventId(value), undefined, JSON.stringify(value))
  const frame = Buffer.from('{"type":"error","code":"forbidden","message":"no"}')
  t.equal(sseMessage(frame).toString(), `data: ${frame.toString()}\n\n`, 'a control frame has no id')
  t.equal(sseMessage(frame), sseMessage(frame), 'built once for every reader')
})

t.test('refused before the stream: authorize, origin, connection limits (a slot comes back when a stream ends)', async (t) => {
  let allowed = true
  const { app, http } = await serverWith(t, { authorize: () => allowed, maxConnectionsPerIp: 1 })
  allowed = false
  const forbidden = await fetch(`${http}${path}`)
  t.equal(forbidden.status, 403)
  t.match(await forbidden.json(), { statusCode: 403, code: 'FST_DAG_STREAM_FORBIDDEN' })
  allowed = true
  const foreign = await fetch(`${http}${path}`, { headers: { origin: 'https://evil.example' } })
  t.equal(foreign.status, 403)
  t.match(await foreign.json(), { message: /evil\.example/ })

  const first = await openEvents(t, `${http}${path}`)
  await until(() => frames(first).length === 1, 'hello')
  const second = await fetch(`${http}${path}`)
  t.equal(second.status, 429)
  t.equal(second.headers.get('retry-after'), '5')
  await second.body?.cancel()
  app.server.closeAllConnections()
  await until(() => app.dagStream.connections() === 0, 'the first stream to end')
  const third = await openEvents(t, `${http}${path}`)
  t.equal(third.response.status, 200, 'the slot came back')
})

t.test('heartbeats are comments; a reader that keeps reading stays', async (t) => {
  const { app, http } = await serverWith(t, { heartbeatMs: 30 })
  const stream = await openEvents(t, `${http}${path}`)
  await until(() => stream.text.split(': heartbeat\n\n').length > 4, 'four heartbeats')
  t.equal(app.dagStream.connections('d'), 1, 'still connected')
  t.notOk(stream.ended)
})

t.test('credentials that expire end the stream with a close message: code 4401', async (t) => {
  const { http } = await serverWith(t, { authorize: () => ({ allowed: true, expiresAt: Date.now() + 300 }) })
  const stream = await openEvents(t, `${http}${path}`)
  await until(() => stream.ended, 'the end of the stream')
  t.same(stream.messages.at(-1), { event: 'close', data: JSON.stringify({ code: 4401, reason: 'credentials expired' }) })
})

t.test('shutdown ends every event stream with 1001', async (t) => {
  const { app, http } = await serverWith(t)
  const stream = await openEvents(t, `${http}${path}`)
  await until(() => frames(stream).length === 1, 'hello')
  await app.close()
  await until(() => stream.ended, 'the end of the stream')
  t.same(stream.messages.at(-1), { event: 'close', data: JSON.stringify({ code: 1001, reason: 'server shutting down' }) })
})

t.test('a reader that stops reading is cut at maxBufferedBytes', async (t) => {
  const { app, port } = await serverWith(t, { maxBufferedBytes: 64 * 1024 })
  const response = await new Promise<IncomingMessage>((resolve) => httpRequest({ port, host: '127.0.0.1', path }, resolve).end())
  response.pause() // reads nothing more: the kernel's buffers fill, then the server's
  await until(() => app.dagStream.connections('d') === 1, 'the stream')
  const big = 'x'.repeat(8 * 1024)
  for (let index = 0; app.dagStream.connections('d') === 1; index++) {
    await app.dagStream.broadcast('d', { type: 'node_state', node_id: 'n', status: 'running', output: { text: big, index } })
    if (index % 20 === 0) await tick()
  }
  t.equal(app.dagStream.connections('d'), 0, 'cut')
  response.destroy()
})

t.test('a reader whose heartbeats stop flowing is terminated like a WebSocket peer that misses its pongs', async (t) => {
  const { app, port } = await serverWith(t, { maxBufferedBytes: 256 * 1024 * 1024, heartbeatMs: 50 })
  const response = await new Promise<IncomingMessage>((resolve) => httpRequest({ port, host: '127.0.0.1', path }, resolve).end())
  response.pause()
  await until(() => app.dagStream.connections('d') === 1, 'the stream')
  // Far more than the kernel's buffers hold: the heartbeats queue behind it and are never flushed.
  const big = 'x'.repeat(64 * 1024)
  for (let index = 0; index < 400; index++) {
    await app.dagStream.broadcast('d', { type: 'node_state', node_id: 'n', status: 'running', output: { text: big, index } })
  }
  await until(() => app.dagStream.connections('d') === 0, 'the reader to be terminated')
  t.pass('terminated')
  response.destroy()
})

t.test('a reader gone before its stream starts (while authorize ran) leaves nothing behind', async (t) => {
  let release!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let asked = 0
  const { app, http } = await serverWith(t, {
    authorize: async (request) => {
      if (request.url.includes('/events') && asked++ === 0) await released
      return true
    }
  })
  const abort = new AbortController()
  fetch(`${http}${path}`, { signal: abort.signal }).catch(() => {})
  await until(() => asked === 1, 'authorize to be asked')
  abort.abort()
  const openConnections = () => new Promise<number>((resolve) => app.server.getConnections((_error, count) => resolve(count)))
  await until(async () => (await openConnections()) === 0, 'the reader to be gone')
  release()
  // A stream opened after the release starts after the abandoned one would have joined.
  const stream = await openEvents(t, `${http}${path}`)
  await until(() => frames(stream).length === 1, 'hello')
  t.equal(app.dagStream.connections('d'), 1, 'only the reader that stayed')
})
