import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { applyEvent, createState, fromSnapshot, MAX_REPORTED_ERRORS, toSnapshot } from '../../lib/shared/reducer.js'
import type { DAGEvent, DAGSnapshot } from '../../schemas/index.js'

const nodeId = fc.constantFrom('a', 'b', 'c', 'd', 'e')
const status = fc.constantFrom('pending', 'queued', 'running', 'waiting_human', 'completed', 'failed', 'skipped', 'cancelled' as const)
const execution = fc.constantFrom('running', 'paused', 'cancelled', 'completed', 'failed', 'stalled' as const)
const gateId = fc.option(fc.constantFrom('g1', 'g2', 'a'), { nil: undefined })

const event: fc.Arbitrary<DAGEvent> = fc.oneof(
  fc.record({
    type: fc.constant('node_state' as const),
    node_id: nodeId,
    status,
    output: fc.option(fc.string(), { nil: undefined }),
    metrics: fc.option(fc.record({ tokens: fc.nat() }), { nil: undefined }),
    attempt: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })
  }, { requiredKeys: ['type', 'node_id', 'status'] }),
  fc.record({ type: fc.constant('node_output_delta' as const), node_id: nodeId, delta: fc.string({ minLength: 1 }) }),
  fc.record({ type: fc.constant('edge_active' as const), from: nodeId, to: nodeId, active: fc.option(fc.boolean(), { nil: undefined }) }),
  fc.record({
    type: fc.constant('dag_mutated' as const),
    mutation: fc.oneof(
      fc.record({ op: fc.constant('add_node' as const), node: fc.record({ id: nodeId, label: fc.string(), parent: nodeId }, { requiredKeys: ['id'] }) }),
      fc.record({
        op: fc.constant('set_graph' as const),
        nodes: fc.uniqueArray(fc.record({ id: nodeId, label: fc.string() }, { requiredKeys: ['id'] }), { selector: (node) => node.id, maxLength: 4 }),
        edges: fc.array(fc.record({ from: nodeId, to: nodeId }), { maxLength: 4 })
      }),
      fc.record({ op: fc.constant('remove_node' as const), node_id: nodeId }),
      fc.record({ op: fc.constant('add_edge' as const), from: nodeId, to: nodeId }),
      fc.record({ op: fc.constant('remove_edge' as const), from: nodeId, to: nodeId }),
      fc.record({ op: fc.constant('update_node' as const), node_id: nodeId, data: fc.dictionary(fc.constantFrom('x', 'y'), fc.integer()) })
    )
  }),
  fc.record({ type: fc.constant('cost_update' as const), spent: fc.nat(), budget: fc.nat(), remaining: fc.integer() }),
  fc.record({ type: fc.constant('execution_complete' as const), results: fc.jsonValue() }),
  fc.record({ type: fc.constant('human_gate_waiting' as const), node_id: nodeId, gate_id: gateId, presentation: fc.record({ title: fc.constant('Approve?') }) }, { requiredKeys: ['type', 'node_id', 'presentation'] }),
  fc.record({ type: fc.constant('human_gate_resolved' as const), node_id: nodeId, gate_id: gateId, decision: fc.constantFrom('approve', 'reject', 'modify' as const) }, { requiredKeys: ['type', 'node_id', 'decision'] }),
  fc.record({ type: fc.constant('human_gate_withdrawn' as const), node_id: nodeId, gate_id: gateId }, { requiredKeys: ['type', 'node_id'] }),
  fc.record({ type: fc.constant('error' as const), node_id: fc.option(nodeId, { nil: undefined }), message: fc.string() }),
  fc.record({ type: fc.constant('execution_status' as const), status: execution })
) as fc.Arbitrary<DAGEvent>

function replay (events: DAGEvent[]) {
  return events.reduce(applyEvent, createState())
}

/** The JSON a snapshot travels as (the REST route's response), parsed back. */
function overTheWire (snapshot: DAGSnapshot): unknown {
  return JSON.parse(JSON.stringify(snapshot))
}

