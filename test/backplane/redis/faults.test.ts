// Redis failing under the plugin, against a redis-server of the test's own: stopped, restarted with its
// data, restarted empty or flushed, connections cut, a pub/sub message lost. Dashboards must get every
// event once and in order, or be told to resync; the engine gets an error it can act on; nothing is
// left running.

import t, { type Test } from 'tap'
import { dagKeys } from '../../../lib/backplane/redis/keys.js'
import { appendScript } from '../../../lib/backplane/redis/scripts.js'
import { BackplaneUnavailableError, InvalidEventError } from '../../../lib/index.js'
import type { DAGEvent, HelloFrame, SequencedEvent, ServerMessage } from '../../../schemas/index.js'
import { events } from '../../support/events.js'
import { frameWhere, tick, until } from '../../support/wait.js'
import { TestClient, upgradeStatus } from '../../support/helpers.js'
import { buildEngine, buildInstance, clientIds, getJson, range, seqs, spawnInstance, startRedis, uniquePrefix, type OwnRedis } from '../../support/redis-helpers.js'

const running: DAGEvent = { type: 'execution_status', status: 'running' }

/** Fails the test on any unhandled rejection while it runs: a broadcast nobody awaits must not make one. */
function noUnhandledRejections (t: Test): unknown[] {
  const unhandled: unknown[] = []
  const record = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', record)
  t.teardown(() => {
    process.off('unhandledRejection', record)
  })
  return unhandled
}

async function watch (url: string) {
  const client = await TestClient.open(url)
  const hello = (await client.next()) as HelloFrame
  return { client, hello }
}

/** Whether the instance at `http` reaches Redis again: the DAG's GET answers anything but 503. */
async function serving (http: string, dagId = 'd'): Promise<boolean> {
  return (await fetch(`${http}/api/dags/${dagId}`)).status !== 503
}

/** Retries a broadcast until the engine's connection is back; a refused one was never sent. */
async function broadcastWhenBack (engine: Awaited<ReturnType<typeof buildEngine>>, dagId: string, event: DAGEvent): Promise<SequencedEvent> {
  let appended: SequencedEvent | undefined
  await until(async () => {
    appended = await engine.dagStream.broadcast(dagId, event).catch((error: unknown) => {
      if (error instanceof BackplaneUnavailableError) return undefined
      throw error
    })
    return appended !== undefined
  }, 'the engine to reach Redis again', 15_000)
  return appended as SequencedEvent
}

/** The frames of `client` after its hello must be exactly `expected` (seqs), with no resync asked. */
function noGap (t: Test, frames: ServerMessage[], expected: number[], what: string): void {
  t.same(seqs(frames), expected, what)
  t.notOk(frames.some((frame) => frame.type === 'resync_required'), 'never asked to resync')
}

