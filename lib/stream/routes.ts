// A DAG's stream, over a WebSocket or, for networks that break WebSockets, as Server-Sent Events with
// client events by POST: both served by the same Connection (lib/stream/connection.ts, lib/stream/event-stream.ts).

import type { OutgoingHttpHeaders } from 'node:http'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import type { AckFrame, ErrorFrame } from '../../schemas/events.js'
import { CommandRoute, EventStreamRoute, StreamRoute } from '../../schemas/routes.js'
import type { StreamAccess } from '../access/pre-handlers.js'
import type { Backplane } from '../backplane/types.js'
import { CloseCode } from '../shared/close-codes.js'
import type { Commands } from '../commands/commands.js'
import { Connection, type ConnectionOptions } from './connection.js'
import type { CredentialChecks } from '../access/credential-checks.js'
import { commandFromBody, commandStatus, isInvalidJsonBody } from '../http/event-commands.js'
import { EVENT_STREAM_HEADERS, EventStreamSocket, parseEventId, type StreamSocket } from './event-stream.js'
import { errorFrame } from './frames.js'
import { logProtocolError, redactedLogSerializers as logSerializers } from '../http/log.js'
import { answerRouteError } from '../http/route-errors.js'
import { refusalReasonOf, type Metrics } from '../metrics/metrics.js'
import type { ResolvedOptions } from '../options.js'
import type { Presence } from './presence.js'
import type { Rooms } from '../rooms.js'
import type { StreamKeys } from './stream-keys.js'

export interface StreamRouteDeps {
  options: Pick<ResolvedOptions, 'prefix' | 'maxPayload' | 'maxBufferedBytes' | 'rateLimit' | 'maxQueuedEvents'>
  backplane: Backplane
  metrics: Metrics
  access: StreamAccess
  credentials: CredentialChecks
  rooms: Rooms<Connection>
  presence: Presence | undefined
  streamKeys: StreamKeys
  commands: Commands
}

