// A connection cut in the middle of a burst of 5,000 events: the client must end with exactly the
// server's state, having applied every event it applied once and in order.

import t from 'tap'
import { build } from '../support/helpers.js'
import type { FetchLike } from '../../lib/client/index.js'
import { events } from '../support/events.js'
import { tick, until } from '../support/wait.js'
import { cutStreams, streamClient, TRANSPORTS, type Server } from '../support/client-helpers.js'

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

/** What the client's store received, in order: `snapshot N` replaced it, `event N` extended it. */
function timelineOf (client: ReturnType<typeof streamClient>): string[] {
  const timeline: string[] = []
  client.on('snapshot', (snapshot) => timeline.push(`snapshot ${snapshot.seq}`))
  client.on('event', (event) => timeline.push(`event ${event.seq}`))
  return timeline
}

/** `event from` … `event to`; none when `to` < `from`. */
function eventRange (from: number, to: number): string[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => `event ${from + index}`)
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: inside the history window: resumes and applies every event exactly once, in order`, async (t) => {
    const server = await build(t, { historySize: TOTAL })
    const client = streamClient(t, server, 'd', { transport })
    const timeline = timelineOf(client)
    let reconnects = 0
    client.on('reconnecting', () => reconnects++)
    await until(() => client.status === 'open', 'open')
    await burstWithCut(server, () => client.position.seq)
    await until(() => client.position.seq === TOTAL, `seq ${TOTAL}`)
    t.equal(reconnects, 1, 'the cut was noticed and healed by one reconnect')
    t.same(timeline, eventRange(1, TOTAL), '1 … 5000, each once, in order, and no snapshot: the missed events were replayed')
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: past the history window: resyncs from the snapshot, never applies an event twice`, async (t) => {
    const server = await build(t, { historySize: MISSED / 2 })
    const seqNow = async () => (await server.app.dagStream.snapshot('d'))?.seq ?? 0
    // The snapshot is read only once OVERLAP more events went out on the socket: they wait in the
    // client's buffer, the snapshot includes them too, and the client must not apply them again.
    const OVERLAP = 100
    const fetchAfterOverlap: FetchLike = async (url, init) => {
      // Only the snapshot waits: over SSE the stream and its commands go through fetch too.
      if (!url.endsWith('/api/dags/d')) return fetch(url, init as RequestInit) as ReturnType<FetchLike>
      const target = Math.min(TOTAL, (await seqNow()) + OVERLAP)
      await until(async () => (await seqNow()) >= target, `seq ${target} before the snapshot is read`)
      return fetch(url, init)
    }
    const client = streamClient(t, server, 'd', { fetch: fetchAfterOverlap, transport })
    const timeline = timelineOf(client)
    await until(() => client.status === 'open', 'open')
    await burstWithCut(server, () => client.position.seq)
    await until(() => client.position.seq === TOTAL, `seq ${TOTAL}`)

    // One cut, so exactly: the events up to the cut (the DAG was empty at connect: nothing to load), one
    // snapshot, then each later event once. Where the cut fell and what the snapshot includes are read
    // off the timeline; the shape around them is what the client must get right.
    const cutAfter = timeline.findIndex((entry) => entry.startsWith('snapshot'))
    const snapshotSeq = Number(timeline[cutAfter]?.split(' ')[1])
    t.ok(cutAfter >= 1000 && cutAfter <= TOTAL / 2, `the cut came mid-burst, after event ${cutAfter}`)
    t.ok(snapshotSeq - cutAfter >= MISSED, `the snapshot covered the ${snapshotSeq - cutAfter} events missed, more than the history window`)
    t.same(timeline, [...eventRange(1, cutAfter), `snapshot ${snapshotSeq}`, ...eventRange(snapshotSeq + 1, TOTAL)],
      'events 1 … cut, the snapshot, then every later event once: no gap, no repeat, nothing the snapshot covered')
    t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
  })
}
