import t, { type Test } from 'tap'
import type { ClientEvent } from '../schemas/index.js'
import { GateBook } from '../lib/gates.js'
import { MemoryBackplane } from '../lib/index.js'
import { build, TestClient } from './helpers.js'

async function withGate (t: Test, handler?: (event: ClientEvent) => void | Promise<void>) {
  const server = await build(t)
  const received: ClientEvent[] = []
  server.app.dagStream.onClientEvent(async (event) => {
    received.push(event)
    await handler?.(event)
  })
  await server.app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?', options: ['approve', 'reject'] } })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  await client.next() // hello
  return { ...server, received, client }
}

t.test('a decision for a waiting gate reaches the engine, is acked, and every viewer sees it resolved', async (t) => {
  const { url, received, client, app } = await withGate(t)
  const viewer = await TestClient.open(url('/api/dags/d/stream'))
  await viewer.next()
  client.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'modify', feedback: 'shorter' })
  t.match(await client.next(), { type: 'human_gate_resolved', node_id: 'review', decision: 'modify', feedback: 'shorter', seq: 2 })
  t.same(await client.next(), { type: 'ack', id: 'k1' })
  t.match(await viewer.next(), { type: 'human_gate_resolved', seq: 2 })
  t.same(received, [{ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'modify', feedback: 'shorter' }])
  t.same((await app.dagStream.snapshot('d'))?.gates, [], 'the gate is closed in the state')
  client.close()
  viewer.close()
})

t.test('a decision for a node with no open gate is refused and the engine is not called', async (t) => {
  const { received, client } = await withGate(t)
  client.send({ type: 'human_decision', id: 'k1', node_id: 'other', decision: 'approve' })
  t.same(await client.next(), { type: 'error', code: 'gate_not_waiting', message: 'Node "other" is not waiting for a decision', id: 'k1' })
  t.same(received, [])
  client.close()
})

t.test('the first decision wins; the same key again gets the same ack without a second engine call', async (t) => {
  const { received, client, url } = await withGate(t)
  client.send({ type: 'human_decision', id: 'first', node_id: 'review', decision: 'approve' })
  await client.next() // human_gate_resolved
  t.same(await client.next(), { type: 'ack', id: 'first' })
  client.send({ type: 'human_decision', id: 'second', node_id: 'review', decision: 'reject' })
  t.match(await client.next(), { type: 'error', code: 'gate_already_decided', id: 'second' })
  // Re-sent after a reconnect, on another socket.
  client.close()
  const again = await TestClient.open(url('/api/dags/d/stream'))
  await again.next()
  again.send({ type: 'human_decision', id: 'first', node_id: 'review', decision: 'approve' })
  t.same(await again.next(), { type: 'ack', id: 'first' })
  t.equal(received.length, 1, 'the engine was called once')
  again.close()
})

t.test('two copies of one decision in flight at once: one engine call, two acks', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { received, client, url } = await withGate(t, () => gate)
  const other = await TestClient.open(url('/api/dags/d/stream'))
  await other.next()
  client.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  await new Promise((resolve) => setTimeout(resolve, 30))
  other.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  client.send({ type: 'human_decision', id: 'rival', node_id: 'review', decision: 'reject' })
  t.same(await client.next(), { type: 'error', code: 'gate_already_decided', message: 'The gate of "review" was already decided', id: 'rival' }, 'a rival is refused while the first is applied')
  release()
  await client.waitFor(4)
  t.same(client.received.slice(2).map((frame) => frame.type).sort(), ['ack', 'human_gate_resolved'])
  t.same((await other.waitFor(3)).slice(1).map((frame) => frame.type).sort(), ['ack', 'human_gate_resolved'])
  t.equal(received.length, 1)
  client.close()
  other.close()
})

