// Creating a client: what it needs, what it defaults to, and the URLs it builds from the options.

import Fastify from 'fastify'
import t from 'tap'
import WebSocket from 'ws'
import { createDAGStreamClient, type DAGSnapshot, type DAGStore, type SequencedEvent } from '../../lib/client/index.js'
import { snapshotUrl, streamUrl } from '../../lib/client/transport.js'
import dagStream from '../../lib/index.js'
import { build } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { streamClient, TRANSPORTS } from '../support/client-helpers.js'

t.test('bad options throw at creation, naming the option and the fix', async (t) => {
  const base = { baseUrl: 'http://127.0.0.1:1', WebSocket, connect: false }
  t.throws(() => createDAGStreamClient({ ...base, dagId: '' }), { name: 'TypeError', message: /"dagId" must be a non-empty string/ })
  t.throws(() => createDAGStreamClient({ ...base, dagId: 'd', baseUrl: 'not a url' }), /"baseUrl" must be an absolute URL/)
  t.throws(() => createDAGStreamClient({ dagId: 'd', baseUrl: 'http://x', connect: false }), /no WebSocket implementation: pass `WebSocket`/)
  t.throws(() => createDAGStreamClient({ dagId: 'd', connect: false, WebSocket }), /"baseUrl"/, 'no page origin outside a browser')
  t.throws(() => createDAGStreamClient({ ...base, dagId: 'd', commandTimeoutMs: -5 }), /"commandTimeoutMs" must be a number/)
  t.throws(() => createDAGStreamClient({ ...base, dagId: 'd', transport: 1 as never }), /"transport" must be one of websocket, sse, auto, got 1/)
})

t.test('URLs: prefix and dag id appended to the base, ws for http and wss for https', async (t) => {
  t.equal(snapshotUrl('https://api.example.com/app', '/api/dags', 'run 1'), 'https://api.example.com/app/api/dags/run%201')
  t.equal(streamUrl('https://api.example.com', '/v1', 'r', { epoch: 'e', seq: 3 }), 'wss://api.example.com/v1/r/stream?since=3&epoch=e')
  t.equal(streamUrl('http://localhost:3000', '/v1', 'r', { epoch: '', seq: 0 }), 'ws://localhost:3000/v1/r/stream?since=0&epoch=')
  t.equal(streamUrl('http://localhost:3000', '/v1', 'r', undefined), 'ws://localhost:3000/v1/r/stream', 'no position before the client knows one')
})

t.test('a custom prefix, a trailing slash, and the page origin as the default base URL', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(dagStream, { prefix: '/v1/runs' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address() as { port: number }
  await app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  const page = globalThis as { location?: { origin: string } }
  page.location = { origin: `http://127.0.0.1:${address.port}/` }
  t.teardown(() => {
    delete page.location
  })
  const client = createDAGStreamClient({ dagId: 'd', prefix: '/v1/runs', WebSocket })
  t.teardown(() => client.close())
  await until(() => client.position.seq === 1, 'seq 1')
  t.same(client.store.toSnapshot('d'), await app.dagStream.snapshot('d'))
})

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a store of your own receives reset and apply; listeners can be removed`, async (t) => {
    const server = await build(t)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
    const calls: string[] = []
    const store: DAGStore = {
      reset: (snapshot: DAGSnapshot) => calls.push(`reset ${snapshot.seq}`),
      apply: (event: SequencedEvent) => calls.push(`apply ${event.seq}`)
    }
    const client = streamClient(t, server, 'd', { store, transport })
    t.equal(client.store, store)
    const statuses: string[] = []
    const listener = (status: string) => statuses.push(status)
    client.on('status', listener)
    await until(() => client.status === 'open', 'open')
    client.off('status', listener)
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed' })
    await until(() => client.position.seq === 2, 'seq 2')
    client.close()
    t.same(calls, ['reset 1', 'apply 2'])
    t.same(statuses, ['resyncing', 'open'], 'nothing after off()')
  })
}
