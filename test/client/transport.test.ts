// The client's transports: `sse` reads the event stream with fetch and POSTs commands; `auto` starts
// with WebSocket and falls back to SSE when upgrades keep failing.

import t from 'tap'
import { AUTO_FALLBACK_AFTER_FAILURES, type FetchLike, type StreamTransport, type WebSocketLike } from '../../lib/client/index.js'
import { EventStreamParser, FetchEventStream } from '../../lib/client/event-stream.js'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { cutStreams, streamClient, streamOpens } from '../support/client-helpers.js'

/** A WebSocket behind a proxy that breaks them: every connection is lost before it opens. */
class BrokenWebSocket implements WebSocketLike {
  static attempts = 0
  onmessage: WebSocketLike['onmessage'] = null
  onclose: WebSocketLike['onclose'] = null
  onerror: WebSocketLike['onerror'] = null

  constructor () {
    BrokenWebSocket.attempts++
    setTimeout(() => this.onclose?.({ code: 1006, reason: '' }))
  }

  send (): void {}
  close (): void {}
}

t.test(`auto: after ${AUTO_FALLBACK_AFTER_FAILURES} failed upgrades in a row, the client says so and streams over SSE`, async (t) => {
  const server = await build(t)
  server.app.dagStream.onClientEvent(() => {})
  for (const event of events(5)) await server.app.dagStream.broadcast('d', event)
  const client = streamClient(t, server, 'd', { transport: 'auto', WebSocket: BrokenWebSocket })
  t.equal(client.transport, 'websocket', 'starts with WebSocket')
  const switched: StreamTransport[] = []
  client.on('transport', (transport) => switched.push(transport))
  await until(() => client.status === 'open', 'open')
  t.equal(BrokenWebSocket.attempts, AUTO_FALLBACK_AFTER_FAILURES)
  t.same(switched, ['sse'])
  t.equal(client.transport, 'sse')
  for (const event of events(5, 5)) await server.app.dagStream.broadcast('d', event)
  await until(() => client.position.seq === 10, 'seq 10')
  t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  await client.pause()
  t.pass('commands go by POST')
})

t.test('auto: a WebSocket that works is kept, through cuts after its hello', async (t) => {
  const server = await build(t)
  const opens = streamOpens(server)
  const client = streamClient(t, server, 'd', { transport: 'auto' })
  await until(() => client.status === 'open', 'open')
  for (let cut = 0; cut < AUTO_FALLBACK_AFTER_FAILURES; cut++) {
    cutStreams(server)
    await until(() => opens.length === cut + 2 && client.status === 'open', 'the reconnect')
  }
  t.equal(client.transport, 'websocket')
  t.ok(opens.every((url) => new URL(url, 'ws://x').pathname.endsWith('/stream')), 'never an event stream')
})

t.test('auto without a WebSocket implementation uses SSE; websocket without one says what to pass', async (t) => {
  const server = await build(t)
  const client = streamClient(t, server, 'd', { transport: 'auto', WebSocket: undefined })
  t.equal(client.transport, 'sse')
  await until(() => client.status === 'open', 'open')
  t.throws(() => streamClient(t, server, 'd', { WebSocket: undefined }), { name: 'TypeError', message: /transport: 'sse'/ })
  t.throws(() => streamClient(t, server, 'd', { transport: 'carrier-pigeon' as never }), {
    name: 'TypeError',
    message: '"transport" must be one of websocket, sse, auto, got "carrier-pigeon"'
  })
})

t.test('sse: a refused event stream is retried like a refused upgrade; streamParams reach both routes', async (t) => {
  let refusals = 1
  const tokens: string[] = []
  const server = await build(t, {
    authorize: (request) => {
      if (/\/(events|commands)/.test(request.url)) tokens.push(`${request.method} ${(request.query as { token?: string }).token}`)
      return !request.url.includes('/events') || refusals-- <= 0
    }
  })
  server.app.dagStream.onClientEvent(() => {})
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = streamClient(t, server, 'd', { transport: 'sse', streamParams: () => ({ token: 'secret' }) })
  const statuses: string[] = []
  client.on('status', (status) => statuses.push(status))
  await until(() => client.status === 'open', 'open')
  t.same(statuses, ['reconnecting', 'resyncing', 'open'])
  await client.pause()
  t.same(tokens, ['GET secret', 'GET secret', 'POST secret'])
})

t.test('sse: a stream that ends without a close message, or that has no body, is a lost connection', async (t) => {
  const server = await build(t)
  const broken: Array<Awaited<ReturnType<FetchLike>>> = [
    new Response('data: {"type":"not-yet"', { status: 200 }),
    { ok: true, status: 200, json: async () => ({}), body: null }
  ]
  const proxied: FetchLike = async (url, init) => (new URL(url).pathname.endsWith('/events') ? broken.shift() : undefined) ?? fetch(url, init)
  const client = streamClient(t, server, 'd', { transport: 'sse', fetch: proxied })
  const reconnects: number[] = []
  client.on('reconnecting', ({ closeCode }) => reconnects.push(closeCode as number))
  await until(() => client.status === 'open', 'open')
  t.same(reconnects, [1006, 1006])
})

t.test('sse: a command answered with something that is not a frame ends the stream; the client comes back', async (t) => {
  const server = await build(t)
  server.app.dagStream.onClientEvent(() => {})
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  let broken = true
  const proxied: FetchLike = async (url, init) => {
    if (init.method === 'POST' && broken) {
      broken = false
      return { ok: false, status: 502, json: async () => JSON.parse('<html>Bad Gateway</html>') }
    }
    return fetch(url, init)
  }
  const client = streamClient(t, server, 'd', { transport: 'sse', fetch: proxied })
  await until(() => client.status === 'open', 'open')
  const statuses: string[] = []
  client.on('status', (status) => statuses.push(status))
  const resumed = client.resume() // queued behind the pause: never sent on the stream that ended
  await t.rejects(client.pause(), { code: 'connection_lost' })
  await t.rejects(resumed, { code: 'connection_lost' })
  await until(() => client.status === 'open', 'back')
  t.equal(statuses[0], 'reconnecting')
  await client.pause()
})

t.test('the event-stream parser: chunks cut anywhere, CRLF, several data lines, events, comments', async (t) => {
  const parser = new EventStreamParser()
  t.same(parser.push(': heartbeat\n\nid: e:1\nda'), [])
  t.same(parser.push('ta: {"a":1}\r\n\r\n'), [{ event: 'message', data: '{"a":1}' }])
  t.same(parser.push('data:one\ndata\ndata: three\nretry: 10\n\n'), [{ event: 'message', data: 'one\n\nthree' }])
  t.same(parser.push('event: close\ndata: {}\n\nevent: nothing\n\n'), [{ event: 'close', data: '{}' }], 'a message without data is none')
  t.same(parser.push('data: x\r\rdata: y\n\n'), [{ event: 'message', data: 'x' }, { event: 'message', data: 'y' }])
})

t.test('an event stream passes on the close message; messages without a listener are dropped', async (t) => {
  const body = 'data: {}\n\nevent: close\ndata: {"code":4503,"reason":"no"}\n\ndata: {}\n\n'
  const stream = new FetchEventStream(async () => new Response(body), 'http://x/events', 'http://x/commands')
  const closed = await new Promise((resolve) => {
    stream.onclose = resolve
  })
  t.same(closed, { code: 4503, reason: 'no' })
})
