// The HTTP engine API (option `engineApi`): an engine in any language drives a run with three routes.
//
//   POST {prefix}/:id/events   a producer's batch, `{ producer, events: [{ n, ...event }] }`. Each event
//                              is stored with its producer number in one step (backplane
//                              `appendProduced`): a retried batch is answered `duplicate` for what was
//                              stored, a skipped number is refused (409 `producer_gap`, `expected`).
//   GET  {prefix}/:id/engine   the command feed (lib/engine/feeds.ts): holding it makes this instance the
//                              run's driver and holds the engine lease.
//   POST {prefix}/:id/engine   `{ feed, id, ok, message? }`: the engine's answer to one command, on any
//                              instance; the dashboard that sent it gets `ack` or `error`.
//
// The guards are the rest of the plugin's: the engine's own credential (`engineApi.authorize`), a body
// limit, a rate limit per DAG, validation that names the field at fault, and answers without stack traces.

import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import type { OutgoingHttpHeaders } from 'node:http'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { ValueError } from '@sinclair/typebox/value'
import type { DAGEvent, ErrorCode, ErrorFrame } from '../../schemas/events.js'
import {
  EngineAnswer,
  EngineAnswerRoute,
  EngineEventsRoute,
  EngineFeedRoute,
  MAX_BATCH_EVENTS,
  ProducerId,
  type EventResult,
  type ProducerGapFrame
} from '../../schemas/engine.js'
import type { Backplane, ProducedAppend, ProducerStamp } from '../backplane/types.js'
import type { EngineFeeds } from '../engine/feeds.js'
import { AuthorizeFailedError, InvalidEventError } from '../errors.js'
import { isUnauthenticated, type Access } from '../access/authorize.js'
import type { ResolvedEngineApi } from '../options.js'
import { errorFrame } from '../stream/frames.js'
import { EVENT_STREAM_HEADERS } from '../stream/event-stream.js'
import { instanceOf } from '../stream/stream-keys.js'
import { describe } from '../validation.js'
import { isInvalidJsonBody } from './event-commands.js'
import { redactedLogSerializers as logSerializers } from './log.js'

export interface EngineApiDeps {
  prefix: string
  engineApi: ResolvedEngineApi
  backplane: Backplane
  feeds: EngineFeeds
  /** Checks an engine event: throws InvalidEventError naming the field. */
  validate(dagId: string, event: DAGEvent): DAGEvent
  /** Stores the checked events of a producer's batch (the plugin's metrics and output ordering included). */
  appendProduced(dagId: string, events: readonly DAGEvent[], stamp: ProducerStamp): Promise<ProducedAppend>
}

const isProducerId = TypeCompiler.Compile(ProducerId)
const answerCheck = TypeCompiler.Compile(EngineAnswer)

