// What one DAG costs in Redis: its log stays within the history window, its checkpoint is refreshed,
// every key carries the retention TTL, and a checkpoint lost from under the log is an error, not a
// wrong snapshot.

import { Redis } from 'ioredis'
import t from 'tap'
import { dagKeys, indexKey } from '../../../lib/backplane/redis/keys.js'
import type { DAGEvent } from '../../../schemas/index.js'
import { events } from '../../support/events.js'
import { until } from '../../support/wait.js'
import { TestClient } from '../../support/helpers.js'
import { buildEngine, buildInstance, cleanupPrefix, commandsNaming, REDIS_URL, uniquePrefix } from '../../support/redis-helpers.js'

t.test('storage per DAG is bounded: a log of historySize entries, one checkpoint, TTLs on every key', async (t) => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = uniquePrefix('storage')
  cleanupPrefix(t, prefix)
  const engine = await buildEngine(t, { prefix, historySize: 20, maxIdleMs: 60_000, retainFinishedMs: 5_000 })
  await engine.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Ship?' } })
  for (const event of events(500)) await engine.dagStream.broadcast('d', event)
  const keys = dagKeys(prefix, 'd')
  await until(async () => Number(await redis.hget(keys.meta, 'ckpt_seq')) >= 491, 'the last checkpoint', 5000)
  t.ok(Number(await redis.hget(keys.meta, 'ckpt_seq')) >= 491, 'a checkpoint at most historySize/2 behind the head')
  t.equal(await redis.xlen(keys.log), 20, 'the log keeps the history window, no more')
  t.match(JSON.parse(await redis.get(keys.checkpoint) as string), { dag_id: 'd', seq: Number(await redis.hget(keys.meta, 'ckpt_seq')) })
  for (const key of [keys.meta, keys.log, keys.checkpoint, keys.gates]) {
    const ttl = await redis.pttl(key)
    t.ok(ttl > 50_000 && ttl <= 60_000, `${key} expires after maxIdleMs (${ttl} ms)`)
  }
  await engine.dagStream.broadcast('d', { type: 'execution_status', status: 'completed' })
  for (const key of [keys.meta, keys.log, keys.checkpoint, keys.gates]) {
    t.ok((await redis.pttl(key)) <= 5_000, `${key} expires after retainFinishedMs once finished`)
  }
})

t.test('a checkpoint lost from under the log (evicted by maxmemory, say) is an error, not a wrong snapshot', async (t) => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = uniquePrefix('lost-checkpoint')
  cleanupPrefix(t, prefix)
  const writer = await buildEngine(t, { prefix, historySize: 4 })
  for (const event of events(10)) await writer.dagStream.broadcast('d', event)
  // Closing waits for the checkpoint being written, if any: none can put the key back once it is deleted.
  await writer.close()
  const keys = dagKeys(prefix, 'd')
  t.equal(await redis.exists(keys.checkpoint), 1, 'the writer left a checkpoint')
  await redis.del(keys.checkpoint)
  const reader = await buildEngine(t, { prefix, historySize: 4 })
  await t.rejects(reader.dagStream.snapshot('d'), { message: /the log of DAG "d" does not line up with its checkpoint/ })
})

