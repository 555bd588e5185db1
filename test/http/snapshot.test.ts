import t from 'tap'
import { applyEvent, fromSnapshot, toSnapshot } from '../../lib/index.js'
import type { DAGEvent, DAGList, DAGSnapshot, HelloFrame, SequencedEvent } from '../../schemas/index.js'
import { events } from '../support/events.js'
import { nextMillisecond, repeat, tick, until } from '../support/wait.js'
import { build, TestClient } from '../support/helpers.js'

t.test('GET /api/dags/:id returns the state stamped with its seq; the decorator returns the same', async (t) => {
  const { app, http } = await build(t)
  await app.dagStream.broadcast('d', { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'a', label: 'Fetch' } } })
  await app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed', output: { rows: 3 }, metrics: { tokens: 12 } })
  await app.dagStream.broadcast('d', { type: 'cost_update', spent: 1, budget: 10, remaining: 9 })
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'b', presentation: { title: 'Publish?' } })
  const response = await fetch(`${http}/api/dags/d`)
  t.equal(response.status, 200)
  const snapshot = (await response.json()) as DAGSnapshot
  t.match(snapshot, {
    dag_id: 'd',
    seq: 4,
    status: 'running',
    nodes: [
      { id: 'a', status: 'completed', label: 'Fetch', output: { rows: 3 }, metrics: { tokens: 12 } },
      { id: 'b', status: 'waiting_human' }
    ],
    edges: [],
    cost: { spent: 1, budget: 10, remaining: 9 },
    gates: [{ node_id: 'b', presentation: { title: 'Publish?' } }],
    errors: []
  })
  t.same(await app.dagStream.snapshot('d'), snapshot)
})

t.test('an unknown DAG is a 404 with a typed JSON error', async (t) => {
  const { app, http } = await build(t)
  const response = await fetch(`${http}/api/dags/nope`)
  t.equal(response.status, 404)
  t.same(await response.json(), { statusCode: 404, code: 'FST_DAG_STREAM_DAG_NOT_FOUND', error: 'Not Found', message: 'DAG "nope" not found' })
  t.equal(await app.dagStream.snapshot('nope'), undefined)
  t.equal((await fetch(`${http}/api/dags/bad%20id`)).status, 400, 'a malformed id is refused by the schema')
})

t.test('GET /api/dags lists DAGs with status, seq and open gates, newest first, paged, in either order, filtered by status', async (t) => {
  const { app, http } = await build(t)
  // Apart in time, so that "most recently updated" has one answer.
  for (const dag of ['a', 'b', 'c']) {
    await app.dagStream.broadcast(dag, { type: 'execution_status', status: 'running' })
    await nextMillisecond()
  }
  await app.dagStream.broadcast('c', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Ship?' } })
  await nextMillisecond()
  await app.dagStream.broadcast('b', { type: 'execution_status', status: 'paused' })
  const all = (await (await fetch(`${http}/api/dags`)).json()) as DAGList
  t.match(all, { total: 3, limit: 100, offset: 0 })
  t.match(all.dags, [{ dag_id: 'b', seq: 2, status: 'paused', open_gates: 0 }, { dag_id: 'c', seq: 2, status: 'running', open_gates: 1 }, { dag_id: 'a', open_gates: 0 }])
  t.ok(all.dags.every((dag) => !Number.isNaN(Date.parse(dag.updated_at))))
  const page = (await (await fetch(`${http}/api/dags?limit=1&offset=1`)).json()) as DAGList
  t.same(page.dags.map((dag) => dag.dag_id), ['c'])
  t.equal((await fetch(`${http}/api/dags?limit=5000`)).status, 400, 'the page size is bounded')

  const oldest = (await (await fetch(`${http}/api/dags?order=oldest`)).json()) as DAGList
  t.same(oldest.dags.map((dag) => dag.dag_id), ['a', 'c', 'b'], 'oldest first when asked')
  t.equal(oldest.order, 'oldest')
  const one = (await (await fetch(`${http}/api/dags?status=paused`)).json()) as DAGList
  t.same([one.dags.map((dag) => dag.dag_id), one.total, one.order], [['b'], 1, 'newest'], 'a single status')
  const several = (await (await fetch(`${http}/api/dags?status=paused&status=running&limit=2`)).json()) as DAGList
  t.same([several.dags.map((dag) => dag.dag_id), several.total], [['b', 'c'], 3], 'several statuses: repeat the parameter')
  const unknownStatus = await fetch(`${http}/api/dags?status=done`)
  t.equal(unknownStatus.status, 400)
  t.match(await unknownStatus.json(), { message: 'querystring/status/0 must be one of: running, paused, cancelled, completed, failed' })
  const unknownOrder = await fetch(`${http}/api/dags?order=random`)
  t.equal(unknownOrder.status, 400)
  t.match(await unknownOrder.json(), { message: 'querystring/order must be one of: newest, oldest' })
  const twice = await fetch(`${http}/api/dags?status=paused&status=paused`)
  t.match([twice.status, await twice.json()], [400, { message: /querystring\/status must NOT have duplicate items/ }], 'other errors keep Fastify\'s wording')
})

t.test('snapshot + stream hand-off under concurrent broadcasting loses and duplicates nothing', async (t) => {
  const { app, url, http } = await build(t)
  let sent = 0

  for (let round = 0; round < 5; round++) {
    // The engine broadcasts on every turn of the event loop while the client joins.
    const engine = repeat(t, async () => {
      await app.dagStream.broadcast('d', events(1, sent)[0] as DAGEvent)
      sent++
      await tick()
    }, `the engine of round ${round}`)
    // What a client does: open the stream (events start to buffer), then load the snapshot.
    const client = await TestClient.open(url('/api/dags/d/stream'))
    const hello = (await client.next()) as HelloFrame
    const snapshot = (await (await fetch(`${http}/api/dags/d`)).json()) as DAGSnapshot
    await until(() => sent >= snapshot.seq + 20, 'the engine to go on after the snapshot')
    await engine.stop()
    const truth = (await app.dagStream.snapshot('d')) as DAGSnapshot
    t.ok(snapshot.seq >= hello.seq && truth.seq > snapshot.seq, `round ${round}: the engine ran before, during and after the hand-off`)

    await client.waitFor(1 + truth.seq - hello.seq)
    const frames = client.received.slice(1) as SequencedEvent[]
    t.same(frames.map((frame) => frame.seq), Array.from({ length: truth.seq - hello.seq }, (_, i) => hello.seq + 1 + i), 'the stream follows the hello without a gap or a repeat')
    const state = frames.filter((frame) => frame.seq > snapshot.seq).reduce(applyEvent, fromSnapshot(snapshot))
    t.same(toSnapshot('d', truth.epoch, truth.seq, state), truth, 'snapshot + the events after it = the server state')
    client.close()
  }
})
