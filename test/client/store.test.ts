// The default store: the core reducer underneath, one notification per batch, a stable snapshot
// reference between changes, and the seed's DAGStore surface for local edits.

import t from 'tap'
import { createDAGStore } from '../../lib/client/index.js'
import type { DAGEvent, SequencedEvent } from '../../schemas/index.js'
import { events } from '../support/events.js'

const sequenced = (count: number): SequencedEvent[] => events(count).map((event, index) => ({ ...event, seq: index + 1, epoch: 'e' }))

t.test('5,000 events applied in one go cost one notification, and give the state worked out by hand', async (t) => {
  const store = createDAGStore()
  let notified = 0
  store.subscribe(() => notified++)
  for (const event of sequenced(5000)) store.apply(event)
  await Promise.resolve()
  t.equal(notified, 1)
  // events(n): event n is about node n % 50; it is an engine error when n % 97 === 0, else a node_state,
  // running for even n and completed for odd n, with metrics { tokens: n }.
  // - Node k's last event is n = 4950 + k (no multiple of 97 lies in 4950 … 4999), so its status
  //   follows the parity of k and its tokens are 4950 + k.
  // - Event 0 is an error, so n0 first appears at event 50, after n1 … n49.
  // - Errors come at 0, 97, … 4947 (52 of them); the last 20 are kept: 97 × 32 … 97 × 51.
  const nodeIds = [...Array.from({ length: 49 }, (_, index) => index + 1), 0]
  const lastErrors = Array.from({ length: 20 }, (_, index) => 97 * (32 + index))
  t.same(store.toSnapshot('d'), {
    dag_id: 'd',
    epoch: 'e',
    seq: 5000,
    status: 'running',
    nodes: nodeIds.map((k) => ({ id: `n${k}`, status: k % 2 === 0 ? 'running' : 'completed', metrics: { tokens: 4950 + k } })),
    edges: [],
    cost: null,
    gates: [],
    errors: lastErrors.map((n) => ({ node_id: `n${n % 50}`, message: `failure ${n}` }))
  })
  t.same(store.toSnapshot('d').errors.slice(0, 2), [{ node_id: 'n4', message: 'failure 3104' }, { node_id: 'n1', message: 'failure 3201' }], 'spot check')
})

t.test('every kind of event, applied by the store: the state written out in full', async (t) => {
  const store = createDAGStore()
  const log: DAGEvent[] = [
    { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'fetch', label: 'Fetch' } } },
    { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'review', label: 'Review' } } },
    { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'fetch', to: 'review' } },
    { type: 'node_state', node_id: 'fetch', status: 'running', metrics: { tokens: 10 } },
    { type: 'edge_active', from: 'fetch', to: 'review' },
    { type: 'node_state', node_id: 'fetch', status: 'completed', output: { rows: 3 }, metrics: { cost: 0.5 } },
    { type: 'cost_update', spent: 0.5, budget: 5, remaining: 4.5 },
    { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Publish?' } },
    { type: 'error', node_id: 'fetch', message: 'retried once' },
    { type: 'dag_mutated', mutation: { op: 'update_node', node_id: 'review', data: { model: 'small' } } },
    { type: 'execution_status', status: 'paused' }
  ]
  for (const [index, event] of log.entries()) store.apply({ ...event, seq: index + 1, epoch: 'e' })
  t.same(store.toSnapshot('d'), {
    dag_id: 'd',
    epoch: 'e',
    seq: 11,
    status: 'paused',
    nodes: [
      { id: 'fetch', label: 'Fetch', status: 'completed', output: { rows: 3 }, metrics: { tokens: 10, cost: 0.5 } },
      { id: 'review', label: 'Review', status: 'waiting_human', data: { model: 'small' } }
    ],
    edges: [{ from: 'fetch', to: 'review', active: true }],
    cost: { spent: 0.5, budget: 5, remaining: 4.5 },
    gates: [{ node_id: 'review', gate_id: 'review', presentation: { title: 'Publish?' } }],
    errors: [{ node_id: 'fetch', message: 'retried once' }]
  })
  store.apply({ type: 'execution_complete', results: { published: false }, seq: 12, epoch: 'e' })
  t.match(store.getSnapshot(), { seq: 12, status: 'completed', results: { published: false } })
  t.equal(store.getSnapshot().gates.size, 0, 'a finished run closes its gates')
})

