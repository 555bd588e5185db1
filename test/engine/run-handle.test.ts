// The run handle, driven as a LangGraph-shaped engine would drive it: the structure in one event, two
// gates of one node decided in either order by two dashboards, typed decisions, a re-run node, a
// subgraph, cancel. Only the handle is used on the engine side; the dashboards are real clients.

import t from 'tap'
import { EventRefusedError } from '../../lib/index.js'
import type { DAGSnapshot } from '../../schemas/index.js'
import { build, TestClient, within } from '../support/helpers.js'
import { streamClient, until } from '../support/client-helpers.js'

const structure = {
  nodes: [
    { id: 'planner', label: 'Planner' },
    { id: 'worker-a' },
    { id: 'worker-b' },
    { id: 'research', label: 'Research (subgraph)' },
    { id: 'research:search', parent: 'research' },
    { id: 'reviewer' }
  ],
  edges: [
    { from: 'planner', to: 'worker-a' },
    { from: 'planner', to: 'worker-b' },
    { from: 'worker-a', to: 'research:search' },
    { from: 'research:search', to: 'reviewer' },
    { from: 'worker-b', to: 'reviewer' }
  ]
}

const branchSchema = {
  type: 'object',
  properties: { branch: { enum: ['short', 'long'] }, notes: { type: 'string' } },
  required: ['branch'],
  additionalProperties: false
}

