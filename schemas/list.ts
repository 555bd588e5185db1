// The live run list: the frames of the WebSocket on `GET {prefix}` (the list route, upgraded). The
// first frame is the page the query asks for; then one small frame per change a run list shows: a DAG
// created, its status changed or finished, the number of its gates waiting for a human changed, or its
// log evicted. Node events never reach this socket.

import { Type, type Static } from '@sinclair/typebox'
import { ExecutionStatus, Identifier } from './events.js'
import { DAGList } from './routes.js'
import { DAGSummary } from './snapshot.js'

export const DAGListFrame = Type.Composite(
  [Type.Object({ type: Type.Literal('dag_list') }), Type.Omit(DAGList, ['$id'])],
  {
    additionalProperties: false,
    $id: 'DagListFrame',
    description: 'First frame on every list connection: the page the query asks for, as `GET {prefix}` returns it.'
  }
)
export type DAGListFrame = Static<typeof DAGListFrame>

export const DAGChange = Type.Union(
  [Type.Literal('created'), Type.Literal('status_changed'), Type.Literal('finished'), Type.Literal('open_gates_changed')],
  {
    $id: 'DagChange',
    description:
      'created: a new log (a new epoch); finished: the status became completed, failed or cancelled; ' +
      'open_gates_changed: the status is the same, `open_gates` is not (a gate opened, or one was decided or withdrawn).'
  }
)
export type DAGChange = Static<typeof DAGChange>

export const DAGChangedFrame = Type.Object(
  {
    type: Type.Literal('dag_changed'),
    change: DAGChange,
    dag: DAGSummary,
    // The status before the change (absent for `created`; the same as `dag.status` for
    // `open_gates_changed`): a list filtered by status drops the DAG once it no longer matches.
    previous_status: Type.Optional(ExecutionStatus)
  },
  {
    additionalProperties: false,
    $id: 'DagChangedFrame',
    description:
      'A DAG was created, its execution status changed, or the number of its gates waiting for a decision ' +
      '(`open_gates`) changed (`previous_status`: the status before, absent for `created`). ' +
      'Sent once per change, never per node event: `seq` and `updated_at` are those of the change.'
  }
)
export type DAGChangedFrame = Static<typeof DAGChangedFrame>

export const DAGEvictedFrame = Type.Object(
  { type: Type.Literal('dag_evicted'), dag_id: Identifier },
  {
    additionalProperties: false,
    $id: 'DagEvictedFrame',
    description: 'The DAG left the list: its log expired (retainFinishedMs after it finished, maxIdleMs without an event).'
  }
)
export type DAGEvictedFrame = Static<typeof DAGEvictedFrame>

/** A change to the list, as the backplane reports it and the list socket sends it. */
export const DAGListChangeFrame = Type.Union([DAGChangedFrame, DAGEvictedFrame], { $id: 'DagListChangeFrame' })
export type DAGListChangeFrame = Static<typeof DAGListChangeFrame>

/** Everything the list socket sends. */
export const ListServerFrame = Type.Union([DAGListFrame, DAGChangedFrame, DAGEvictedFrame], { $id: 'ListServerFrame' })
export type ListServerFrame = Static<typeof ListServerFrame>

// The names these had before one casing (DAG) was chosen; kept for one release.
/** @deprecated use DAGListFrame */
export const DagListFrame = DAGListFrame
/** @deprecated use DAGListFrame */
export type DagListFrame = DAGListFrame
/** @deprecated use DAGChange */
export const DagChange = DAGChange
/** @deprecated use DAGChange */
export type DagChange = DAGChange
/** @deprecated use DAGChangedFrame */
export const DagChangedFrame = DAGChangedFrame
/** @deprecated use DAGChangedFrame */
export type DagChangedFrame = DAGChangedFrame
/** @deprecated use DAGEvictedFrame */
export const DagEvictedFrame = DAGEvictedFrame
/** @deprecated use DAGEvictedFrame */
export type DagEvictedFrame = DAGEvictedFrame
/** @deprecated use DAGListChangeFrame */
export const DagListChangeFrame = DAGListChangeFrame
/** @deprecated use DAGListChangeFrame */
export type DagListChangeFrame = DAGListChangeFrame