t.test('snapshot-then-replay equals replay-from-start, for any event sequence and any cut', async (t) => {
  // The property throws on a mismatch, so fast-check sees it, shrinks it to the smallest failing log
  // and reports it with the seed that replays it (a tap assertion inside the property would not).
  t.doesNotThrow(() => fc.assert(
    fc.property(fc.array(event, { maxLength: 60 }), fc.nat(), (events, cutAt) => {
      const cut = events.length === 0 ? 0 : cutAt % (events.length + 1)
      const fromStart = toSnapshot('d', 'e', events.length, replay(events))
      const snapshot = overTheWire(toSnapshot('d', 'e', cut, replay(events.slice(0, cut)))) as DAGSnapshot
      const resumed = events.slice(cut).reduce(applyEvent, fromSnapshot(snapshot))
      assert.deepStrictEqual(overTheWire(toSnapshot('d', 'e', events.length, resumed)), overTheWire(fromStart))
    }),
    { numRuns: 300 }
  ), 'no counterexample in 300 runs')
})

t.test('node_state creates, merges metrics and replaces the record', async (t) => {
  const state = createState()
  applyEvent(state, { type: 'node_state', node_id: 'a', status: 'running', metrics: { tokens: 5 } })
  const first = state.nodes.get('a')
  applyEvent(state, { type: 'node_state', node_id: 'a', status: 'completed', output: 'done', metrics: { cost: 0.1 } })
  t.same(state.nodes.get('a'), { id: 'a', status: 'completed', output: 'done', metrics: { tokens: 5, cost: 0.1 } })
  t.not(state.nodes.get('a'), first, 'a changed node is a new object, so UIs can compare by reference')
})

t.test('mutations keep nodes and edges consistent', async (t) => {
  const state = replay([
    { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'a', label: 'A' } } },
    { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'b' } } },
    { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'a', to: 'b' } },
    { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'a', to: 'b' } },
    { type: 'edge_active', from: 'b', to: 'c' },
    { type: 'dag_mutated', mutation: { op: 'update_node', node_id: 'a', data: { model: 'x' } } },
    { type: 'human_gate_waiting', node_id: 'b', presentation: { title: 'ok?' } }
  ])
  t.same([...state.nodes.values()], [
    { id: 'a', status: 'pending', label: 'A', data: { model: 'x' } },
    { id: 'b', status: 'waiting_human' }
  ])
  t.equal(state.edges.size, 2, 'adding an existing edge does not duplicate it')
  applyEvent(state, { type: 'dag_mutated', mutation: { op: 'remove_node', node_id: 'b' } })
  t.equal(state.edges.size, 0, 'removing a node removes its edges')
  t.equal(state.gates.size, 0, 'and its gate')
  applyEvent(state, { type: 'dag_mutated', mutation: { op: 'remove_edge', from: 'x', to: 'y' } })
  t.equal(state.edges.size, 0, 'removing a missing edge is a no-op')
})

t.test('a finished run closes its gates; errors are bounded', async (t) => {
  const state = replay([
    { type: 'human_gate_waiting', node_id: 'a', presentation: { title: 'ok?' } },
    { type: 'execution_status', status: 'paused' }
  ])
  t.equal(state.gates.size, 1, 'pausing keeps gates open')
  applyEvent(state, { type: 'execution_status', status: 'cancelled' })
  t.equal(state.gates.size, 0)
  for (let i = 0; i < MAX_REPORTED_ERRORS + 5; i++) applyEvent(state, { type: 'error', message: `e${i}` })
  t.equal(state.errors.length, MAX_REPORTED_ERRORS)
  t.equal(state.errors[0]?.message, 'e5', 'the oldest errors fall off')
})

t.test('execution_complete records results and completes the run', async (t) => {
  const snapshot = toSnapshot('d', 'e', 1, replay([{ type: 'execution_complete', results: { answer: 42 } }]))
  t.match(snapshot, { status: 'completed', results: { answer: 42 } })
})
