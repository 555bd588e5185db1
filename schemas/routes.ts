// Request and response schemas of the plugin's routes. The route definitions in lib/plugin.ts use
// these directly, so validation, types and the OpenAPI document agree by construction.

import { Type, type Static } from '@sinclair/typebox'
import { AckFrame, ErrorFrame, ExecutionStatus, Identifier, PostedMessage } from './events.js'
import { DAGSnapshot, DAGSummary } from './snapshot.js'

export const DAGParams = Type.Object({ id: Identifier })
export type DAGParams = Static<typeof DAGParams>

export const StreamQuery = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 0, description: 'The last seq this client applied.' })),
    epoch: Type.Optional(Type.String({ maxLength: 128, description: 'The epoch that seq belongs to.' }))
  },
  // Other parameters are the application's (an access token, say): kept for `authorize` to read.
  { additionalProperties: true }
)
export type StreamQuery = Static<typeof StreamQuery>

// Query parameters take `enum` rather than a union of literals, so that a wrong value gets one error
// that lists the allowed values instead of one "must be equal to constant" per member.
export const ListOrder = Type.Unsafe<'newest' | 'oldest'>({
  type: 'string',
  enum: ['newest', 'oldest'],
  description: 'By the time of the last event: newest first (a dashboard\'s run list) or oldest first.'
})
export type ListOrder = Static<typeof ListOrder>

const StatusParameter = Type.Unsafe<ExecutionStatus>({ type: 'string', enum: ExecutionStatus.anyOf.map((member) => member.const) })

export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    // Bounded so that every backplane takes it as it is (Redis reads 1e21 as no integer at all): one
    // 400 for a bad offset, on memory and on Redis alike.
    offset: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
    order: Type.Optional(ListOrder),
    status: Type.Optional(
      Type.Array(StatusParameter, {
        minItems: 1,
        uniqueItems: true,
        description: 'Only DAGs in one of these statuses; repeat the parameter for several (status=running&status=paused).'
      })
    )
  },
  // Other parameters are the application's (an access token, say: a browser's WebSocket cannot send
  // headers, and the live list is this route upgraded): kept for `authorize` to read.
  { additionalProperties: true }
)
export type ListQuery = Static<typeof ListQuery>

export const DAGList = Type.Object(
  {
    dags: Type.Array(DAGSummary),
    total: Type.Integer({
      minimum: 0,
      description: 'How many DAGs of every instance match the status filter, before paging and authorization.'
    }),
    limit: Type.Integer(),
    offset: Type.Integer(),
    order: ListOrder
  },
  { $id: 'DAGList' }
)
export type DAGList = Static<typeof DAGList>

/** The body of every error response of the plugin's routes (Fastify's own error shape). */
export const HttpError = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.Optional(Type.String()),
    error: Type.String(),
    message: Type.String()
  },
  { $id: 'HttpError' }
)
export type HttpError = Static<typeof HttpError>

export const SnapshotRoute = {
  params: DAGParams,
  response: { 200: DAGSnapshot, 401: HttpError, 403: HttpError, 404: HttpError, 503: HttpError }
} as const

export const ListRoute = {
  querystring: ListQuery,
  response: { 200: DAGList, 400: HttpError, 401: HttpError, 503: HttpError }
} as const

/** The upgrade's refusals, all before the 101 (the WebSocket route is described by the AsyncAPI document). */
export const StreamRoute = {
  params: DAGParams,
  querystring: StreamQuery,
  response: { 401: HttpError, 403: HttpError, 429: HttpError, 503: HttpError }
} as const

export const EventStreamHeaders = Type.Object(
  {
    'last-event-id': Type.Optional(
      Type.String({
        maxLength: 160,
        description: 'The id of the last event received (`<epoch>:<seq>`), which a browser\'s EventSource sends when it reconnects. Wins over `since`/`epoch`.'
      })
    )
  },
  { additionalProperties: true }
)

/**
 * The Server-Sent Events fallback: the same frames as the WebSocket stream (see the AsyncAPI document),
 * one SSE message each. Its refusals come before the stream starts, as HTTP errors.
 */
export const EventStreamRoute = {
  params: DAGParams,
  querystring: StreamQuery,
  headers: EventStreamHeaders,
  response: {
    200: {
      description:
        'A text/event-stream. First `event: stream` + `data: <EventStreamOpened JSON>`: the stream\'s key, which a ' +
        '`gate_viewing` POSTed for this stream carries. Then each DAG event as `id: <epoch>:<seq>` + `data: <SequencedEvent JSON>`; hello and ' +
        'resync_required as `data:` without id; `: heartbeat` comments; a last `event: close` whose data is ' +
        '`{"code","reason"}` with the WebSocket close code (reconnect or not as for the WebSocket).',
      content: { 'text/event-stream': { schema: Type.String() } }
    },
    401: HttpError,
    403: HttpError,
    429: HttpError,
    503: HttpError
  }
} as const

/**
 * Client events over HTTP, for event-stream clients: the answer is the `ack` or `error` frame the WebSocket
 * would send. `gate_viewing` (which a WebSocket never acks) is answered 204 with no body.
 */
export const CommandRoute = {
  params: DAGParams,
  // Other parameters are the application's (an access token, say): kept for `authorize` to read.
  querystring: Type.Object({}, { additionalProperties: true }),
  body: PostedMessage,
  response: {
    200: AckFrame,
    204: Type.Null({ description: '`gate_viewing` took effect: the others see the gate open with this stream\'s viewer.' }),
    400: ErrorFrame,
    401: ErrorFrame,
    403: ErrorFrame,
    404: ErrorFrame,
    409: ErrorFrame,
    422: ErrorFrame,
    429: ErrorFrame,
    503: ErrorFrame
  }
} as const
