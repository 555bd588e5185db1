// The run handle's outbox and lease against a memory backplane that can go down and lose its data at
// will: coalescing past `engineOutboxSize`, the picture after a new epoch or a lost DAG, and stalled.

import t from 'tap'
import type { Backplane, BackplaneProvider, BackplaneSettings } from '../../lib/index.js'
import { BackplaneUnavailableError, MemoryBackplane } from '../../lib/index.js'
import type { DAGEvent, DAGSnapshot } from '../../schemas/index.js'
import { until } from '../support/client-helpers.js'
import { build, TestClient } from '../support/helpers.js'

/** What the engine side calls; these fail while the store is "down". */
const STORE_CALLS = new Set<PropertyKey>(['append', 'appendMany', 'renewLease', 'status', 'takeLapsedLeases', 'releaseLease'])

/** A memory backplane whose store can be made unreachable, or replaced by an empty one (data lost). */
function faultyMemory () {
  let settings: BackplaneSettings | undefined
  const store = { down: false, broken: false, slowMs: 0, current: undefined as MemoryBackplane | undefined }
  const provider: BackplaneProvider = {
    kind: 'memory',
    create (given) {
      settings = given
      store.current = new MemoryBackplane(given)
      return new Proxy({} as Backplane, {
        get (_target, key) {
          if (store.down && STORE_CALLS.has(key)) return async () => { throw new BackplaneUnavailableError('down on purpose') }
          if (store.broken && (key === 'appendMany' || key === 'takeLapsedLeases')) return async () => { throw new Error('a bug, not an outage') }
          if (store.slowMs > 0 && key === 'appendMany') {
            const current = store.current as MemoryBackplane
            return (dagId: string, events: DAGEvent[]) => new Promise((resolve) => setTimeout(() => resolve(current.appendMany(dagId, events)), store.slowMs))
          }
          const current = store.current as unknown as Record<PropertyKey, unknown>
          const value = current[key]
          return typeof value === 'function' ? value.bind(current) : value
        }
      })
    }
  }
  return {
    provider,
    store,
    /** Redis restarted empty. */
    async lose () {
      const old = store.current as MemoryBackplane
      store.current = new MemoryBackplane(settings as BackplaneSettings)
      await old.close()
    }
  }
}

const graph = { nodes: [{ id: 'a', label: 'A', data: { model: 'm' } }, { id: 'b', parent: 'a' }], edges: [{ from: 'a', to: 'b' }] }

t.test('past engineOutboxSize the waiting events are coalesced into the picture; errors are kept; nothing throws', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineOutboxSize: 5, engineLeaseMs: 400 })
  const run = server.app.dagStream.run('d')
  run.setGraph(graph)
  run.send({ type: 'node_output_delta', node_id: 'a', delta: 'old ' })
  await run.flushed()
  faulty.store.down = true
  run.send({ type: 'node_output_delta', node_id: 'a', delta: 'text' })
  run.send({ type: 'error', node_id: 'a', message: 'once' })
  run.send({ type: 'cost_update', spent: 1, budget: 10, remaining: 9 })
  run.send({ type: 'edge_active', from: 'a', to: 'b' })
  for (let n = 1; n <= 20; n++) run.send({ type: 'node_state', node_id: 'b', status: 'running', metrics: { tokens: n } })
  const gate = run.gate('b', { title: 'Go on?' }, { gateId: 'b~1' })
  run.send({ type: 'execution_status', status: 'paused' })
  await new Promise((resolve) => setTimeout(resolve, 300))
  faulty.store.down = false
  await run.flushed()
  const snapshot = await server.app.dagStream.snapshot('d') as DAGSnapshot
  t.match(snapshot, {
    status: 'paused',
    nodes: [{ id: 'a', partial_output: 'old text' }, { id: 'b', parent: 'a', status: 'waiting_human', metrics: { tokens: 20 } }],
    edges: [{ from: 'a', to: 'b', active: true }],
    cost: { spent: 1 },
    gates: [{ gate_id: 'b~1' }],
    errors: [{ message: 'once' }]
  })
  t.equal(snapshot.errors.length, 1, 'the error once')
  t.ok(snapshot.seq < 2 + 26, `coalesced: ${snapshot.seq} events stored`)
  run.close()
  await t.rejects(gate, { code: 'FST_DAG_STREAM_CLOSED' }, 'a closed handle rejects its open gates')
  t.throws(() => run.send({ type: 'node_state', node_id: 'a', status: 'running' }), { code: 'FST_DAG_STREAM_CLOSED' })
  run.close()
})

