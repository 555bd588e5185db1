// The framework-free client behind a load balancer: three instances on one Redis, and every new
// connection (and every snapshot load) lands on the next instance in turn. Cuts mid-burst, an instance
// shut down, history too short to resume, a log replaced: the client must end with exactly the
// server's state, having applied each event once and in order.

import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { FetchLike, WebSocketConstructor } from '../../lib/client/index.js'
import { events } from '../support/events.js'
import { until } from '../support/wait.js'
import { cutStreams, isSnapshotRequest, streamClient, TRANSPORTS } from '../support/client-helpers.js'
import { buildEngine, buildInstance, cleanupPrefix, freePort, range, uniquePrefix, type Instance, type RedisInstanceOptions } from '../support/redis-helpers.js'

async function cluster (t: Test, name: string, options: Omit<RedisInstanceOptions, 'prefix'> = {}) {
  const prefix = uniquePrefix(name)
  cleanupPrefix(t, prefix)
  const instances: Instance[] = []
  for (let index = 0; index < 3; index++) instances.push(await buildInstance(t, { prefix, ...options }))
  const engine = await buildEngine(t, { prefix, ...options })
  return { instances, engine }
}

/**
 * A load balancer in front of `instances`, on the client's side: each new stream (WebSocket or event
 * stream) and each snapshot request goes to the next instance in turn; commands over SSE go to the
 * instance of the latest stream. While `down`, streams go to a port nobody listens on (refused at once,
 * as when no instance is reachable), so the client cannot be back before `up()`.
 */
async function roundRobin (instances: Instance[]) {
  const ports = instances.map(({ port }) => port)
  const nowhere = await freePort()
  const balancer = {
    down: false,
    /** The instance port of each stream opened while up, in order. */
    sockets: [] as number[],
    /** The instance port of each snapshot load, in order. */
    snapshots: [] as number[],
    WebSocket: undefined as unknown as WebSocketConstructor,
    fetch: undefined as unknown as FetchLike
  }
  let nextSocket = 0
  let nextSnapshot = 0
  const toPort = (url: string, port: number) => url.replace(/^(\w+:\/\/127\.0\.0\.1):\d+/, `$1:${port}`)
  const streamPort = () => {
    if (balancer.down) return nowhere
    const port = ports[nextSocket++ % ports.length] as number
    balancer.sockets.push(port)
    return port
  }
  balancer.WebSocket = class BalancedSocket extends WebSocket {
    constructor (url: string) {
      super(toPort(url, streamPort()))
    }
  }
  balancer.fetch = (url, init) => {
    let port: number
    if (isSnapshotRequest(url)) {
      port = ports[nextSnapshot++ % ports.length] as number
      balancer.snapshots.push(port)
    } else if (new URL(url).pathname.endsWith('/events')) {
      port = streamPort()
    } else {
      port = balancer.sockets.at(-1) ?? ports[0] as number
    }
    return fetch(toPort(url, port), init as RequestInit) as ReturnType<FetchLike>
  }
  return balancer
}

/** A client behind the balancer, closed when the test ends, and the seqs of the events it applies. */
async function balancedClient (t: Test, instances: Instance[], options: { transport: typeof TRANSPORTS[number]; commandTimeoutMs?: number }) {
  const balancer = await roundRobin(instances)
  const client = streamClient(t, instances[0] as Instance, 'd', { WebSocket: balancer.WebSocket, fetch: balancer.fetch, ...options })
  const applied: number[] = []
  client.on('event', (event) => applied.push(event.seq))
  return { balancer, client, applied }
}

/** Cuts every stream on every instance and keeps the client away while `during` runs. */
async function outage (balancer: { down: boolean }, instances: Instance[], during: () => Promise<void>): Promise<void> {
  balancer.down = true
  for (const instance of instances) cutStreams(instance)
  await during()
  balancer.down = false
}

async function broadcast (engine: FastifyInstance, count: number, from: number): Promise<number> {
  for (const event of events(count, from, 'mixed')) await engine.dagStream.broadcast('d', event)
  return from + count
}

