// The REST side of the protocol: a DAG's full state at one position of its log, and the list of DAGs.

import { Type, type Static } from '@sinclair/typebox'
import {
  CostState,
  ExecutionStatus,
  GatePresentation,
  Identifier,
  NodeData,
  NodeMetrics,
  NodeStatus,
  identifier
} from './events.js'
import { MAX_PARTIAL_OUTPUT_LENGTH, PARTIAL_OUTPUT_CUT_MARKER } from './output.js'

export const NodeView = Type.Object(
  {
    id: Identifier,
    status: NodeStatus,
    label: Type.Optional(Type.String()),
    data: Type.Optional(NodeData),
    output: Type.Optional(Type.Unknown()),
    partial_output: Type.Optional(
      Type.String({
        maxLength: MAX_PARTIAL_OUTPUT_LENGTH,
        description:
          'The text the node has generated so far (node_output_delta), until a node_state with `output` replaces it. ' +
          `At most ${MAX_PARTIAL_OUTPUT_LENGTH} characters: past that the oldest text is cut, and the value starts with ` +
          JSON.stringify(PARTIAL_OUTPUT_CUT_MARKER) + '.'
      })
    ),
    metrics: Type.Optional(NodeMetrics),
    attempt: Type.Optional(Type.Integer({ minimum: 1, description: 'The highest attempt a node_state reported (absent: the first).' })),
    parent: Type.Optional(identifier('The group (subgraph) the node belongs to.'))
  },
  { $id: 'NodeView' }
)
export type NodeView = Static<typeof NodeView>

export const EdgeView = Type.Object(
  { from: Identifier, to: Identifier, active: Type.Optional(Type.Boolean()) },
  { $id: 'EdgeView' }
)
export type EdgeView = Static<typeof EdgeView>

export const OpenGate = Type.Object(
  { node_id: Identifier, gate_id: identifier('Which gate of the node: send it back in human_decision.'), presentation: GatePresentation },
  { $id: 'OpenGate' }
)
export type OpenGate = Static<typeof OpenGate>

export const ReportedError = Type.Object(
  { node_id: Type.Optional(Identifier), message: Type.String() },
  { $id: 'ReportedError' }
)
export type ReportedError = Static<typeof ReportedError>

export const DAGSnapshot = Type.Object(
  {
    dag_id: Identifier,
    epoch: Type.String(),
    seq: Type.Integer({ minimum: 0, description: 'The last event this snapshot includes: apply only later ones.' }),
    status: ExecutionStatus,
    nodes: Type.Array(NodeView),
    edges: Type.Array(EdgeView),
    cost: Type.Union([CostState, Type.Null()]),
    gates: Type.Array(OpenGate),
    errors: Type.Array(ReportedError, { description: 'The most recent errors the engine reported (bounded).' }),
    results: Type.Optional(Type.Unknown())
  },
  { $id: 'DAGSnapshot', description: 'A DAG at one position of its log.' }
)
export type DAGSnapshot = Static<typeof DAGSnapshot>

export const DAGSummary = Type.Object(
  {
    dag_id: Identifier,
    epoch: Type.String(),
    seq: Type.Integer({ minimum: 0 }),
    status: ExecutionStatus,
    updated_at: Type.String({ format: 'date-time' }),
    open_gates: Type.Integer({
      minimum: 0,
      description:
        'How many human gates wait for a decision in the run right now: opened by `human_gate_waiting`, not yet ' +
        'resolved or withdrawn, the gates a `human_decision` is taken for. A run list marks the runs that need someone ' +
        'with it. 0 once the run finished (its gates can no longer be decided).'
    })
  },
  { $id: 'DAGSummary' }
)
export type DAGSummary = Static<typeof DAGSummary>
