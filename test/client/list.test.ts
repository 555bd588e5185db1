// DAGListClient against the real server: the page, the changes kept in order and in the filter, a
// reconnect that brings a fresh page, and a final close.

import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { createDAGListClient, type DAGListClientOptions, type DAGListView } from '../../lib/client/index.js'
import type { DAGEvent } from '../../schemas/index.js'
import { until } from '../support/wait.js'
import { fastBackoff, type Server } from '../support/client-helpers.js'
import { build } from '../support/helpers.js'

const running: DAGEvent = { type: 'node_state', node_id: 'step', status: 'running' }
const paused: DAGEvent = { type: 'execution_status', status: 'paused' }
const complete: DAGEvent = { type: 'execution_complete', results: null }

function listClient (t: Test, server: Server, options: DAGListClientOptions = {}) {
  const client = createDAGListClient({ baseUrl: server.http, WebSocket, backoff: fastBackoff, ...options })
  t.teardown(() => client.close())
  return client
}

/** `id:status` of each DAG shown, in order, and the total. */
function shown (view: DAGListView): string {
  return `${view.dags.map((dag) => `${dag.dag_id}:${dag.status}`).join(' ')} (${view.total})`
}

/** Resolves after the clock moved on, so that the next event has a later `updated_at`. */
async function nextMillisecond (): Promise<void> {
  const now = Date.now()
  await until(() => Date.now() > now, 'the clock to tick')
}

t.test('the page, then creations, status changes and evictions, newest first, cut to the limit', async (t) => {
  const server = await build(t, { retainFinishedMs: 300 })
  await server.app.dagStream.broadcast('a', running)
  await nextMillisecond()
  const client = listClient(t, server, { query: { limit: 2 } })
  const statuses: string[] = []
  client.on('status', (status) => statuses.push(status))
  t.equal(client.status, 'connecting')
  t.equal(shown(client.view), ' (0)')
  await until(() => client.status === 'open', 'the page')
  t.equal(shown(client.view), 'a:running (1)')

  await server.app.dagStream.broadcast('b', running)
  await until(() => shown(client.view) === 'b:running a:running (2)', 'b on top')
  await nextMillisecond()
  await server.app.dagStream.broadcast('a', paused)
  await until(() => shown(client.view) === 'a:paused b:running (2)', 'a moved up with its new status')
  await nextMillisecond()
  await server.app.dagStream.broadcast('c', complete)
  await until(() => shown(client.view) === 'c:completed a:paused (3)', 'cut to the limit, counted in the total')
  await until(() => shown(client.view) === 'a:paused (2)', 'c evicted after retainFinishedMs')
  t.same(statuses, ['open'])
  t.notOk(client.error)
})

t.test('a status filter: a DAG that leaves it goes, one that enters it comes', async (t) => {
  const server = await build(t)
  await server.app.dagStream.broadcast('a', running)
  await server.app.dagStream.broadcast('b', paused)
  const client = listClient(t, server, { query: { status: ['running'], order: 'oldest', offset: 0 } })
  await until(() => client.status === 'open', 'the page')
  t.equal(shown(client.view), 'a:running (1)')
  await server.app.dagStream.broadcast('a', paused)
  await until(() => shown(client.view) === ' (0)', 'a left the filter')
  await server.app.dagStream.broadcast('b', { type: 'execution_status', status: 'running' })
  await until(() => shown(client.view) === 'b:running (1)', 'b entered it')
})

