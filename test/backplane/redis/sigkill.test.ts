// An instance killed with SIGKILL (a crashed or OOM-killed pod: no close frame, no clean unsubscribe,
// no release of what it held), in a child process on the shared Redis, while an engine in this process
// goes on. Its dashboards resume elsewhere exactly, and a gate claim it held lapses.

import t from 'tap'
import type { DAGEvent, HelloFrame, SequencedEvent } from '../../../schemas/index.js'
import { events } from '../../support/events.js'
import { frameWhere, repeat, tick, until } from '../../support/wait.js'
import { TestClient } from '../../support/helpers.js'
import { buildEngine, buildInstance, cleanupPrefix, range, REDIS_URL, seqs, spawnInstance, uniquePrefix } from '../../support/redis-helpers.js'

t.test('an instance SIGKILLed mid-stream: its client resumes on another instance with no gap and no duplicate', async (t) => {
  const prefix = uniquePrefix('sigkill')
  cleanupPrefix(t, prefix)
  const [one, two] = await Promise.all([
    spawnInstance(t, { url: REDIS_URL, keyPrefix: prefix, listen: true }),
    spawnInstance(t, { url: REDIS_URL, keyPrefix: prefix, listen: true })
  ])
  const engine = await buildEngine(t, { prefix })
  const first = await TestClient.open(one.url('/api/dags/d/stream'))
  t.match(await first.next(), { type: 'hello', seq: 0 })

  // The engine broadcasts on every turn of the event loop until told to stop.
  let sent = 0
  const broadcasting = repeat(t, async () => {
    await engine.dagStream.broadcast('d', events(1, sent, 'mixed')[0] as DAGEvent)
    sent++
    await tick()
  }, 'the engine', 60_000)

  await first.waitFor(51, 15_000)
  await one.kill()
  t.equal((await first.closed).code, 1006, 'no close frame from a killed process')
  const seen = first.received.slice(1) as SequencedEvent[]
  t.same(seen.map((event) => event.seq), range(seen.length), 'in order up to the kill')
  const last = seen.at(-1) as SequencedEvent
  const sentAtKill = sent

  const second = await TestClient.open(two.url(`/api/dags/d/stream?since=${last.seq}&epoch=${last.epoch}`))
  const hello = (await second.next()) as HelloFrame
  t.match(hello, { type: 'hello', epoch: last.epoch, recovered: true })
  t.ok(hello.seq > last.seq, 'the engine went on meanwhile')
  // Well past the hand-off from replay to live before the engine stops.
  await until(() => seqs(second.received).at(-1) as number >= sentAtKill + 100, 'live events on the second instance', 15_000)
  await broadcasting.stop()
  const head = sent
  const resumed = (await second.waitFor(head - last.seq + 1, 15_000)).slice(1)
  t.same([...seqs(seen), ...seqs(resumed)], range(head), '1 … head across both instances, each once, in order')
  t.ok(resumed.every((frame) => (frame as SequencedEvent).epoch === last.epoch), 'one epoch: the log did not start again')
  second.close()
})

t.test('a gate claim held by an instance SIGKILLed mid-decision lapses after commandTimeoutMs; a later decision is accepted', async (t) => {
  const LEASE_MS = 1500
  const prefix = uniquePrefix('sigkill-gate')
  cleanupPrefix(t, prefix)
  // The driver: broadcasts the gate, and its handler never returns.
  const driver = await spawnInstance(t, { url: REDIS_URL, keyPrefix: prefix, listen: false, handler: 'hang', options: { commandTimeoutMs: LEASE_MS } })
  const dashboards = await buildInstance(t, { prefix, commandTimeoutMs: LEASE_MS, describeSender: () => ({ user: 'alice' }) })
  await driver.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?' } })
  const [deciding, rival, viewer] = await Promise.all([0, 1, 2].map(() => TestClient.open(dashboards.url('/api/dags/d/stream'))))
  for (const client of [deciding, rival, viewer]) t.match(await client?.next(), { type: 'hello', seq: 1 })
  if (deciding === undefined || rival === undefined || viewer === undefined) throw new Error('unreachable')

  deciding.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' })
  await until(() => driver.handlerCalls.length === 1, "the decision to be in the driver's handler", 10_000)
  const began = Date.now()
  t.match(driver.handlerCalls[0], {
    event: { type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' },
    context: { dagId: 'd', sender: { user: 'alice' } }
  })
  await driver.kill()

  // While the dead instance's claim holds, the gate is taken.
  rival.send({ type: 'human_decision', id: 'k2', node_id: 'review', decision: 'reject' })
  t.match(await frameWhere(rival, (frame) => frame.type === 'error', 'the refusal'), { code: 'gate_already_decided', id: 'k2' })
  t.match(await frameWhere(deciding, (frame) => frame.type === 'error', 'the first decision to time out'), { code: 'engine_unavailable', id: 'k1' })

  // A new engine takes the run over; the gate opens again once the claim lapses.
  const engine = await buildEngine(t, { prefix, commandTimeoutMs: LEASE_MS })
  const decisions: unknown[] = []
  engine.dagStream.onClientEvent((event) => {
    decisions.push(event)
  })
  await engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'draft', status: 'completed' })
  let answer: { type: string; code?: string } | undefined
  await until(async () => {
    const from = rival.received.length
    rival.send({ type: 'human_decision', id: 'k3', node_id: 'review', decision: 'reject', feedback: 'too long' })
    answer = await frameWhere(rival, (frame) => (frame.type === 'ack' || frame.type === 'error') && 'id' in frame && frame.id === 'k3', 'an answer to k3', { from })
    return answer.type === 'ack'
  }, 'a later decision to be accepted', LEASE_MS + 5000)
  const lapsedAfter = Date.now() - began
  t.ok(lapsedAfter >= LEASE_MS - 250, `accepted once the claim lapsed (${lapsedAfter} ms after it began)`)
  t.same(decisions, [{ type: 'human_decision', id: 'k3', node_id: 'review', decision: 'reject', feedback: 'too long' }], 'the new engine decided once')
  for (const client of [deciding, rival, viewer]) {
    t.match(await frameWhere(client, (frame) => frame.type === 'human_gate_resolved', 'the resolution'), { node_id: 'review', decision: 'reject', feedback: 'too long', seq: 3 })
  }
  deciding.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' })
  t.match(await frameWhere(deciding, (frame) => frame.type === 'error' && 'code' in frame && frame.id === 'k1' && frame.code !== 'engine_unavailable', 'k1 again'), { code: 'gate_already_decided' })
  for (const client of [deciding, rival, viewer]) client.close()
})
