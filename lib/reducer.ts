// `fastify-dag-stream/reducer` (browser-safe: type imports only, so a custom React Flow store can use it
// without pulling in fastify or ws).
//
// The one place that knows what an event does to a DAG's state. The server uses it to keep the
// snapshot current; the client store uses it to apply the stream. Both therefore agree by construction.
//
// `applyEvent` has no I/O and no clock: the same events in the same order always give the same state.
// For speed it updates the state it is given (an event must cost O(1), whatever the DAG's size, and
// copying a 100,000-entry map per event would not), but it never mutates a node, edge or gate record:
// it replaces them. A UI can therefore compare records by reference to find what changed.

import type { DAGEvent, DAGMutation, ExecutionStatus } from '../schemas/events.js'
import type { DAGSnapshot, EdgeView, NodeView, OpenGate, ReportedError } from '../schemas/snapshot.js'

/** How many engine-reported errors a DAG keeps; older ones fall off. */
export const MAX_REPORTED_ERRORS = 20

export interface DAGState {
  status: ExecutionStatus
  /** In insertion order, so the snapshot lists nodes as the engine created them. */
  nodes: Map<string, NodeView>
  /** Keyed by `edgeKey(from, to)`. */
  edges: Map<string, EdgeView>
  /** Edge keys per node id, so removing a node costs its degree, not the whole edge list. */
  edgesByNode: Map<string, Set<string>>
  cost: DAGSnapshot['cost']
  /** Open human gates, keyed by node id. */
  gates: Map<string, OpenGate>
  errors: ReportedError[]
  results?: unknown
}

export function createState (): DAGState {
  return {
    status: 'running',
    nodes: new Map(),
    edges: new Map(),
    edgesByNode: new Map(),
    cost: null,
    gates: new Map(),
    errors: []
  }
}

/** Statuses after which a run does nothing more. */
export function isFinished (status: ExecutionStatus): boolean {
  return status === 'completed' || status === 'cancelled' || status === 'failed'
}

export function edgeKey (from: string, to: string): string {
  // U+0000 cannot occur in an Identifier, so the key is unambiguous.
  return `${from}\u0000${to}`
}

/**
 * The run's status after `event`, or undefined when the event leaves it as it was. The reducer sets
 * the status through it, and a backplane that keeps the status beside the log (Redis) uses it too.
 */
export function statusAfter (event: DAGEvent): ExecutionStatus | undefined {
  if (event.type === 'execution_complete') return 'completed'
  if (event.type === 'execution_status') return event.status
  return undefined
}

/** Applies one event to `state` and returns it. */
export function applyEvent (state: DAGState, event: DAGEvent): DAGState {
  switch (event.type) {
    case 'node_state': {
      const previous = state.nodes.get(event.node_id)
      const node: NodeView = { ...previous, id: event.node_id, status: event.status }
      if (event.output !== undefined) node.output = event.output
      if (event.metrics !== undefined) node.metrics = { ...previous?.metrics, ...event.metrics }
      state.nodes.set(event.node_id, node)
      break
    }
    case 'edge_active': {
      const key = edgeKey(event.from, event.to)
      addEdgeIndex(state, key, event.from, event.to)
      state.edges.set(key, { from: event.from, to: event.to, active: event.active ?? true })
      break
    }
    case 'dag_mutated':
      applyMutation(state, event.mutation)
      break
    case 'cost_update':
      state.cost = { spent: event.spent, budget: event.budget, remaining: event.remaining }
      break
    case 'execution_complete':
      state.status = statusAfter(event) as ExecutionStatus
      state.results = event.results
      state.gates.clear()
      break
    case 'human_gate_waiting': {
      const previous = state.nodes.get(event.node_id)
      state.nodes.set(event.node_id, { ...previous, id: event.node_id, status: 'waiting_human' })
      state.gates.set(event.node_id, { node_id: event.node_id, presentation: event.presentation })
      break
    }
    case 'human_gate_resolved': {
      state.gates.delete(event.node_id)
      // Decided, not done: the engine now acts on the decision, so the node is running until the
      // engine says what it became. A node_state the engine sent before this event already said so.
      const node = state.nodes.get(event.node_id)
      if (node?.status === 'waiting_human') state.nodes.set(event.node_id, { ...node, status: 'running' })
      break
    }
    case 'error': {
      const reported: ReportedError = { message: event.message }
      if (event.node_id !== undefined) reported.node_id = event.node_id
      state.errors.push(reported)
      if (state.errors.length > MAX_REPORTED_ERRORS) state.errors.shift()
      break
    }
    case 'execution_status':
      state.status = statusAfter(event) as ExecutionStatus
      // A finished run waits for nobody: its gates can no longer be decided.
      if (isFinished(event.status)) state.gates.clear()
      break
    /* c8 ignore next 2 -- unreachable by type: the compiler proves every event type is handled */
    default:
      assertNever(event)
  }
  return state
}