t.test('open gates: a gate that opens or is decided updates the DAG where it is shown, and the total holds', async (t) => {
  const server = await build(t)
  await server.app.dagStream.broadcast('a', running)
  await nextMillisecond()
  await server.app.dagStream.broadcast('b', running)
  const client = listClient(t, server, { query: { limit: 1 } })
  const gates = (view: DAGListView) => `${view.dags.map((dag) => `${dag.dag_id}:${dag.open_gates}`).join(' ')} (${view.total})`
  await until(() => client.status === 'open', 'the page')
  t.equal(gates(client.view), 'b:0 (2)')
  await nextMillisecond()
  await server.app.dagStream.broadcast('b', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Ship?' } })
  await until(() => gates(client.view) === 'b:1 (2)', 'b needs a decision')
  await nextMillisecond()
  // `a` was never shown: its change comes with its status, so it is not counted as a new DAG.
  await server.app.dagStream.broadcast('a', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Ship?' } })
  await until(() => gates(client.view) === 'a:1 (2)', 'a moved up, the total the same')
  await nextMillisecond()
  await server.app.dagStream.broadcast('a', { type: 'human_gate_resolved', node_id: 'review', decision: 'approve' })
  await until(() => gates(client.view) === 'a:0 (2)', 'decided')
})

t.test('after a lost socket, a fresh page; after a final close code, closed with the error', async (t) => {
  let allowed = true
  const server = await build(t, { authorize: async () => allowed })
  await server.app.dagStream.broadcast('a', running)
  const client = listClient(t, server, { streamParams: () => ({ token: 'secret' }), connect: false })
  const reconnects: number[] = []
  client.on('reconnecting', (info) => reconnects.push(info.attempt))
  client.connect()
  await until(() => shown(client.view) === 'a:running (1)', 'the page')
  for (const socket of server.app.websocketServer.clients) socket.terminate()
  await until(() => client.status === 'reconnecting', 'reconnecting')
  t.match(client.reconnect, { attempt: 1, closeCode: 1006 })
  await server.app.dagStream.broadcast('b', running) // while away
  await until(() => client.status === 'open', 'back')
  t.match(shown(client.view), /b:running .*\(2\)/, 'the fresh page has what happened while away')
  t.same(reconnects, [1])

  // A socket the server closes for good: 1008 after a message (the list takes none), through the raw socket.
  allowed = false
  for (const socket of server.app.websocketServer.clients) socket.close(4503, 'forbidden')
  await until(() => client.status === 'closed', 'closed for good')
  t.match(client.error, { code: 'closed_by_server', closeCode: 4503 })
  client.connect() // does nothing once closed
  t.equal(client.status, 'closed')
})

t.test('a frame that is not JSON is reported, and the list goes on', async (t) => {
  const server = await build(t)
  const client = listClient(t, server)
  await until(() => client.status === 'open', 'the page')
  const errors: string[] = []
  const onError = (error: { code: string }) => errors.push(error.code)
  client.on('error', onError)
  for (const socket of server.app.websocketServer.clients) socket.send('not json')
  await until(() => errors.length === 1, 'the error')
  t.same(errors, ['invalid_frame'])
  t.match(client.error, { code: 'invalid_frame' })
  client.off('error', onError)
  await server.app.dagStream.broadcast('a', running)
  await until(() => shown(client.view) === 'a:running (1)', 'the next change')
})

t.test('options: https becomes wss, a missing WebSocket is named', async (t) => {
  const urls: string[] = []
  class FakeSocket {
    onmessage = null
    onclose = null
    onerror = null
    constructor (url: string) {
      urls.push(url)
    }

    send () {}
    close () {}
  }
  const client = createDAGListClient({ baseUrl: 'https://api.example.com/', prefix: '/runs', WebSocket: FakeSocket, query: { status: ['running', 'paused'] } })
  client.close()
  t.same(urls, ['wss://api.example.com/runs?limit=100&offset=0&order=newest&status=running&status=paused'])
  t.throws(() => createDAGListClient({ baseUrl: 'http://localhost' }), /no WebSocket implementation/)
})

t.test('attempts that fail one after the other keep reconnecting, further apart', async (t) => {
  class RefusedSocket {
    onmessage = null
    onclose: ((event: { code: number; reason: string }) => void) | null = null
    onerror = null
    constructor () {
      setImmediate(() => this.onclose?.({ code: 1006, reason: '' }))
    }

    send () {}
    close () {}
  }
  const client = createDAGListClient({ baseUrl: 'http://localhost', WebSocket: RefusedSocket, backoff: { minDelayMs: 2, maxDelayMs: 64 } })
  t.teardown(() => client.close())
  const attempts: number[] = []
  client.on('reconnecting', (info) => attempts.push(info.attempt))
  // At least three: on a busy machine a fourth may come before the condition is looked at again.
  await until(() => attempts.length >= 3, 'three attempts')
  t.same(attempts.slice(0, 3), [1, 2, 3])
  t.equal(client.status, 'reconnecting')

  const unreachable = createDAGListClient({ baseUrl: 'http://127.0.0.1:1', WebSocket, backoff: fastBackoff })
  t.teardown(() => unreachable.close())
  await until(() => unreachable.reconnect !== undefined, 'a refused connection to be retried')
  t.equal(unreachable.status, 'reconnecting')
})