export function registerEngineApi (fastify: FastifyInstance, deps: EngineApiDeps): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { prefix, engineApi, backplane, feeds } = deps
  const limiter = new RequestWindow(engineApi.rateLimit)
  fastify.addHook('onClose', async () => limiter.close())

  /** The guards every route of the engine API passes; a refusal, or when the credentials end. */
  async function admit (request: FastifyRequest, dagId: string): Promise<ErrorFrame | { expiresAt: number | undefined }> {
    let access: Access
    try {
      access = await engineApi.authorize(request, dagId)
    } catch (error) {
      if (isUnauthenticated(error)) return errorFrame('unauthorized', 'The engine API needs the engine\'s credentials')
      request.log.error({ err: error, dagId }, 'fastify-dag-stream: engineApi.authorize failed')
      throw new AuthorizeFailedError()
    }
    if (!access.allowed) return errorFrame('forbidden', `These credentials may not drive DAG "${dagId}"`)
    if (!limiter.take(dagId)) return errorFrame('rate_limited', `Rate limited: at most ${engineApi.rateLimit.max} requests of the engine API per ${engineApi.rateLimit.timeWindow} ms for one DAG`)
    return { expiresAt: access.expiresAt }
  }

  const bodyRoute = {
    logSerializers,
    bodyLimit: engineApi.bodyLimit,
    // The body is checked here, event by event, so that an error names the event and its field (and
    // Ajv's removeAdditional never rewrites an event while it tries each member of the union).
    validatorCompiler: checkAllButBody,
    errorHandler: (error: { code?: string; validation?: unknown; message: string }, _request: FastifyRequest, reply: FastifyReply) => {
      if (isInvalidJsonBody(error)) return reply.code(400).send(errorFrame('invalid_json', 'The body is not valid JSON'))
      if (error.validation !== undefined) return reply.code(400).send(errorFrame('invalid_message', error.message))
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send(errorFrame('invalid_message', `The body is larger than ${engineApi.bodyLimit} bytes: send smaller batches`))
      /* c8 ignore next -- anything else is Fastify's to answer: BackplaneUnavailableError a 503 (nothing stored, send again), a bug a 500 */
      throw error
    }
  }

  app.post(
    `${prefix}/:id/events`,
    {
      ...bodyRoute,
      schema: { ...EngineEventsRoute, tags: ['engine'], summary: 'Store a batch of DAG events of one producer (the HTTP engine API)' }
    },
    async (request, reply) => {
      const dagId = request.params.id
      const admitted = await admit(request, dagId)
      if ('type' in admitted) return reply.code(refusalStatus(admitted)).send(admitted)
      const batch = parseBatch(request.body, (event) => deps.validate(dagId, event))
      if (!batch.ok) return reply.code(400).send(errorFrame('invalid_message', batch.message))
      const { producer, events } = batch
      // One step per chunk of the batch, in order: the backplane skips what the producer stored
      // already, and stores the producer's last number with the events.
      const drive = feeds.engine(dagId) !== undefined
      const outcome = await deps.appendProduced(dagId, events.map(({ event }) => event), { producer, first: (events[0] as { n: number }).n, drive })
      const results = outcome.stored.map((sequenced, index): EventResult => {
        const n = (events[index] as { n: number }).n
        return sequenced === undefined ? { n, duplicate: true } : { n, seq: sequenced.seq, epoch: sequenced.epoch }
      })
      if (outcome.gap === undefined) return { results }
      const refusedAt = (events[results.length] as { n: number }).n
      const gap: ProducerGapFrame = {
        ...errorFrame('producer_gap', `Producer "${producer}" must send number ${outcome.gap} next, not ${refusedAt}: send the batch again from ${outcome.gap}`),
        expected: outcome.gap,
        results
      }
      return reply.code(409).send(gap)
    }
  )

  app.get(
    `${prefix}/:id/engine`,
    {
      logSerializers,
      schema: { ...EngineFeedRoute, tags: ['engine'], summary: 'The command feed of the engine of a DAG (Server-Sent Events): decisions, pause, resume, cancel' }
    },
    async (request, reply) => {
      const dagId = request.params.id
      const admitted = await admit(request, dagId)
      if ('type' in admitted) return reply.code(refusalStatus(admitted)).send(admitted)
      reply.hijack()
      reply.raw.writeHead(200, { ...reply.getHeaders(), ...EVENT_STREAM_HEADERS } as OutgoingHttpHeaders)
      // The feed lives as long as the credentials that opened it.
      await feeds.open(dagId, reply.raw, admitted.expiresAt)
    }
  )

  app.post(
    `${prefix}/:id/engine`,
    {
      ...bodyRoute,
      schema: { ...EngineAnswerRoute, tags: ['engine'], summary: 'The engine\'s answer to one command of its feed' }
    },
    async (request, reply) => {
      const dagId = request.params.id
      const admitted = await admit(request, dagId)
      if ('type' in admitted) return reply.code(refusalStatus(admitted)).send(admitted)
      const body = request.body as unknown
      if (!answerCheck.Check(body)) {
        return reply.code(400).send(errorFrame('invalid_message', `answer: ${describe(answerCheck.Errors(body).First() as ValueError)}`))
      }
      const outcome = await backplane.sendToInstance(instanceOf(body.feed), { dagId, streamKey: body.feed, message: body })
      if (outcome.ok) return reply.code(204).send(null)
      const frame = errorFrame(outcome.code, outcome.message)
      return reply.code(statusOfAnswer(outcome.code)).send(frame)
    }
  )
}