t.test('getSnapshot: the same reference until something changes, then a new one', async (t) => {
  const store = createDAGStore()
  const empty = store.getSnapshot()
  t.equal(store.getSnapshot(), empty)
  t.match(empty, { epoch: '', seq: 0, status: 'running', cost: null, version: 0 })
  store.apply({ type: 'error', message: 'boom', seq: 1, epoch: 'e' })
  const next = store.getSnapshot()
  t.not(next, empty)
  t.equal(store.getSnapshot(), next)
  t.same(next.errors, [{ message: 'boom' }])
  t.not(next.errors, empty.errors, 'errors is a new array, so a memo on it sees the change')
})

t.test('reset replaces everything with a snapshot', async (t) => {
  const store = createDAGStore()
  for (const event of sequenced(10)) store.apply(event)
  store.reset({ dag_id: 'd', epoch: 'f', seq: 3, status: 'paused', nodes: [], edges: [], cost: null, gates: [], errors: [] })
  t.match(store.getSnapshot(), { epoch: 'f', seq: 3, status: 'paused' })
  t.equal(store.getSnapshot().nodes.size, 0)
})

t.test('the DAGStore surface: local edits through the reducer, which keep the log position', async (t) => {
  const store = createDAGStore()
  let notified = 0
  const unsubscribe = store.subscribe(() => notified++)
  store.applyMutation({ op: 'add_node', node: { id: 'a', label: 'A' } })
  store.updateNodeData('a', { model: 'small' })
  store.setCostState({ spent: 1, budget: 10, remaining: 9 })
  store.setExecutionComplete({ answer: 42 })
  await Promise.resolve()
  t.equal(notified, 1)
  t.match(store.getSnapshot(), {
    seq: 0,
    status: 'completed',
    cost: { spent: 1, budget: 10, remaining: 9 },
    results: { answer: 42 }
  })
  t.same(store.getSnapshot().nodes.get('a'), { id: 'a', label: 'A', status: 'pending', data: { model: 'small' } })
  unsubscribe()
  store.setCostState({ spent: 2, budget: 10, remaining: 8 })
  await Promise.resolve()
  t.equal(notified, 1, 'no notification after unsubscribe')
})

t.test("structure counts the changes to the graph's shape, not statuses, outputs or data", async (t) => {
  const store = createDAGStore()
  let seq = 0
  const apply = (event: DAGEvent) => store.apply({ ...event, seq: ++seq, epoch: 'e' })
  const structure = () => store.getSnapshot().structure
  t.equal(structure(), 0)
  store.reset({ dag_id: 'd', epoch: 'e', seq: 0, status: 'running', nodes: [], edges: [], cost: null, gates: [], errors: [] })
  t.equal(structure(), 1, 'a reset may bring any graph')
  const steps: Array<[string, DAGEvent, number]> = [
    ['a node added', { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: 'a' } } }, 1],
    ['a status', { type: 'node_state', node_id: 'a', status: 'running' }, 0],
    ['text streaming in', { type: 'node_output_delta', node_id: 'a', delta: 'hi' }, 0],
    ["a node's data", { type: 'dag_mutated', mutation: { op: 'update_node', node_id: 'a', data: { model: 'm' } } }, 0],
    ['a status for a node the DAG did not have', { type: 'node_state', node_id: 'b', status: 'queued' }, 1],
    ['an edge added', { type: 'dag_mutated', mutation: { op: 'add_edge', from: 'a', to: 'b' } }, 1],
    ['an edge that carries data', { type: 'edge_active', from: 'a', to: 'b' }, 0],
    ['edge_active for an edge the DAG did not have', { type: 'edge_active', from: 'b', to: 'a' }, 1],
    ['an edge removed', { type: 'dag_mutated', mutation: { op: 'remove_edge', from: 'b', to: 'a' } }, 1],
    ['a node removed', { type: 'dag_mutated', mutation: { op: 'remove_node', node_id: 'b' } }, 1],
    ['the cost', { type: 'cost_update', spent: 1, budget: 10, remaining: 9 }, 0]
  ]
  for (const [what, event, expected] of steps) {
    const before = structure()
    apply(event)
    t.equal(structure() - before, expected, what)
  }
  const before = structure()
  store.applyMutation({ op: 'set_graph', nodes: [{ id: 'x' }], edges: [] })
  t.equal(structure(), before + 1, 'a local edit of the graph counts too')
})
