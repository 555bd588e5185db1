// Prometheus metrics: each one moves as the streams, broadcasts, resumes, closes, refusals, commands and
// gates it counts happen, read through the scrape route as Prometheus would.

import Fastify, { type FastifyInstance } from 'fastify'
import { register as globalRegistry, Registry } from 'prom-client'
import t, { type Test } from 'tap'
import dagStream, {
  BackplaneUnavailableError,
  CloseCode,
  InvalidOptionError,
  MemoryBackplane,
  UnauthorizedError,
  type DAGStreamOptions,
  type LogListener
} from '../../lib/index.js'
import { createMetrics, refusalReasonOf, type PromClient } from '../../lib/metrics/metrics.js'
import type { DAGEvent, SequencedEvent } from '../../schemas/index.js'
import { until } from '../support/wait.js'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'
import { buildEngine, buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

/** A server with metrics in a registry of its own, and a reader of its scrape route. */
async function withMetrics (t: Test, options: DAGStreamOptions = {}, setup?: (app: FastifyInstance) => void) {
  const server = await build(t, { metrics: { registry: new Registry() }, ...options }, setup)
  /** The current value of one series, e.g. `dag_stream_closes_total{reason="slow_consumer"}`; a missing series fails. */
  async function scrape () {
    const response = await fetch(`${server.http}/metrics`)
    t.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
    const series = new Map<string, number>()
    for (const line of (await response.text()).split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const space = line.lastIndexOf(' ')
      series.set(line.slice(0, space), Number(line.slice(space + 1)))
    }
    return (name: string): number => {
      const value = series.get(name)
      if (value === undefined) throw new Error(`no series ${name} in the scrape`)
      return value
    }
  }
  return { ...server, scrape }
}

const stream = (dagId: string, query = '') => `/api/dags/${dagId}/stream${query}`

t.test('open streams and rooms: up as sockets connect, down as they go', async (t) => {
  const { app, url, scrape } = await withMetrics(t)
  let read = await scrape()
  t.equal(read('dag_stream_connections'), 0)
  t.equal(read('dag_stream_rooms'), 0)
  const clients = await Promise.all(['a', 'a', 'b'].map((dagId) => TestClient.open(url(stream(dagId)))))
  await Promise.all(clients.map((client) => client.next()))
  read = await scrape()
  t.equal(read('dag_stream_connections'), 3)
  t.equal(read('dag_stream_rooms'), 2)
  clients[0]?.close()
  await until(() => app.dagStream.connections() === 2, 'the server to see the close')
  read = await scrape()
  t.equal(read('dag_stream_connections'), 2)
  t.equal(read('dag_stream_rooms'), 2, 'a still has a viewer')
  for (const client of clients) client.close()
  await until(() => app.dagStream.connections() === 0, 'every close')
  read = await scrape()
  t.equal(read('dag_stream_connections'), 0)
  t.equal(read('dag_stream_rooms'), 0)
})

t.test('N events broadcast to M sockets: N broadcasts, N × M frames and their bytes, N latencies', async (t) => {
  const { app, url, scrape } = await withMetrics(t)
  const sockets = 3
  const events = 5
  const clients = await Promise.all(Array.from({ length: sockets }, () => TestClient.open(url(stream('d')))))
  await Promise.all(clients.map((client) => client.next()))
  const before = await scrape()
  for (let i = 0; i < events; i++) void app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i}`, status: 'running' })
  await app.dagStream.broadcast('d', { type: 'cost_update', spent: 1, budget: 2, remaining: 1 })
  await Promise.all(clients.map((client) => client.waitFor(1 + events + 1)))
  const after = await scrape()
  const delta = (name: string) => after(name) - before(name)
  t.equal(delta('dag_stream_broadcast_events_total{type="node_state"}'), events)
  t.equal(delta('dag_stream_broadcast_events_total{type="cost_update"}'), 1)
  t.equal(delta('dag_stream_frames_sent_total'), sockets * (events + 1))
  const bytes = (clients[0]?.received.slice(1) as SequencedEvent[]).reduce((sum, event) => sum + Buffer.byteLength(JSON.stringify(event)), 0)
  t.equal(delta('dag_stream_sent_bytes_total'), sockets * bytes, 'the bytes of the frames as the clients got them')
  t.equal(delta('dag_stream_broadcast_latency_seconds_count'), events + 1, 'one latency per event, however many sockets')
  t.ok(after('dag_stream_broadcast_latency_seconds_sum') > 0)
  for (const client of clients) client.close()
})

t.test('an event broadcast to a DAG nobody watches here has no delivery to time', async (t) => {
  const { app, scrape } = await withMetrics(t)
  await app.dagStream.broadcast('unwatched', { type: 'execution_status', status: 'running' })
  const read = await scrape()
  t.equal(read('dag_stream_broadcast_events_total{type="execution_status"}'), 1)
  t.equal(read('dag_stream_broadcast_latency_seconds_count'), 0)
})

t.test('with Redis: only this instance\'s broadcasts are timed, to their delivery here, among another engine\'s', async (t) => {
  const prefix = uniquePrefix('metrics')
  cleanupPrefix(t, prefix)
  const registry = new Registry()
  const server = await buildInstance(t, { prefix, metrics: { registry } })
  const engine = await buildEngine(t, { prefix, metrics: { registry: new Registry() } })
  const client = await TestClient.open(server.url(stream('d')))
  await client.next()
  const own = 20
  const broadcasts: Array<Promise<unknown>> = []
  for (let i = 0; i < own; i++) {
    broadcasts.push(server.app.dagStream.broadcast('d', { type: 'node_state', node_id: `own${i}`, status: 'running' }))
    broadcasts.push(engine.dagStream.broadcast('d', { type: 'node_state', node_id: `engine${i}`, status: 'running' }))
  }
  // Each of its own is timed at its delivery or, when delivered before Redis answered, at the answer.
  await Promise.all(broadcasts)
  await client.waitFor(1 + 2 * own)
  const histogram = await registry.getSingleMetricAsString('dag_stream_broadcast_latency_seconds')
  t.match(histogram, new RegExp(`^dag_stream_broadcast_latency_seconds_count ${own}$`, 'm'))
  t.equal(engine.dagStream.connections(), 0)
  t.match(await (await engine.inject('/metrics')).body, /^dag_stream_broadcast_latency_seconds_count 0$/m, 'the engine has no stream to deliver to')
  t.match(await (await engine.inject('/metrics')).body, new RegExp(`^dag_stream_broadcast_events_total\\{type="node_state"\\} ${own}$`, 'm'))
  client.close()
})

t.test('a broadcast the backplane could not take is not counted, and leaves nothing to pair', async (t) => {
  let down = false
  class FlakyBackplane extends MemoryBackplane {
    override async append (dagId: string, event: DAGEvent): Promise<SequencedEvent> {
      if (down) throw new BackplaneUnavailableError('Redis is not connected')
      return super.append(dagId, event)
    }
  }
  const { app, url, scrape } = await withMetrics(t, { backplane: { kind: 'flaky', create: (settings) => new FlakyBackplane(settings) } })
  const client = await TestClient.open(url(stream('d')))
  await client.next()
  down = true
  await t.rejects(app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' }), BackplaneUnavailableError)
  down = false
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  await client.waitFor(2)
  const read = await scrape()
  t.equal(read('dag_stream_broadcast_events_total{type="execution_status"}'), 1)
  t.equal(read('dag_stream_broadcast_latency_seconds_count'), 1)
  client.close()
})

t.test('resumes: recovered, and not recovered by reason; a fresh connection is no resume', async (t) => {
  const { app, url, scrape } = await withMetrics(t, { historySize: 2 })
  let last!: SequencedEvent
  for (let i = 0; i < 5; i++) last = await app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i}`, status: 'running' })
  const open = async (query: string) => {
    const client = await TestClient.open(url(stream('d', query)))
    const hello = await client.next()
    client.close()
    return hello
  }
  t.match(await open(''), { type: 'hello', recovered: false })
  t.match(await open(`?since=4&epoch=${last.epoch}`), { type: 'hello', recovered: true })
  t.match(await open(`?since=1&epoch=${last.epoch}`), { recovered: false, reason: 'history_exceeded' })
  t.match(await open('?since=4&epoch=another'), { recovered: false, reason: 'epoch_changed' })
  t.match(await open(`?since=9&epoch=${last.epoch}`), { recovered: false, reason: 'ahead_of_log' })
  t.match(await open(`?since=5&epoch=${last.epoch}`), { recovered: true })
  const read = await scrape()
  t.equal(read('dag_stream_resumes_total{outcome="recovered"}'), 2)
  t.equal(read('dag_stream_resumes_total{outcome="not_recovered",reason="history_exceeded"}'), 1)
  t.equal(read('dag_stream_resumes_total{outcome="not_recovered",reason="epoch_changed"}'), 1)
  t.equal(read('dag_stream_resumes_total{outcome="not_recovered",reason="ahead_of_log"}'), 1)
})

