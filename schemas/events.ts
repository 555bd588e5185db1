// The wire protocol between the server and a dashboard.
//
// Everything a socket carries is described here once, as TypeBox schemas. The TypeScript types are
// `Static<>` of these schemas, the plugin validates with them in both directions, and the OpenAPI /
// AsyncAPI documents are generated from them. Never restate one of these shapes by hand elsewhere.

import { Type, type Static } from '@sinclair/typebox'

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/**
 * The longest id: Fastify's default `maxParamLength`, past which its router answers 414 before any
 * route runs, so that every id can be opened in a URL (why these characters: lib/shared/identifier.ts).
 */
export const MAX_IDENTIFIER_LENGTH = 100
export const IDENTIFIER_PATTERN = '^[A-Za-z0-9._:~-]+$'

/**
 * A DAG (or node) identifier as it appears in URLs and events: 1-100 characters of A-Z a-z 0-9 . _ : ~ -
 * (`toIdentifier` maps any other name onto it).
 */
export const Identifier = Type.String({ minLength: 1, maxLength: MAX_IDENTIFIER_LENGTH, pattern: IDENTIFIER_PATTERN })

/** An Identifier that says what it identifies. */
export function identifier (description: string) {
  return Type.String({ minLength: 1, maxLength: MAX_IDENTIFIER_LENGTH, pattern: IDENTIFIER_PATTERN, description })
}

export const NodeStatus = Type.Union(
  [
    Type.Literal('pending'),
    Type.Literal('queued'),
    Type.Literal('running'),
    Type.Literal('waiting_human'),
    Type.Literal('completed'),
    Type.Literal('failed'),
    Type.Literal('skipped'),
    Type.Literal('cancelled')
  ],
  { $id: 'NodeStatus', description: 'Where one node of the DAG is in its life.' }
)
export type NodeStatus = Static<typeof NodeStatus>

export const ExecutionStatus = Type.Union(
  [
    Type.Literal('running'),
    Type.Literal('paused'),
    Type.Literal('cancelled'),
    Type.Literal('completed'),
    Type.Literal('failed'),
    Type.Literal('stalled')
  ],
  {
    $id: 'ExecutionStatus',
    description:
      'Where the whole run is. cancelled, completed and failed are final. stalled (not final): the process driving the run ' +
      'through a run handle stopped renewing its lease (it died); commands and decisions answer engine_unavailable until ' +
      'an engine sends again, which makes the run running.'
  }
)
export type ExecutionStatus = Static<typeof ExecutionStatus>

export const NodeMetrics = Type.Object(
  {
    tokens: Type.Optional(Type.Number({ minimum: 0 })),
    latency_ms: Type.Optional(Type.Number({ minimum: 0 })),
    cost: Type.Optional(Type.Number({ minimum: 0 }))
  },
  // Engines report more than we can foresee (model name, retries, cache hits): numbers only, so a
  // dashboard can always render them in a metrics table.
  { $id: 'NodeMetrics', additionalProperties: Type.Number() }
)
// Static<> ignores `additionalProperties`; the index signature says what the schema allows.
export type NodeMetrics = Static<typeof NodeMetrics> & Record<string, number>

/** Free-form, JSON-serialisable data attached to a node by the engine (prompt, model, inputs …). */
export const NodeData = Type.Record(Type.String(), Type.Unknown(), { $id: 'NodeData' })
export type NodeData = Static<typeof NodeData>

export const GraphNode = Type.Object(
  {
    id: Identifier,
    label: Type.Optional(Type.String()),
    data: Type.Optional(NodeData),
    parent: Type.Optional(identifier('The group (a subgraph) this node belongs to: the id of another node, which a dashboard draws around its members.'))
  },
  { $id: 'GraphNode' }
)

export const GraphEdge = Type.Object({ from: Identifier, to: Identifier }, { additionalProperties: false, $id: 'GraphEdge' })
export type GraphEdge = Static<typeof GraphEdge>
export type GraphNode = Static<typeof GraphNode>

