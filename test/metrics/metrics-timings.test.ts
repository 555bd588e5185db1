// The pairing behind two histograms, in every order the backplanes produce: a broadcast's latency
// (numbered before or after its delivery, among other instances' events, across gaps and epochs) and a
// gate's wait; and the bounds on what they keep while unpaired.

import t from 'tap'
import type { LogEntry } from '../../lib/index.js'
import { BroadcastLatency, GateWait } from '../../lib/metrics/timings.js'
import type { DAGEvent, SequencedEvent } from '../../schemas/index.js'

function latency (hasRoom = true) {
  const observed: number[] = []
  return { observed, clock: new BroadcastLatency((seconds) => observed.push(seconds), () => hasRoom) }
}
const entry = (seq: number, epoch = 'e'): LogEntry => ({ epoch, seq, frame: Buffer.alloc(0) })
const numbered = (seq: number, epoch = 'e') => ({ type: 'execution_status', status: 'running', seq, epoch }) as SequencedEvent

t.test('numbered, then delivered (Redis, as a rule): one latency, nothing kept', async (t) => {
  const { observed, clock } = latency()
  const startedAt = clock.started('d')
  clock.numbered('d', numbered(1), startedAt)
  t.equal(clock.size, 1, 'waiting for its delivery')
  clock.delivered('d', entry(1))
  t.equal(observed.length, 1)
  t.ok(observed[0] as number >= 0)
  t.equal(clock.size, 0)
})

t.test('delivered, then numbered (memory: delivery happens inside append), several in flight', async (t) => {
  const { observed, clock } = latency()
  const started = [1, 2, 3].map(() => clock.started('d'))
  for (const seq of [1, 2, 3]) clock.delivered('d', entry(seq))
  started.forEach((startedAt, index) => clock.numbered('d', numbered(index + 1), startedAt))
  t.equal(observed.length, 3)
  t.equal(clock.size, 0)
})

t.test('events of other instances in between are not timed here', async (t) => {
  const { observed, clock } = latency()
  // Delivered while this instance's broadcast is in flight: it may be that one, so it is kept a while.
  const first = clock.started('d')
  clock.delivered('d', entry(1)) // another instance's
  clock.delivered('d', entry(2)) // this one's
  clock.numbered('d', numbered(2), first)
  t.equal(observed.length, 1)
  t.equal(clock.size, 0, 'what was delivered up to its seq is forgotten')
  // Delivered when nothing of this instance is in flight: not even kept.
  const second = clock.started('d')
  clock.numbered('d', numbered(4), second)
  clock.delivered('d', entry(3)) // another instance's
  clock.delivered('d', entry(4))
  t.equal(observed.length, 2)
  t.equal(clock.size, 0)
})

t.test('a seq the room never gets (a gap) is dropped at the next delivery', async (t) => {
  const { observed, clock } = latency()
  const started = [clock.started('d'), clock.started('d')]
  clock.numbered('d', numbered(1), started[0] as number)
  clock.numbered('d', numbered(2), started[1] as number)
  clock.delivered('d', entry(2))
  t.equal(observed.length, 1)
  t.equal(clock.size, 0)
})

t.test('a failed append, a DAG not watched here, a room that closed: nothing timed, nothing kept', async (t) => {
  const { observed, clock } = latency()
  clock.started('d')
  clock.failed('d')
  t.equal(clock.size, 0)

  const unwatched = latency(false)
  unwatched.clock.numbered('d', numbered(1), unwatched.clock.started('d'))
  unwatched.clock.delivered('d', entry(1))
  t.equal(unwatched.clock.size, 0)
  t.same(unwatched.observed, [])

  clock.numbered('d', numbered(1), clock.started('d'))
  clock.roomClosed('d')
  clock.roomClosed('other')
  t.equal(clock.size, 0)
  clock.delivered('d', entry(1))
  t.same(observed, [])
})

t.test('a new epoch: what was kept of the old one no longer pairs', async (t) => {
  const { observed, clock } = latency()
  clock.numbered('d', numbered(5, 'old'), clock.started('d'))
  const startedAt = clock.started('d')
  clock.delivered('d', entry(1, 'new'))
  clock.numbered('d', numbered(1, 'new'), startedAt)
  t.equal(observed.length, 1, 'seq 1 of the new epoch')
  t.equal(clock.size, 0, 'seq 5 of the old one is gone')
})

t.test('unpaired seqs are bounded per DAG: the oldest go', async (t) => {
  const { observed, clock } = latency()
  for (let seq = 1; seq <= 1100; seq++) clock.numbered('d', numbered(seq), clock.started('d'))
  clock.delivered('d', entry(76))
  t.equal(observed.length, 0, 'seq 76 was forgotten: 1024 are kept')
  clock.delivered('d', entry(77))
  t.equal(observed.length, 1)
})

const waiting = (node: string): DAGEvent => ({ type: 'human_gate_waiting', node_id: node, presentation: { title: node, options: ['approve'] } })
const resolved = (node: string): DAGEvent => ({ type: 'human_gate_resolved', node_id: node, decision: 'approve' })

t.test('a gate\'s wait: from waiting to resolved for the same node, in seconds', async (t) => {
  const observed: Array<[number, string]> = []
  const gates = new GateWait((seconds, event) => observed.push([seconds, event.decision]))
  gates.broadcast('d', waiting('a'), 1000)
  gates.broadcast('d', waiting('b'), 1500)
  gates.broadcast('d', { type: 'node_state', node_id: 'a', status: 'waiting_human' }, 1600)
  gates.broadcast('d', resolved('a'), 3500)
  gates.broadcast('d', resolved('never-waited'), 4000)
  t.same(observed, [[2.5, 'approve']])
  t.equal(gates.size, 1, 'b still waits')
  gates.broadcast('d', resolved('b'), 2500)
  t.same(observed, [[2.5, 'approve'], [1, 'approve']])
  t.equal(gates.size, 0)
})

t.test('gates that will never be resolved are forgotten: node removed, run finished, too many DAGs', async (t) => {
  const observed: number[] = []
  const gates = new GateWait((seconds) => observed.push(seconds))
  gates.broadcast('removed', waiting('a'), 0)
  gates.broadcast('removed', { type: 'dag_mutated', mutation: { op: 'remove_node', node_id: 'a' } }, 1)
  gates.broadcast('removed', { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'x', to: 'y' } }, 1)
  gates.broadcast('cancelled', waiting('a'), 0)
  gates.broadcast('cancelled', { type: 'execution_status', status: 'paused' }, 1)
  t.equal(gates.size, 1, 'a paused run still waits')
  gates.broadcast('cancelled', { type: 'execution_status', status: 'cancelled' }, 2)
  gates.broadcast('complete', waiting('a'), 0)
  gates.broadcast('complete', { type: 'execution_complete', results: null }, 1)
  t.equal(gates.size, 0)
  for (const dagId of ['removed', 'cancelled', 'complete']) gates.broadcast(dagId, resolved('a'), 5)
  t.same(observed, [])

  for (let i = 0; i <= 10_000; i++) gates.broadcast(`dag-${i}`, waiting('a'), i)
  t.equal(gates.size, 10_000)
  gates.broadcast('dag-0', resolved('a'), 20_000)
  t.same(observed, [], 'the oldest DAG went')
  gates.broadcast('dag-1', resolved('a'), 20_001)
  t.same(observed, [20])
})
