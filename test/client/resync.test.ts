// The resync hand-off: gaps seen while connected, loads that collapse into one, buffered events that
// the snapshot covers (dropped) or does not (applied), and events of a log replaced meanwhile.

import t from 'tap'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { faultyLink, gate, seqOf, slowFetch, streamClient, TRANSPORTS } from '../support/client-helpers.js'

async function broadcastAll (server: Awaited<ReturnType<typeof build>>, count: number, from = 0) {
  for (const event of events(count, from)) await server.app.dagStream.broadcast('d', event)
}

t.test('two gaps while one snapshot loads: one load, which covers both', async (t) => {
  const server = await build(t)
  const link = faultyLink((frame) => ([3, 6].includes(seqOf(frame) ?? 0) ? undefined : frame))
  const held = gate()
  const snapshots = slowFetch({ request: held.opened })
  const client = streamClient(t, server, 'd', { WebSocket: link.WebSocket, fetch: snapshots.fetch })
  await until(() => client.status === 'open', 'open')
  await broadcastAll(server, 10)
  await until(() => link.frames === 11, 'hello and 10 events on the wire')
  t.equal(client.status, 'resyncing', 'seq 4 after 2 showed the gap')
  t.equal(client.position.seq, 2, 'nothing applied past the gap')
  held.open()
  await until(() => client.status === 'open' && client.position.seq === 10, 'seq 10')
  t.equal(snapshots.calls, 1, 'the second gap waited for the load under way')
  t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
})

t.test('buffered events newer than the snapshot are applied, and a gap among them loads again', async (t) => {
  const server = await build(t)
  const link = faultyLink((frame) => {
    const seq = seqOf(frame)
    if (seq === 3 || seq === 8) return undefined
    return seq === 9 ? 'not json' : frame
  })
  const held = gate()
  const snapshots = slowFetch({ response: held.opened })
  const client = streamClient(t, server, 'd', { WebSocket: link.WebSocket, fetch: snapshots.fetch })
  const errors: string[] = []
  client.on('error', (error) => errors.push(error.code))
  const applied: number[] = []
  client.on('event', (event) => applied.push(event.seq))
  await until(() => client.status === 'open', 'open')
  await broadcastAll(server, 4)
  await until(() => snapshots.answered === 1, 'the server to answer the load the gap at 4 started')
  await broadcastAll(server, 7, 4)
  await until(() => link.frames === 12, 'hello and 11 events on the wire')
  held.open()
  await until(() => client.status === 'open' && client.position.seq === 11, 'seq 11')
  t.same(errors, ['invalid_frame'])
  t.equal(snapshots.calls, 2, 'the load at 4, then one more for the gap at 8')
  t.same(applied, [1, 2, 5, 6, 7], 'after the first snapshot (seq 4), 5 … 7 came from the buffer')
  t.same(client.store.toSnapshot('d'), await server.app.dagStream.snapshot('d'))
})

t.test('a gap, then the log replaced while the snapshot loads: events of the old log are dropped', async (t) => {
  const server = await build(t, { retainFinishedMs: 20 })
  const link = faultyLink((frame) => (seqOf(frame) === 2 ? undefined : frame))
  const held = gate()
  const snapshots = slowFetch({ request: held.opened })
  const client = streamClient(t, server, 'd', { WebSocket: link.WebSocket, fetch: snapshots.fetch })
  await until(() => client.status === 'open', 'open')
  await broadcastAll(server, 3)
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'completed' })
  await until(async () => (await server.app.dagStream.snapshot('d')) === undefined, 'the finished DAG to be evicted')
  await broadcastAll(server, 2, 100)
  await until(() => link.frames === 8, 'hello, 4 events, resync_required and 2 events of the new log')
  held.open()
  const replaced = await server.app.dagStream.snapshot('d')
  await until(() => client.status === 'open' && client.position.epoch === replaced?.epoch, 'the new log')
  t.equal(snapshots.calls, 1, 'resync_required during the load did not start another')
  t.same(client.store.toSnapshot('d'), replaced)
})

for (const transport of TRANSPORTS) {
  t.test(`${transport}: resync_required while live: the client reloads and follows the new log`, async (t) => {
    const server = await build(t, { retainFinishedMs: 20 })
    const client = streamClient(t, server, 'd', { transport })
    await until(() => client.status === 'open', 'open')
    await broadcastAll(server, 3)
    await server.app.dagStream.broadcast('d', { type: 'execution_complete', results: { ok: true } })
    await until(() => client.position.seq === 4, 'seq 4')
    const before = client.position.epoch
    await until(async () => (await server.app.dagStream.snapshot('d')) === undefined, 'the finished DAG to be evicted')
    const statuses: string[] = []
    client.on('status', (status) => statuses.push(status))
    await broadcastAll(server, 5, 200)
    const replaced = await server.app.dagStream.snapshot('d')
    await until(() => client.position.epoch === replaced?.epoch && client.position.seq === 5, 'seq 5 of the new log')
    t.not(replaced?.epoch, before)
    t.same(statuses, ['resyncing', 'open'])
    t.same(client.store.toSnapshot('d'), replaced)
  })
}