export const DAGMutation = Type.Union(
  [
    Type.Object({ op: Type.Literal('add_node'), node: GraphNode }, { additionalProperties: false }),
    Type.Object({ op: Type.Literal('remove_node'), node_id: Identifier }, { additionalProperties: false }),
    Type.Object({ op: Type.Literal('add_edge'), from: Identifier, to: Identifier }, { additionalProperties: false }),
    Type.Object({ op: Type.Literal('remove_edge'), from: Identifier, to: Identifier }, { additionalProperties: false }),
    Type.Object({ op: Type.Literal('update_node'), node_id: Identifier, data: NodeData }, { additionalProperties: false }),
    Type.Object(
      { op: Type.Literal('set_graph'), nodes: Type.Array(GraphNode), edges: Type.Array(GraphEdge) },
      {
        additionalProperties: false,
        description:
          'The whole structure in one event, replacing the graph: nodes not listed go (with their edges and gates), listed ' +
          'nodes take the label, data and parent given and keep their status and output; the edges become those listed ' +
          '(an edge listed before keeps its `active`).'
      }
    )
  ],
  { $id: 'DAGMutation', description: 'A change to the graph itself, made while the run is in flight.' }
)
export type DAGMutation = Static<typeof DAGMutation>

export const Decision = Type.Union([Type.Literal('approve'), Type.Literal('reject'), Type.Literal('modify')], {
  $id: 'Decision'
})
export type Decision = Static<typeof Decision>

/**
 * One gate of a node. A node may have several open at once (a fan-out that interrupts twice); an
 * event without one means the gate whose id is the node's id, as before gates had ids.
 */
export const GateId = identifier('Which gate: unique among the open gates of the DAG. Absent: the node id (one gate per node, as before gate ids).')

export const GatePresentation = Type.Object(
  {
    title: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    payload: Type.Optional(Type.Unknown()),
    options: Type.Optional(Type.Array(Type.String(), { description: 'Free text shown with the gate; not enforced (see `decisions`).' })),
    decisions: Type.Optional(
      Type.Array(Decision, {
        minItems: 1,
        uniqueItems: true,
        description: 'The decisions offered. The server refuses any other with `decision_not_offered`. Absent: all three.'
      })
    ),
    response_schema: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description:
          'A JSON Schema (draft 2020-12 keywords as Ajv knows them) for the `value` of a decision. The server checks the value ' +
          'before the engine sees it and refuses a value that does not match with `invalid_value` and the `path` at fault.'
      })
    )
  },
  { $id: 'GatePresentation', description: 'What a human is shown when a node waits for a decision.' }
)
export type GatePresentation = Static<typeof GatePresentation>

/** The structured answer of a decision (a chosen branch, edited fields), as `response_schema` describes it. */
const DecisionValue = Type.Unknown({ description: 'Structured data for the engine, checked against the gate\'s `response_schema`.' })

export const CostState = Type.Object(
  { spent: Type.Number({ minimum: 0 }), budget: Type.Number({ minimum: 0 }), remaining: Type.Number() },
  { $id: 'CostState' }
)
export type CostState = Static<typeof CostState>

// ---------------------------------------------------------------------------------------------
// DAG events: what the engine broadcasts. Each is delivered with `seq` and `epoch` (see below).
// ---------------------------------------------------------------------------------------------

const eventOptions = { additionalProperties: false } as const

export const NodeStateEvent = Type.Object(
  {
    type: Type.Literal('node_state'),
    node_id: Identifier,
    status: NodeStatus,
    output: Type.Optional(Type.Unknown()),
    metrics: Type.Optional(NodeMetrics),
    attempt: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Which run of the node this is (a loop, a retry, a resume). A higher attempt than the node had starts it afresh: its output, partial output and metrics are cleared first.'
      })
    )
  },
  { ...eventOptions, $id: 'NodeStateEvent', description: 'A node changed state.' }
)

export const NodeOutputDeltaEvent = Type.Object(
  {
    type: Type.Literal('node_output_delta'),
    node_id: Identifier,
    delta: Type.String({ minLength: 1, description: 'Text the node generated since its previous delta.' })
  },
  {
    ...eventOptions,
    $id: 'NodeOutputDeltaEvent',
    description:
      "More of the text a running node is generating (an LLM's tokens), appended to the node's `partial_output`. " +
      'A later node_state with `output` replaces it. `app.dagStream.streamOutput` sends these, coalesced.'
  }
)

