// Where the stream ends up. The client only needs `reset` and `apply`; the default store keeps the
// DAG with the shared reducer (the same code that keeps the server's snapshot, so the two cannot
// disagree) and adds what a UI needs: `subscribe`/`getSnapshot` for useSyncExternalStore, and
// methods for local edits (a node's data, the cost, a change to the graph) that a page can make itself.

import type { CostState, DAGEvent, DAGMutation, ExecutionStatus, NodeData, SequencedEvent } from '../../schemas/events.js'
import type { DAGSnapshot, EdgeView, NodeView, OpenGate, ReportedError } from '../../schemas/snapshot.js'
import { applyEvent, createState, fromSnapshot, toSnapshot } from '../shared/reducer.js'

/**
 * What the client writes to. Implement it to send the stream elsewhere (React Flow, Zustand, Redux):
 * `reset` on the first load and on every resync, then `apply` for each event, exactly once, in order.
 * @example
 * const store: DAGStore = {
 *   reset: (snapshot) => setNodes(snapshot.nodes.map(toFlowNode)),
 *   apply: (event) => { if (event.type === 'node_state') setNodeStatus(event.node_id, event.status) }
 * }
 */
export interface DAGStore {
  /** Replace everything with the DAG as of `snapshot.seq`. */
  reset (snapshot: DAGSnapshot): void
  /** One more event of the log, right after the last one applied. */
  apply (event: SequencedEvent): void
}

/**
 * The DAG as a UI reads it. A new object after every change (so React re-renders), the same one
 * otherwise. The maps are the store's own and change in place, but the reducer replaces a node, edge
 * or gate record instead of mutating it, so a memoised component can compare records by reference.
 */
export interface DAGView {
  /** The log position this view includes. `seq` 0: nothing yet. */
  readonly epoch: string
  readonly seq: number
  readonly status: ExecutionStatus
  readonly nodes: ReadonlyMap<string, NodeView>
  readonly edges: ReadonlyMap<string, EdgeView>
  /** Open human gates, by node id. */
  readonly gates: ReadonlyMap<string, OpenGate>
  readonly cost: CostState | null
  readonly errors: readonly ReportedError[]
  readonly results?: unknown
  /** Counts the changes; handy as a memo dependency. */
  readonly version: number
  /**
   * Counts the changes to the graph's shape: a node or an edge added or removed, the graph replaced,
   * every reset. Not a status, an output or a node's data: a memo on it (a layout, the list of a
   * graph's cards) is worked out again only when the shape changed.
   */
  readonly structure: number
}

/** The store `createDAGStreamClient` uses unless given another. */
export interface DefaultDAGStore extends DAGStore {
  /**
   * Calls `listener` after changes, at most once per microtask: a replay of 5,000 events that
   * arrives in one read costs one notification, not 5,000 renders.
   */
  subscribe (listener: () => void): () => void
  getSnapshot (): DAGView
  /** The state in the REST snapshot's shape, e.g. to compare with `GET /api/dags/:id`. O(DAG). */
  toSnapshot (dagId: string): DAGSnapshot
  // Local edits, for a page that changes what it shows itself: they are not sent to the server, and the
  // next resync replaces them with the server's state.
  /** Merges `data` into the node's data. */
  updateNodeData (nodeId: string, data: NodeData): void
  setCostState (cost: CostState): void
  applyMutation (mutation: DAGMutation): void
  setExecutionComplete (results: unknown): void
}

/**
 * @example
 * const store = createDAGStore()
 * const client = createDAGStreamClient({ baseUrl, dagId: 'run-42', store })
 * store.subscribe(() => render(store.getSnapshot()))
 */
export function createDAGStore (): DefaultDAGStore {
  let state = createState()
  let epoch = ''
  let seq = 0
  let version = 0
  let structure = 0
  let view: DAGView | undefined
  let notifying = false
  const listeners = new Set<() => void>()

  function changed (): void {
    version += 1
    view = undefined
    if (notifying) return
    notifying = true
    queueMicrotask(() => {
      notifying = false
      for (const listener of [...listeners]) listener()
    })
  }

  /** Applies `event` with the reducer, and counts it as a change of shape if it was one. */
  function applyCounted (event: DAGEvent): void {
    const nodesBefore = state.nodes.size
    const edgesBefore = state.edges.size
    applyEvent(state, event)
    const reshaped = event.type === 'dag_mutated'
      ? event.mutation.op !== 'update_node'
      // A node or an edge the DAG did not have may also come with a status, an output or edge_active.
      : state.nodes.size !== nodesBefore || state.edges.size !== edgesBefore
    if (reshaped) structure += 1
  }

  // Every local edit is expressed as the event that has the same effect, so the reducer stays the
  // only code that changes a DAG.
  function edit (event: DAGEvent): void {
    applyCounted(event)
    changed()
  }

  function buildView (): DAGView {
    return {
      epoch,
      seq,
      status: state.status,
      nodes: state.nodes,
      edges: state.edges,
      gates: state.gates,
      cost: state.cost,
      // The reducer appends to this array in place; a copy (at most MAX_REPORTED_ERRORS long) gives
      // each view its own, so a component memoised on `errors` sees the change.
      errors: [...state.errors],
      results: state.results,
      version,
      structure
    }
  }

  return {
    reset (snapshot) {
      state = fromSnapshot(snapshot)
      epoch = snapshot.epoch
      seq = snapshot.seq
      structure += 1
      changed()
    },
    apply (event) {
      applyCounted(event)
      epoch = event.epoch
      seq = event.seq
      changed()
    },
    subscribe (listener) {
      listeners.add(listener)
      return () => {
        listeners.delete(listener)
      }
    },
    getSnapshot: () => (view ??= buildView()),
    toSnapshot: (dagId) => toSnapshot(dagId, epoch, seq, state),
    updateNodeData: (nodeId, data) => edit({ type: 'dag_mutated', mutation: { op: 'update_node', node_id: nodeId, data } }),
    setCostState: (cost) => edit({ type: 'cost_update', ...cost }),
    applyMutation: (mutation) => edit({ type: 'dag_mutated', mutation }),
    setExecutionComplete: (results) => edit({ type: 'execution_complete', results })
  }
}