t.test('resyncs sent to open streams, by reason: a log replaced, a gap that could not be filled', async (t) => {
  // Loses seq 3 on its way to the room, as a Redis subscriber cut off past the log's window would.
  class LossyBackplane extends MemoryBackplane {
    override subscribe (dagId: string, listener: LogListener) {
      return super.subscribe(dagId, (entry) => {
        if (dagId !== 'lossy' || entry.seq !== 3) listener(entry)
      })
    }
  }
  const { app, url, scrape } = await withMetrics(t, {
    retainFinishedMs: 20,
    backplane: { kind: 'lossy', create: (settings) => new LossyBackplane(settings) }
  })
  const replaced = await TestClient.open(url(stream('replaced')))
  const lossy = await TestClient.open(url(stream('lossy')))
  await replaced.next()
  await lossy.next()

  await app.dagStream.broadcast('replaced', { type: 'execution_complete', results: null })
  await until(async () => (await app.dagStream.snapshot('replaced')) === undefined, 'the finished DAG to be evicted')
  await app.dagStream.broadcast('replaced', { type: 'execution_status', status: 'running' })
  t.match(await replaced.waitFor(4), [{ type: 'hello' }, { seq: 1 }, { type: 'resync_required', reason: 'epoch_changed' }, { seq: 1 }])

  for (let i = 0; i < 4; i++) await app.dagStream.broadcast('lossy', { type: 'node_state', node_id: `n${i}`, status: 'running' })
  t.match((await lossy.waitFor(5))[3], { type: 'resync_required', reason: 'history_exceeded' })

  const read = await scrape()
  t.equal(read('dag_stream_resyncs_total{reason="epoch_changed"}'), 1)
  t.equal(read('dag_stream_resyncs_total{reason="history_exceeded"}'), 1)
  t.equal(read('dag_stream_broadcast_latency_seconds_count'), 2 + 3, 'every event delivered here is timed; the lost one is not')
  replaced.close()
  lossy.close()
})