export const EdgeActiveEvent = Type.Object(
  {
    type: Type.Literal('edge_active'),
    from: Identifier,
    to: Identifier,
    // Optional so the common case stays small; `false` lets the engine switch an edge off again.
    active: Type.Optional(Type.Boolean({ default: true }))
  },
  { ...eventOptions, $id: 'EdgeActiveEvent', description: 'Data flows (or stops flowing) along an edge.' }
)

export const DAGMutatedEvent = Type.Object(
  { type: Type.Literal('dag_mutated'), mutation: DAGMutation },
  { ...eventOptions, $id: 'DAGMutatedEvent', description: 'The graph changed while running.' }
)

export const CostUpdateEvent = Type.Object(
  {
    type: Type.Literal('cost_update'),
    spent: Type.Number({ minimum: 0 }),
    budget: Type.Number({ minimum: 0 }),
    remaining: Type.Number()
  },
  { ...eventOptions, $id: 'CostUpdateEvent', description: 'The run spent money against its budget.' }
)

export const ExecutionCompleteEvent = Type.Object(
  { type: Type.Literal('execution_complete'), results: Type.Unknown() },
  { ...eventOptions, $id: 'ExecutionCompleteEvent', description: 'The run finished; status becomes completed.' }
)

export const HumanGateWaitingEvent = Type.Object(
  { type: Type.Literal('human_gate_waiting'), node_id: Identifier, gate_id: Type.Optional(GateId), presentation: GatePresentation },
  { ...eventOptions, $id: 'HumanGateWaitingEvent', description: 'A node waits for a human decision (one of its gates opened).' }
)

export const HumanGateResolvedEvent = Type.Object(
  {
    type: Type.Literal('human_gate_resolved'),
    node_id: Identifier,
    gate_id: Type.Optional(GateId),
    decision: Decision,
    feedback: Type.Optional(Type.String()),
    value: Type.Optional(DecisionValue)
  },
  {
    ...eventOptions,
    $id: 'HumanGateResolvedEvent',
    description: 'A human decision was accepted by the engine. The node, if waiting_human with no other gate open, becomes running.'
  }
)

export const HumanGateWithdrawnEvent = Type.Object(
  { type: Type.Literal('human_gate_withdrawn'), node_id: Identifier, gate_id: Type.Optional(GateId) },
  {
    ...eventOptions,
    $id: 'HumanGateWithdrawnEvent',
    description: 'The engine no longer waits for this gate (it went another way): it closes undecided. The node, if waiting_human with no other gate open, becomes running.'
  }
)

export const DAGErrorEvent = Type.Object(
  { type: Type.Literal('error'), node_id: Type.Optional(Identifier), message: Type.String() },
  {
    ...eventOptions,
    $id: 'DAGErrorEvent',
    description: 'The engine reports an error. Unlike the control `error` frame it carries `seq`.'
  }
)

export const ExecutionStatusEvent = Type.Object(
  { type: Type.Literal('execution_status'), status: ExecutionStatus },
  { ...eventOptions, $id: 'ExecutionStatusEvent', description: 'The run was paused, resumed, cancelled or ended.' }
)

/** Every event the engine may pass to `broadcast`. */
export const DAGEvent = Type.Union(
  [
    NodeStateEvent,
    NodeOutputDeltaEvent,
    EdgeActiveEvent,
    DAGMutatedEvent,
    CostUpdateEvent,
    ExecutionCompleteEvent,
    HumanGateWaitingEvent,
    HumanGateResolvedEvent,
    HumanGateWithdrawnEvent,
    DAGErrorEvent,
    ExecutionStatusEvent
  ],
  { $id: 'DAGEvent' }
)
export type DAGEvent = Static<typeof DAGEvent>
export type DAGEventType = DAGEvent['type']

/** Position in a DAG's log. Events of one DAG are numbered 1, 2, 3 … without gaps within one epoch. */
export const StreamPosition = Type.Object({
  seq: Type.Integer({ minimum: 1, description: 'Position of this event in the DAG log: 1, 2, 3 … gapless.' }),
  epoch: Type.String({ description: 'Identity of the log. A new epoch means the numbering restarted.' })
})

