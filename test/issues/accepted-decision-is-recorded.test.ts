// Regression (issue 9, defect 2): once the engine accepted a human decision, recording it could fail
// (the gate book's settle, or the human_gate_resolved broadcast) and leave the claim in flight for ever,
// or the book saying "decided" while every dashboard showed the gate open. Now the plugin keeps the
// claim alive and retries until the decision is recorded in both, and when it must give up, says so in
// the log and to the sender.

import { EventEmitter, once } from 'node:events'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import dagStream, {
  BackplaneUnavailableError,
  memoryBackplane,
  type BackplaneProvider,
  type DAGStreamOptions
} from '../../lib/index.js'
import { claimGate, settleGate, beginGate } from '../../lib/commands/gates.js'
import type { DAGEvent } from '../../schemas/index.js'
import { logLines } from '../support/logger.js'
import { until } from '../support/wait.js'
import { TestClient } from '../support/helpers.js'
import { startRedis, uniquePrefix } from '../support/redis-helpers.js'
import { redisBackplane } from '../../lib/backplane/redis/index.js'

const openGate: DAGEvent[] = [
  { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'review' } } },
  { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Approve?' } }
]

/** The memory backplane, made to fail every gate write and append while `down` is set. */
function faultyMemory () {
  const faults = Object.assign(new EventEmitter(), { down: false })
  const provider: BackplaneProvider = {
    kind: 'faulty-memory',
    create (settings) {
      const inner = memoryBackplane.create(settings)
      const failing = new Set<PropertyKey>(['append', 'updateGate'])
      // A proxy, not a subclass: the backplane's methods use private fields, so they run on `inner`.
      return new Proxy(inner, {
        get (target, property) {
          const value = Reflect.get(target, property) as unknown
          if (typeof value !== 'function') return value
          if (!failing.has(property)) return value.bind(target)
          return (...args: unknown[]) => {
            if (!faults.down) return value.apply(target, args)
            faults.emit('failed', property)
            return Promise.reject(new BackplaneUnavailableError('down on purpose'))
          }
        }
      })
    }
  }
  return { faults, provider }
}

/** An app on a real port whose log lines are kept, parsed. */
async function buildLogged (t: Test, options: DAGStreamOptions) {
  const { lines, stream } = logLines()
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(dagStream, options)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  return { app, lines, url: `ws://127.0.0.1:${port}/api/dags/d/stream`, http: `http://127.0.0.1:${port}` }
}

async function openDashboard (url: string): Promise<TestClient> {
  const client = new TestClient(url)
  t.match(await client.next(), { type: 'hello' })
  return client
}

const decision = (id: string, decision: 'approve' | 'reject' = 'approve') => ({ type: 'human_decision', id, node_id: 'review', decision, feedback: 'ok' })

t.test('gates: an accepted decision takes the record even after its claim lapsed and a rival claimed it', async (t) => {
  const dag = { epoch: 'e', seq: 2, status: 'running' as const }
  const open = { phase: 'waiting' as const }
  const lapsed = beginGate('first', 0, 10)(claimGate('first', 0, 10)(open, dag).next, dag).next
  const rival = claimGate('second', 100, 10)(lapsed, dag)
  t.same(rival.result, { kind: 'claimed' }, 'the lapsed claim let a rival in')
  const settled = settleGate('first', true)(rival.next, dag).next
  t.match(settled, { phase: 'waiting', claim: { key: 'first', state: 'accepted' } })
  t.equal(beginGate('second', 105, 10)(settled, dag).result, false, 'the rival then finds its claim gone')
  t.same(settleGate('first', true)({}, dag).next, {}, 'nothing is written for a gate that no longer exists')
  t.same(settleGate('first', false)(rival.next, dag).next, rival.next, 'a refusal only ever removes its own claim')
})