t.test('closes by reason: a slow consumer, a rate-limited client, a dead peer, shutdown', async (t) => {
  const { app, url, scrape } = await withMetrics(t, { maxBufferedBytes: 300, rateLimit: { max: 2, timeWindow: 60_000 }, heartbeatMs: 200 })
  const slow = await TestClient.open(url(stream('slow')))
  const chatty = await TestClient.open(url(stream('chatty')))
  // autoPong: false: a vanished laptop, whose TCP connection stays while nobody answers.
  const dead = await TestClient.open(url(stream('dead')), { autoPong: false })
  await Promise.all([slow.next(), chatty.next(), dead.next()])

  // One frame larger than maxBufferedBytes: the socket cannot take it without passing the cap.
  void app.dagStream.broadcast('slow', { type: 'node_state', node_id: 'n', status: 'running', output: 'x'.repeat(400) })
  t.equal((await slow.closed).code, CloseCode.SLOW_CONSUMER)
  for (let i = 0; i < 3; i++) chatty.send({ type: 'pause_execution' })
  t.equal((await chatty.closed).code, CloseCode.POLICY_VIOLATION)
  t.equal((await dead.closed).code, 1006)

  const read = await scrape()
  t.equal(read('dag_stream_closes_total{reason="slow_consumer"}'), 1)
  t.equal(read('dag_stream_closes_total{reason="rate_limited"}'), 1)
  t.equal(read('dag_stream_closes_total{reason="heartbeat_timeout"}'), 1)
  t.equal(read('dag_stream_closes_total{reason="going_away"}'), 0)
})