t.test('a LangGraph-shaped run through the handle alone; the client store equals the snapshot', async (t) => {
  const server = await build(t)
  const run = server.app.dagStream.run('lg')
  t.equal(server.app.dagStream.run('lg'), run, 'one handle per DAG per process')

  run.setGraph(structure)
  run.send({ type: 'node_state', node_id: 'planner', status: 'completed', output: 'plan' })
  run.send({ type: 'node_state', node_id: 'research:search', status: 'running' })
  await run.flushed()
  const first = await server.app.dagStream.snapshot('lg') as DAGSnapshot
  t.equal(first.seq, 3, 'the structure is one event')
  t.same(first.nodes.map((node) => node.id), structure.nodes.map((node) => node.id))
  t.equal(first.nodes.find((node) => node.id === 'research:search')?.parent, 'research', 'a subgraph node has its parent')
  t.equal(first.edges.length, 5)

  // A node that runs again starts afresh: the aborted attempt's text is not glued to the new one.
  run.send({ type: 'node_state', node_id: 'worker-a', status: 'running', attempt: 1 })
  run.send({ type: 'node_output_delta', node_id: 'worker-a', delta: 'Draft A' })
  run.send({ type: 'node_state', node_id: 'worker-a', status: 'running', attempt: 2 })
  run.send({ type: 'node_output_delta', node_id: 'worker-a', delta: 'Draft A v2' })
  run.send({ type: 'node_state', node_id: 'worker-b', status: 'completed', output: 'B', attempt: 1 })

  const alice = streamClient(t, server, 'lg')
  const bob = streamClient(t, server, 'lg')

  // Two interrupts of one node (a fan-out): two gates, open together.
  const short = run.gate('reviewer', { title: 'Which summary?', decisions: ['approve', 'modify'], response_schema: branchSchema }, { gateId: 'reviewer~summary' })
  const publish = run.gate('reviewer', { title: 'Publish?', decisions: ['approve', 'reject'] })
  await run.flushed()
  const gated = await server.app.dagStream.snapshot('lg') as DAGSnapshot
  t.equal(gated.gates.length, 2, 'both gates of the node are open')
  t.equal(gated.nodes.find((node) => node.id === 'reviewer')?.status, 'waiting_human')
  const publishId = gated.gates.find((gate) => gate.presentation.title === 'Publish?')?.gate_id as string
  t.match(publishId, /^reviewer~/)
  t.equal(gated.nodes.find((node) => node.id === 'worker-a')?.partial_output, 'Draft A v2', 'the new attempt\'s text only')
  t.equal(gated.nodes.find((node) => node.id === 'worker-a')?.attempt, 2)

  await until(() => alice.store.getSnapshot().gates.size === 2 && bob.store.getSnapshot().gates.size === 2, 'both dashboards to see both gates')

  // Refused before the engine sees anything: a decision not offered, a value that does not match.
  await t.rejects(alice.decide('reviewer', 'reject', undefined, { gateId: 'reviewer~summary' }), { code: 'decision_not_offered' })
  await t.rejects(bob.decide('reviewer', 'modify', undefined, { gateId: 'reviewer~summary', value: { branch: 'medium' } }), {
    code: 'invalid_value',
    path: '/branch'
  })
  await t.rejects(bob.decide('reviewer', 'modify', undefined, { gateId: 'reviewer~summary' }), { code: 'invalid_value', path: '' })

  // Decided in the other order than they were opened, by two dashboards.
  await alice.decide('reviewer', 'approve', 'ship it', { gateId: publishId })
  t.same(await within(publish, 2000, 'the publish gate'), { gate_id: publishId, decision: 'approve', feedback: 'ship it' })
  await run.flushed()
  const half = await server.app.dagStream.snapshot('lg') as DAGSnapshot
  t.same(half.gates.map((gate) => gate.gate_id), ['reviewer~summary'], 'the other gate stays open')
  t.equal(half.nodes.find((node) => node.id === 'reviewer')?.status, 'waiting_human', 'the node still waits for its other gate')

  await bob.decide('reviewer', 'modify', undefined, { gateId: 'reviewer~summary', value: { branch: 'long', notes: 'more' } })
  t.same(await within(short, 2000, 'the summary gate'), { gate_id: 'reviewer~summary', decision: 'modify', value: { branch: 'long', notes: 'more' } })
  await t.rejects(alice.decide('reviewer', 'approve', undefined, { gateId: 'reviewer~summary' }), { code: 'gate_already_decided' }, 'exactly once')
  await run.flushed()
  t.equal((await server.app.dagStream.snapshot('lg'))?.nodes.find((node) => node.id === 'reviewer')?.status, 'running')

  // Cancel: the run's own handlers, its signal, and every unfinished node settled.
  const controls: string[] = []
  run.onControl((event) => {
    controls.push(event.type)
    run.send({ type: 'execution_status', status: 'cancelled' })
  })
  const pending = t.rejects(run.gate('research:search', { title: 'Use this source?' }), /cancelled/, 'a gate open at cancel rejects')
  await run.flushed()
  await alice.cancel()
  t.same(controls, ['cancel_execution'])
  t.equal(run.signal.aborted, true)
  await pending
  await run.flushed()
  const end = await server.app.dagStream.snapshot('lg') as DAGSnapshot
  t.equal(end.status, 'cancelled')
  t.same(end.gates, [])
  t.same(
    Object.fromEntries(end.nodes.map((node) => [node.id, node.status])),
    { planner: 'completed', 'worker-a': 'cancelled', 'worker-b': 'completed', research: 'cancelled', 'research:search': 'cancelled', reviewer: 'cancelled' }
  )
  await until(() => alice.store.getSnapshot().seq === end.seq && bob.store.getSnapshot().seq === end.seq, 'the dashboards to catch up')
  t.same(alice.store.toSnapshot('lg'), end)
  t.same(bob.store.toSnapshot('lg'), end)
})

