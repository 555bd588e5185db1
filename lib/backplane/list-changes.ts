// What a run list is told when a DAG changes, in one place for every backplane: only creations,
// changes of execution status, and changes of the number of gates waiting for a human, so a DAG
// emitting a thousand node events a second costs a list nothing.

import type { ExecutionStatus } from '../../schemas/events.js'
import type { DAGChangedFrame } from '../../schemas/list.js'
import type { DAGSummary } from '../../schemas/snapshot.js'
import { isFinished } from '../shared/reducer.js'

/**
 * A summary's `open_gates`: the gates of the DAG's gate book in phase `waiting` (lib/commands/gates.ts),
 * none once the run finished, since a decision for them is refused then (`claimGate`). The book keeps
 * their phase, so a run that is resumed after it finished counts them again, as a decision would find them.
 */
export function openGatesOf (status: ExecutionStatus, waiting: number): number {
  return isFinished(status) ? 0 : waiting
}

/** What a list shows of a DAG besides its id and position. */
export interface ListedState {
  status: ExecutionStatus
  open_gates: number
}

/**
 * The change that took a DAG from `before` (undefined: it had no log) to `dag`, or undefined when
 * nothing a list shows changed.
 */
export function listChange (dag: DAGSummary, before: ListedState | undefined): DAGChangedFrame | undefined {
  if (before === undefined) return { type: 'dag_changed', change: 'created', dag }
  if (before.status === dag.status) {
    if (before.open_gates === dag.open_gates) return undefined
    return { type: 'dag_changed', change: 'open_gates_changed', dag, previous_status: before.status }
  }
  return { type: 'dag_changed', change: isFinished(dag.status) ? 'finished' : 'status_changed', dag, previous_status: before.status }
}
