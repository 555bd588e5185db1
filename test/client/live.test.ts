import t from 'tap'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { streamClient, TRANSPORTS } from '../support/client-helpers.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport}: a new client loads the snapshot, then follows live events to the server state`, async (t) => {
    const server = await build(t)
    for (const event of events(20)) await server.app.dagStream.broadcast('d', event)
    const client = streamClient(t, server, 'd', { transport })
    const statuses: string[] = []
    client.on('status', (status) => statuses.push(status))
    await until(() => client.status === 'open', 'open')
    t.equal(client.position.seq, 20, 'the snapshot included all 20 events')
    for (const event of events(20, 20)) await server.app.dagStream.broadcast('d', event)
    await until(() => client.position.seq === 40, 'seq 40')
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
    t.same(statuses, ['resyncing', 'open'])
  })
}
