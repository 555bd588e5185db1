// N instances on one Redis behave as one server: three app instances that dashboards connect to and an
// engine that only broadcasts, all in this process, on real sockets. One order for a DAG whoever
// broadcasts, resume on any instance, one snapshot everywhere, commands and gates across instances,
// retention and the DAG list shared by all.

import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { applyEvent, createState, EventRefusedError, fromSnapshot, toSnapshot, type ClientEventContext } from '../../../lib/index.js'
import { PROTOCOL_VERSION, type ClientEvent, type DAGList, type DAGSnapshot, type HelloFrame, type SequencedEvent, type ServerMessage } from '../../../schemas/index.js'
import { dagKeys } from '../../../lib/backplane/redis/keys.js'
import { events } from '../../support/events.js'
import { frameWhere, until } from '../../support/wait.js'
import { TestClient } from '../../support/helpers.js'
import { buildEngine, buildInstance, cleanupPrefix, commandsNaming, getJson, range, seqs, uniquePrefix, type Instance, type RedisInstanceOptions } from '../../support/redis-helpers.js'

type ClusterOptions = Omit<RedisInstanceOptions, 'prefix'>

/** Instances A, B and C (listening) and an engine (ready only) on one key prefix of their own. */
async function cluster (t: Test, name: string, options: ClusterOptions = {}, perInstance: (name: string) => ClusterOptions = () => ({})) {
  const prefix = uniquePrefix(name)
  cleanupPrefix(t, prefix)
  const instances: Instance[] = []
  for (const each of ['A', 'B', 'C']) instances.push(await buildInstance(t, { prefix, ...options, ...perInstance(each) }))
  const engine = await buildEngine(t, { prefix, ...options, ...perInstance('engine') })
  const [a, b, c] = instances as [Instance, Instance, Instance]
  return { prefix, instances, a, b, c, engine }
}

async function open (instance: Instance, dagId: string, query = '', headers: Record<string, string> = {}) {
  const client = await TestClient.open(instance.url(`/api/dags/${dagId}/stream${query}`), { headers })
  return { client, hello: (await client.next()) as HelloFrame }
}

function isIncreasing (values: number[]): boolean {
  return values.every((value, index) => index === 0 || value > (values[index - 1] as number))
}

/** The state after `events`, from scratch or from `snapshot`, as a snapshot at the last event. */
function fold (dagId: string, events: SequencedEvent[], snapshot?: DAGSnapshot): DAGSnapshot {
  const state = snapshot === undefined ? createState() : fromSnapshot(snapshot)
  for (const event of events) applyEvent(state, event)
  const last = events.at(-1)
  return toSnapshot(dagId, last?.epoch ?? snapshot?.epoch ?? '', last?.seq ?? snapshot?.seq ?? 0, state)
}

t.test('one order: four apps broadcasting to one DAG at once get seqs 1 … 400, and every instance delivers the same frames', async (t) => {
  const { instances, engine } = await cluster(t, 'order')
  const viewers = await Promise.all(instances.map((instance) => open(instance, 'd')))
  t.same(viewers.map(({ hello }) => hello.seq), [0, 0, 0])
  const apps = [...instances.map(({ app }) => app), engine]
  const calls: Array<Array<Promise<SequencedEvent>>> = apps.map(() => [])
  // Interleaved, unawaited: every app has calls in flight on its own Redis connection at once.
  for (let index = 0; index < 100; index++) {
    apps.forEach((app, which) => {
      calls[which]?.push(app.dagStream.broadcast('d', { type: 'node_state', node_id: `app${which}`, status: 'running', metrics: { tokens: index } }))
    })
  }
  const results = await Promise.all(calls.map((each) => Promise.all(each)))
  t.same(results.flat().map((event) => event.seq).sort((x, y) => x - y), range(400), 'one numbering, no gap, no repeat')
  t.ok(results.every((each) => isIncreasing(each.map((event) => event.seq))), "each app's calls are numbered in call order")
  t.equal(new Set(results.flat().map((event) => event.epoch)).size, 1, 'one epoch')

  const streams = await Promise.all(viewers.map(({ client }) => client.waitFor(401)))
  const first = streams[0] as ServerMessage[]
  t.same(seqs(first), range(400))
  t.same(streams[1], first, 'instance B delivered the same frames in the same order as A')
  t.same(streams[2], first, 'and so did C')
  const bySeq = new Map(results.flat().map((event) => [event.seq, event]))
  t.same(first.slice(1), range(400).map((seq) => bySeq.get(seq)), 'each frame is the event its broadcast resolved with')
  for (const { client } of viewers) client.close()
})