t.test('Redis stopped: broadcast rejects, REST and new streams answer 503, open sockets stay open, then carry on', async (t) => {
  const unhandled = noUnhandledRejections(t)
  const redis = await startRedis(t, { persist: true })
  const prefix = uniquePrefix('down')
  const server = await buildInstance(t, { prefix, url: redis.url })
  const first = await server.app.dagStream.broadcast('d', running)
  const viewer = await watch(server.url('/api/dags/d/stream'))

  await redis.stop()
  await until(async () => !(await serving(server.http)), 'the instance to notice', 10_000)
  const refused = await server.app.dagStream.broadcast('d', running).then(() => undefined, (error: unknown) => error)
  t.ok(refused instanceof BackplaneUnavailableError, 'broadcast rejects with BackplaneUnavailableError')
  t.equal((refused as { code?: string }).code, 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE')
  void server.app.dagStream.broadcast('d', running) // ignored: logged, never an unhandled rejection
  t.throws(() => server.app.dagStream.broadcast('d', { type: 'nope' } as unknown as DAGEvent), InvalidEventError, 'a bad event still throws at once')
  await t.rejects(server.app.dagStream.snapshot('d'), BackplaneUnavailableError)

  for (const path of ['/api/dags/d', '/api/dags']) {
    const { status, body } = await getJson(`${server.http}${path}`)
    t.equal(status, 503, `GET ${path}`)
    t.match(body, { statusCode: 503, code: 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE', error: 'Service Unavailable', message: /backplane is unavailable/ })
  }
  t.equal(await upgradeStatus(server.url('/api/dags/d/stream')), 503, 'a new stream is refused before the upgrade')
  viewer.client.send({ type: 'pause_execution', id: 'p1' })
  t.match(await viewer.client.next(), { type: 'error', code: 'engine_unavailable', id: 'p1' }, 'a command meanwhile did nothing, and says so')
  t.equal(viewer.client.socket.readyState, viewer.client.socket.OPEN, 'the open stream stays open')

  await redis.start()
  const next = await broadcastWhenBack(server.app, 'd', { type: 'execution_status', status: 'paused' })
  t.match(next, { seq: 2, epoch: first.epoch }, 'the data survived: the same log goes on')
  t.match(await viewer.client.next(), { type: 'execution_status', status: 'paused', seq: 2 }, 'and the open stream carries it')
  t.equal(viewer.client.received.length, 3, 'nothing else: no resync')
  t.same(unhandled, [], 'no unhandled rejection')
  viewer.client.close()
})

t.test('app.close() while Redis is down leaves nothing running: the process exits by itself', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('close-down')
  const child = await spawnInstance(t, { url: redis.url, keyPrefix: prefix, listen: true })
  const viewer = await watch(child.url('/api/dags/d/stream'))
  await redis.stop()
  // Its connections now retry on a timer: close() must stop that too.
  await until(async () => !(await serving(child.http)), 'the instance to notice', 10_000)
  await child.close()
  t.equal((await viewer.client.closed).code, 1001)
})

t.test('Redis restarted with its data: instances reconnect, resubscribe and catch up; every event once, in order', async (t) => {
  const redis = await startRedis(t, { persist: true })
  const prefix = uniquePrefix('restart-kept')
  const engine = await buildEngine(t, { prefix, url: redis.url })
  const a = await buildInstance(t, { prefix, url: redis.url })
  const b = await buildInstance(t, { prefix, url: redis.url })
  const viewers = [await watch(a.url('/api/dags/d/stream')), await watch(b.url('/api/dags/d/stream'))]
  for (const event of events(20, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  for (const { client } of viewers) await client.waitFor(21)

  await redis.stop()
  await redis.start()
  // The engine is back as soon as its own connection is: it appends at once, whether or not the
  // instances have resubscribed yet. What they missed on pub/sub they read from the log.
  await broadcastWhenBack(engine, 'd', { type: 'node_state', node_id: 'after', status: 'running' })
  const burst = events(30, 20, 'mixed').map((event) => engine.dagStream.broadcast('d', event))
  t.same((await Promise.all(burst)).map((event) => event.seq), range(22, 51))
  for (const { client } of viewers) noGap(t, (await client.waitFor(52, 15_000)).slice(1), range(51), '1 … 51 exactly once, in order')
  // Each connection reconnects on its own schedule: A's subscriber may be back before its commands.
  await until(() => serving(a.http), 'instance A to serve again', 10_000)
  t.same(await a.app.dagStream.snapshot('d'), await engine.dagStream.snapshot('d'))
  for (const { client } of viewers) client.close()
})

t.test("an instance's connections cut while the engine keeps appending: it reconnects and fills the gap from the log", async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('cut')
  const engine = await buildEngine(t, { prefix, url: redis.url })
  const before = await clientIds(redis.admin)
  const server = await buildInstance(t, { prefix, url: redis.url })
  const own = (await clientIds(redis.admin)).filter((id) => !before.includes(id))
  t.equal(own.length, 2, "the instance's command and subscriber connections")
  const viewer = await watch(server.url('/api/dags/d/stream'))
  for (const event of events(50, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  await viewer.client.waitFor(51)

  for (const id of own) await redis.admin.client('KILL', 'ID', id)
  // Sent together right after the cut: the instance cannot have resubscribed (ioredis waits 50 ms
  // before the first reconnect), so pub/sub delivers none of these to it.
  await Promise.all(events(30, 50, 'mixed').map((event) => engine.dagStream.broadcast('d', event)))
  for (const event of events(20, 80, 'mixed')) await engine.dagStream.broadcast('d', event)
  noGap(t, (await viewer.client.waitFor(101, 15_000)).slice(1), range(100), '1 … 100 exactly once, in order')
  t.equal(viewer.client.socket.readyState, viewer.client.socket.OPEN)
  t.same(await server.app.dagStream.snapshot('d'), await engine.dagStream.snapshot('d'))
  viewer.client.close()
})

/** An instance with probeMs 200, and the id of its subscriber connection (the one that appeared with it). */
async function instanceWithSubscriber (t: Test, redis: OwnRedis, prefix: string) {
  const before = await clientIds(redis.admin, 'pubsub')
  const server = await buildInstance(t, { prefix, url: redis.url, probeMs: 200 })
  const subscribers = (await clientIds(redis.admin, 'pubsub')).filter((id) => !before.includes(id))
  t.equal(subscribers.length, 1, 'the instance has one subscriber connection')
  return { server, subscriber: subscribers[0] as string }
}

t.test('the subscriber connection cut and the engine then quiet: the missed events still arrive', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('deaf')
  const engine = await buildEngine(t, { prefix, url: redis.url, probeMs: 200 })
  const { server, subscriber } = await instanceWithSubscriber(t, redis, prefix)
  const viewer = await watch(server.url('/api/dags/d/stream'))
  for (const event of events(20, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  await viewer.client.waitFor(21)

  // Only its subscriber: appends go on over the command connections, their messages reach nobody there.
  await redis.admin.client('KILL', 'ID', subscriber)
  await Promise.all(events(10, 20, 'mixed').map((event) => engine.dagStream.broadcast('d', event)))
  noGap(t, (await viewer.client.waitFor(31, 10_000)).slice(1), range(30), 'the 10 missed events, with no later one to reveal the gap')
  for (const event of events(10, 30, 'mixed')) await engine.dagStream.broadcast('d', event)
  noGap(t, (await viewer.client.waitFor(41, 10_000)).slice(1), range(40), 'then live again')
  viewer.client.close()
})

/**
 * The one fault of pub/sub that no connection event reveals: a message that never arrives. Made here
 * by appending with the backplane's own script, published on a channel nobody listens to.
 */
async function appendWithLostMessage (redis: OwnRedis, prefix: string, dagId: string, event: DAGEvent): Promise<void> {
  const keys = dagKeys(prefix, dagId)
  await redis.admin.eval(
    appendScript.lua, appendScript.numberOfKeys,
    keys.meta, keys.log, keys.checkpoint, keys.gates,
    'unused-epoch', 'lost-message-test', Date.now(), 1000, 86_400_000, `${prefix}:nowhere`, `${prefix}:nowhere`, dagId,
    '', 0, // no producer: an engine in process
    JSON.stringify(event), '', '', '', '', '0'
  )
}

t.test('a pub/sub message lost: the probe finds the head moved and the client gets the event', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('lost')
  const engine = await buildEngine(t, { prefix, url: redis.url })
  const server = await buildInstance(t, { prefix, url: redis.url, probeMs: 200 })
  const viewer = await watch(server.url('/api/dags/d/stream'))
  for (const event of events(10, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  await viewer.client.waitFor(11)

  await appendWithLostMessage(redis, prefix, 'd', { type: 'node_state', node_id: 'silent', status: 'running' })
  t.match((await viewer.client.waitFor(12, 5000))[11], { type: 'node_state', node_id: 'silent', seq: 11 }, 'found by the probe, with nothing after it')
  // Lost again, and this time the next message shows the gap at once.
  await appendWithLostMessage(redis, prefix, 'd', { type: 'node_state', node_id: 'silent', status: 'completed' })
  await engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'loud', status: 'running' })
  noGap(t, (await viewer.client.waitFor(14, 5000)).slice(1), range(13), 'filled before the later event')
  t.same(await server.app.dagStream.snapshot('d'), await engine.dagStream.snapshot('d'))
  viewer.client.close()
})

async function emptied (t: Test, empty: (redis: OwnRedis) => Promise<void>) {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('emptied')
  const engine = await buildEngine(t, { prefix, url: redis.url })
  const a = await buildInstance(t, { prefix, url: redis.url })
  const b = await buildInstance(t, { prefix, url: redis.url })
  const child = await spawnInstance(t, { url: redis.url, keyPrefix: prefix, listen: true })
  const viewers = [a, b, child].map((instance) => instance.url('/api/dags/d/stream'))
  const clients = await Promise.all(viewers.map(async (url) => (await watch(url)).client))
  const old = await engine.dagStream.broadcast('d', running)
  for (const event of events(9, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  for (const client of clients) await client.waitFor(11)

  await empty(redis)
  await until(async () => {
    const statuses = await Promise.all([a, b, child].map(async ({ http }) => (await fetch(`${http}/api/dags/d`)).status))
    return statuses.every((status) => status === 404)
  }, 'every instance to reach the empty Redis', 15_000)
  const first = await broadcastWhenBack(engine, 'd', running)
  t.match(first, { seq: 1 }, 'the next broadcast starts a new log')
  t.not(first.epoch, old.epoch, 'with a new epoch')
  for (const event of events(4, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  for (const client of clients) {
    const after = (await client.waitFor(17, 10_000)).slice(11)
    t.same(after[0], { type: 'resync_required', epoch: first.epoch, seq: 0, reason: 'epoch_changed' }, 'told to resync first')
    t.same(seqs(after), range(5), 'then the new log from its first event')
    t.ok(after.slice(1).every((frame) => (frame as SequencedEvent).epoch === first.epoch))
  }
  for (const client of clients) client.close()
  await child.close() // and it exits by itself: nothing of the plugin is left running
}

t.test('Redis restarted empty: the next broadcast starts a new epoch and every client is told before its first event', async (t) => {
  await emptied(t, async (redis) => {
    await redis.stop()
    await redis.start()
  })
})

t.test('Redis flushed: the same, without any connection lost', async (t) => {
  await emptied(t, (redis) => redis.flushall())
})

t.test('the log replaced while an instance was away, then the engine quiet: the clients still learn of it', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('replaced')
  const engine = await buildEngine(t, { prefix, url: redis.url })
  const { server, subscriber } = await instanceWithSubscriber(t, redis, prefix)
  const viewer = await watch(server.url('/api/dags/d/stream'))
  const old = await engine.dagStream.broadcast('d', running)
  await viewer.client.waitFor(2)

  // While the instance's subscriber is away the data goes (a restart without persistence, seen by a
  // faster engine), the engine starts the run's log again and then waits, say for a human.
  await redis.admin.client('KILL', 'ID', subscriber)
  await redis.flushall()
  const replaced = await Promise.all(events(3, 0, 'mixed').map((event) => engine.dagStream.broadcast('d', event)))
  t.not(replaced[0]?.epoch, old.epoch)
  const frames = (await viewer.client.waitFor(6, 5000)).slice(2)
  t.same(frames[0], { type: 'resync_required', epoch: replaced[0]?.epoch, seq: 0, reason: 'epoch_changed' })
  t.same(seqs(frames), range(3))
  viewer.client.close()
})

t.test("the script cache flushed under a burst (SCRIPT FLUSH): one process's calls still take effect in call order", async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('script-flush')
  const engine = await buildEngine(t, { prefix, url: redis.url })
  await engine.dagStream.broadcast('d', running)
  // Batches of unawaited calls with I/O in between, as a busy engine makes them; now and then the
  // cache is flushed (by an operator, or a failover to a server that never loaded the scripts) while
  // calls are in flight, so that some of them meet NOSCRIPT.
  const calls: Array<Promise<SequencedEvent>> = []
  for (let batch = 0; batch < 100; batch++) {
    for (let index = 0; index < 100; index++) {
      calls.push(engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'x', status: 'running', metrics: { tokens: calls.length } }))
    }
    if (batch % 4 === 2) await redis.admin.script('FLUSH')
    await tick()
  }
  const numbered = (await Promise.all(calls)).map((event) => event.seq)
  const outOfOrder = numbered.flatMap((seq, call) => (call > 0 && seq < (numbered[call - 1] as number) ? [`call ${call} got seq ${seq}, after ${numbered[call - 1]}`] : []))
  t.same(outOfOrder, [], 'every call numbered after the call before it')
})

t.test('a subscriber that stops answering (paused, or left deaf by a failover) is found by the probe and reconnected', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('paused')
  const engine = await buildEngine(t, { prefix, url: redis.url, probeMs: 200 })
  const { server, subscriber } = await instanceWithSubscriber(t, redis, prefix)
  const viewer = await watch(server.url('/api/dags/d/stream'))
  await engine.dagStream.broadcast('d', running)
  await viewer.client.waitFor(2)
  // Redis holds every reply for a while: the subscriber's PING goes unanswered past probeMs.
  await redis.admin.call('CLIENT', 'PAUSE', '1500', 'ALL')
  await until(async () => !(await clientIds(redis.admin, 'pubsub')).includes(subscriber), 'the deaf subscriber to be replaced', 10_000)
  await until(() => serving(server.http), 'the instance to serve again', 10_000)
  const after = await broadcastWhenBack(engine, 'd', { type: 'node_state', node_id: 'after', status: 'completed' })
  t.match(await frameWhere(viewer.client, (frame) => 'seq' in frame && frame.seq === after.seq, 'the next event'), { type: 'node_state', node_id: 'after' })
  t.same(seqs(viewer.client.received.slice(1)), range(after.seq), 'nothing lost or repeated')
  viewer.client.close()
})
