// The server restarted (a new process on the same port, its logs gone): the client's position belongs
// to an epoch nobody knows any more, so it resyncs from the new server and continues.

import Fastify from 'fastify'
import t, { type Test } from 'tap'
import dagStream from '../../lib/index.js'
import { build } from '../support/helpers.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { streamClient, TRANSPORTS } from '../support/client-helpers.js'

/** A second server on `port`, with `ready` run before it listens. */
async function restart (t: Test, port: number, ready: (app: ReturnType<typeof Fastify>) => Promise<void>) {
  const app = Fastify({ logger: false })
  await app.register(dagStream)
  await app.ready()
  await ready(app)
  await app.listen({ port, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return app
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: the DAG exists on the new server: resync from its snapshot, then live`, async (t) => {
    const first = await build(t)
    for (const event of events(10)) await first.app.dagStream.broadcast('d', event)
    const client = streamClient(t, first, 'd', { transport })
    await until(() => client.position.seq === 10, 'seq 10')
    const before = client.position.epoch
    await first.app.close()
    await until(() => client.status === 'reconnecting', 'app.close() to say 1001: reconnect')
    const second = await restart(t, first.port, async (app) => {
      for (const event of events(5, 100)) await app.dagStream.broadcast('d', event)
    })
    const epoch = (await second.dagStream.snapshot('d'))?.epoch
    await until(() => client.status === 'open' && client.position.epoch === epoch, 'the new epoch')
    t.not(epoch, before)
    for (const event of events(5, 200)) await second.dagStream.broadcast('d', event)
    await until(() => client.position.seq === 10, 'seq 10 of the new log')
    t.same(client.store.toSnapshot('d'), await second.dagStream.snapshot('d'))
  })
}

for (const transport of TRANSPORTS) {
  t.test(`${transport}: the new server does not have the DAG yet: the client empties its state and takes the first event`, async (t) => {
    const first = await build(t)
    for (const event of events(10)) await first.app.dagStream.broadcast('d', event)
    const client = streamClient(t, first, 'd', { transport })
    await until(() => client.position.seq === 10, 'seq 10')
    await first.app.close()
    const second = await restart(t, first.port, async () => {})
    await until(() => client.status === 'open' && client.position.seq === 0, 'an empty log')
    t.equal(client.store.getSnapshot().nodes.size, 0, 'the old run is gone from the store')
    await second.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
    await until(() => client.position.seq === 1, 'seq 1 of the new log')
    t.same(client.store.toSnapshot('d'), await second.dagStream.snapshot('d'))
  })
}