t.test('a new epoch seen by a send: the picture goes first, gates included; a lost DAG is noticed by the lease renewal', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineLeaseMs: 200 })
  const run = server.app.dagStream.run('d')
  run.setGraph(graph)
  run.send({ type: 'node_state', node_id: 'a', status: 'completed', output: 'A', attempt: 2 })
  run.send({ type: 'error', message: 'kept' })
  run.send({ type: 'error', node_id: 'a', message: 'kept too' })
  const gate = run.gate('b', { title: 'Go on?' }, { gateId: 'b~1' })
  await run.flushed()
  const before = await server.app.dagStream.snapshot('d') as DAGSnapshot

  await faulty.lose()
  run.send({ type: 'cost_update', spent: 2, budget: 10, remaining: 8 })
  await run.flushed()
  await until(async () => (await server.app.dagStream.snapshot('d'))?.gates.length === 1, 'the picture to be stored')
  const after = await server.app.dagStream.snapshot('d') as DAGSnapshot
  t.not(after.epoch, before.epoch)
  t.same({ ...after, epoch: '', seq: 0 }, { ...before, epoch: '', seq: 0, cost: { spent: 2, budget: 10, remaining: 8 } }, 'the whole run, as before the loss')

  // Nothing sent now: the renewal notices that the DAG is gone.
  await faulty.lose()
  await until(async () => (await server.app.dagStream.snapshot('d')) !== undefined, 'the lease renewal to send the picture again', 5000)
  const again = await server.app.dagStream.snapshot('d') as DAGSnapshot
  t.same({ ...again, epoch: '', seq: 0 }, { ...after, epoch: '', seq: 0 })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'human_decision', id: 'x', node_id: 'b', gate_id: 'b~1', decision: 'approve' })
  t.match(await gate, { gate_id: 'b~1', decision: 'approve' })
  client.close()
})

t.test('stalled: a lapsed lease shows in the log; commands and decisions answer engine_unavailable at once; a send makes it running', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineLeaseMs: 200 }, (app) => {
    app.dagStream.onClientEvent(() => {})
  })
  // An engine (of another process) that held the lease and died: it renewed once, then nothing.
  await server.app.dagStream.broadcast('s', { type: 'human_gate_waiting', node_id: 'n', presentation: { title: 'Ok?' } })
  await faulty.store.current?.renewLease('s', Date.now() + 50)
  await until(async () => (await server.app.dagStream.snapshot('s'))?.status === 'stalled', 'the run to show stalled', 2000)
  const client = await TestClient.open(server.url('/api/dags/s/stream'))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  client.send({ type: 'human_decision', id: 'd', node_id: 'n', decision: 'approve' })
  const answers = await client.waitFor(3)
  t.match(answers.slice(1), [{ type: 'error', code: 'engine_unavailable', id: 'p' }, { type: 'error', code: 'engine_unavailable', id: 'd' }])

  // A finished or unknown DAG whose lease lapses is left alone.
  await faulty.store.current?.renewLease('nobody', Date.now() - 1)
  const run = server.app.dagStream.run('s')
  run.send({ type: 'node_state', node_id: 'n', status: 'running' })
  await run.flushed()
  t.equal((await server.app.dagStream.snapshot('s'))?.status, 'running', 'a new engine\'s send makes it running')

  // A live handle taken for dead (another instance reported it stalled meanwhile) says it runs.
  await server.app.dagStream.broadcast('s', { type: 'execution_status', status: 'stalled' })
  await until(async () => (await server.app.dagStream.snapshot('s'))?.status === 'running', 'the handle to resume the run', 2000)
  client.close()
})

t.test('a backplane down when the handle starts: it takes the lease once the backplane is back', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineLeaseMs: 200 })
  faulty.store.down = true
  const run = server.app.dagStream.run('late')
  run.send({ type: 'node_state', node_id: 'a', status: 'running' })
  await new Promise((resolve) => setTimeout(resolve, 150))
  faulty.store.down = false
  await run.flushed()
  t.match(await server.app.dagStream.snapshot('late'), { status: 'running', nodes: [{ id: 'a', status: 'running' }] })
})

t.test('while coalesced, later events go into the picture and errors stay bounded; sends queued while blocked coalesce too', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineOutboxSize: 3, engineLeaseMs: 400 })
  const run = server.app.dagStream.run('d')
  run.send({ type: 'node_state', node_id: 'a', status: 'running' })
  await run.flushed()
  faulty.store.down = true
  run.send({ type: 'node_state', node_id: 'a', status: 'running', metrics: { tokens: 0 } })
  await new Promise((resolve) => setTimeout(resolve, 20))
  // Blocked now: these wait in the queue, and overflow it.
  for (let n = 1; n <= 5; n++) run.send({ type: 'node_state', node_id: 'a', status: 'running', metrics: { tokens: n } })
  for (let n = 1; n <= 25; n++) run.send({ type: 'error', message: `e${n}` })
  run.send({ type: 'node_state', node_id: 'a', status: 'completed', output: 'done' })
  run.complete({ answer: 42 })
  faulty.store.down = false
  await run.flushed()
  const snapshot = await server.app.dagStream.snapshot('d') as DAGSnapshot
  t.match(snapshot, { status: 'completed', results: { answer: 42 } })
  t.match(snapshot.nodes, [{ id: 'a', status: 'completed', output: 'done', metrics: { tokens: 5 } }])
  t.same(snapshot.errors.map((error) => error.message), Array.from({ length: 20 }, (_, index) => `e${index + 6}`), 'the newest errors')
})

