// The client on the Redis backplane, over each transport: an engine on one instance, a dashboard on
// another following the DAG and deciding a gate (by POST over SSE).

import t from 'tap'
import type { ClientEvent } from '../../schemas/index.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { cutStreams, streamClient, TRANSPORTS } from '../support/client-helpers.js'
import { buildEngine, buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport} across instances: live events, a resume after a cut, and a decision that reaches the engine`, async (t) => {
    const prefix = uniquePrefix(`client-${transport}`)
    cleanupPrefix(t, prefix)
    const viewer = await buildInstance(t, { prefix })
    const engine = await buildEngine(t, { prefix })
    const received: ClientEvent[] = []
    engine.dagStream.onClientEvent((event) => {
      received.push(event)
    })
    for (const event of events(5)) await engine.dagStream.broadcast('d', event)
    const client = streamClient(t, viewer, 'd', { transport })
    await until(() => client.status === 'open' && client.position.seq === 5, 'seq 5')

    await engine.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Approve?' } })
    await until(() => client.store.getSnapshot().gates.size === 1, 'the gate')
    await client.decide('review', 'approve')
    t.match(received, [{ type: 'human_decision', node_id: 'review', decision: 'approve' }])

    const snapshots: number[] = []
    client.on('snapshot', (snapshot) => snapshots.push(snapshot.seq))
    cutStreams(viewer)
    for (const event of events(5, 5)) await engine.dagStream.broadcast('d', event)
    const last = await engine.dagStream.snapshot('d')
    await until(() => client.status === 'open' && client.position.seq === last?.seq, 'the events after the cut')
    t.same(snapshots, [], 'resumed, no snapshot needed')
    t.same(client.store.toSnapshot('d'), await engine.dagStream.snapshot('d'))
  })
}
