// Upgrade requests built to hurt: too many headers, and headers trickled one byte at a time. Each gets a
// specific HTTP status from Node or Fastify, nothing crashes, and no stream slot is held.

import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { build, TestClient } from '../support/helpers.js'
import { stillServes } from './probe.js'
import { RawConnection, upgradeRequest } from './raw-socket.js'

const stream = '/api/dags/d/stream'

/** A DAG with an execution, and an engine that accepts commands: what stillServes needs. */
async function prepare (app: FastifyInstance): Promise<void> {
  app.dagStream.onClientEvent(() => {})
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
}

/** Writes `request` on a raw connection and resolves with the status line and body of the answer, once closed. */
async function answerTo (port: number, request: string) {
  const raw = new RawConnection(port)
  raw.socket.write(request)
  await raw.closed
  const [head = '', body = ''] = raw.text.split('\r\n\r\n')
  return { status: head.split('\r\n')[0], body }
}

t.test('2,000 headers on an upgrade: 431 when they pass 16 KiB; 400 when they push the upgrade headers out', async (t) => {
  const { port, url } = await build(t, {}, prepare)
  const many = (count: number, header: (index: number) => string) => Array.from({ length: count }, (_, index) => header(index)).join('')

  // Node's maxHeaderSize (16 KiB) is passed long before the 2,000th header; Fastify answers 431.
  const large = await answerTo(port, upgradeRequest(stream, many(2000, (index) => `x-header-${index}: some value\r\n`)))
  t.equal(large.status, 'HTTP/1.1 431 Request Header Fields Too Large')
  t.match(JSON.parse(large.body), { statusCode: 431, message: 'Exceeded maximum allowed HTTP header size' })

  // Tiny headers fit in 16 KiB, but Node keeps only the first 2,000 (maxHeadersCount): the upgrade
  // headers that follow them are dropped, and ws refuses a handshake without them.
  const tiny = many(2000, () => 'a: b\r\n')
  const pushedOut = await answerTo(port, upgradeRequest(stream).replace('Host:', `${tiny}Host:`))
  t.equal(pushedOut.status, 'HTTP/1.1 400 Bad Request')
  t.equal(pushedOut.body, 'Invalid Upgrade header')

  await stillServes(t, url(stream))
})

t.test('an upgrade trickled one byte at a time is cut off by Fastify\'s requestTimeout, and holds no stream slot meanwhile', async (t) => {
  // requestTimeout is Fastify's own option (Node's server.requestTimeout, off by default in Fastify);
  // connectionsCheckingInterval only makes Node look often enough for a short test.
  const { app, port, url } = await build(t, { maxConnections: 2 }, prepare, { requestTimeout: 500, http: { connectionsCheckingInterval: 20 } })
  const established = await TestClient.open(url(stream))
  await established.next()
  const request = upgradeRequest(stream, `x-padding: ${'p'.repeat(200)}\r\n`)
  const slow = new RawConnection(port)
  let sent = 0
  const trickle = (async () => {
    while (sent < request.length && !slow.socket.destroyed) {
      slow.socket.write(request[sent++] as string)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })()

  // While it trickles, the second stream slot is free for a real client.
  await stillServes(t, url(stream))
  await slow.closed
  await trickle
  t.match(slow.text, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'answered 408, then closed')
  t.ok(sent < request.length, `closed after ${sent} of ${request.length} bytes: the headers never completed`)

  // The stream opened before the trickle has outlived requestTimeout: it bounds requests, not streams.
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await established.next(), { type: 'execution_status', seq: 2 })
  established.close()
})