t.test('Redis restarted empty during an outage: the probe finds the new epoch and the picture follows it', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineLeaseMs: 10_000 })
  const run = server.app.dagStream.run('d')
  run.setGraph(graph)
  run.send({ type: 'node_state', node_id: 'a', status: 'completed', output: 'A' })
  await run.flushed()
  faulty.store.down = true
  run.send({ type: 'node_state', node_id: 'b', status: 'running' })
  run.send({ type: 'node_output_delta', node_id: 'b', delta: 'partial' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  await faulty.lose()
  faulty.store.down = false
  await run.flushed()
  await until(async () => (await server.app.dagStream.snapshot('d'))?.nodes.length === 2, 'the picture')
  t.match(await server.app.dagStream.snapshot('d'), {
    nodes: [{ id: 'a', status: 'completed', output: 'A' }, { id: 'b', parent: 'a', status: 'running', partial_output: 'partial' }],
    edges: [{ from: 'a', to: 'b' }]
  })
})

t.test('the handle\'s own status when it resumes a stalled run; a handle closed while it starts; an error that is no outage', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, engineLeaseMs: 200 })
  const run = server.app.dagStream.run('p')
  run.send({ type: 'execution_status', status: 'paused' })
  await run.flushed()
  await server.app.dagStream.broadcast('p', { type: 'execution_status', status: 'stalled' })
  await until(async () => (await server.app.dagStream.snapshot('p'))?.status === 'paused', 'the handle to say it is paused, not gone', 2000)

  const closing = server.app.dagStream.run('c')
  closing.send({ type: 'node_state', node_id: 'a', status: 'running' })
  closing.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(await server.app.dagStream.snapshot('c'), undefined, 'nothing sent by a handle closed before it started')

  const broken = server.app.dagStream.run('b')
  broken.send({ type: 'node_state', node_id: 'a', status: 'running' })
  await broken.flushed()
  faulty.store.broken = true
  broken.send({ type: 'node_state', node_id: 'a', status: 'completed' })
  await broken.flushed()
  // The liveness watch meets the same fault, and goes on.
  await new Promise((resolve) => setTimeout(resolve, 120))
  faulty.store.broken = false
  t.equal((await server.app.dagStream.snapshot('b'))?.nodes[0]?.status, 'running', 'logged and given up, not retried for ever')
})

t.test('a handle\'s gate whose id is the node id takes a decision without gate_id; the sender comes along', async (t) => {
  const server = await build(t, { describeSender: () => ({ user: 'ann' }) })
  const run = server.app.dagStream.run('s')
  const gate = run.gate('review', { title: 'Ok?' }, { gateId: 'review' })
  await run.flushed()
  const client = await TestClient.open(server.url('/api/dags/s/stream'))
  await client.next()
  client.send({ type: 'human_decision', id: 'd', node_id: 'review', decision: 'approve' })
  t.same(await gate, { gate_id: 'review', decision: 'approve', sender: { user: 'ann' } })
  client.close()
})

t.test('a handle that keeps sending while earlier sends are unanswered: all stored, in order', async (t) => {
  const faulty = faultyMemory()
  const server = await build(t, { backplane: faulty.provider, historySize: 5000 })
  const run = server.app.dagStream.run('busy')
  run.send({ type: 'node_state', node_id: 'a', status: 'running' })
  await run.flushed()
  faulty.store.slowMs = 1
  for (let n = 1; n <= 3000; n++) {
    run.send({ type: 'node_state', node_id: 'a', status: 'running', metrics: { tokens: n } })
    // Two sends per tick: 1,500 appends on their way at once.
    if (n % 2 === 0) await Promise.resolve()
  }
  await run.flushed()
  faulty.store.slowMs = 0
  const client = await TestClient.open(server.url('/api/dags/busy/stream?since=1&epoch=' + (await server.app.dagStream.snapshot('busy'))?.epoch))
  const frames = await client.waitFor(3001)
  t.same(frames.slice(1).map((frame) => (frame as { metrics?: { tokens: number } }).metrics?.tokens), Array.from({ length: 3000 }, (_, index) => index + 1))
  client.close()
})