t.test('live run lists: open ones, their closes apart from the streams\', their refusals with the streams\'', async (t) => {
  const { app, url, scrape } = await withMetrics(t, { heartbeatMs: 200, maxBufferedBytes: 200 })
  let read = await scrape()
  t.equal(read('dag_stream_list_connections'), 0)
  const lists = await Promise.all([0, 1].map(() => TestClient.open(url('/api/dags'))))
  await Promise.all(lists.map((list) => list.next()))
  const dagStream = await TestClient.open(url(stream('d')))
  await dagStream.next()
  read = await scrape()
  t.equal(read('dag_stream_list_connections'), 2)
  t.equal(read('dag_stream_connections'), 1, 'a list is not a stream')

  // autoPong: false: a vanished laptop, which the heartbeat terminates.
  const dead = await TestClient.open(url('/api/dags'), { autoPong: false })
  t.equal((await dead.closed).code, 1006)
  // A frame larger than maxBufferedBytes: both lists are sent it, and cannot take it.
  void app.dagStream.broadcast('x'.repeat(100), { type: 'execution_status', status: 'running' })
  await Promise.all(lists.map(async (list) => t.equal((await list.closed).code, CloseCode.SLOW_CONSUMER)))
  t.equal(await upgradeStatus(url('/api/dags'), { origin: 'https://evil.example' }), 403)

  read = await scrape()
  t.equal(read('dag_stream_list_connections'), 0)
  t.equal(read('dag_stream_list_closes_total{reason="heartbeat_timeout"}'), 1)
  t.equal(read('dag_stream_list_closes_total{reason="slow_consumer"}'), 2)
  t.equal(read('dag_stream_list_closes_total{reason="going_away"}'), 0)
  t.equal(read('dag_stream_closes_total{reason="slow_consumer"}'), 0, 'the streams\' closes stay theirs')
  t.equal(read('dag_stream_closes_total{reason="heartbeat_timeout"}'), 0)
  t.equal(read('dag_stream_refused_upgrades_total{reason="origin"}'), 1, 'a list upgrade refused counts as a stream\'s')
  dagStream.close()
})

