// A run's picture: the events that rebuild a DAG's state from nothing, or over whatever a log holds.
// A run handle sends it when the log started over (Redis lost its data: a new epoch) and when it had to
// coalesce events it could not send; the state it is built from is what the handle itself sent.
//
// It starts by clearing the graph (an empty set_graph), so that what the log already holds of the run
// cannot add to it (text appended twice): after it, the state is the picture's, exactly. Errors are
// pushed, not set, so they come only where the log is new.

import type { DAGEvent, GraphNode } from '../../schemas/events.js'
import type { DAGState } from '../shared/reducer.js'

export interface PictureOptions {
  /** Whether to include the errors reported so far (only into a new log: into the same log they would repeat). */
  errors: boolean
}

export function pictureOf (state: DAGState, { errors }: PictureOptions): DAGEvent[] {
  const events: DAGEvent[] = [{ type: 'dag_mutated', mutation: { op: 'set_graph', nodes: [], edges: [] } }]
  const nodes: GraphNode[] = []
  for (const node of state.nodes.values()) {
    const structure: GraphNode = { id: node.id }
    if (node.label !== undefined) structure.label = node.label
    if (node.data !== undefined) structure.data = node.data
    if (node.parent !== undefined) structure.parent = node.parent
    nodes.push(structure)
  }
  const edges = Array.from(state.edges.values(), ({ from, to }) => ({ from, to }))
  events.push({ type: 'dag_mutated', mutation: { op: 'set_graph', nodes, edges } })
  for (const node of state.nodes.values()) {
    // A gate's event sets waiting_human itself; a node that waits is said so by its gates below.
    const nodeState: DAGEvent = { type: 'node_state', node_id: node.id, status: node.status === 'waiting_human' ? 'running' : node.status }
    if (node.output !== undefined) nodeState.output = node.output
    if (node.metrics !== undefined) nodeState.metrics = node.metrics
    if (node.attempt !== undefined) nodeState.attempt = node.attempt
    events.push(nodeState)
    if (node.partial_output !== undefined) events.push({ type: 'node_output_delta', node_id: node.id, delta: node.partial_output })
  }
  for (const edge of state.edges.values()) {
    if (edge.active !== undefined) events.push({ type: 'edge_active', from: edge.from, to: edge.to, active: edge.active })
  }
  if (state.cost !== null) events.push({ type: 'cost_update', ...state.cost })
  for (const gate of state.gates.values()) {
    events.push({ type: 'human_gate_waiting', node_id: gate.node_id, gate_id: gate.gate_id, presentation: gate.presentation })
  }
  if (errors) {
    for (const error of state.errors) events.push(error.node_id === undefined ? { type: 'error', message: error.message } : { type: 'error', node_id: error.node_id, message: error.message })
  }
  if (state.status === 'completed') events.push({ type: 'execution_complete', results: state.results })
  else if (state.status !== 'running') events.push({ type: 'execution_status', status: state.status })
  return events
}
