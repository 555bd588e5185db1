import t from 'tap'
import { InvalidDAGIdError, InvalidEventError } from '../lib/index.js'
import type { SequencedEvent } from '../schemas/index.js'
import { tick } from './support/wait.js'
import { build, TestClient } from './support/helpers.js'

t.test('an invalid event throws at the call site, naming the field, and is not numbered', async (t) => {
  const { app } = await build(t)
  t.throws(() => app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'done' } as never), {
    code: 'FST_DAG_STREAM_INVALID_EVENT',
    message: /"d".*node_state: "status" must be one of: pending, queued/
  })
  t.throws(() => app.dagStream.broadcast('d', { type: 'cost_update', spent: '1', budget: 1, remaining: 0 } as never), InvalidEventError)
  t.throws(() => app.dagStream.broadcast('d', { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'a' } } as never), {
    message: /"mutation.to" is required/
  })
  t.throws(() => app.dagStream.broadcast('d', { type: 'dag_mutated', mutation: { op: 'explode' } } as never), {
    message: /"mutation" does not match any allowed shape/
  })
  t.throws(() => app.dagStream.broadcast('d', { type: 'dag_mutated', mutation: null } as never), {
    message: /"mutation" does not match any allowed shape/
  })
  t.throws(() => app.dagStream.broadcast('d', { type: 'teleport' } as never), { message: /"type" must be one of/ })
  t.throws(() => app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running', extra: 1 } as never), {
    message: /"extra" unexpected property/
  })
  t.throws(() => app.dagStream.broadcast('bad id/../x', { type: 'execution_status', status: 'running' }), InvalidDAGIdError)
  const first = await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.equal(first.seq, 1, 'the refused events took no sequence number')
})

t.test('broadcast resolves with the delivered event, numbered per DAG', async (t) => {
  const { app } = await build(t)
  t.same(await app.dagStream.broadcast('x', { type: 'edge_active', from: 'a', to: 'b' }), {
    type: 'edge_active', from: 'a', to: 'b', seq: 1, epoch: (await app.dagStream.snapshot('x'))?.epoch
  })
  t.equal((await app.dagStream.broadcast('y', { type: 'edge_active', from: 'a', to: 'b' })).seq, 1, 'each DAG counts on its own')
  t.equal((await app.dagStream.broadcast('x', { type: 'edge_active', from: 'a', to: 'b' })).seq, 2)
})

t.test('ignoring the promise of a failing broadcast never makes an unhandled rejection', async (t) => {
  const { app } = await build(t)
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => process.off('unhandledRejection', onUnhandled))
  await app.close()
  // After close the backplane refuses appends: the promise rejects, and nobody is listening.
  void app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  // Calls for one DAG take effect in call order: once this one has failed, the ignored one has too,
  // and after one more turn of the event loop Node has reported it if it was unhandled.
  await t.rejects(app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' }), { code: 'FST_DAG_STREAM_CLOSED' })
  await tick()
  t.same(unhandled, [])
})

t.test('gapless order: 10,000 events over 50 DAGs, every client sees 1, 2, 3 … in order', async (t) => {
  const { app, url } = await build(t)
  const dags = Array.from({ length: 50 }, (_, i) => `dag-${i}`)
  const clients = await Promise.all(dags.map((dag) => TestClient.open(url(`/api/dags/${dag}/stream`))))
  // A second viewer on one DAG must see the very same sequence.
  const twin = await TestClient.open(url('/api/dags/dag-0/stream'))
  await Promise.all([...clients, twin].map((client) => client.waitFor(1)))

  for (let i = 0; i < 10_000; i++) {
    const dag = dags[i % 50] as string
    // Interleaved and not awaited, as a busy engine would call it.
    void app.dagStream.broadcast(dag, { type: 'node_state', node_id: `n${i}`, status: 'running' })
  }
  for (const [index, client] of clients.entries()) {
    const frames = (await client.waitFor(201, 30_000)).slice(1) as SequencedEvent[]
    const seqs = frames.map((frame) => frame.seq)
    t.same(seqs, Array.from({ length: 200 }, (_, i) => i + 1), `${dags[index]}: 1..200 in order`)
    t.ok(frames.every((frame, i) => frame.type === 'node_state' && frame.node_id === `n${i * 50 + index}`), 'in broadcast order')
    client.close()
  }
  t.same(await twin.waitFor(201), clients[0]?.received, 'two viewers of one DAG see identical streams')
  twin.close()
})
