// What a run list is told when a DAG changes, in one place for every backplane: only creations and
// changes of execution status, so a DAG emitting a thousand node events a second costs a list nothing.

import type { ExecutionStatus } from '../../schemas/events.js'
import type { DAGChangedFrame } from '../../schemas/list.js'
import type { DAGSummary } from '../../schemas/snapshot.js'
import { isFinished } from '../shared/reducer.js'

/** The change that took a DAG from `previousStatus` (undefined: it had no log) to `dag`. */
export function listChange (dag: DAGSummary, previousStatus: ExecutionStatus | undefined): DAGChangedFrame {
  if (previousStatus === undefined) return { type: 'dag_changed', change: 'created', dag }
  return { type: 'dag_changed', change: isFinished(dag.status) ? 'finished' : 'status_changed', dag, previous_status: previousStatus }
}
