// When the snapshot cannot be loaded: the error is reported, the socket given up, and the client
// tries again with backoff. A DAG that vanished meanwhile (404) is an empty log, not a failure.

import t from 'tap'
import type { FetchLike } from '../../lib/client/index.js'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { evictedWhileSnapshotLoads, isSnapshotRequest, streamClient, TRANSPORTS } from '../support/client-helpers.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a refused snapshot (403) is reported and retried after a reconnect`, async (t) => {
    let allowed = false
    const server = await build(t, { authorize: (request) => request.url !== '/api/dags/d' || allowed })
    for (const event of events(5)) await server.app.dagStream.broadcast('d', event)
    const client = streamClient(t, server, 'd', { transport })
    const errors: Array<{ code: string; status?: number }> = []
    client.on('error', (error) => {
      errors.push(error)
      allowed = true
    })
    await until(() => client.status === 'open' && client.position.seq === 5, 'loaded after the retry')
    t.match(errors, [{ code: 'snapshot_failed', status: 403 }])
    t.equal(client.error, undefined, 'the error is cleared by the next good connection')
  })

  t.test(`${transport}: a network failure while loading is reported with its cause and retried`, async (t) => {
    const server = await build(t)
    for (const event of events(5)) await server.app.dagStream.broadcast('d', event)
    let failures = 1
    // Only the snapshot load fails: over SSE the stream and its commands go through fetch too.
    const flaky: FetchLike = (url, init) => (isSnapshotRequest(url) && failures-- > 0 ? Promise.reject(new Error('ECONNRESET')) : fetch(url, init as RequestInit) as ReturnType<FetchLike>)
    const client = streamClient(t, server, 'd', { fetch: flaky, transport })
    const errors: Error[] = []
    client.on('error', (error) => errors.push(error))
    await until(() => client.status === 'open' && client.position.seq === 5, 'loaded after the retry')
    t.match(errors, [{ code: 'snapshot_failed', cause: { message: 'ECONNRESET' } }])
  })

  t.test(`${transport}: the DAG evicted while its snapshot loads: the store becomes the empty log, then follows the new one`, async (t) => {
    const { server, client, snapshots } = await evictedWhileSnapshotLoads(t, transport)
    t.same(client.position, { epoch: '', seq: 0 })
    // The hand-off applies the buffer in the same turn as it opens: a load it started would be counted.
    t.equal(snapshots.calls, 1, 'the buffered event of the vanished log did not start another load')
    await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'again', status: 'running' })
    const replaced = await server.app.dagStream.snapshot('d')
    await until(() => client.position.epoch === replaced?.epoch && client.position.seq === 1, 'the new log')
    t.equal(snapshots.calls, 2, 'resync_required announced the new log: one more load, and no other one before it')
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  })
}
