// The run handle on the Redis backplane, through what real deployments meet: Redis stopped while the
// engine keeps sending, Redis restarted empty while a run waits at a gate, an engine worker SIGKILLed.

import t from 'tap'
import type { DAGEvent, DAGSnapshot, ErrorFrame, SequencedEvent } from '../../schemas/index.js'
import { streamClient, until } from '../support/client-helpers.js'
import { TestClient, within } from '../support/helpers.js'
import {
  buildInstance,
  cleanupPrefix,
  frameWhere,
  getJson,
  REDIS_URL,
  spawnInstance,
  startRedis,
  uniquePrefix
} from '../support/redis-helpers.js'

function numbered (count: number, from = 0): DAGEvent[] {
  return Array.from({ length: count }, (_, index): DAGEvent => ({
    type: 'node_state',
    node_id: `n${(from + index) % 20}`,
    status: 'running',
    metrics: { tokens: from + index }
  }))
}

t.test('Redis stopped for 5 s while the handle sends 500 events: all 500 stored in order once it is back', async (t) => {
  const redis = await startRedis(t, { persist: true })
  const prefix = uniquePrefix('handle-outage')
  const server = await buildInstance(t, { prefix, url: redis.url, engineLeaseMs: 3000 })
  const run = server.app.dagStream.run('d')
  for (const event of numbered(10)) run.send(event)
  await run.flushed()
  const before = await server.app.dagStream.snapshot('d') as DAGSnapshot

  await redis.stop()
  const sending = (async () => {
    // Spread over the outage, as a working engine would send them.
    for (let batch = 0; batch < 10; batch++) {
      for (const event of numbered(50, 10 + batch * 50)) run.send(event)
      await new Promise((resolve) => setTimeout(resolve, 400))
    }
  })()
  let flushed = false
  const flushing = run.flushed().then(() => {
    flushed = true
  })
  await sending
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.equal(flushed, false, 'nothing is stored while Redis is down')
  await redis.start()
  await within(flushing, 20_000, 'everything sent to be stored')

  const client = await TestClient.open(server.url(`/api/dags/d/stream?since=${before.seq}&epoch=${before.epoch}`))
  const frames = await client.waitFor(1 + 500, 20_000)
  t.match(frames[0], { type: 'hello', recovered: true, epoch: before.epoch })
  const tokens = (frames.slice(1) as Array<SequencedEvent & { metrics?: { tokens: number } }>).map((event) => event.metrics?.tokens)
  t.same(tokens, Array.from({ length: 500 }, (_, index) => 10 + index), 'all 500, in order, once each')
  client.close()
})

t.test('Redis restarted empty while a run waits at a gate: the picture comes back within the lease, and the gate can be decided once', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('handle-lost')
  const options = { prefix, url: redis.url, engineLeaseMs: 1000, probeMs: 200 }
  const engine = await buildInstance(t, options)
  const dashboards = await buildInstance(t, options)
  const run = engine.app.dagStream.run('g')
  run.setGraph({ nodes: [{ id: 'write' }, { id: 'review' }], edges: [{ from: 'write', to: 'review' }] })
  run.send({ type: 'node_state', node_id: 'write', status: 'completed', output: 'draft' })
  const decided = run.gate('review', { title: 'Publish?', decisions: ['approve', 'reject'] }, { gateId: 'review~1' })
  await run.flushed()
  const client = streamClient(t, dashboards, 'g')
  await until(() => client.store.getSnapshot().gates.size === 1, 'the dashboard to see the gate')
  const oldEpoch = client.position.epoch

  await redis.stop()
  await redis.start()
  const restartedAt = Date.now()
  // Nothing is sent by the engine: only its lease renewal can notice.
  await until(async () => (await getJson(`${dashboards.http}/api/dags/g`)).status === 200, 'the DAG to be back', 10_000)
  t.ok(Date.now() - restartedAt < 1000 + 1000, 'within the lease interval (plus the reconnect)')
  await until(() => client.position.epoch !== oldEpoch && client.store.getSnapshot().gates.size === 1, 'the dashboard to resync to the new log')
  const snapshot = (await getJson<DAGSnapshot>(`${dashboards.http}/api/dags/g`)).body
  t.match(snapshot, { status: 'running', gates: [{ gate_id: 'review~1', node_id: 'review' }] })
  t.match(snapshot.nodes, [{ id: 'write', status: 'completed', output: 'draft' }, { id: 'review', status: 'waiting_human' }])

  const other = streamClient(t, dashboards, 'g')
  await until(() => other.store.getSnapshot().gates.size === 1, 'a second dashboard to see the gate')
  const answers = await Promise.allSettled([client.decide('review', 'approve', undefined, { gateId: 'review~1' }), other.decide('review', 'reject', undefined, { gateId: 'review~1' })])
  t.equal(answers.filter((answer) => answer.status === 'fulfilled').length, 1, 'decided once')
  const outcome = await within(decided, 5000, 'the gate to resolve')
  t.equal(outcome.gate_id, 'review~1')
  await run.flushed()
  const end = await dashboards.app.dagStream.snapshot('g') as DAGSnapshot
  await until(() => client.store.getSnapshot().seq === end.seq, 'the dashboard to catch up')
  t.same(client.store.toSnapshot('g'), end)
})

t.test('an engine worker SIGKILLed: stalled on another instance within the lease, commands refused at once; a new engine runs it again', async (t) => {
  const prefix = uniquePrefix('handle-sigkill')
  cleanupPrefix(t, prefix)
  const engineLeaseMs = 1000
  const worker = await spawnInstance(t, { url: REDIS_URL, keyPrefix: prefix, listen: false, options: { engineLeaseMs } })
  const dashboards = await buildInstance(t, { prefix, engineLeaseMs })
  await worker.run('k', { type: 'node_state', node_id: 'a', status: 'running' })
  const client = await TestClient.open(dashboards.url('/api/dags/k/stream'))
  await client.next()

  await worker.kill()
  const killedAt = Date.now()
  await frameWhere(client, (frame) => frame.type === 'execution_status' && frame.status === 'stalled', 'the run to show stalled', { timeoutMs: 5000 })
  t.ok(Date.now() - killedAt <= engineLeaseMs + 250, `stalled within the lease (${Date.now() - killedAt} ms)`)

  const askedAt = Date.now()
  client.send({ type: 'pause_execution', id: 'p1' })
  const refusal = await frameWhere(client, (frame) => frame.type === 'error', 'the refusal') as ErrorFrame
  t.match(refusal, { code: 'engine_unavailable', id: 'p1' })
  t.ok(Date.now() - askedAt < 500, 'at once, not after commandTimeoutMs')

  const run = dashboards.app.dagStream.run('k')
  run.send({ type: 'node_state', node_id: 'a', status: 'completed' })
  await run.flushed()
  t.match(await dashboards.app.dagStream.snapshot('k'), { status: 'running', nodes: [{ id: 'a', status: 'completed' }] })
  const resumed = client.received.findIndex((frame) => frame.type === 'execution_status' && frame.status === 'running')
  const completed = client.received.findIndex((frame) => frame.type === 'node_state' && frame.status === 'completed')
  t.ok(resumed !== -1 || (await frameWhere(client, (frame) => frame.type === 'execution_status' && frame.status === 'running', 'running again')) !== undefined)
  if (resumed !== -1 && completed !== -1) t.ok(resumed < completed, 'running again before the new engine\'s event')
  client.close()
})
