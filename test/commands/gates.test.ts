import t, { type Test } from 'tap'
import type { ClientEvent } from '../../schemas/index.js'
import {
  applyGateWrite,
  beginGate,
  claimGate,
  claimProgress,
  decodePhase,
  encodePhase,
  gateWriteFor,
  releaseGate,
  renewGate,
  settleGate,
  type GateRecord,
  type GateWrite
} from '../../lib/commands/gates.js'
import { checkValue, compileSchema } from '../../lib/commands/values.js'
import type { LogHead } from '../../lib/index.js'
import { until } from '../support/wait.js'
import { build, TestClient } from '../support/helpers.js'

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
  const rival = await TestClient.open(url('/api/dags/d/stream'))
  await other.next()
  await rival.next()
  client.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  await until(() => received.length === 1, 'the engine holds the first copy')
  other.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  rival.send({ type: 'human_decision', id: 'rival', node_id: 'review', decision: 'reject' })
  t.same(await rival.next(), { type: 'error', code: 'gate_already_decided', message: 'The gate of "review" was already decided', id: 'rival' }, 'a rival is refused while the first is applied')
  release()
  t.same((await client.waitFor(3)).slice(1).map((frame) => frame.type).sort(), ['ack', 'human_gate_resolved'])
  t.same((await other.waitFor(3)).slice(1).map((frame) => frame.type).sort(), ['ack', 'human_gate_resolved'])
  t.equal(received.length, 1)
  client.close()
  other.close()
  rival.close()
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

t.test('the gate rules on their own: a key in flight, leases, and claims that are not yours', async (t) => {
  const running: LogHead = { epoch: 'e', seq: 1, status: 'running' }
  let record: GateRecord = { phase: 'waiting' }
  const step = <R>(transition: (record: GateRecord, dag: typeof running) => { result: R; next: GateRecord }, dag = running): R => {
    const { result, next } = transition(record, dag)
    record = next
    return result
  }
  t.same(step(claimGate('a', 0, 100)), { kind: 'claimed' })
  t.same(step(claimGate('a', 10, 100)), { kind: 'in_flight' }, 'the same key while it is being applied')
  step(settleGate('other-key', false))
  t.same(step(claimGate('b', 20, 100)), { kind: 'refused', code: 'gate_already_decided' }, 'a stranger cannot release the claim')
  step(releaseGate('other-key'))
  t.same(step(claimGate('b', 20, 100)), { kind: 'refused', code: 'gate_already_decided' }, 'nor give it up')
  t.same(step(claimGate('b', 100, 100)), { kind: 'claimed' }, 'a claim that was never begun lapses with its lease')
  t.equal(step(beginGate('a', 110, 100)), false, 'the lapsed key can no longer begin')
  t.equal(step(beginGate('b', 110, 100)), true)
  t.equal(step(claimProgress('b', 150)), 'pending')
  step(renewGate('b', 190, 100))
  t.equal(step(claimProgress('b', 250)), 'pending', 'a renewed claim outlives its first lease')
  step(renewGate('a', 260, 100))
  t.equal(step(claimProgress('a', 260)), 'gone', 'only the holder renews')
  step(releaseGate('b'))
  t.same(step(claimGate('c', 150, 100)), { kind: 'refused', code: 'gate_already_decided' }, 'a begun claim is not released: the engine has it')
  step(settleGate('b', true))
  t.same(step(claimGate('b', 10_000, 100)), { kind: 'duplicate' }, 'an accepted decision never lapses')
  t.equal(step(claimProgress('b', 10_000)), 'accepted')
  t.same(step(claimGate('c', 10_000, 100)), { kind: 'refused', code: 'gate_already_decided' })
  record = { phase: 'waiting' }
  t.same(step(claimGate('a', 0, 100), { ...running, status: 'completed' }), { kind: 'refused', code: 'gate_not_waiting' }, 'a finished run waits for nobody')
  record = {}
  t.same(step(claimGate('a', 0, 100)), { kind: 'refused', code: 'gate_not_waiting' })
})