t.test('refused upgrades by reason', async (t) => {
  let available = true
  class SwitchableBackplane extends MemoryBackplane {
    override isAvailable (): boolean {
      return available
    }
  }
  const { url, scrape } = await withMetrics(t, {
    backplane: { kind: 'switchable', create: (settings) => new SwitchableBackplane(settings) },
    authorize: (_request, dagId) => {
      if (dagId === 'anonymous') throw new UnauthorizedError()
      if (dagId === 'broken') throw new Error('the user service is down')
      return dagId !== 'secret'
    }
  })
  t.equal(await upgradeStatus(url(stream('secret'))), 403)
  t.equal(await upgradeStatus(url(stream('secret'))), 403)
  t.equal(await upgradeStatus(url(stream('anonymous'))), 401)
  t.equal(await upgradeStatus(url(stream('d')), { origin: 'https://evil.example' }), 403)
  t.equal(await upgradeStatus(url(stream('d', '?since=soon'))), 400)
  t.equal(await upgradeStatus(url(stream('broken'))), 500)
  available = false
  t.equal(await upgradeStatus(url(stream('d'))), 503)
  available = true
  const accepted = await TestClient.open(url(stream('d')))
  await accepted.next()
  accepted.close()

  const read = await scrape()
  t.equal(read('dag_stream_refused_upgrades_total{reason="forbidden"}'), 2)
  t.equal(read('dag_stream_refused_upgrades_total{reason="unauthorized"}'), 1)
  t.equal(read('dag_stream_refused_upgrades_total{reason="origin"}'), 1)
  t.equal(read('dag_stream_refused_upgrades_total{reason="bad_request"}'), 1)
  t.equal(read('dag_stream_refused_upgrades_total{reason="error"}'), 1)
  t.equal(read('dag_stream_refused_upgrades_total{reason="backplane_unavailable"}'), 1)
  t.equal(read('dag_stream_refused_upgrades_total{reason="too_many_connections"}'), 0)
})

t.test('a refusal for too many connections has its own reason', async (t) => {
  t.equal(refusalReasonOf(Object.assign(new Error('full'), { code: 'FST_DAG_STREAM_TOO_MANY_CONNECTIONS', statusCode: 503 })), 'too_many_connections')
  t.equal(refusalReasonOf(undefined), 'error')
})

