// A server's state updates node and edge records in place (lib/shared/reducer.ts says why). It must reach the
// same snapshots as the replacing state a UI uses, and a snapshot taken from it must not change when
// later events update the records it was copied from.

import fc from 'fast-check'
import t from 'tap'
import { applyEvent, createState, fromSnapshot, toSnapshot } from '../../lib/shared/reducer.js'
import type { DAGEvent } from '../../schemas/index.js'

const nodeId = fc.constantFrom('a', 'b', 'c')
// The events that write records in place, and those that replace or remove them around it.
const event: fc.Arbitrary<DAGEvent> = fc.oneof(
  fc.record({
    type: fc.constant('node_state' as const),
    node_id: nodeId,
    status: fc.constantFrom('running', 'completed', 'waiting_human' as const),
    output: fc.option(fc.jsonValue(), { nil: undefined }),
    metrics: fc.option(fc.dictionary(fc.constantFrom('tokens', 'cost'), fc.nat()), { nil: undefined })
  }),
  fc.record({ type: fc.constant('node_output_delta' as const), node_id: nodeId, delta: fc.string({ minLength: 1 }) }),
  fc.record({ type: fc.constant('edge_active' as const), from: nodeId, to: nodeId, active: fc.option(fc.boolean(), { nil: undefined }) }),
  fc.record({ type: fc.constant('human_gate_waiting' as const), node_id: nodeId, presentation: fc.record({ title: fc.constant('Approve?') }) }),
  fc.record({ type: fc.constant('human_gate_resolved' as const), node_id: nodeId, decision: fc.constant('approve' as const) }),
  fc.record({
    type: fc.constant('dag_mutated' as const),
    mutation: fc.oneof(
      fc.record({ op: fc.constant('add_node' as const), node: fc.record({ id: nodeId, label: fc.string() }) }),
      fc.record({ op: fc.constant('update_node' as const), node_id: nodeId, data: fc.dictionary(fc.constantFrom('x', 'y'), fc.integer()) }),
      fc.record({ op: fc.constant('remove_node' as const), node_id: nodeId }),
      fc.record({ op: fc.constant('remove_edge' as const), from: nodeId, to: nodeId })
    )
  })
)

t.test('in place and replacing: the same snapshot after every event', async () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 40 }), (events) => {
      const inPlace = createState({ inPlace: true })
      const replacing = createState()
      return events.every((each) => {
        applyEvent(inPlace, each)
        applyEvent(replacing, each)
        return JSON.stringify(toSnapshot('d', 'e', 1, inPlace)) === JSON.stringify(toSnapshot('d', 'e', 1, replacing))
      })
    })
  )
})

t.test('a snapshot of an in-place state stays as it was taken', async () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 20 }), fc.array(event, { minLength: 1, maxLength: 20 }), (before, after) => {
      const state = createState({ inPlace: true })
      for (const each of before) applyEvent(state, each)
      const snapshot = toSnapshot('d', 'e', before.length, state)
      const taken = JSON.stringify(snapshot)
      for (const each of after) applyEvent(state, each)
      return JSON.stringify(snapshot) === taken
    })
  )
})

t.test('what in place means: the stored records are the same objects after an update', async (t) => {
  const state = createState({ inPlace: true })
  applyEvent(state, { type: 'node_state', node_id: 'a', status: 'running', metrics: { tokens: 1 } })
  applyEvent(state, { type: 'edge_active', from: 'a', to: 'b' })
  const node = state.nodes.get('a')
  const metrics = node?.metrics
  const edge = state.edges.get('a\u0000b')
  applyEvent(state, { type: 'node_state', node_id: 'a', status: 'completed', metrics: { cost: 2 } })
  applyEvent(state, { type: 'edge_active', from: 'a', to: 'b', active: false })
  t.equal(state.nodes.get('a'), node)
  t.equal(state.nodes.get('a')?.metrics, metrics)
  t.same(node, { id: 'a', status: 'completed', metrics: { tokens: 1, cost: 2 } })
  t.equal(state.edges.get('a\u0000b'), edge)
  t.same(edge, { from: 'a', to: 'b', active: false })

  const replacing = createState()
  applyEvent(replacing, { type: 'node_state', node_id: 'a', status: 'running' })
  const before = replacing.nodes.get('a')
  applyEvent(replacing, { type: 'node_state', node_id: 'a', status: 'completed' })
  t.not(replacing.nodes.get('a'), before, 'a replacing state (the default, for UIs) makes a new record')
  t.equal(fromSnapshot(toSnapshot('d', 'e', 1, state)).inPlace, false, 'a state rebuilt from a snapshot replaces')
})