t.test('if the engine throws, the gate stays open and the decision may be sent again', async (t) => {
  let fail = true
  const { received, client, app } = await withGate(t, () => {
    if (fail) throw new Error('database down: secret details')
  })
  client.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' })
  t.same(await client.next(), { type: 'error', code: 'handler_failed', message: 'The engine refused this event', id: 'k1' }, 'no internal details leak')
  t.equal((await app.dagStream.snapshot('d'))?.gates.length, 1, 'the gate is still open')
  fail = false
  client.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' })
  t.match(await client.next(), { type: 'human_gate_resolved' })
  t.same(await client.next(), { type: 'ack', id: 'k1' })
  t.equal(received.length, 2)
  client.close()
})

t.test('a gate resolved by the engine itself, or reopened, follows the same rules', async (t) => {
  const { client, app, received } = await withGate(t)
  await app.dagStream.broadcast('d', { type: 'human_gate_resolved', node_id: 'review', decision: 'approve' })
  await client.next()
  client.send({ type: 'human_decision', id: 'late', node_id: 'review', decision: 'reject' })
  t.match(await client.next(), { type: 'error', code: 'gate_already_decided' })
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Again?' } })
  await client.next()
  client.send({ type: 'human_decision', id: 'late', node_id: 'review', decision: 'reject' })
  t.match(await client.next(), { type: 'human_gate_resolved', decision: 'reject' })
  t.same(await client.next(), { type: 'ack', id: 'late' }, 'a new round accepts a decision')
  t.equal(received.length, 1)
  client.close()
})

t.test('decisions without an id still obey first-decision-wins, and get no ack', async (t) => {
  const { client, received } = await withGate(t)
  client.send({ type: 'human_decision', node_id: 'review', decision: 'approve' })
  t.match(await client.next(), { type: 'human_gate_resolved' })
  client.send({ type: 'human_decision', node_id: 'review', decision: 'approve' })
  t.same(await client.next(), { type: 'error', code: 'gate_already_decided', message: 'The gate of "review" was already decided' })
  t.equal(received.length, 1)
  client.close()
})

t.test('a decision for an unknown DAG', async (t) => {
  const { app, url } = await build(t)
  app.dagStream.onClientEvent(() => {})
  const client = await TestClient.open(url('/api/dags/ghost/stream'))
  await client.next()
  client.send({ type: 'human_decision', id: 'x', node_id: 'a', decision: 'approve' })
  t.same(await client.next(), { type: 'error', code: 'dag_not_found', message: 'DAG "ghost" has no execution', id: 'x' })
  client.close()
})

t.test('the gate book on its own: a key in flight, and settling a claim that is not yours', async (t) => {
  const book = new GateBook()
  t.same(book.claim('n', 'a', true), { kind: 'claimed' })
  t.same(book.claim('n', 'a', true), { kind: 'in_flight' }, 'the same key while it is being applied')
  book.settle('n', 'other-key', false)
  t.same(book.claim('n', 'b', true), { kind: 'refused', code: 'gate_already_decided' }, 'a stranger cannot release the claim')
  book.settle('n', 'a', true)
  t.same(book.claim('n', 'a', true), { kind: 'duplicate' })
  book.settle('missing', 'a', true)
  t.same(book.claim('missing', 'a', false), { kind: 'refused', code: 'gate_not_waiting' })
})

t.test('a decision in flight on another instance (as a shared backplane reports it) is refused', async (t) => {
  class ElsewhereBackplane extends MemoryBackplane {
    override async claimGate () {
      return { kind: 'in_flight' as const }
    }
  }
  const { app, url } = await build(t, { backplane: new ElsewhereBackplane({ historySize: 10, retainFinishedMs: 1000 }) })
  const received: unknown[] = []
  app.dagStream.onClientEvent((event) => { received.push(event) })
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'ok?' } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'human_decision', id: 'k', node_id: 'review', decision: 'approve' })
  t.same(await client.next(), { type: 'error', code: 'gate_already_decided', message: 'The gate of "review" is being decided', id: 'k' })
  t.same(received, [])
  client.close()
})