/** A DAG event as it travels to a client: the engine's event plus its position. */
export const SequencedEvent = Type.Union(
  DAGEvent.anyOf.map((event) =>
    Type.Composite([event, StreamPosition], { ...eventOptions, $id: `Sequenced${event.$id}`, description: event.description })
  ),
  { $id: 'SequencedEvent' }
)
export type SequencedEvent = DAGEvent & { seq: number; epoch: string }

// ---------------------------------------------------------------------------------------------
// Control frames: server → one client, without `seq`.
// ---------------------------------------------------------------------------------------------

export const ResyncReason = Type.Union(
  [Type.Literal('epoch_changed'), Type.Literal('history_exceeded'), Type.Literal('ahead_of_log')],
  { $id: 'ResyncReason', description: 'Why the server cannot continue a client from where it was.' }
)
export type ResyncReason = Static<typeof ResyncReason>

/**
 * The version of this protocol, in `hello` and in the AsyncAPI document: `MAJOR.MINOR`. A new minor only
 * adds (a message type, an optional field): a consumer dispatching on `type` and ignoring what it does not
 * know keeps working. A new major changes or removes something.
 */
export const PROTOCOL_VERSION = '1.1'

export const HelloFrame = Type.Object(
  {
    type: Type.Literal('hello'),
    protocol: Type.String({ description: `The protocol version the server speaks (\`MAJOR.MINOR\`, now ${PROTOCOL_VERSION}): a new minor only adds.` }),
    dag_id: Identifier,
    epoch: Type.String({ description: 'The log identity. Empty when the DAG has no events yet.' }),
    seq: Type.Integer({ minimum: 0, description: 'Head of the log when this connection joined.' }),
    recovered: Type.Boolean({
      description: 'true: the events after `since` follow, exactly. false: load the snapshot.'
    }),
    reason: Type.Optional(ResyncReason)
  },
  { additionalProperties: false, $id: 'HelloFrame', description: 'First frame on every connection.' }
)
export type HelloFrame = Static<typeof HelloFrame>

export const ResyncRequiredFrame = Type.Object(
  {
    type: Type.Literal('resync_required'),
    epoch: Type.String(),
    seq: Type.Integer({ minimum: 0 }),
    reason: ResyncReason
  },
  {
    additionalProperties: false,
    $id: 'ResyncRequiredFrame',
    description: 'The server cannot give this client a gapless stream from where it was: load the snapshot.'
  }
)
export type ResyncRequiredFrame = Static<typeof ResyncRequiredFrame>

export const AckFrame = Type.Object(
  { type: Type.Literal('ack'), id: Type.String() },
  { additionalProperties: false, $id: 'AckFrame', description: 'A client event with this id took effect.' }
)
export type AckFrame = Static<typeof AckFrame>

/** Every code a client can receive in an `error` control frame. */
export const ErrorCode = Type.Union(
  [
    Type.Literal('invalid_json'),
    Type.Literal('unsupported_binary'),
    Type.Literal('unknown_type'),
    Type.Literal('invalid_message'),
    Type.Literal('rate_limited'),
    Type.Literal('unauthorized'),
    Type.Literal('forbidden'),
    Type.Literal('dag_not_found'),
    Type.Literal('execution_finished'),
    Type.Literal('gate_not_waiting'),
    Type.Literal('gate_already_decided'),
    Type.Literal('not_handled'),
    Type.Literal('handler_failed'),
    Type.Literal('engine_unavailable'),
    Type.Literal('stream_not_found'),
    Type.Literal('decision_not_offered'),
    Type.Literal('invalid_value'),
    Type.Literal('producer_gap')
  ],
  {
    $id: 'ErrorCode',
    description:
      'engine_unavailable: the instance that drives the DAG (for a POSTed gate_viewing: that holds its stream) is gone or did not answer in time, or the run is stalled; the event did not take effect (a gate stays open), so it may be sent again. ' +
      'decision_not_offered: the gate\'s `presentation.decisions` does not list the decision. invalid_value: the decision\'s `value` does not match the gate\'s `response_schema` (`path` says where). ' +
      'stream_not_found (only by POST): no open event stream of this DAG has the `stream_key` sent; it ended, or the key is not one the server gave (for the engine API: no open command feed has the `feed` key, or no command with the `id` waits on it). ' +
      'producer_gap (only to an engine, by POST): a batch skipped numbers of its producer; `expected` says which to send next.'
  }
)
export type ErrorCode = Static<typeof ErrorCode>

