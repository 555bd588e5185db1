// The snapshot hand-off while the engine keeps broadcasting: events that arrive while the snapshot
// loads are buffered; those the snapshot includes are dropped, the others applied. Nothing is lost,
// nothing applied twice.

import t from 'tap'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { repeat, tick, until } from '../support/wait.js'
import { gate, slowFetch, streamClient, TRANSPORTS } from '../support/client-helpers.js'

for (const transport of TRANSPORTS) {
  t.test(`${transport}: no event lost or doubled while the engine broadcasts through the hand-off`, async (t) => {
    const server = await build(t)
    for (const event of events(300)) await server.app.dagStream.broadcast('d', event)
    const held = gate()
    const snapshots = slowFetch({ response: held.opened })
    const client = streamClient(t, server, 'd', { fetch: snapshots.fetch, transport })
    const applied: number[] = []
    client.on('event', (event) => applied.push(event.seq))
    let loadedAt = -1
    client.on('snapshot', (snapshot) => {
      loadedAt = snapshot.seq
    })

    // The engine keeps going the whole time: before the load is answered, while it is held, and after.
    let sent = 300
    const engine = repeat(t, async () => {
      for (const event of events(10, sent)) await server.app.dagStream.broadcast('d', event)
      sent += 10
      await tick()
    }, 'the engine')
    await until(() => snapshots.answered === 1, 'the server to answer the snapshot')
    await until(() => sent >= 600, 'more events to be buffered while the answer is held')
    held.open()
    await until(() => loadedAt >= 300, 'the snapshot to be loaded')
    await until(() => sent >= 900, 'more events after the hand-off')
    await engine.stop()
    await until(() => client.position.seq === sent, `seq ${sent}`)

    t.equal(snapshots.calls, 1, 'one load')
    t.same(applied, Array.from({ length: sent - loadedAt }, (_, index) => loadedAt + 1 + index), 'every event after the snapshot, once, in order')
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  })
}