t.test('commands: timed by type and outcome', async (t) => {
  const { app, url, scrape } = await withMetrics(t, {}, (app) => {
    app.dagStream.onClientEvent(async () => {})
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url(stream('d')))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p1' })
  t.match(await client.next(), { type: 'ack', id: 'p1' })
  client.send({ type: 'resume_execution' }) // no id: accepted without an ack
  client.send({ type: 'human_decision', id: 'h1', node_id: 'nowhere', decision: 'approve' })
  t.match(await client.next(), { type: 'error', code: 'gate_not_waiting', id: 'h1' })
  const read = await scrape()
  t.equal(read('dag_stream_command_duration_seconds_count{type="pause_execution",outcome="accepted"}'), 1)
  t.equal(read('dag_stream_command_duration_seconds_count{type="resume_execution",outcome="accepted"}'), 1)
  t.equal(read('dag_stream_command_duration_seconds_count{type="human_decision",outcome="gate_not_waiting"}'), 1)
  t.ok(read('dag_stream_command_duration_seconds_sum{type="pause_execution",outcome="accepted"}') > 0)
  client.close()
})

t.test('a command whose backplane fails is timed as failed', async (t) => {
  class FailingBackplane extends MemoryBackplane {
    override async status (): Promise<undefined> {
      throw new Error('the disk is on fire')
    }
  }
  const { url, scrape } = await withMetrics(t, { backplane: { kind: 'failing', create: (settings) => new FailingBackplane(settings) } })
  const client = await TestClient.open(url(stream('d')))
  await client.next()
  client.send({ type: 'cancel_execution', id: 'c' })
  t.equal((await client.closed).code, CloseCode.INTERNAL_ERROR)
  const read = await scrape()
  t.equal(read('dag_stream_command_duration_seconds_count{type="cancel_execution",outcome="failed"}'), 1)
  t.equal(read('dag_stream_closes_total{reason="internal_error"}'), 1)
})

t.test('a gate decided after a wait: its wait is timed, by decision', async (t) => {
  const { app, url, scrape } = await withMetrics(t, {}, (app) => {
    app.dagStream.onClientEvent(async () => {})
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const waiting = await app.dagStream.broadcast('d', {
    type: 'human_gate_waiting',
    node_id: 'publish',
    presentation: { title: 'Publish?', options: ['approve', 'reject'] }
  })
  const client = await TestClient.open(url(stream('d', `?since=${waiting.seq}&epoch=${waiting.epoch}`)))
  await client.next()
  t.equal((await scrape())('dag_stream_gate_wait_seconds_count{decision="reject"}'), 0, 'still waiting')
  client.send({ type: 'human_decision', id: 'h', node_id: 'publish', decision: 'reject', feedback: 'not yet' })
  t.match(await client.waitFor(3), [{ type: 'hello' }, { type: 'human_gate_resolved', decision: 'reject' }, { type: 'ack', id: 'h' }])
  const read = await scrape()
  t.equal(read('dag_stream_gate_wait_seconds_count{decision="reject"}'), 1)
  t.ok(read('dag_stream_gate_wait_seconds_sum{decision="reject"}') > 0)
  t.equal(read('dag_stream_gate_wait_seconds_count{decision="approve"}'), 0)
  client.close()
})

t.test('the metrics leave their registry with the app; a custom prefix, no route', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  await app.register(dagStream, { metrics: { registry, prefix: 'runs_', route: false } })
  await app.ready()
  t.equal((await app.inject('/metrics')).statusCode, 404, 'route: false serves nothing')
  t.match(await registry.metrics(), /^runs_connections 0$/m)
  await app.close()
  t.equal(await registry.metrics(), '\n', 'nothing left behind')
})

t.test('prom-client\'s global registry by default; a second plugin on it needs its own prefix', async (t) => {
  const first = Fastify()
  await first.register(dagStream, { metrics: {} })
  await first.ready()
  t.match(await (await first.inject('/metrics')).body, /^dag_stream_rooms 0$/m)
  t.ok(globalRegistry.getSingleMetric('dag_stream_connections'))

  const second = Fastify()
  const error = await second.register(dagStream, { metrics: {} }).ready().then(() => undefined, (e: unknown) => e)
  t.ok(error instanceof InvalidOptionError)
  t.match(error, { message: /already has a metric named dag_stream_connections; give each fastify-dag-stream on one registry its own "prefix" or "registry"/ })
  await second.close()
  t.ok(globalRegistry.getSingleMetric('dag_stream_connections'), 'the failed registration removed nothing of the first')

  const third = Fastify()
  await third.register(dagStream, { metrics: { prefix: 'other_' } })
  await third.ready()
  t.ok(globalRegistry.getSingleMetric('other_connections'))
  await third.close()
  await first.close()
  t.equal(globalRegistry.getSingleMetric('dag_stream_connections'), undefined)
})

t.test('a backplane that cannot start: the metrics it registered are removed too', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  class Unreachable extends MemoryBackplane {
    override async ready (): Promise<void> {
      throw new Error('cannot reach the store')
    }
  }
  const error = await app.register(dagStream, {
    metrics: { registry },
    backplane: { kind: 'unreachable', create: (settings) => new Unreachable(settings) }
  }).ready().then(() => undefined, (e: unknown) => e)
  t.match(error, { message: 'cannot reach the store' })
  t.equal(await registry.metrics(), '\n')
  // The names are free again; closing the failed app later must not remove the metrics that took them.
  const next = Fastify()
  await next.register(dagStream, { metrics: { registry } })
  await next.ready()
  await app.close()
  t.match(await registry.metrics(), /^dag_stream_connections 0$/m)
  await next.close()
})

t.test('prom-client missing: registration fails saying what to install', async (t) => {
  const sources = { connections: () => 0, rooms: () => 0, listConnections: () => 0 }
  const options = { registry: undefined, route: false as const, prefix: 'x_' }
  // A package that is not installed, imported for real: what an app without prom-client meets.
  const missing = () => import('prom-client-is-not-installed' as string) as Promise<PromClient>
  const error = await createMetrics(options, sources, missing).then(() => undefined, (e: unknown) => e)
  t.ok(error instanceof InvalidOptionError)
  t.match(error, {
    message: /"metrics" needs prom-client 15, an optional peer dependency: npm install prom-client@15 \(loading it failed: Cannot find .*prom-client-is-not-installed/,
    cause: { message: /prom-client-is-not-installed/ }
  })
})