export const ErrorFrame = Type.Object(
  {
    type: Type.Literal('error'),
    code: ErrorCode,
    message: Type.String(),
    id: Type.Optional(Type.String({ description: 'The id of the client event this answers, when it had one.' })),
    path: Type.Optional(Type.String({ description: 'invalid_value: the JSON Pointer of the part of `value` at fault (empty: the value itself).' }))
  },
  { additionalProperties: false, $id: 'ErrorFrame', description: 'A client event was refused. The socket stays open.' }
)
export type ErrorFrame = Static<typeof ErrorFrame>

// Presence: who watches the DAG and who has a gate open. Not part of the log (no `seq`): a client
// gets the whole picture right after hello, then deltas, coalesced per instance (`presenceFlushMs`);
// a change of more than 50 viewers comes as a new picture instead of a delta.

export const ViewerIdentity = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 256, description: 'Who the person is, as `identify` says: the same in every tab.' }),
    name: Type.Optional(Type.String({ maxLength: 256, description: 'What to show.' }))
  },
  {
    additionalProperties: true,
    $id: 'ViewerIdentity',
    description: 'What the plugin option `identify(request)` returned for a viewer: JSON, at most 2 KiB.'
  }
)
export type ViewerIdentity = Static<typeof ViewerIdentity>

export const PresenceViewer = Type.Object(
  {
    id: Type.String({ description: 'The viewer\'s connection: one per socket, stable while it lives.' }),
    identity: Type.Optional(ViewerIdentity),
    gate: Type.Union([Identifier, Type.Null()], { description: 'The node whose gate this viewer has open, or null.' })
  },
  { additionalProperties: false, $id: 'PresenceViewer', description: 'One socket watching the DAG, on any instance.' }
)
export type PresenceViewer = Static<typeof PresenceViewer>

export const PresenceFrame = Type.Object(
  {
    type: Type.Literal('presence'),
    self: Type.String({ description: 'The id of the receiving socket, first among `viewers`.' }),
    viewers: Type.Array(PresenceViewer, {
      maxItems: 50,
      description: 'At most 50 viewers: the receiving socket, then those with a gate open, then the others. `count` says how many there are.'
    }),
    count: Type.Integer({ minimum: 0, description: 'How many viewers watch the DAG, those not listed included.' })
  },
  {
    additionalProperties: false,
    $id: 'PresenceFrame',
    description: 'Who watches the DAG (the first 50, and how many), sent right after hello, and again in place of a change too large for a delta (more than 50 viewers joined, changed or left at once). Replaces everything the client held.'
  }
)
export type PresenceFrame = Static<typeof PresenceFrame>

export const PresenceDeltaFrame = Type.Object(
  {
    type: Type.Literal('presence_delta'),
    upserted: Type.Array(PresenceViewer, { description: 'Viewers who joined or changed, replacing what the client held for their id.' }),
    removed: Type.Array(Type.String(), { description: 'Ids of viewers who left (or whose instance died).' }),
    count: Type.Integer({ minimum: 0, description: 'How many viewers watch the DAG after this change.' })
  },
  {
    additionalProperties: false,
    $id: 'PresenceDeltaFrame',
    description: 'Who joined, changed gate or left since the last presence frame: at most 50 viewers, upserted and removed together (a larger change comes as a `presence` frame).'
  }
)
export type PresenceDeltaFrame = Static<typeof PresenceDeltaFrame>

export const ControlFrame = Type.Union(
  [HelloFrame, ResyncRequiredFrame, AckFrame, ErrorFrame, PresenceFrame, PresenceDeltaFrame],
  { $id: 'ControlFrame' }
)
export type ControlFrame = Static<typeof ControlFrame>

/** Anything a client can receive. A DAG event has `seq`; a control frame has none. */
export type ServerMessage = SequencedEvent | ControlFrame

// ---------------------------------------------------------------------------------------------
// Client events: client → server. `id` is the client's correlation and idempotency key.
// ---------------------------------------------------------------------------------------------