t.test('the gate rules change claims only: the phase and offer stay those the log wrote (Redis counts open gates by them)', async (t) => {
  const offer = { decisions: ['approve' as const] }
  const claims = [undefined, { key: 'a', state: 'claimed' as const, expiresAt: 50 }, { key: 'a', state: 'applying' as const, expiresAt: 500 }, { key: 'a', state: 'accepted' as const, expiresAt: 0 }]
  const phases: GateRecord[] = [{}, { phase: 'waiting' }, { phase: 'waiting', offer }, { phase: 'decided' }]
  const rules = [
    claimGate('a', 100, 100, { decision: 'approve' }), claimGate('b', 100, 100), beginGate('a', 100, 100), renewGate('a', 100, 100),
    claimProgress('a', 100), settleGate('a', true), settleGate('a', false), releaseGate('a')
  ]
  const changed: string[] = []
  let checked = 0
  for (const status of ['running', 'stalled', 'completed'] as const) {
    for (const base of phases) {
      for (const claim of claims) {
        const record: GateRecord = claim === undefined ? base : { ...base, claim }
        rules.forEach((rule, index) => {
          const { next } = rule(record, { epoch: 'e', seq: 1, status })
          if (next.phase !== record.phase || next.offer !== record.offer) changed.push(`rule ${index} on ${JSON.stringify(record)} (${status})`)
          checked += 1
        })
      }
    }
  }
  t.same(changed, [], `${checked} records and rules`)
})

t.test('the gate rules check a decision against the gate\'s offer before any claim, and a stalled run answers engine_unavailable', async (t) => {
  const running: LogHead = { epoch: 'e', seq: 1, status: 'running' }
  const [write] = [gateWriteFor({
    type: 'human_gate_waiting',
    node_id: 'n',
    gate_id: 'n~1',
    presentation: { title: 'x', decisions: ['approve', 'modify'], response_schema: { type: 'object', properties: { k: { type: 'integer' } }, required: ['k'] } }
  })]
  t.match(write, { gateId: 'n~1', phase: 'waiting', offer: { decisions: ['approve', 'modify'] } })
  const record = applyGateWrite({}, write as GateWrite)
  const encoded = encodePhase(record)
  const decoded: GateRecord = {}
  decodePhase(encoded, decoded)
  t.same(decoded, record, 'the offer survives the way Redis stores it')
  t.same(claimGate('a', 0, 100, { decision: 'reject', value: { k: 1 } })(record, running).result, {
    kind: 'invalid', code: 'decision_not_offered', message: '"reject" is not offered: approve, modify'
  })
  t.match(claimGate('a', 0, 100, { decision: 'modify', value: { k: 'one' } })(record, running).result, { kind: 'invalid', code: 'invalid_value', path: '/k', message: /must be integer/ })
  t.match(claimGate('a', 0, 100, { decision: 'modify' })(record, running).result, { kind: 'invalid', code: 'invalid_value', path: '' })
  t.same(claimGate('a', 0, 100, { decision: 'approve', value: { k: 1 } })(record, { ...running, status: 'stalled' }).result, { kind: 'refused', code: 'engine_unavailable' })
  t.same(claimGate('a', 0, 100, { decision: 'approve', value: { k: 1 } })(record, running).result, { kind: 'claimed' })
  const open = applyGateWrite({}, gateWriteFor({ type: 'human_gate_waiting', node_id: 'm', presentation: { title: 'y' } }) as GateWrite)
  t.same(open, { phase: 'waiting' }, 'no offer: anything goes')
  t.same(claimGate('a', 0, 100, { decision: 'reject' })(open, running).result, { kind: 'claimed' })
  t.same(gateWriteFor({ type: 'human_gate_withdrawn', node_id: 'n', gate_id: 'n~1' }), { gateId: 'n~1', phase: undefined, clearClaim: true })
  t.equal(encodePhase({}), '')
})

t.test('compiled response schemas are kept, the least recently used going first', async (t) => {
  const schemas = Array.from({ length: 300 }, (_, index) => ({ type: 'object', properties: { [`k${index}`]: { type: 'string' } } }))
  for (const schema of schemas) t.equal(checkValue(schema, {}), undefined)
  t.equal(compileSchema(schemas[299] as Record<string, unknown>), compileSchema(schemas[299] as Record<string, unknown>), 'the same compiled validator')
  t.match(checkValue({ type: 'string' }, 3), { path: '', message: 'value must be string' })
  t.throws(() => compileSchema({ type: 'no-such-type' }))
})