export function registerStreamRoutes (fastify: FastifyInstance, deps: StreamRouteDeps): void {
  const { options, backplane, metrics, access, credentials, rooms, presence, streamKeys, commands } = deps
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { prefix } = options
  // Every refusal before a stream opens is an error that ends here.
  const countRefusal = async (_request: FastifyRequest, _reply: unknown, error: Error) => metrics.upgradeRefused(refusalReasonOf(error))

  app.get(
    `${prefix}/:id/stream`,
    {
      logSerializers,
      schema: StreamRoute,
      websocket: true,
      onRequest: async (request, reply) => access.checkUpgrade(request, reply),
      preHandler: async (request) => access.admitStream(request, request.params.id),
      errorHandler: answerRouteError,
      onError: countRefusal
    },
    async (socket, request) => {
      access.upgradeLeftovers.release(socket, request, logProtocolError)
      await openStream(socket, request, request.params.id, request.query)
    }
  )

  app.get(
    `${prefix}/:id/events`,
    {
      logSerializers,
      schema: { ...EventStreamRoute, tags: ['dags'], summary: 'The DAG stream as Server-Sent Events, for networks that break WebSockets' },
      onRequest: async (request, reply) => access.checkEventStream(request, reply),
      preHandler: async (request) => access.admitStream(request, request.params.id),
      errorHandler: answerRouteError,
      onError: countRefusal
    },
    async (request, reply) => {
      // The stream is written by the connection, not by Fastify; headers set by hooks (CORS) stay.
      reply.hijack()
      reply.raw.writeHead(200, { ...reply.getHeaders(), ...EVENT_STREAM_HEADERS } as OutgoingHttpHeaders)
      // A browser's EventSource resumes with Last-Event-ID; a client that cannot set headers, with the query.
      const lastEventId = request.headers['last-event-id']
      const resumeFrom = lastEventId === undefined ? request.query : resumeAfter(parseEventId(lastEventId))
      await openStream(new EventStreamSocket(reply.raw, streamKeys.create()), request, request.params.id, resumeFrom)
    }
  )

  app.post(
    `${prefix}/:id/commands`,
    {
      logSerializers,
      schema: { ...CommandRoute, tags: ['dags'], summary: 'Send a client event (the event-stream fallback\'s way to decide gates, pause, resume, cancel)' },
      // A client event is a frame of the WebSocket sent another way: no larger than one.
      bodyLimit: options.maxPayload,
      // Before the body is read, let alone parsed: a foreign page's body costs nothing.
      onRequest: async (request, reply) => {
        try {
          access.checkOrigin(request)
        } catch (error) {
          return reply.code(403).send(errorFrame('forbidden', (error as Error).message))
        }
      },
      // The answer is always the frame a WebSocket would get (invalid_message …), not Fastify's 400.
      attachValidation: true,
      // Not Fastify's Ajv, whose `removeAdditional` strips the body's fields while it tries each member of
      // the union (a gate_viewing lost its node_id to pause_execution's shape): TypeBox checks, never changes.
      validatorCompiler: checkWithTypeBox,
      errorHandler: (error, request, reply) => {
        if (!isInvalidJsonBody(error)) return answerRouteError(error, request, reply)
        return reply.code(400).send(errorFrame('invalid_json', 'The message is not valid JSON'))
      }
    },
    async (request, reply) => {
      const answer = await answerCommand(request, request.params.id)
      // Only gate_viewing goes unanswered when it takes effect: a WebSocket never acks it either.
      if (answer === undefined) return reply.code(204).send(null)
      return reply.code(commandStatus(answer)).send(answer)
    }
  )

  // One object for every connection, not one (and three closures) per socket: see "Memory per idle
  // connection" in bench/README.md.
  const connectionOptions: ConnectionOptions = {
    maxPayload: options.maxPayload,
    maxBufferedBytes: options.maxBufferedBytes,
    rateLimit: options.rateLimit,
    maxQueuedEvents: options.maxQueuedEvents,
    metrics,
    onClose: (closed) => {
      credentials.forget(closed)
      rooms.leave(closed.dagId, closed)
      presence?.leave(closed)
      if (closed.socket instanceof EventStreamSocket) streamKeys.remove(closed.socket.key)
    },
    runCommand: (event, from) => metrics.command(event.type, () => commands.run(event, from)),
    onGateViewing: (from, nodeId) => presence?.viewGate(from, nodeId)
  }

  /** Joins the DAG's room, replays from `since` (within `epoch`) or says to resync, and goes live. */
  async function openStream (socket: StreamSocket, request: FastifyRequest, dagId: string, { since, epoch }: { since?: number; epoch?: string }): Promise<void> {
    const admission = access.takeAdmission(request)
    const connection = new Connection(socket, request, dagId, connectionOptions)
    // Before its hello, after which its reader may POST gate_viewing with the key.
    if (socket instanceof EventStreamSocket) streamKeys.add(socket.key, connection)
    credentials.expireAt(connection, admission.expiresAt)
    try {
      // Join before reading the log: whatever is appended while the replay is read waits in the
      // connection, and the hand-off drops what the replay already covered.
      await rooms.join(dagId, connection)
      const replay = await backplane.replay(dagId, since === undefined ? undefined : { epoch: epoch ?? '', seq: since })
      if (since !== undefined) metrics.resumed(replay)
      connection.start(replay)
      // The replay may have closed it (a slow consumer): a closed socket is no viewer.
      if (presence !== undefined && connection.socket.readyState === connection.socket.OPEN) await presence.join(connection, admission.identity)
    } catch (error) {
      connection.log.error({ err: error }, 'fastify-dag-stream: could not start the stream')
      connection.close(CloseCode.INTERNAL_ERROR, 'could not read the DAG log')
    }
  }

  /**
   * What a client event sent by POST is answered: the ack or error frame its WebSocket would get;
   * nothing for a gate_viewing that took effect.
   */
  async function answerCommand (request: FastifyRequest, dagId: string): Promise<AckFrame | ErrorFrame | undefined> {
    const parsed = commandFromBody(request.body, request.validationError)
    if (!parsed.ok) return parsed.answer
    const log = request.log.child({ dagId, connectionId: request.id })
    const from = { dagId, request, id: String(request.id), log }
    const { event } = parsed
    // Not a command, as on a WebSocket: not counted among them.
    if (event.type === 'gate_viewing') return commands.run(event, from)
    const answer = await metrics.command(event.type, () => commands.run(event, from))
    // Every event POSTed has an id (commandFromBody gives one to those without), so run always answers.
    return answer as AckFrame | ErrorFrame
  }
}

/** Where a Last-Event-ID resumes: after its event, or (an id that is not ours) from nothing: the start of the log if kept, else a resync. */
/**
 * The position a Last-Event-ID names. One that is not ours names none: the client is given the state
 * from the start (a snapshot), not taken for one that saw an empty log (`since=0`, no epoch), which
 * would be continued into the run's whole history.
 */
function resumeAfter (lastEvent: { epoch: string; seq: number } | undefined): { since?: number; epoch?: string } {
  return lastEvent === undefined ? {} : { since: lastEvent.seq, epoch: lastEvent.epoch }
}

// Fastify hands a validator compiler the schema of one part of the request at a time (params, body …),
// which its types do not say: TypeBox's compiler takes exactly that.
const checkWithTypeBox = TypeBoxValidatorCompiler as FastifySchemaCompiler<unknown>