/** The status of a request the guards refused. */
function refusalStatus (frame: ErrorFrame): 401 | 403 | 429 {
  return frame.code === 'unauthorized' ? 401 : frame.code === 'forbidden' ? 403 : 429
}

/** A refused answer: 404 when nothing waits for it; 503 when the feed's instance is gone or silent. */
function statusOfAnswer (code: ErrorCode): 404 | 503 {
  /* c8 ignore next -- 503: the feed's instance did not answer within commandTimeoutMs (Redis, an instance that hangs) */
  return code === 'stream_not_found' ? 404 : 503
}

type ParsedBatch =
  | { ok: true; producer: string; events: Array<{ n: number; event: DAGEvent }> }
  | { ok: false; message: string }

/** The batch, each event checked as `broadcast` checks it, or the first fault, named. */
function parseBatch (body: unknown, validate: (event: DAGEvent) => DAGEvent): ParsedBatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, message: 'The body must be { producer, events: [...] }' }
  const { producer, events, ...rest } = body as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) return { ok: false, message: `"${extra}" is not a field of a batch: { producer, events }` }
  if (!isProducerId.Check(producer)) return { ok: false, message: `"producer" must be 1 to 128 letters, digits or . _ : ~ -, got ${JSON.stringify(producer) ?? 'nothing'}` }
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_BATCH_EVENTS) {
    return { ok: false, message: `"events" must be an array of 1 to ${MAX_BATCH_EVENTS} events` }
  }
  const parsed: Array<{ n: number; event: DAGEvent }> = []
  for (const [index, item] of events.entries()) {
    if (typeof item !== 'object' || item === null) return { ok: false, message: `"events.${index}" must be an event object` }
    const { n, ...event } = item as Record<string, unknown>
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return { ok: false, message: `"events.${index}.n" must be the event's producer number, an integer from 1` }
    const previous = parsed[index - 1]
    if (previous !== undefined && n !== previous.n + 1) return { ok: false, message: `"events.${index}.n" must be ${previous.n + 1}: the numbers of a batch follow each other` }
    try {
      parsed.push({ n, event: validate(event as DAGEvent) })
    } catch (error) {
      /* c8 ignore next -- only InvalidEventError: the DAG id passed the route's schema already */
      if (!(error instanceof InvalidEventError)) throw error
      return { ok: false, message: `"events.${index}": ${invalidEventDetail(error.message)}` }
    }
  }
  return { ok: true, producer, events: parsed }
}

/** InvalidEventError says 'Invalid DAG event for "<dag>": <detail>': the detail is what the engine needs. */
function invalidEventDetail (message: string): string {
  return message.slice(message.indexOf('": ') + 3)
}

/** Requests per DAG in the current window: counters cleared every window, so they never outgrow it. */
class RequestWindow {
  readonly #max: number
  readonly #counts = new Map<string, number>()
  readonly #timer: NodeJS.Timeout

  constructor ({ max, timeWindow }: { max: number; timeWindow: number }) {
    this.#max = max
    this.#timer = setInterval(() => this.#counts.clear(), timeWindow)
    this.#timer.unref()
  }

  take (dagId: string): boolean {
    const count = (this.#counts.get(dagId) ?? 0) + 1
    this.#counts.set(dagId, count)
    return count <= this.#max
  }

  close (): void {
    clearInterval(this.#timer)
  }
}

// Fastify hands a validator compiler one part of the request at a time (params, body …): the params
// are checked by TypeBox, the body by the handler.
const checkAllButBody: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart === 'body') return () => true
  return (TypeBoxValidatorCompiler as FastifySchemaCompiler<unknown>)(route)
}