t.test('keys under the prefix that are not the plugin\'s (wrong type): every operation fails as unavailable, loudly, and nothing crashes', async (t) => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = uniquePrefix('wrong-type')
  cleanupPrefix(t, prefix)
  const engine = await buildEngine(t, { prefix, probeMs: 50 })
  const { commands: onIndex } = await commandsNaming(t, indexKey(prefix))
  const keys = dagKeys(prefix, 'd')
  await redis.set(keys.meta, 'not a hash')
  await redis.set(indexKey(prefix), 'not a sorted set')
  const failure = { code: 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE', statusCode: 503 }
  await t.rejects(engine.dagStream.broadcast('d', events(1, 1)[0] as DAGEvent), { ...failure, message: /append: WRONGTYPE/ })
  await t.rejects(engine.dagStream.snapshot('d'), { ...failure, message: /snapshot: WRONGTYPE/ })
  // The probe prunes the same index every probeMs (a script that names it): it must not throw either.
  // Twice, to be sure the first failure left it running.
  const pruned = () => onIndex.filter(({ args }) => /^eval(sha)?$/i.test(args[0] ?? '')).length
  const before = pruned()
  await until(() => pruned() >= before + 2, 'the probe to meet the broken index twice', 5000)
  const response = await engine.inject({ method: 'GET', url: '/api/dags' })
  t.equal(response.statusCode, 503)
  t.match(response.json(), { code: 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE', message: /list: WRONGTYPE/ })
  const stream = await engine.inject({ method: 'GET', url: '/api/dags/d' })
  t.equal(stream.statusCode, 503)
  const { url } = await buildInstance(t, { prefix })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  t.same(await client.closed, { code: 1011, reason: 'could not read the DAG log' }, 'a stream that cannot follow its DAG closes with "reconnect"')
})

t.test('garbage published on an instance\'s channel is logged and ignored', async (t) => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = uniquePrefix('garbage')
  cleanupPrefix(t, prefix)
  const engine = await buildEngine(t, { prefix })
  const logged: unknown[] = []
  engine.log.error = (...args: unknown[]) => { logged.push(args[1]) }
  const [channel] = await redis.pubsub('CHANNELS', `${prefix}:instance:*`) as string[]
  t.equal(await redis.publish(channel as string, 'not json'), 1)
  await until(() => logged.length > 0, 'the error to be logged', 5000)
  t.same(logged, ['fastify-dag-stream: unreadable message on the instance channel'])
  t.match(await engine.dagStream.broadcast('d', events(1, 1)[0] as DAGEvent), { seq: 1 }, 'and the instance carries on')
})

t.test('open_gates lives in the meta hash: a log whose meta is lost starts from none, one written before the count is counted once', async (t) => {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const prefix = uniquePrefix('open-gates')
  cleanupPrefix(t, prefix)
  const engine = await buildEngine(t, { prefix })
  const keys = dagKeys(prefix, 'd')
  const openGates = async () => ((await engine.inject({ method: 'GET', url: '/api/dags' })).json() as { dags: Array<{ open_gates: number }> }).dags.map((dag) => dag.open_gates)
  const waiting = (node: string): DAGEvent => ({ type: 'human_gate_waiting', node_id: node, presentation: { title: `${node}?` } })
  await engine.dagStream.broadcast('d', waiting('a'))
  await engine.dagStream.broadcast('d', waiting('b'))
  await engine.dagStream.broadcast('d', { type: 'human_gate_resolved', node_id: 'b', decision: 'approve' })
  t.equal(await redis.hget(keys.meta, 'open_gates'), '1', 'the count beside the status')
  t.same(await openGates(), [1], 'and in the REST list')

  // A meta written before the count was kept (the gates hash is the truth): counted at the next append.
  await engine.dagStream.broadcast('d', waiting('c'))
  await redis.hdel(keys.meta, 'open_gates')
  t.same(await openGates(), [0], 'until then, none')
  await engine.dagStream.broadcast('d', events(1)[0] as DAGEvent)
  t.same(await openGates(), [2], 'a and c, not the decided b')

  // The meta lost on its own (the other keys outlive it): a new log, whose gates start empty.
  await redis.del(keys.meta)
  const created = await engine.dagStream.broadcast('d', events(1)[0] as DAGEvent)
  t.equal(created.seq, 1, 'a new log')
  t.same(await redis.hgetall(keys.gates), {}, 'the old gates went with the old log')
  t.same(await openGates(), [0])
  await engine.dagStream.broadcast('d', { type: 'human_gate_withdrawn', node_id: 'a' })
  t.same(await openGates(), [0], 'a gate of the old log withdrawn takes nothing off')
})