function applyMutation (state: DAGState, mutation: DAGMutation): void {
  switch (mutation.op) {
    case 'add_node': {
      const previous = state.nodes.get(mutation.node.id)
      state.nodes.set(mutation.node.id, { status: 'pending', ...previous, ...mutation.node })
      break
    }
    case 'remove_node': {
      state.nodes.delete(mutation.node_id)
      state.gates.delete(mutation.node_id)
      for (const key of state.edgesByNode.get(mutation.node_id) ?? []) removeEdge(state, key)
      state.edgesByNode.delete(mutation.node_id)
      break
    }
    case 'add_edge': {
      const key = edgeKey(mutation.from, mutation.to)
      if (!state.edges.has(key)) {
        addEdgeIndex(state, key, mutation.from, mutation.to)
        state.edges.set(key, { from: mutation.from, to: mutation.to })
      }
      break
    }
    case 'remove_edge':
      removeEdge(state, edgeKey(mutation.from, mutation.to))
      break
    case 'update_node': {
      const previous = state.nodes.get(mutation.node_id)
      state.nodes.set(mutation.node_id, {
        status: 'pending',
        ...previous,
        id: mutation.node_id,
        data: { ...previous?.data, ...mutation.data }
      })
      break
    }
    /* c8 ignore next 2 -- unreachable by type: the compiler proves every mutation is handled */
    default:
      assertNever(mutation)
  }
}

function addEdgeIndex (state: DAGState, key: string, from: string, to: string): void {
  for (const nodeId of [from, to]) {
    let keys = state.edgesByNode.get(nodeId)
    if (keys === undefined) state.edgesByNode.set(nodeId, (keys = new Set()))
    keys.add(key)
  }
}

function removeEdge (state: DAGState, key: string): void {
  const edge = state.edges.get(key)
  if (edge === undefined) return
  state.edges.delete(key)
  state.edgesByNode.get(edge.from)?.delete(key)
  state.edgesByNode.get(edge.to)?.delete(key)
}

/** The JSON view of a state at a position of its log: what `GET /api/dags/:id` returns. O(DAG). */
export function toSnapshot (dagId: string, epoch: string, seq: number, state: DAGState): DAGSnapshot {
  const snapshot: DAGSnapshot = {
    dag_id: dagId,
    epoch,
    seq,
    status: state.status,
    nodes: [...state.nodes.values()],
    edges: [...state.edges.values()],
    cost: state.cost,
    gates: [...state.gates.values()],
    errors: [...state.errors]
  }
  if (state.results !== undefined) snapshot.results = state.results
  return snapshot
}

/** Rebuilds a state from a snapshot, so a client can continue from it with `applyEvent`. */
export function fromSnapshot (snapshot: DAGSnapshot): DAGState {
  const state = createState()
  state.status = snapshot.status
  for (const node of snapshot.nodes) state.nodes.set(node.id, node)
  for (const edge of snapshot.edges) {
    const key = edgeKey(edge.from, edge.to)
    addEdgeIndex(state, key, edge.from, edge.to)
    state.edges.set(key, edge)
  }
  state.cost = snapshot.cost
  for (const gate of snapshot.gates) state.gates.set(gate.node_id, gate)
  state.errors = [...snapshot.errors]
  if (snapshot.results !== undefined) state.results = snapshot.results
  return state
}

/** For exhaustive switches: adding a member to a union makes every unhandled switch a compile error. */
/* c8 ignore start -- only called from default branches that the compiler proves unreachable */
export function assertNever (value: never): never {
  throw new Error(`Unhandled variant: ${JSON.stringify(value)}`)
}
/* c8 ignore stop */
