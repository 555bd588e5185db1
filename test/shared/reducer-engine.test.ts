// What the engine-side protocol fields do to a DAG's state: attempts, the structure in one event,
// several gates of one node, withdrawn gates, and a stopped run that settles its nodes.

import t from 'tap'
import { applyEvent, createState, fromSnapshot, toSnapshot } from '../../lib/shared/reducer.js'
import type { DAGEvent } from '../../schemas/index.js'

function replay (events: DAGEvent[], inPlace = false) {
  return events.reduce(applyEvent, createState({ inPlace }))
}

for (const inPlace of [false, true]) {
  t.test(`${inPlace ? 'in place' : 'replacing records'}: a higher attempt starts the node afresh; a repeated or older one does not`, async (t) => {
    const state = replay([
      { type: 'node_state', node_id: 'n', status: 'running', metrics: { tokens: 3 } },
      { type: 'node_output_delta', node_id: 'n', delta: 'Draft ' },
      { type: 'node_state', node_id: 'n', status: 'completed', output: 'Draft A' },
      { type: 'node_state', node_id: 'n', status: 'running', attempt: 2 },
      { type: 'node_output_delta', node_id: 'n', delta: 'Draft A v2' }
    ], inPlace)
    t.same(state.nodes.get('n'), { id: 'n', status: 'running', attempt: 2, partial_output: 'Draft A v2' })
    applyEvent(state, { type: 'node_state', node_id: 'n', status: 'running', attempt: 2, metrics: { tokens: 1 } })
    applyEvent(state, { type: 'node_state', node_id: 'n', status: 'running', attempt: 1 })
    t.same(state.nodes.get('n'), { id: 'n', status: 'running', attempt: 2, partial_output: 'Draft A v2', metrics: { tokens: 1 } }, 'kept')
    t.same(replay([{ type: 'node_state', node_id: 'm', status: 'running', attempt: 1 }]).nodes.get('m'), { id: 'm', status: 'running', attempt: 1 })
  })
}

t.test('set_graph replaces the structure and keeps what the run did to the nodes that stay', async (t) => {
  const state = replay([
    { type: 'dag_mutated', mutation: { op: 'set_graph', nodes: [{ id: 'a' }, { id: 'b' }, { id: 'gone' }], edges: [{ from: 'a', to: 'b' }, { from: 'b', to: 'gone' }] } },
    { type: 'edge_active', from: 'a', to: 'b' },
    { type: 'node_state', node_id: 'a', status: 'completed', output: 'A', metrics: { tokens: 2 }, attempt: 2 },
    { type: 'node_output_delta', node_id: 'b', delta: 'so far' },
    { type: 'human_gate_waiting', node_id: 'gone', gate_id: 'g', presentation: { title: 'x' } },
    { type: 'dag_mutated', mutation: { op: 'set_graph', nodes: [{ id: 'a', label: 'A' }, { id: 'b', parent: 'group' }, { id: 'group' }], edges: [{ from: 'a', to: 'b' }, { from: 'a', to: 'group' }] } }
  ])
  const snapshot = toSnapshot('d', 'e', 6, state)
  t.same(snapshot.nodes, [
    { id: 'a', label: 'A', status: 'completed', output: 'A', metrics: { tokens: 2 }, attempt: 2 },
    { id: 'b', parent: 'group', status: 'pending', partial_output: 'so far' },
    { id: 'group', status: 'pending' }
  ])
  t.same(snapshot.edges, [{ from: 'a', to: 'b', active: true }, { from: 'a', to: 'group' }])
  t.same(snapshot.gates, [], 'a removed node\'s gates go with it')
  t.same(toSnapshot('d', 'e', 6, fromSnapshot(snapshot)), snapshot)
})

t.test('several gates of one node: the node waits until the last one closes; without gate_id the node id is the gate', async (t) => {
  const state = replay([
    { type: 'human_gate_waiting', node_id: 'r', gate_id: 'r~1', presentation: { title: 'one' } },
    { type: 'human_gate_waiting', node_id: 'r', gate_id: 'r~2', presentation: { title: 'two', decisions: ['approve'] } },
    { type: 'human_gate_waiting', node_id: 'old', presentation: { title: 'old style' } }
  ])
  t.same([...state.gates.keys()], ['r~1', 'r~2', 'old'])
  t.same(state.gates.get('old'), { node_id: 'old', gate_id: 'old', presentation: { title: 'old style' } })
  applyEvent(state, { type: 'human_gate_resolved', node_id: 'r', gate_id: 'r~2', decision: 'approve', value: { any: 1 } })
  t.equal(state.nodes.get('r')?.status, 'waiting_human', 'one gate still open')
  applyEvent(state, { type: 'human_gate_withdrawn', node_id: 'r', gate_id: 'r~1' })
  t.equal(state.nodes.get('r')?.status, 'running')
  applyEvent(state, { type: 'human_gate_resolved', node_id: 'old', decision: 'reject' })
  t.equal(state.gates.size, 0)
  applyEvent(state, { type: 'human_gate_waiting', node_id: 'x', gate_id: 'x~1', presentation: { title: 'x' } })
  applyEvent(state, { type: 'dag_mutated', mutation: { op: 'remove_node', node_id: 'x' } })
  t.equal(state.gates.size, 0, 'remove_node takes the node\'s gates along')
})

for (const status of ['cancelled', 'failed'] as const) {
  t.test(`a ${status} run settles its unfinished nodes as cancelled; finished ones stay`, async (t) => {
    for (const inPlace of [false, true]) {
      const state = replay([
        { type: 'node_state', node_id: 'done', status: 'completed' },
        { type: 'node_state', node_id: 'skip', status: 'skipped' },
        { type: 'node_state', node_id: 'broke', status: 'failed' },
        { type: 'node_state', node_id: 'run', status: 'running' },
        { type: 'node_state', node_id: 'wait', status: 'queued' },
        { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'later' } } },
        { type: 'human_gate_waiting', node_id: 'gate', presentation: { title: 'x' } },
        { type: 'execution_status', status }
      ], inPlace)
      t.same(Object.fromEntries([...state.nodes].map(([id, node]) => [id, node.status])), {
        done: 'completed', skip: 'skipped', broke: 'failed', run: 'cancelled', wait: 'cancelled', later: 'cancelled', gate: 'cancelled'
      })
      t.equal(state.gates.size, 0)
    }
  })
}

t.test('stalled is not final: gates stay open, nodes keep their status', async (t) => {
  const state = replay([
    { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'x' } },
    { type: 'execution_status', status: 'stalled' }
  ])
  t.equal(state.status, 'stalled')
  t.equal(state.gates.size, 1)
  t.equal(state.nodes.get('g')?.status, 'waiting_human')
})
