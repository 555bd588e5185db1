// The DAG events the tests broadcast, numbered: event n is the same wherever it is made, so a test can
// make events 20 … 29 after 0 … 19 and get one run.

import type { DAGEvent } from '../../schemas/index.js'

// How many node ids the numbered events spread over: snapshots stay small however many events there are.
const NODES = 50
const MIXED_NODES = 40

/**
 * `count` events numbered from `from` on.
 *
 * - `'nodes'` (the default): event n is about node n % 50: an engine `error` when n % 97 === 0
 *   (its type is also a control frame's), else a node_state, running for even n and completed for odd n,
 *   with metrics { tokens: n }.
 * - `'mixed'`: every kind of event, in a cycle that touches every part of the state (nodes, labels,
 *   data, metrics, outputs, edges, cost, the bounded error list, gates, the run's status, removals),
 *   so that a checkpoint or a reducer that drops or garbles any of it shows in a snapshot. A run that
 *   ends at any point is running, unless it ends in the middle of a pause (n ≡ 7 mod 12).
 */
export function events (count: number, from = 0, kind: 'nodes' | 'mixed' = 'nodes'): DAGEvent[] {
  return Array.from({ length: count }, (_, index) => (kind === 'nodes' ? nodeEvent : mixedEvent)(from + index))
}

function nodeEvent (n: number): DAGEvent {
  return n % 97 === 0
    ? { type: 'error', node_id: `n${n % NODES}`, message: `failure ${n}` }
    : { type: 'node_state', node_id: `n${n % NODES}`, status: n % 2 === 0 ? 'running' : 'completed', metrics: { tokens: n } }
}

function mixedEvent (n: number): DAGEvent {
  const step = n % 12
  // The node the cycle of 12 works on, added at its first step; every other cycle removes the one before.
  const cycle = (n - step) / 12
  const node = `n${cycle % MIXED_NODES}`
  const next = `n${(cycle + 1) % MIXED_NODES}`
  switch (step) {
    case 0:
      return { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: node, label: `Step ${n}`, data: { n } } } }
    case 1:
      return { type: 'node_state', node_id: node, status: 'running', metrics: { tokens: n } }
    case 2:
      return { type: 'dag_mutated', mutation: { op: 'add_edge', from: node, to: next } }
    case 3:
      return { type: 'edge_active', from: node, to: next, active: n % 2 === 0 }
    case 4:
      return { type: 'cost_update', spent: n / 100, budget: 100, remaining: 100 - n / 100 }
    case 5:
      return { type: 'error', node_id: node, message: `failure ${n}` }
    case 6:
      return { type: 'human_gate_waiting', node_id: node, presentation: { title: `Gate ${n}` } }
    case 7:
      return { type: 'execution_status', status: 'paused' }
    case 8:
      return { type: 'execution_status', status: 'running' }
    case 9:
      return { type: 'human_gate_resolved', node_id: node, decision: 'approve' }
    case 10:
      return { type: 'node_state', node_id: node, status: 'completed', output: { rows: n } }
    default:
      return cycle % 2 === 1
        ? { type: 'dag_mutated', mutation: { op: 'remove_node', node_id: `n${(cycle - 1) % MIXED_NODES}` } }
        : { type: 'node_state', node_id: node, status: 'completed', metrics: { tokens: n } }
  }
}
