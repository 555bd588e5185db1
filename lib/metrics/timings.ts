// Two durations whose start and end happen at different places, paired here for the metrics:
//   - a broadcast's latency, from `broadcast()` to the hand-off of its event to this instance's
//     sockets. The seq that pairs the two is known only once the backplane numbered the event, which
//     may come before the delivery (Redis, usually) or after it (memory: delivery happens inside append);
//   - a human gate's wait, from `human_gate_waiting` to `human_gate_resolved` for the same node.
// Both keep only what is still unpaired, and bound it.

import type { DAGEvent, SequencedEvent } from '../../schemas/events.js'
import type { LogEntry } from '../backplane/types.js'
import { isFinished } from '../shared/reducer.js'

/** Unpaired seqs kept per DAG: a delivery that never comes (a gap, a room closed) is forgotten past it. */
const MAX_UNPAIRED_PER_DAG = 1024
/** DAGs with an open gate whose wait is being timed; past it the oldest DAG is forgotten. */
const MAX_TIMED_DAGS = 10_000

interface DAGBroadcasts {
  epoch: string
  /** Broadcasts of this instance that the backplane has not numbered yet. */
  inFlight: number
  /** seq → broadcast() time: numbered here, not yet delivered to the room. */
  numbered: Map<number, number>
  /** seq → delivery time: delivered while broadcasts of this instance were in flight. */
  delivered: Map<number, number>
}

export class BroadcastLatency {
  readonly #dags = new Map<string, DAGBroadcasts>()
  readonly #observe: (seconds: number) => void
  readonly #hasRoom: (dagId: string) => boolean

  /** `observe` receives each latency in seconds; `hasRoom` says whether this instance delivers `dagId`. */
  constructor (observe: (seconds: number) => void, hasRoom: (dagId: string) => boolean) {
    this.#observe = observe
    this.#hasRoom = hasRoom
  }

  /** Before the backplane's append; returns the time to hand to `numbered` or `failed`. */
  started (dagId: string): number {
    let dag = this.#dags.get(dagId)
    if (dag === undefined) this.#dags.set(dagId, (dag = { epoch: '', inFlight: 0, numbered: new Map(), delivered: new Map() }))
    dag.inFlight += 1
    return performance.now()
  }

  numbered (dagId: string, event: SequencedEvent, startedAt: number): void {
    const dag = this.#settled(dagId)
    this.#align(dag, event.epoch)
    const deliveredAt = dag.delivered.get(event.seq)
    if (deliveredAt !== undefined) this.#observe((deliveredAt - startedAt) / 1000)
    // This instance's broadcasts are numbered in call order: whatever was delivered up to here either
    // was this one or came from another instance.
    for (const seq of dag.delivered.keys()) {
      if (seq > event.seq) break
      dag.delivered.delete(seq)
    }
    if (deliveredAt === undefined && this.#hasRoom(dagId)) remember(dag.numbered, event.seq, startedAt)
    this.#forgetIfIdle(dagId, dag)
  }

  /** The append failed: nothing will be delivered. */
  failed (dagId: string): void {
    this.#forgetIfIdle(dagId, this.#settled(dagId))
  }

  delivered (dagId: string, entry: LogEntry): void {
    const dag = this.#dags.get(dagId)
    if (dag === undefined) return
    this.#align(dag, entry.epoch)
    // Delivered in seq order: a numbered seq below this one will never come (a gap).
    for (const [seq, startedAt] of dag.numbered) {
      if (seq > entry.seq) break
      dag.numbered.delete(seq)
      if (seq === entry.seq) {
        this.#observe((performance.now() - startedAt) / 1000)
        this.#forgetIfIdle(dagId, dag)
        return
      }
    }
    if (dag.inFlight > 0) remember(dag.delivered, entry.seq, performance.now())
  }

  /** No room delivers `dagId` any more: what waits for a delivery never gets it. */
  roomClosed (dagId: string): void {
    const dag = this.#dags.get(dagId)
    if (dag === undefined) return
    dag.numbered.clear()
    this.#forgetIfIdle(dagId, dag)
  }

  /** How many DAGs are tracked: for tests of the bound. */
  get size (): number {
    return this.#dags.size
  }

  /** The DAG of a broadcast that `started` counted, now numbered or failed. */
  #settled (dagId: string): DAGBroadcasts {
    const dag = this.#dags.get(dagId) as DAGBroadcasts
    dag.inFlight -= 1
    return dag
  }

  /** A new epoch numbers from 1 again: what was kept of the old one can no longer pair. */
  #align (dag: DAGBroadcasts, epoch: string): void {
    if (dag.epoch === epoch) return
    dag.epoch = epoch
    dag.numbered.clear()
    dag.delivered.clear()
  }

  #forgetIfIdle (dagId: string, dag: DAGBroadcasts): void {
    if (dag.inFlight === 0) dag.delivered.clear()
    if (dag.inFlight === 0 && dag.numbered.size === 0) this.#dags.delete(dagId)
  }
}

function remember (seqs: Map<number, number>, seq: number, time: number): void {
  seqs.set(seq, time)
  if (seqs.size > MAX_UNPAIRED_PER_DAG) seqs.delete(seqs.keys().next().value as number)
}

export class GateWait {
  /** dagId → node id → when its gate began waiting. */
  readonly #open = new Map<string, Map<string, number>>()
  readonly #observe: (seconds: number, event: Extract<DAGEvent, { type: 'human_gate_resolved' }>) => void

  constructor (observe: (seconds: number, event: Extract<DAGEvent, { type: 'human_gate_resolved' }>) => void) {
    this.#observe = observe
  }

  /** A broadcast event of `dagId`, at `time` (performance.now()). */
  broadcast (dagId: string, event: DAGEvent, time: number): void {
    switch (event.type) {
      case 'human_gate_waiting': {
        let gates = this.#open.get(dagId)
        if (gates === undefined) {
          this.#open.set(dagId, (gates = new Map()))
          if (this.#open.size > MAX_TIMED_DAGS) this.#open.delete(this.#open.keys().next().value as string)
        }
        gates.set(event.node_id, time)
        return
      }
      case 'human_gate_resolved': {
        const waitingSince = this.#forget(dagId, event.node_id)
        if (waitingSince !== undefined) this.#observe((time - waitingSince) / 1000, event)
        return
      }
      case 'dag_mutated':
        if (event.mutation.op === 'remove_node') this.#forget(dagId, event.mutation.node_id)
        return
      case 'execution_status':
        if (isFinished(event.status)) this.#open.delete(dagId)
        return
      case 'execution_complete':
        this.#open.delete(dagId)
    }
  }

  /** How many DAGs have a gate being timed: for tests of the bound. */
  get size (): number {
    return this.#open.size
  }

  #forget (dagId: string, nodeId: string): number | undefined {
    const gates = this.#open.get(dagId)
    const since = gates?.get(nodeId)
    gates?.delete(nodeId)
    if (gates?.size === 0) this.#open.delete(dagId)
    return since
  }
}
