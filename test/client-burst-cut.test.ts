// A connection cut in the middle of a burst of 5,000 events: the client must end with exactly the
// server's state, having applied every event it applied once and in order.

import t from 'tap'
import { build } from './helpers.js'
import { cutStreams, events, streamClient, tick, TRANSPORTS, type Server, until } from './client-helpers.js'

const TOTAL = 5000

// Events broadcast right after the cut without letting I/O through: the client cannot be back before
// all of them are sent, so it surely misses them (more than the smaller history window holds).
const MISSED = 200

/** Broadcasts the burst, letting I/O through every 50 events, and cuts every socket once, halfway. */
async function burstWithCut (server: Server, seqOf: () => number): Promise<void> {
  const burst = events(TOTAL)
  let cutAt = Infinity
  for (const [index, event] of burst.entries()) {
    if (index === TOTAL / 2) {
      await until(() => seqOf() >= 1000, 'the client to be well into the burst')
      cutStreams(server)
      cutAt = index
    }
    await server.app.dagStream.broadcast('d', event)
    if (index % 50 === 0 && (index < cutAt || index >= cutAt + MISSED)) await tick()
  }
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: inside the history window: resumes and applies every event exactly once, in order`, async (t) => {
    const server = await build(t, { historySize: TOTAL })
    const client = streamClient(t, server, 'd', { transport })
    const applied: number[] = []
    client.on('event', (event) => applied.push(event.seq))
    let reconnects = 0
    client.on('reconnecting', () => reconnects++)
    await until(() => client.status === 'open', 'open')
    await burstWithCut(server, () => client.position.seq)
    await until(() => client.position.seq === TOTAL, `seq ${TOTAL}`)
    t.equal(reconnects, 1, 'the cut was noticed and healed by one reconnect')
    t.same(applied, Array.from({ length: TOTAL }, (_, index) => index + 1), '1 … 5000, each once, in order')
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: past the history window: resyncs from the snapshot, never applies an event twice`, async (t) => {
    const server = await build(t, { historySize: MISSED / 2 })
    const client = streamClient(t, server, 'd', { transport })
    const applied: number[] = []
    client.on('event', (event) => applied.push(event.seq))
    const snapshots: number[] = []
    client.on('snapshot', (snapshot) => snapshots.push(snapshot.seq))
    await until(() => client.status === 'open', 'open')
    await burstWithCut(server, () => client.position.seq)
    await until(() => client.position.seq === TOTAL, `seq ${TOTAL}`)
    t.ok(applied.every((seq, index) => index === 0 || seq > (applied[index - 1] as number)), 'strictly increasing')
    t.ok(snapshots.length >= 1, 'the client loaded a snapshot after the cut')
    // What the snapshots covered plus what was applied is the whole log, nothing twice.
    const covered = new Set(applied)
    t.equal(covered.size, applied.length)
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  })
}