t.test('memory: the backplane fails after the engine accepted; the decision is recorded once it is back', async (t) => {
  const { faults, provider } = faultyMemory()
  const { app, lines, url, http } = await buildLogged(t, { backplane: provider })
  for (const event of openGate) await app.dagStream.broadcast('d', event)
  app.dagStream.onClientEvent(() => {
    faults.down = true // the engine took the decision; now recording it fails
  })
  const sender = await openDashboard(url)
  const viewer = await openDashboard(url)
  sender.send(decision('k1'))
  await once(faults, 'failed')
  await until(() => lines.some((line) => line.msg.includes('retrying')), 'the failure to be logged')
  faults.down = false

  t.same(await sender.nextWhere((frame) => frame.type === 'ack', 'ack'), { type: 'ack', id: 'k1' }, 'the sender is acked once it is recorded')
  t.match(await viewer.nextWhere((frame) => frame.type === 'human_gate_resolved', 'human_gate_resolved'), { node_id: 'review', decision: 'approve', feedback: 'ok' })
  t.match(await (await fetch(`${http}/api/dags/d`)).json(), { gates: [], nodes: [{ id: 'review', status: 'running' }] }, 'the snapshot agrees')
  t.match(lines.find((line) => line.msg.includes('retrying')), { level: 40, dagId: 'd' })

  sender.send(decision('k1'))
  t.same(await sender.next(), { type: 'ack', id: 'k1' }, 'the same decision again: the same answer')
  viewer.send(decision('k2', 'reject'))
  t.match(await viewer.next(), { type: 'error', code: 'gate_already_decided', id: 'k2' }, 'a rival is refused')
  sender.close()
  viewer.close()
})

t.test('memory: the backplane never comes back; the failure is logged and the sender told', async (t) => {
  const { faults, provider } = faultyMemory()
  // A 100 ms lease: the plugin gives up after 30 leases (3 s) instead of 5 min.
  const { app, lines, url } = await buildLogged(t, { backplane: provider, commandTimeoutMs: 100 })
  for (const event of openGate) await app.dagStream.broadcast('d', event)
  app.dagStream.onClientEvent(() => {
    faults.down = true
  })
  const sender = await openDashboard(url)
  sender.send(decision('k1'))
  t.match(await sender.next(), {
    type: 'error',
    code: 'engine_unavailable',
    id: 'k1',
    message: 'The engine is still deciding the gate of "review": its outcome will show as human_gate_resolved'
  }, 'the sender learns that the outcome is not known yet, not that nothing was done')
  await until(() => lines.some((line) => line.level === 50), 'the give-up to be logged', 20_000)
  t.match(lines.find((line) => line.level === 50), { dagId: 'd', msg: 'fastify-dag-stream: the engine accepted a decision that could not be recorded' })
  t.ok(lines.some((line) => line.msg.includes('could not renew a gate claim')), 'renewals failed meanwhile, and said so')
  sender.close()
})

t.test('a refused decision whose claim cannot be released: logged, the refusal still reaches the sender', async (t) => {
  const { faults, provider } = faultyMemory()
  const { app, lines, url } = await buildLogged(t, { backplane: provider })
  for (const event of openGate) await app.dagStream.broadcast('d', event)
  app.dagStream.onClientEvent(() => {
    faults.down = true
    throw new Error('no')
  })
  const sender = await openDashboard(url)
  sender.send(decision('k1'))
  t.match(await sender.next(), { type: 'error', code: 'handler_failed', id: 'k1' })
  t.ok(lines.some((line) => line.msg.includes('could not release a refused decision')))
  sender.close()
})

t.test('Redis stopped between the engine accepting and the plugin recording: recorded once Redis is back', async (t) => {
  const redis = await startRedis(t, { persist: true })
  const { app, lines, url, http } = await buildLogged(t, { backplane: redisBackplane({ url: redis.url, keyPrefix: uniquePrefix('accepted') }) })
  for (const event of openGate) await app.dagStream.broadcast('d', event)
  app.dagStream.onClientEvent(async () => {
    await redis.stop()
  })
  const sender = await openDashboard(url)
  const viewer = await openDashboard(url)
  sender.send(decision('k1'))
  await until(() => lines.some((line) => line.msg.includes('recording an accepted decision failed; retrying')), 'the failure to be logged', 20_000)
  await redis.start()

  t.same(await sender.nextWhere((frame) => frame.type === 'ack' || frame.type === 'error', 'ack or error'), { type: 'ack', id: 'k1' })
  t.match(await viewer.nextWhere((frame) => frame.type === 'human_gate_resolved', 'human_gate_resolved'), { node_id: 'review', decision: 'approve' })
  await until(async () => (await fetch(`${http}/api/dags/d`)).status === 200, 'REST to be back')
  t.match(await (await fetch(`${http}/api/dags/d`)).json(), { gates: [], nodes: [{ id: 'review', status: 'running' }] })
  viewer.send(decision('k2', 'reject'))
  t.match(await viewer.nextWhere((frame) => frame.type === 'error', 'error'), { code: 'gate_already_decided', id: 'k2' })
  sender.close()
  viewer.close()
})
