// The HTTP engine API: what an engine in any language sends and receives (lib/http/engine-api.ts).
//
//   POST {prefix}/:id/events   a producer's batch of DAG events, each with its number in that producer's
//                              sequence; answered with each event's position
//   GET  {prefix}/:id/engine   the command feed (Server-Sent Events): decisions, pause / resume / cancel
//   POST {prefix}/:id/engine   the engine's answer to one command of the feed

import { Type, type Static } from '@sinclair/typebox'
import { ClientEvent, DAGEvent, ErrorFrame, StreamPosition } from './events.js'
import { DAGParams, HttpError } from './routes.js'

/** Events in one batch, at most: a batch is one request, bounded like any other body. */
export const MAX_BATCH_EVENTS = 1000

export const ProducerId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._:~-]+$',
  description: 'Who sends the batch: one id per engine process (or per thread that numbers its own events).'
})

const ProducerNumber = Type.Object({
  n: Type.Integer({
    minimum: 1,
    description: "The event's number in its producer's sequence: 1, 2, 3 … without gaps (a producer new to the DAG's log may start anywhere)."
  })
})

/** A DAG event as an engine POSTs it: the event plus its producer number `n`. */
export const NumberedEvent = Type.Union(
  DAGEvent.anyOf.map((event) =>
    Type.Composite([event, ProducerNumber], { additionalProperties: false, $id: `Numbered${event.$id}`, description: event.description })
  ),
  { $id: 'NumberedEvent' }
)
export type NumberedEvent = DAGEvent & { n: number }

export const EngineEventsBody = Type.Object(
  {
    producer: ProducerId,
    events: Type.Array(NumberedEvent, {
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      description: 'In order; their `n` must follow each other (5, 6, 7).'
    })
  },
  { additionalProperties: false, $id: 'EngineEventsBody' }
)
export type EngineEventsBody = Static<typeof EngineEventsBody>

export const EventResult = Type.Union(
  [
    Type.Object({ n: Type.Integer(), ...StreamPosition.properties }, { additionalProperties: false, description: 'Stored at this position.' }),
    Type.Object(
      { n: Type.Integer(), duplicate: Type.Literal(true) },
      { additionalProperties: false, description: 'Stored already (a retried batch): not applied again.' }
    )
  ],
  { $id: 'EventResult' }
)
export type EventResult = Static<typeof EventResult>

export const EngineEventsReply = Type.Object(
  { results: Type.Array(EventResult, { description: 'One per event, in order.' }) },
  { additionalProperties: false, $id: 'EngineEventsReply' }
)
export type EngineEventsReply = Static<typeof EngineEventsReply>

export const ProducerGapFrame = Type.Composite(
  [
    ErrorFrame,
    Type.Object({
      expected: Type.Integer({ description: 'The number the producer must send next: resend from it.' }),
      results: Type.Array(EventResult, { description: 'The events of the batch before the gap, stored.' })
    })
  ],
  { additionalProperties: false, $id: 'ProducerGapFrame', description: '`code: producer_gap`: a number is missing before this batch.' }
)
export type ProducerGapFrame = Static<typeof ProducerGapFrame>

export const EngineEventsRoute = {
  params: DAGParams,
  body: EngineEventsBody,
  response: { 200: EngineEventsReply, 400: ErrorFrame, 401: ErrorFrame, 403: ErrorFrame, 409: ProducerGapFrame, 429: ErrorFrame, 503: HttpError }
}

// ---------------------------------------------------------------------------------------------
// The command feed
// ---------------------------------------------------------------------------------------------

export const EngineFeedOpened = Type.Object(
  {
    feed: Type.String({ description: 'The key that answers of this feed carry: only its reader learns it.' }),
    lease_ms: Type.Integer({ description: 'A feed that is gone this long makes the run `stalled`.' })
  },
  { additionalProperties: false, $id: 'EngineFeedOpened', description: 'First message of the feed (`event: feed`).' }
)
export type EngineFeedOpened = Static<typeof EngineFeedOpened>

/** A command as the feed carries it (`event: command`): the client event, its id always set, and who sent it. */
export const EngineCommand = Type.Union(
  ClientEvent.anyOf.map((event) =>
    Type.Composite(
      [event, Type.Object({ id: Type.String(), sender: Type.Optional(Type.Unknown({ description: "What the plugin's `describeSender` said of the human." })) })],
      { additionalProperties: false, $id: `Engine${event.$id}`, description: event.description }
    )
  ),
  { $id: 'EngineCommand' }
)
export type EngineCommand = ClientEvent & { id: string; sender?: unknown }

export const EngineAnswer = Type.Object(
  {
    feed: Type.String({ minLength: 1, maxLength: 256, description: 'The key of the feed that carried the command.' }),
    id: Type.String({ minLength: 1, maxLength: 128, description: 'The id of the command.' }),
    ok: Type.Boolean({ description: 'true: done (the dashboard gets `ack`); false: refused.' }),
    message: Type.Optional(Type.String({ maxLength: 1024, description: 'Why it was refused, shown to the user (`handler_failed`).' }))
  },
  { additionalProperties: false, $id: 'EngineAnswer' }
)
export type EngineAnswer = Static<typeof EngineAnswer>

export const EngineFeedRoute = {
  params: DAGParams
}

export const EngineAnswerRoute = {
  params: DAGParams,
  body: EngineAnswer,
  response: { 204: Type.Null(), 400: ErrorFrame, 401: ErrorFrame, 403: ErrorFrame, 404: ErrorFrame, 429: ErrorFrame, 503: ErrorFrame }
}