function isIncreasing (values: number[]): boolean {
  return values.every((value, index) => index === 0 || value > (values[index - 1] as number))
}

const TOTAL = 3000
/** Broadcast while the client is kept away: more than the short history window holds. */
const MISSED = 200

for (const transport of TRANSPORTS) {
  t.test(`${transport}: cuts mid-burst inside the history window: each reconnect lands on another instance; every event applied once, in order`, async (t) => {
    const { instances, engine } = await cluster(t, 'client-window', { historySize: TOTAL })
    const { balancer, client, applied } = await balancedClient(t, instances, { transport })
    await until(() => client.status === 'open', 'open')
    let sent = 0
    for (const cutAt of [1000, 2000]) {
      sent = await broadcast(engine, cutAt - sent, sent)
      await until(() => client.position.seq >= cutAt - 200, 'the client to be well into the burst')
      await outage(balancer, instances, async () => {
        sent = await broadcast(engine, MISSED, sent)
      })
    }
    sent = await broadcast(engine, TOTAL - sent, sent)
    await until(() => client.position.seq === TOTAL, `seq ${TOTAL}`)
    t.same(balancer.sockets, instances.map(({ port }) => port), 'one stream on each instance in turn')
    t.same(applied, range(TOTAL), '1 … 3000, each once, in order: every resume was exact')
    t.same(balancer.snapshots, [], 'no snapshot needed')
    t.same(client.store.toSnapshot('d'), await engine.dagStream.snapshot('d'))
  })

  t.test(`${transport}: past the history window: resyncs from a snapshot served by another instance, never applies an event twice`, async (t) => {
    const { instances, engine } = await cluster(t, 'client-trimmed', { historySize: MISSED / 4 })
    const { balancer, client, applied } = await balancedClient(t, instances, { transport })
    const snapshots: number[] = []
    client.on('snapshot', (snapshot) => snapshots.push(snapshot.seq))
    // Each event must follow the store's position exactly, whether that came from an event or a snapshot.
    const broken: string[] = []
    let position = 0
    client.on('snapshot', (snapshot) => {
      if (snapshot.seq < position) broken.push(`snapshot at ${snapshot.seq} after ${position}`)
      position = snapshot.seq
    })
    client.on('event', (event) => {
      if (event.seq !== position + 1) broken.push(`event ${event.seq} after ${position}`)
      position = event.seq
    })
    await until(() => client.status === 'open', 'open')
    let sent = 0
    for (const cutAt of [500, 1000]) {
      sent = await broadcast(engine, cutAt - sent, sent)
      await until(() => client.position.seq >= cutAt - 50, 'the client to be well into the burst')
      await outage(balancer, instances, async () => {
        sent = await broadcast(engine, MISSED, sent)
      })
    }
    sent = await broadcast(engine, 300, sent)
    await until(() => client.position.seq === sent, `seq ${sent}`)
    t.same(broken, [], 'every event right after the position before it: no gap, nothing twice')
    t.ok(isIncreasing(applied))
    t.ok(snapshots.length >= 2, `a snapshot after each cut (${snapshots.length})`)
    t.ok(new Set(balancer.snapshots).size >= 2, 'loaded from more than one instance')
    t.equal(new Set(balancer.sockets).size, 3, 'streamed from every instance')
    t.same(client.store.toSnapshot('d'), await engine.dagStream.snapshot('d'))
  })

  t.test(`${transport}: an instance shut down (1001) mid-burst: the client goes on on the others, even when sent to the closed one`, async (t) => {
    const { instances, engine } = await cluster(t, 'client-shutdown', { historySize: TOTAL })
    const [first, second, third] = instances as [Instance, Instance, Instance]
    const { balancer, client, applied } = await balancedClient(t, instances, { transport })
    const closeCodes: Array<number | undefined> = []
    client.on('reconnecting', ({ closeCode }) => closeCodes.push(closeCode))
    await until(() => client.status === 'open', 'open')

    let sent = await broadcast(engine, 500, 0)
    await until(() => client.position.seq >= 300, 'the client to be into the burst')
    const closing = first.app.close()
    sent = await broadcast(engine, 500, sent)
    await closing
    await until(() => client.position.seq === sent, `seq ${sent} from the second instance`)
    t.equal(closeCodes[0], 1001, 'told to reconnect')
    // Two more cuts: the rotation comes back to the closed instance, which refuses; the next try works.
    for (let cut = 0; cut < 2; cut++) {
      for (const instance of [second, third]) cutStreams(instance)
      sent = await broadcast(engine, 300, sent)
      await until(() => client.position.seq === sent && client.status === 'open', `seq ${sent}`)
    }
    t.same(balancer.sockets.slice(0, 5), [first.port, second.port, third.port, first.port, second.port])
    t.same(applied, range(sent), 'each event once, in order, across four streams')
    t.same(client.store.toSnapshot('d'), await engine.dagStream.snapshot('d'))
  })

  t.test(`${transport}: a decision in flight when the link drops is re-sent through the next instance and resolves once`, async (t) => {
    const { instances, engine } = await cluster(t, 'client-decision', { commandTimeoutMs: 5000 })
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const decisions: unknown[] = []
    engine.dagStream.onClientEvent(async (event) => {
      decisions.push(event)
      await held
    })
    await engine.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?' } })
    const { balancer, client } = await balancedClient(t, instances, { transport, commandTimeoutMs: 5000 })
    await until(() => client.status === 'open' && client.position.seq === 1, 'the open gate')

    let outcome: string | undefined
    const deciding = client.decide('review', 'approve').then(() => 'resolved', (error: { code: string }) => error.code)
    void deciding.then((settled) => { outcome = settled })
    await until(() => decisions.length === 1, 'the decision to be with the engine')
    for (const instance of instances) cutStreams(instance)
    await until(() => client.status === 'open' && balancer.sockets.length === 2, 'the client on the second instance')
    // The re-sent copy cannot be seen arriving; a server that answers it at once does so within this bound.
    await until(() => outcome !== undefined, 'an early answer', 500).catch(() => {})
    release()
    t.equal(await deciding, 'resolved', 'decide() resolves: the decision took effect')
    t.equal(decisions.length, 1, 'once')
    await until(() => client.store.getSnapshot().gates.size === 0, 'the gate closed in the store')
    t.same(client.store.toSnapshot('d'), await engine.dagStream.snapshot('d'))
  })

  t.test(`${transport}: a log replaced while connected: resync_required on one instance, the snapshot from another, then the new log`, async (t) => {
    const { instances, engine } = await cluster(t, 'client-replaced', { retainFinishedMs: 200 })
    const { balancer, client } = await balancedClient(t, instances, { transport })
    await until(() => client.status === 'open', 'open')
    let sent = await broadcast(engine, 50, 0)
    await engine.dagStream.broadcast('d', { type: 'execution_complete', results: { ok: true } })
    await until(() => client.position.seq === sent + 1, 'the end of the first run')
    const before = client.position.epoch
    await until(async () => (await engine.dagStream.snapshot('d')) === undefined, 'the finished run to be evicted', 10_000)

    const statuses: string[] = []
    client.on('status', (status) => statuses.push(status))
    sent = await broadcast(engine, 30, 100)
    const replaced = await engine.dagStream.snapshot('d')
    await until(() => client.position.epoch === replaced?.epoch && client.position.seq === 30, 'seq 30 of the new log')
    t.not(replaced?.epoch, before)
    t.same(statuses, ['resyncing', 'open'], 'one resync, on the same stream')
    t.equal(balancer.snapshots.length, 1)
    t.same(client.store.toSnapshot('d'), replaced)

    // The client's position now belongs to the new log: a cut resumes it on the next instance.
    await outage(balancer, instances, async () => {
      sent = await broadcast(engine, 20, sent)
    })
    await until(() => client.position.seq === 50 && client.status === 'open', 'seq 50 of the new log')
    t.same(balancer.sockets, [instances[0]?.port, instances[1]?.port])
    t.equal(balancer.snapshots.length, 1, 'resumed, no second snapshot')
    t.same(client.store.toSnapshot('d'), await engine.dagStream.snapshot('d'))
  })
}