t.test('call order: one process broadcasting without awaiting takes effect in call order', async (t) => {
  const { a, b, engine } = await cluster(t, 'call-order')
  const running = engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'x', status: 'running' })
  const completed = engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'x', status: 'completed' })
  t.same((await Promise.all([running, completed])).map((event) => event.seq), [1, 2])
  t.match((await a.app.dagStream.snapshot('d'))?.nodes, [{ id: 'x', status: 'completed' }], 'completed came last')

  // Two processes at once, 200 unawaited calls each: each one's calls keep their order among the others'.
  const fromEngine: Array<Promise<SequencedEvent>> = []
  const fromB: Array<Promise<SequencedEvent>> = []
  for (let index = 0; index < 200; index++) {
    fromEngine.push(engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'e', status: 'running', metrics: { tokens: index } }))
    fromB.push(b.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'b', status: 'running', metrics: { tokens: index } }))
  }
  const engineSeqs = (await Promise.all(fromEngine)).map((event) => event.seq)
  const bSeqs = (await Promise.all(fromB)).map((event) => event.seq)
  t.ok(isIncreasing(engineSeqs), 'the engine’s 200 calls in call order')
  t.ok(isIncreasing(bSeqs), 'B’s 200 calls in call order')
  t.same([...engineSeqs, ...bSeqs].sort((x, y) => x - y), range(3, 402))
  const snapshot = await a.app.dagStream.snapshot('d')
  t.match(snapshot?.nodes, [{ id: 'x' }, { id: 'e', metrics: { tokens: 199 } }, { id: 'b', metrics: { tokens: 199 } }], 'the last call of each wins')
  t.equal(snapshot?.seq, 402)
})