t.test('gate(): a signal withdraws the gate; bad calls throw naming the field', async (t) => {
  const server = await build(t)
  const run = server.app.dagStream.run('w')
  const watcher = await TestClient.open(server.url('/api/dags/w/stream'))
  const controller = new AbortController()
  const gate = run.gate('n', { title: 'Wait?' }, { signal: controller.signal, gateId: 'n~1' })
  await run.flushed()
  t.equal((await server.app.dagStream.snapshot('w'))?.gates.length, 1)
  controller.abort(new Error('went another way'))
  await t.rejects(gate, /went another way/)
  await run.flushed()
  const after = await server.app.dagStream.snapshot('w') as DAGSnapshot
  t.same(after.gates, [])
  t.equal(after.nodes[0]?.status, 'running', 'the node goes on without the gate')
  await until(() => watcher.received.some((frame) => frame.type === 'human_gate_withdrawn'), 'the withdrawal to reach the dashboard')
  t.match(watcher.received.at(-1), { type: 'human_gate_withdrawn', node_id: 'n', gate_id: 'n~1' }, 'dashboards see it go')

  await t.rejects(run.gate('n', { title: 'Late' }, { signal: controller.signal }), /went another way/, 'an aborted signal rejects at once')
  t.throws(() => run.gate('n', { title: '' }), { code: 'FST_DAG_STREAM_INVALID_EVENT' })
  t.throws(() => run.gate('n', { title: 'x', response_schema: { type: 'no-such-type' } }), /response_schema/)
  t.throws(() => run.send({ type: 'node_state', node_id: 'n', status: 'running', attempt: 0 } as never), /attempt/)
  t.throws(() => server.app.dagStream.run('bad id'), { code: 'FST_DAG_STREAM_INVALID_DAG_ID' })
  const open = run.gate('n', { title: 'Once' }, { gateId: 'n~2' })
  t.throws(() => run.gate('n', { title: 'Twice' }, { gateId: 'n~2' }), /already open/)
  t.throws(() => run.onControl('no' as never), /onControl/)
  // The default gate id of a node whose id is as long as an id may be is still an id.
  const longest = run.gate('x'.repeat(100), { title: 'Long' })
  await run.flushed()
  const ids = ((await server.app.dagStream.snapshot('w'))?.gates ?? []).map((gate) => gate.gate_id)
  t.ok(ids.some((id) => id.length === 100 && id.startsWith('x'.repeat(91) + '~')), ids.join(', '))
  void longest.catch(() => {})
  t.throws(() => run.fail(42 as never), /message/)
  void open.catch(() => {})
  watcher.close()
})

t.test('complete() and fail(); pause and resume reach onControl; decisions of the low-level API still work', async (t) => {
  const server = await build(t, {}, (app) => {
    app.dagStream.onClientEvent(() => {})
  })
  const run = server.app.dagStream.run('c')
  const seen: string[] = []
  const off = run.onControl((event, { dagId }) => {
    seen.push(`${dagId}:${event.type}`)
  })
  run.send({ type: 'node_state', node_id: 'a', status: 'running' })
  await run.flushed()
  const client = streamClient(t, server, 'c')
  await client.pause()
  await client.resume()
  t.same(seen, ['c:pause_execution', 'c:resume_execution'])
  off()
  await client.pause()
  t.equal(seen.length, 2, 'unsubscribed')
  const offRefusing = run.onControl(() => {
    throw new EventRefusedError('Not now: the run is publishing')
  })
  await t.rejects(client.resume(), { code: 'handler_failed', message: 'Not now: the run is publishing' }, 'a handler that throws refuses the command')
  offRefusing()
  // An engine gate of the low-level API (no gate_id) goes to onClientEvent, as before.
  await server.app.dagStream.broadcast('c', { type: 'human_gate_waiting', node_id: 'old', presentation: { title: 'Old style' } })
  await client.decide('old', 'approve')
  run.complete({ ok: true })
  await run.flushed()
  t.match(await server.app.dagStream.snapshot('c'), { status: 'completed', results: { ok: true } })
  t.not(server.app.dagStream.run('c'), run, 'a finished run lets go of its handle')

  const failing = server.app.dagStream.run('f')
  failing.send({ type: 'node_state', node_id: 'x', status: 'running' })
  failing.fail('boom')
  await failing.flushed()
  t.match(await server.app.dagStream.snapshot('f'), { status: 'failed', errors: [{ message: 'boom' }], nodes: [{ id: 'x', status: 'cancelled' }] })
})
