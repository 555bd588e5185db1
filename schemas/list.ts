// The live run list: the frames of the WebSocket on `GET {prefix}` (the list route, upgraded). The
// first frame is the page the query asks for; then one small frame per change a run list shows: a DAG
// created, its status changed or finished, or its log evicted. Node events never reach this socket.

import { Type, type Static } from '@sinclair/typebox'
import { ExecutionStatus, Identifier } from './events.js'
import { DAGList } from './routes.js'
import { DAGSummary } from './snapshot.js'

export const DagListFrame = Type.Composite(
  [Type.Object({ type: Type.Literal('dag_list') }), Type.Omit(DAGList, ['$id'])],
  {
    additionalProperties: false,
    $id: 'DagListFrame',
    description: 'First frame on every list connection: the page the query asks for, as `GET {prefix}` returns it.'
  }
)
export type DagListFrame = Static<typeof DagListFrame>

export const DagChange = Type.Union([Type.Literal('created'), Type.Literal('status_changed'), Type.Literal('finished')], {
  $id: 'DagChange',
  description: 'created: a new log (a new epoch); finished: the status became completed, failed or cancelled.'
})
export type DagChange = Static<typeof DagChange>

export const DagChangedFrame = Type.Object(
  {
    type: Type.Literal('dag_changed'),
    change: DagChange,
    dag: DAGSummary,
    // The status before the change (absent for `created`): a list filtered by status drops the DAG
    // once it no longer matches.
    previous_status: Type.Optional(ExecutionStatus)
  },
  {
    additionalProperties: false,
    $id: 'DagChangedFrame',
    description:
      'A DAG was created or its execution status changed (`previous_status`: the status before, absent for `created`). ' +
      'Sent once per change, never per node event: `seq` and `updated_at` are those of the change.'
  }
)
export type DagChangedFrame = Static<typeof DagChangedFrame>

export const DagEvictedFrame = Type.Object(
  { type: Type.Literal('dag_evicted'), dag_id: Identifier },
  {
    additionalProperties: false,
    $id: 'DagEvictedFrame',
    description: 'The DAG left the list: its log expired (retainFinishedMs after it finished, maxIdleMs without an event).'
  }
)
export type DagEvictedFrame = Static<typeof DagEvictedFrame>

/** A change to the list, as the backplane reports it and the list socket sends it. */
export const DagListChangeFrame = Type.Union([DagChangedFrame, DagEvictedFrame], { $id: 'DagListChangeFrame' })
export type DagListChangeFrame = Static<typeof DagListChangeFrame>

/** Everything the list socket sends. */
export const ListServerFrame = Type.Union([DagListFrame, DagChangedFrame, DagEvictedFrame], { $id: 'ListServerFrame' })
export type ListServerFrame = Static<typeof ListServerFrame>