t.test('resume anywhere: a client that saw seq 12 on A resumes on B with exactly 13 … head, then live', async (t) => {
  const { a, b, engine } = await cluster(t, 'resume')
  const first = await open(a, 'd')
  for (const event of events(30, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  const seen = (await first.client.waitFor(31)).slice(1) as SequencedEvent[]
  first.client.close()
  const epoch = (seen[0] as SequencedEvent).epoch

  const resumed = await open(b, 'd', `?since=12&epoch=${epoch}`)
  t.same(resumed.hello, { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'd', epoch, seq: 30, recovered: true })
  const replay = (await resumed.client.waitFor(19)).slice(1)
  t.same(replay, seen.slice(12), 'B replays 13 … 30, frame for frame what A sent')
  await engine.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match((await resumed.client.waitFor(20))[19], { type: 'execution_status', seq: 31 }, 'then live, right after 30')
  resumed.client.close()
})

t.test('resume anywhere: past the history window, or from another epoch, no partial replay', async (t) => {
  const { b, c, engine } = await cluster(t, 'resume-window', { historySize: 10 })
  for (const event of events(30, 0, 'mixed')) await engine.dagStream.broadcast('d', event)
  const epoch = (await engine.dagStream.snapshot('d'))?.epoch as string

  const past = await open(b, 'd', `?since=12&epoch=${epoch}`)
  t.same(past.hello, { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'd', epoch, seq: 30, recovered: false, reason: 'history_exceeded' })
  const otherEpoch = await open(c, 'd', '?since=12&epoch=not-this-log')
  t.same(otherEpoch.hello, { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'd', epoch, seq: 30, recovered: false, reason: 'epoch_changed' })
  // 21 … 30 are kept: a client at 20 misses nothing that is gone.
  const edge = await open(c, 'd', `?since=20&epoch=${epoch}`)
  t.match(edge.hello, { recovered: true, seq: 30 })

  await engine.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await past.client.next(), { type: 'execution_status', seq: 31 }, 'the first frame after hello is live')
  t.match(await otherEpoch.client.next(), { type: 'execution_status', seq: 31 })
  t.same(seqs(await edge.client.waitFor(12)), range(21, 31))
  for (const { client } of [past, otherEpoch, edge]) client.close()
})

t.test('one snapshot: every instance, the engine and a cold instance serve the same state, stamped with its seq', async (t) => {
  const { prefix, instances, a, engine } = await cluster(t, 'snapshot', { historySize: 20 })
  const sent: SequencedEvent[] = []
  for (const [index, event] of events(65, 0, 'mixed').entries()) {
    sent.push(await (index % 2 === 0 ? engine : a.app).dagStream.broadcast('d', event))
  }
  // Never saw the DAG and has no socket: all it knows comes from Redis.
  const cold = await buildInstance(t, { prefix, historySize: 20 })
  const truth = fold('d', sent)
  t.equal(truth.seq, 65)
  for (const instance of [...instances, cold]) {
    const { status, body } = await getJson<DAGSnapshot>(`${instance.http}/api/dags/d`)
    t.equal(status, 200)
    t.same(body, truth, `GET on port ${instance.port}`)
    t.same(await instance.app.dagStream.snapshot('d'), truth)
  }
  t.same(await engine.dagStream.snapshot('d'), truth)
})

t.test('one snapshot: any snapshot taken while three apps broadcast, plus the later events, is the final truth', async (t) => {
  const { prefix, b, c, a, engine } = await cluster(t, 'snapshot-live', { historySize: 20 })
  const cold = await buildInstance(t, { prefix, historySize: 20 })
  const viewer = await open(c, 'd')
  const PER_APP = 200
  let broadcasting = 3
  const broadcasters = [engine, a.app, b.app].map(async (app: FastifyInstance, which) => {
    for (const event of events(PER_APP, which * PER_APP, 'mixed')) await app.dagStream.broadcast('d', event)
    broadcasting--
  })
  const snapshots: DAGSnapshot[] = []
  const readers = [a, b, c, cold]
  for (let turn = 0; broadcasting > 0; turn++) {
    const reader = readers[turn % readers.length] as Instance
    const { status, body } = await getJson<DAGSnapshot>(`${reader.http}/api/dags/d`)
    if (status === 200) snapshots.push(body)
  }
  await Promise.all(broadcasters)
  const final = await engine.dagStream.snapshot('d') as DAGSnapshot
  t.equal(final.seq, 3 * PER_APP)
  const stream = (await viewer.client.waitFor(final.seq + 1)).slice(1) as SequencedEvent[]
  t.same(stream.map((event) => event.seq), range(final.seq))
  t.same(fold('d', stream), final, 'the stream folds to the final snapshot')

  const taken = snapshots.filter((snapshot) => snapshot.seq > 0 && snapshot.seq < final.seq)
  // historySize 20: a checkpoint every 10 events, so these snapshots straddle many of them.
  t.ok(new Set(taken.map((snapshot) => Math.floor(snapshot.seq / 10))).size >= 10, `snapshots across many checkpoints (${taken.length} taken)`)
  let wrong = 0
  for (const snapshot of taken) {
    const later = stream.filter((event) => event.seq > snapshot.seq)
    if (!isDeepStrictEqual(fold('d', later, snapshot), final)) wrong++
    // And the snapshot is exactly the stream up to its seq: no event missing, none from later.
    if (!isDeepStrictEqual(snapshot, fold('d', stream.slice(0, snapshot.seq)))) wrong++
  }
  t.equal(wrong, 0, `every one of ${taken.length} snapshots + later events = the final truth`)
  viewer.client.close()
})

// ---------------------------------------------------------------------------------------------
// Commands and gates across instances
// ---------------------------------------------------------------------------------------------

const COMMAND_TIMEOUT_MS = 500

/** Each instance tells handlers which instance the sender was on, and who the sender is. */
function describedBy (name: string): ClusterOptions {
  return { describeSender: (request) => ({ instance: name, user: request.headers['x-user'] ?? null }) }
}

interface Call {
  event: ClientEvent
  context: ClientEventContext
}

function recordCalls (app: FastifyInstance, behave: (event: ClientEvent) => void | Promise<void> = () => {}): Call[] {
  const calls: Call[] = []
  app.dagStream.onClientEvent(async (event, context) => {
    calls.push({ event, context })
    await behave(event)
  })
  return calls
}

t.test('commands across instances: the engine (no sockets) runs the handler for a dashboard on B, which gets the answer', async (t) => {
  const { b, engine } = await cluster(t, 'commands', { commandTimeoutMs: COMMAND_TIMEOUT_MS }, describedBy)
  const policy: { refuse?: string } = {}
  const calls = recordCalls(engine, () => {
    if (policy.refuse !== undefined) throw new EventRefusedError(policy.refuse)
  })
  await engine.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const { client } = await open(b, 'd', '', { 'x-user': 'alice' })

  client.send({ type: 'pause_execution', id: 'p1' })
  t.same(await client.next(), { type: 'ack', id: 'p1' })
  client.send({ type: 'resume_execution', id: 'r1' })
  t.same(await client.next(), { type: 'ack', id: 'r1' })
  client.send({ type: 'cancel_execution', id: 'c1' })
  t.same(await client.next(), { type: 'ack', id: 'c1' })
  t.same(calls.map(({ event }) => event), [
    { type: 'pause_execution', id: 'p1' },
    { type: 'resume_execution', id: 'r1' },
    { type: 'cancel_execution', id: 'c1' }
  ])
  for (const { context } of calls) {
    t.equal(context.dagId, 'd')
    t.equal(context.request, undefined, 'the request stays on the instance it arrived on')
    t.same(context.sender, { instance: 'B', user: 'alice' }, "what B's describeSender returned")
  }

  policy.refuse = 'x'
  client.send({ type: 'pause_execution', id: 'p2' })
  t.same(await client.next(), { type: 'error', code: 'handler_failed', message: 'x', id: 'p2' })
  client.close()
})

t.test('commands across instances: the engine gone or too slow is engine_unavailable, and an undecided gate stays open', async (t) => {
  const { prefix, a, b, c, engine } = await cluster(t, 'engine-gone', { commandTimeoutMs: COMMAND_TIMEOUT_MS }, describedBy)
  let hold: Promise<void> | undefined
  const calls = recordCalls(engine, () => hold)
  await engine.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?' } })
  const viewers = await Promise.all([a, b, c].map((instance) => open(instance, 'd')))
  const [onA, onB, onC] = viewers.map(({ client }) => client) as [TestClient, TestClient, TestClient]

  // Alive but slower than commandTimeoutMs.
  let release!: () => void
  hold = new Promise((resolve) => { release = resolve })
  let started = Date.now()
  onB.send({ type: 'pause_execution', id: 'slow' })
  t.match(await onB.next(), { type: 'error', code: 'engine_unavailable', id: 'slow' })
  const slowMs = Date.now() - started
  t.ok(slowMs >= COMMAND_TIMEOUT_MS - 50 && slowMs < COMMAND_TIMEOUT_MS + 1000, `answered after the bound (${slowMs} ms)`)
  release()
  hold = undefined

  await engine.close()
  started = Date.now()
  onB.send({ type: 'pause_execution', id: 'p1' })
  t.match(await onB.next(), { type: 'error', code: 'engine_unavailable', id: 'p1' })
  onB.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' })
  t.match(await onB.next(), { type: 'error', code: 'engine_unavailable', id: 'k1' })
  t.ok(Date.now() - started < COMMAND_TIMEOUT_MS + 1000, 'within commandTimeoutMs')
  t.equal(calls.filter(({ event }) => event.type === 'human_decision').length, 0)

  // Another engine takes over the run: the gate is still open for a decision through another instance.
  const successor = await buildEngine(t, { prefix, commandTimeoutMs: COMMAND_TIMEOUT_MS })
  const successorCalls = recordCalls(successor)
  await successor.dagStream.broadcast('d', { type: 'node_state', node_id: 'draft', status: 'completed' })
  onC.send({ type: 'human_decision', id: 'k2', node_id: 'review', decision: 'reject', feedback: 'no' })
  t.same(await frameWhere(onC, (frame) => frame.type === 'ack', 'the ack on C'), { type: 'ack', id: 'k2' })
  t.same(successorCalls.map(({ event }) => event), [{ type: 'human_decision', id: 'k2', node_id: 'review', decision: 'reject', feedback: 'no' }])
  for (const client of [onA, onB, onC]) {
    t.match(await frameWhere(client, (frame) => frame.type === 'human_gate_resolved', 'human_gate_resolved'), { node_id: 'review', decision: 'reject', feedback: 'no', seq: 3 })
  }
  onA.send({ type: 'human_decision', id: 'k1', node_id: 'review', decision: 'approve' })
  t.match(await frameWhere(onA, (frame) => frame.type === 'error', 'the refusal on A'), { code: 'gate_already_decided', id: 'k1' })
  for (const client of [onA, onB, onC]) client.close()
})

/**
 * A cluster whose engine opened the gate of "review" and holds, until `release()`, every decision
 * `holds` picks; a viewer on each of A, B and C.
 */
async function heldGate (t: Test, name: string, commandTimeoutMs: number, holds: (event: ClientEvent) => boolean = () => true) {
  const found = await cluster(t, name, { commandTimeoutMs })
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  const calls = recordCalls(found.engine, (event) => (holds(event) ? held : undefined))
  await found.engine.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?' } })
  const viewers = await Promise.all([found.a, found.b, found.c].map(async (instance) => (await open(instance, 'd')).client))
  return { ...found, calls, release, viewers: viewers as [TestClient, TestClient, TestClient] }
}

/**
 * Sends a copy of a decision through another instance (`send`) while the first copy is with the engine,
 * and resolves once that instance waits on the first copy's claim. Until then only the first instance
 * (its claim) and the engine (its begin) touched the gate; the copy finds the gate claimed by its own
 * key and polls it, so a further connection reading the gate again and again is the copy waiting.
 */
async function waitOnClaim (gates: Awaited<ReturnType<typeof commandsNaming>>, send: () => void): Promise<void> {
  await gates.caughtUp()
  const known = new Set(gates.commands.map(({ source }) => source))
  send()
  await until(() => gates.commands.filter(({ source }) => !known.has(source)).length >= 3, 'the copy to wait on the claim', 10_000)
}

/** Whether `frame` answers the client event `id`. */
function answers (id: string) {
  return (frame: ServerMessage) => (frame.type === 'ack' || frame.type === 'error') && 'id' in frame && frame.id === id
}

t.test('gates across instances: two decisions at once through A and B, one wins; the winner re-sent through C is acked again', async (t) => {
  const { c, engine, calls, release, viewers: [onA, onB, onC] } = await heldGate(t, 'gates', 5000)

  onA.send({ type: 'human_decision', id: 'from-a', node_id: 'review', decision: 'approve' })
  onB.send({ type: 'human_decision', id: 'from-b', node_id: 'review', decision: 'reject' })
  // The loser is refused while the winner is still with the engine (whose handler is held), so the
  // first dashboard answered is the loser.
  const loser = await Promise.race([onA, onB].map(async (client) => {
    await frameWhere(client, (frame) => frame.type === 'error' || frame.type === 'ack', 'an answer')
    return client
  }))
  const winner = loser === onA ? onB : onA
  const winnerId = winner === onA ? 'from-a' : 'from-b'
  t.match(await frameWhere(loser, (frame) => frame.type === 'error', 'the refusal'), { code: 'gate_already_decided', id: winner === onA ? 'from-b' : 'from-a' })
  release()
  t.same(await frameWhere(winner, (frame) => frame.type === 'ack', 'the ack'), { type: 'ack', id: winnerId })
  t.equal(calls.length, 1, 'one handler call')
  t.same(calls[0]?.event.id, winnerId)

  // The winner's dashboard reconnects to C and sends its decision again (it never knew it was acked).
  const position = await frameWhere(winner, (frame) => frame.type === 'human_gate_resolved', 'the resolution')
  winner.close()
  const again = await open(c, 'd', `?since=${(position as SequencedEvent).seq}&epoch=${(position as SequencedEvent).epoch}`)
  t.match(again.hello, { recovered: true })
  again.client.send({ type: 'human_decision', id: winnerId, node_id: 'review', decision: winner === onA ? 'approve' : 'reject' })
  t.same(await again.client.next(), { type: 'ack', id: winnerId }, 'the same ack')
  t.equal(calls.length, 1, 'and no second handler call')

  // A marker after everything: once each viewer has it, it has every resolution there was.
  const marker = await engine.dagStream.broadcast('d', { type: 'execution_status', status: 'completed' })
  for (const client of [onC, loser, again.client]) {
    await frameWhere(client, (frame) => 'seq' in frame && frame.seq === marker.seq, 'the marker')
    t.equal(client.received.filter((frame) => frame.type === 'human_gate_resolved').length, client === again.client ? 0 : 1, 'one human_gate_resolved')
  }
  t.equal(winner.received.filter((frame) => frame.type === 'human_gate_resolved').length, 1)
  for (const client of [onC, loser, again.client]) client.close()
})

t.test('gates across instances: the same decision re-sent through another instance while the first copy is with the engine gets the same ack', async (t) => {
  const { prefix, calls, release, viewers: [onA, onB, onC] } = await heldGate(t, 'gates-in-flight', 5000)
  const gates = await commandsNaming(t, dagKeys(prefix, 'd').gates)

  onA.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  await until(() => calls.length === 1, 'the decision to be with the engine', 10_000)
  // The dashboard lost its link to A and, as the client does, sends the decision again through B.
  onA.close()
  await waitOnClaim(gates, () => onB.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' }))
  t.notOk(onB.received.some(answers('same')), 'B does not answer while the first copy is with the engine')
  release()
  t.same(await frameWhere(onB, answers('same'), 'the answer'), { type: 'ack', id: 'same' }, 'the same ack as the first copy gets')
  t.equal(calls.length, 1, 'the engine was called once')
  t.match(await frameWhere(onC, (frame) => frame.type === 'human_gate_resolved', 'the resolution'), { decision: 'approve', seq: 2 })
  onB.close()
  onC.close()
})

t.test('gates across instances: when the engine refuses the first copy, the copy waiting through another instance tries again', async (t) => {
  const found = await cluster(t, 'gates-retry', { commandTimeoutMs: 5000 })
  const gates = await commandsNaming(t, dagKeys(found.prefix, 'd').gates)
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  const calls = recordCalls(found.engine, async () => {
    if (calls.length > 1) return // the second attempt goes through
    await held
    throw new Error('a transient failure of the engine')
  })
  await found.engine.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?' } })
  const [onA, onB] = await Promise.all([found.a, found.b].map(async (instance) => (await open(instance, 'd')).client)) as [TestClient, TestClient]
  onA.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  await until(() => calls.length === 1, 'the first copy to be with the engine', 10_000)
  await waitOnClaim(gates, () => onB.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' }))
  release()
  t.match(await frameWhere(onA, answers('same'), 'the refusal of the first copy'), { type: 'error', code: 'handler_failed' })
  t.same(await frameWhere(onB, answers('same'), 'the answer to the second copy'), { type: 'ack', id: 'same' }, 'the waiting copy claimed the open gate itself')
  t.equal(calls.length, 2)
  t.match(await frameWhere(onA, (frame) => frame.type === 'human_gate_resolved', 'the resolution'), { decision: 'approve' })
  onA.close()
  onB.close()
})

t.test('gates across instances: a copy waiting on an engine that never finishes is answered after 30 leases', async (t) => {
  // Leases of 250 ms, renewed every 83 ms: shorter ones lapsed on a loaded CI machine, whose event loop
  // can stall for longer than two renewals, and the engine was then rightly asked again.
  const { calls, release, viewers: [onA, onB, onC] } = await heldGate(t, 'gates-forever', 250)
  onC.close()
  onA.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  await until(() => calls.length === 1, 'the decision to be with the engine', 10_000)
  onB.send({ type: 'human_decision', id: 'same', node_id: 'review', decision: 'approve' })
  t.match(await frameWhere(onB, answers('same'), 'the copy\'s answer', { timeoutMs: 20_000 }), {
    type: 'error',
    code: 'engine_unavailable',
    message: /still deciding the gate of "review"/
  })
  t.equal(calls.length, 1, 'the engine was not asked twice')
  release()
  onA.close()
  onB.close()
})

t.test('gates across instances: a decision whose handler outlasts commandTimeoutMs on a live engine stays the only one', async (t) => {
  const { engine, calls, release, viewers: [onA, onB, onC] } = await heldGate(t, 'gates-slow', COMMAND_TIMEOUT_MS, (event) => event.id === 'slow')
  onC.close()

  onA.send({ type: 'human_decision', id: 'slow', node_id: 'review', decision: 'approve' })
  await until(() => calls.length === 1, 'the decision to be in the handler', 10_000)
  const began = Date.now()
  // The engine is alive and still deciding: well past the claim's first lease, a rival arrives.
  await until(() => Date.now() > began + 2 * COMMAND_TIMEOUT_MS, 'the first lease of the claim to run out')
  onB.send({ type: 'human_decision', id: 'rival', node_id: 'review', decision: 'reject' })
  t.match(await frameWhere(onB, answers('rival'), 'the answer to the rival'), { type: 'error', code: 'gate_already_decided', id: 'rival' }, 'the slow engine renews its claim')
  t.notOk(onA.received.some((frame) => frame.type === 'error'), 'the first sender is not told "unavailable" while its engine works')
  release()
  t.same(await frameWhere(onA, answers('slow'), 'the verdict of the slow engine'), { type: 'ack', id: 'slow' }, 'it took effect, and its sender is told so')
  // The held handler ran, so its decision is the one that took effect: wait for its resolution, then
  // a marker after it, and count.
  for (const client of [onA, onB]) {
    await frameWhere(client, (frame) => frame.type === 'human_gate_resolved' && frame.decision === 'approve', 'the resolution of the first decision')
  }
  const marker = await engine.dagStream.broadcast('d', { type: 'node_state', node_id: 'marker', status: 'completed' })
  for (const client of [onA, onB]) {
    await frameWhere(client, (frame) => 'seq' in frame && frame.seq === marker.seq, 'the marker')
    t.equal(client.received.filter((frame) => frame.type === 'human_gate_resolved').length, 1, 'one human_gate_resolved')
  }
  t.equal(calls.length, 1, 'the handler decided the gate once')
  onA.close()
  onB.close()
})

// ---------------------------------------------------------------------------------------------
// Retention and the list
// ---------------------------------------------------------------------------------------------

async function statuses (instances: Instance[], dagId: string): Promise<number[]> {
  return Promise.all(instances.map(async (instance) => (await fetch(`${instance.http}/api/dags/${dagId}`)).status))
}

async function listed (instances: Instance[], query = '', headers: Record<string, string> = {}): Promise<DAGList[]> {
  return Promise.all(instances.map(async (instance) => (await (await fetch(`${instance.http}/api/dags${query}`, { headers })).json()) as DAGList))
}

t.test('retention: a finished DAG disappears from every instance after retainFinishedMs; a running one stays', async (t) => {
  const RETAIN_MS = 1000
  const { instances, engine } = await cluster(t, 'retention', { retainFinishedMs: RETAIN_MS })
  await engine.dagStream.broadcast('alive', { type: 'execution_status', status: 'running' })
  for (const event of events(10, 0, 'mixed')) await engine.dagStream.broadcast('done', event)
  await engine.dagStream.broadcast('done', { type: 'execution_complete', results: { ok: true } })
  const finishedAt = Date.now()
  t.same(await statuses(instances, 'done'), [200, 200, 200], 'readable right after it finished')
  t.ok((await listed(instances)).every((list) => list.dags.some((dag) => dag.dag_id === 'done')))
  await until(async () => (await statuses(instances, 'done')).every((status) => status === 404), 'the finished DAG to go', 10_000)
  t.ok(Date.now() - finishedAt >= RETAIN_MS - 50, `gone after retainFinishedMs (${Date.now() - finishedAt} ms)`)
  for (const list of await listed(instances)) t.same(list.dags.map((dag) => dag.dag_id), ['alive'], 'and from the list')
  t.same(await statuses(instances, 'alive'), [200, 200, 200])
})

t.test('retention: maxIdleMs evicts a DAG that gets no event, not one that keeps getting them', async (t) => {
  const IDLE_MS = 800
  const { instances, engine } = await cluster(t, 'idle', { maxIdleMs: IDLE_MS })
  await engine.dagStream.broadcast('idle', { type: 'execution_status', status: 'running' })
  await engine.dagStream.broadcast('busy', { type: 'execution_status', status: 'running' })
  const started = Date.now()
  let ticks = 0
  await until(async () => {
    await engine.dagStream.broadcast('busy', { type: 'node_state', node_id: 'n', status: 'running', metrics: { tokens: ++ticks } })
    return (await statuses(instances, 'idle')).every((status) => status === 404)
  }, 'the idle DAG to go', 10_000)
  t.ok(Date.now() - started >= IDLE_MS - 50, `the idle DAG went after maxIdleMs (${Date.now() - started} ms)`)
  t.same(await statuses(instances, 'busy'), [200, 200, 200], 'the busy one, as old, stays')
  for (const list of await listed(instances)) t.same(list.dags.map((dag) => dag.dag_id), ['busy'])
})

t.test('the list: every instance lists the DAGs of all, newest first, paged, with the authorize filter', async (t) => {
  const { instances, a, b, c, engine } = await cluster(t, 'list', {
    authorize: (request, dagId) => dagId === undefined || !dagId.startsWith('secret') || request.headers['x-admin'] === 'yes'
  })
  const order: Array<[FastifyInstance, string]> = [[a.app, 'l1'], [engine, 'l2'], [b.app, 'secret-1'], [c.app, 'l3'], [engine, 'l4'], [a.app, 'l1']]
  for (const [app, dagId] of order) {
    // Distinct updated_at: the list is ordered by the time of the last event, in ms.
    const before = Date.now()
    await until(() => Date.now() > before, 'the next millisecond')
    await app.dagStream.broadcast(dagId, { type: 'execution_status', status: 'running' })
  }
  const newestFirst = ['l1', 'l4', 'l3', 'secret-1', 'l2']

  const admin = await listed(instances, '', { 'x-admin': 'yes' })
  for (const list of admin) {
    t.same(list.dags.map((dag) => dag.dag_id), newestFirst)
    t.match(list, { total: 5, limit: 100, offset: 0 })
    const times = list.dags.map((dag) => Date.parse(dag.updated_at))
    t.ok(times.every((time, index) => index === 0 || time < (times[index - 1] as number)), 'by updated_at, newest first')
  }
  t.same(admin[1], admin[0])
  t.same(admin[2], admin[0])
  t.match((admin[0] as DAGList).dags[0], { dag_id: 'l1', seq: 2 }, 'l1 moved to the front with its second event')

  for (const list of await listed(instances, '?limit=2&offset=1', { 'x-admin': 'yes' })) {
    t.same(list.dags.map((dag) => dag.dag_id), ['l4', 'l3'])
    t.match(list, { total: 5, limit: 2, offset: 1 })
  }
  for (const list of await listed(instances)) {
    t.same(list.dags.map((dag) => dag.dag_id), ['l1', 'l4', 'l3', 'l2'], 'a DAG the caller may not view is left out')
  }
  t.equal((await fetch(`${b.http}/api/dags/secret-1`)).status, 403)
})
