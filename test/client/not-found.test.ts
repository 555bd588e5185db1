// A DAG the server does not have (never started, evicted, lost in a restart) is a state of its own,
// `existence: 'not_found'`, not a live run with nothing in it; and the client keeps following it, so
// a run that an engine starts later shows up.

import Fastify from 'fastify'
import t from 'tap'
import dagStream from '../../lib/index.js'
import type { DAGExistence, DAGStreamClient } from '../../lib/client/index.js'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { cutStreams, evictedWhileSnapshotLoads, streamClient, TRANSPORTS } from '../support/client-helpers.js'

/** Every existence the client announced, with the connection status at that moment. */
function recordExistence (client: DAGStreamClient) {
  const seen: Array<{ existence: DAGExistence; status: string }> = []
  client.on('existence', (existence) => seen.push({ existence, status: client.status }))
  return seen
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a DAG that was never started is not found, and appears when an engine starts it`, async (t) => {
    const server = await build(t)
    const client = streamClient(t, server, 'later', { transport })
    const seen = recordExistence(client)
    t.equal(client.existence, 'unknown', 'nothing is known before the hello')
    await until(() => client.status === 'open', 'open')
    t.equal(client.existence, 'not_found')
    t.same(seen, [{ existence: 'not_found', status: 'connecting' }], 'said before the stream counts as open')
    t.equal(client.store.getSnapshot().nodes.size, 0)
    await t.rejects(client.pause(), { code: 'dag_not_found' }, 'what the run controls would get')

    await server.app.dagStream.broadcast('later', { type: 'node_state', node_id: 'a', status: 'running' })
    await until(() => client.existence === 'found', 'found')
    t.equal(client.store.getSnapshot().nodes.get('a')?.status, 'running', 'with its first event')
    t.same(seen.map(({ existence }) => existence), ['not_found', 'found'])
  })

  t.test(`${transport}: a run created while the client was away continues its empty log: no snapshot is loaded`, async (t) => {
    const server = await build(t)
    const client = streamClient(t, server, 'later', { transport })
    await until(() => client.existence === 'not_found', 'not found')
    const snapshots: unknown[] = []
    client.on('snapshot', (snapshot) => snapshots.push(snapshot))
    cutStreams(server)
    await until(() => client.status === 'reconnecting', 'reconnecting')
    for (const event of events(3)) await server.app.dagStream.broadcast('later', event)
    await until(() => client.existence === 'found' && client.position.seq === 3, 'the three events')
    t.same(snapshots, [], 'events 1 … 3 came from the history')
    t.equal(client.status, 'open')
  })

  t.test(`${transport}: a DAG with events is found, whether it loads from the snapshot or from the first event`, async (t) => {
    const server = await build(t)
    for (const event of events(3)) await server.app.dagStream.broadcast('d', event)
    const client = streamClient(t, server, 'd', { transport })
    const seen = recordExistence(client)
    await until(() => client.status === 'open' && client.position.seq === 3, 'loaded')
    t.equal(client.existence, 'found')
    t.same(seen, [{ existence: 'found', status: 'resyncing' }], 'found with the snapshot, before the stream counts as open')
  })

  t.test(`${transport}: not found stays not found through a reconnect, and the client keeps following`, async (t) => {
    const server = await build(t)
    const client = streamClient(t, server, 'later', { transport })
    await until(() => client.existence === 'not_found', 'not found')
    const statuses: string[] = []
    client.on('status', (status) => statuses.push(status))
    cutStreams(server)
    await until(() => client.status === 'reconnecting', 'reconnecting')
    t.equal(client.existence, 'not_found', 'what was last known, while the stream is away')
    await until(() => statuses.includes('open'), 'open again')
    t.equal(client.existence, 'not_found')
    await server.app.dagStream.broadcast('later', { type: 'node_state', node_id: 'a', status: 'running' })
    await until(() => client.existence === 'found' && client.position.seq === 1, 'the run started after the reconnect')
  })

  t.test(`${transport}: the server restarted without the DAG: not found, with an empty store, until it starts again`, async (t) => {
    const first = await build(t)
    for (const event of events(5)) await first.app.dagStream.broadcast('d', event)
    const client = streamClient(t, first, 'd', { transport })
    await until(() => client.existence === 'found' && client.position.seq === 5, 'found at seq 5')
    await first.app.close()
    const second = Fastify({ logger: false })
    await second.register(dagStream)
    await second.listen({ port: first.port, host: '127.0.0.1' })
    t.teardown(() => second.close())
    await until(() => client.existence === 'not_found', 'not found on the new server')
    t.equal(client.status, 'open', 'and still following')
    t.equal(client.store.getSnapshot().nodes.size, 0, 'nothing of the old run is left')
    await second.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
    await until(() => client.existence === 'found' && client.position.seq === 1, 'the new run')
    t.same(client.store.toSnapshot('d'), await second.dagStream.snapshot('d'))
  })

  t.test(`${transport}: a 404 snapshot (the DAG evicted while it loads) makes it not found; its next log makes it found`, async (t) => {
    const { server, client } = await evictedWhileSnapshotLoads(t, transport)
    t.equal(client.existence, 'not_found')
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'again', status: 'running' })
    await until(() => client.existence === 'found' && client.position.seq === 1, 'found again')
  })
}