const ClientEventId = Type.Optional(
  Type.String({ minLength: 1, maxLength: 128, description: 'Correlation and idempotency key, echoed in ack/error.' })
)

export const HumanDecisionEvent = Type.Object(
  {
    type: Type.Literal('human_decision'),
    id: ClientEventId,
    node_id: Identifier,
    gate_id: Type.Optional(GateId),
    decision: Decision,
    feedback: Type.Optional(Type.String({ maxLength: 16_384 })),
    value: Type.Optional(DecisionValue)
  },
  { additionalProperties: false, $id: 'HumanDecisionEvent', description: 'A human decides a waiting gate.' }
)
export type HumanDecisionEvent = Static<typeof HumanDecisionEvent>

export const PauseExecutionEvent = Type.Object(
  { type: Type.Literal('pause_execution'), id: ClientEventId },
  { additionalProperties: false, $id: 'PauseExecutionEvent', description: 'Ask the engine to pause the run.' }
)
export const ResumeExecutionEvent = Type.Object(
  { type: Type.Literal('resume_execution'), id: ClientEventId },
  { additionalProperties: false, $id: 'ResumeExecutionEvent', description: 'Ask the engine to resume a paused run.' }
)
export const CancelExecutionEvent = Type.Object(
  { type: Type.Literal('cancel_execution'), id: ClientEventId },
  { additionalProperties: false, $id: 'CancelExecutionEvent', description: 'Ask the engine to cancel the run.' }
)

export const ClientEvent = Type.Union(
  [HumanDecisionEvent, PauseExecutionEvent, ResumeExecutionEvent, CancelExecutionEvent],
  { $id: 'ClientEvent' }
)
export type ClientEvent = Static<typeof ClientEvent>
export type ClientEventType = ClientEvent['type']

/**
 * Not a command: it only tells the others which gate this viewer has open (null: none), so they see
 * "reviewed by …" before anyone decides. Never acknowledged; the server forgets it with the socket.
 */
export const GateViewingEvent = Type.Object(
  { type: Type.Literal('gate_viewing'), node_id: Type.Union([Identifier, Type.Null()]) },
  { additionalProperties: false, $id: 'GateViewingEvent', description: 'This viewer opened the gate of `node_id`, or closed it (null).' }
)
export type GateViewingEvent = Static<typeof GateViewingEvent>

/** Everything a client may send on the socket: the commands, and its presence. */
export const ClientMessage = Type.Union([...ClientEvent.anyOf, GateViewingEvent], { $id: 'ClientMessage' })
export type ClientMessage = Static<typeof ClientMessage>

// ---------------------------------------------------------------------------------------------
// The event-stream fallback: its stream cannot carry client messages, so they come by POST. A
// command needs no more than the POST's own credentials; `gate_viewing` speaks for one stream, so it
// carries that stream's key, which only the stream's reader has (viewer ids are public: every viewer
// sees them in presence frames).
// ---------------------------------------------------------------------------------------------

export const EventStreamKey = Type.String({
  minLength: 3,
  maxLength: 200,
  pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
  description: 'An event stream\'s key (`<instance>.<secret>`), as its `stream` message gave it: send it back as is.'
})

export const EventStreamOpened = Type.Object(
  { key: EventStreamKey },
  {
    additionalProperties: false,
    $id: 'EventStreamOpened',
    description:
      'The data of the first message of an event stream, `event: stream`, before hello: the key that `gate_viewing` ' +
      'by POST must carry to speak for this stream. A secret: whoever has it can set this stream\'s gate.'
  }
)
export type EventStreamOpened = Static<typeof EventStreamOpened>

export const PostedGateViewingEvent = Type.Object(
  { ...GateViewingEvent.properties, stream_key: EventStreamKey },
  { additionalProperties: false, $id: 'PostedGateViewingEvent', description: '`gate_viewing` by POST, for the event stream whose key it carries.' }
)
export type PostedGateViewingEvent = Static<typeof PostedGateViewingEvent>

/** What `POST {prefix}/:id/commands` takes: a client event, or the gate an event stream's viewer has open. */
export const PostedMessage = Type.Union([...ClientEvent.anyOf, PostedGateViewingEvent], { $id: 'PostedMessage' })
export type PostedMessage = Static<typeof PostedMessage>
