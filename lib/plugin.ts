// Fastify wiring: options, the routes (REST, the WebSocket stream and its Server-Sent Events fallback), the
// `dagStream` decorator, the heartbeat and shutdown. The path of one event: engine → broadcast (validate) →
// backplane (seq, reducer, history, serialize once) → rooms → each connection (backpressure) → the socket.

import type { OutgoingHttpHeaders } from 'node:http'
import websocket from '@fastify/websocket'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyRequest, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import fp from 'fastify-plugin'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { AckFrame, DAGEvent, ErrorFrame, SequencedEvent, ViewerIdentity } from '../schemas/events.js'
import { Identifier } from '../schemas/events.js'
import { CommandRoute, EventStreamRoute, ListRoute, SnapshotRoute, StreamRoute } from '../schemas/routes.js'
import type { DAGSnapshot } from '../schemas/snapshot.js'
import { buildAsyncApiDocument } from './asyncapi.js'
import { CloseCode } from './close-codes.js'
import { createCommands, type ClientEventHandler } from './commands.js'
import { Connection, type ConnectionOptions } from './connection.js'
import { commandFromBody, commandStatus, isInvalidJsonBody } from './event-commands.js'
import { EVENT_STREAM_HEADERS, EventStreamSocket, parseEventId, type StreamSocket } from './event-stream.js'
import {
  BackplaneUnavailableError,
  DagNotFoundError,
  ForbiddenError,
  InvalidDagIdError,
  InvalidEventError,
  OriginNotAllowedError
} from './errors.js'
import { errorFrame } from './frames.js'
import { ConnectionLimits } from './limits.js'
import { redactedRequest } from './log.js'
import { HeartbeatSchedule } from './heartbeat.js'
import { createMetrics, refusalReasonOf } from './metrics.js'
import { expiryTimer, isUnauthenticated, MAX_FRAGMENTS, resolveOptions, type Access, type Action, type DagStreamOptions } from './options.js'
import { OutputStreams, pipeOutput, type OutputWriter } from './output.js'
import { Presence } from './presence.js'
import { Rooms } from './rooms.js'
import { StreamKeys } from './stream-keys.js'
import { UpgradeLeftovers } from './upgrade.js'
import { ListConnection, LiveLists } from './live-list.js'
import { acceptedEncodings, SnapshotCache } from './snapshots.js'
import { UnusedConnections } from './unused-connections.js'
import { validateDagEvent } from './validation.js'

/** The `app.dagStream` decorator: what the execution engine calls. */
export interface DagStream {
  /**
   * Validates `event`, numbers it, applies it to the DAG's state and sends it to every dashboard
   * watching `dagId`, on every instance. Throws at once (InvalidEventError, naming the field) if the
   * event is malformed. The returned promise resolves with the event as delivered, or rejects with
   * BackplaneUnavailableError when Redis cannot be reached; ignoring it is safe (a failure is logged
   * and never becomes an unhandled rejection). Calls for one DAG take effect in call order, awaited
   * or not.
   * @example app.dagStream.broadcast('run-42', { type: 'node_state', node_id: 'fetch', status: 'running' })
   */
  broadcast(dagId: string, event: DAGEvent): Promise<SequencedEvent>
  /** The DAG's state as `GET {prefix}/:id` returns it, or undefined for an unknown DAG. */
  snapshot(dagId: string): Promise<DAGSnapshot | undefined>
  /**
   * Receives human decisions and pause/resume/cancel from dashboards, on the instance that drives the
   * DAG (the last one that broadcast to it), wherever the dashboard is connected. Returns the
   * unsubscribe function.
   * @example app.dagStream.onClientEvent(async (event, { dagId }) => engine.handle(dagId, event))
   */
  onClientEvent(handler: ClientEventHandler): () => void
  /** Open streams on this instance, for one DAG or all. */
  connections(dagId?: string): number
  /**
   * The text a node generates while it runs (an LLM's tokens), shown live in dashboards as the node's
   * `partial_output`. Writes are gathered and sent as one `node_output_delta` per `outputFlushMs` at most;
   * `end()` sends the rest at once. Any later broadcast about the node (its final `node_state`) first
   * sends what is waiting, so the order is kept. With `source`, writes every string it yields, then ends.
   * @example
   * const output = app.dagStream.streamOutput('run-42', 'summarise')
   * for await (const token of llm.stream(prompt)) output.write(token)
   * await output.end()
   */
  streamOutput(dagId: string, nodeId: string): OutputWriter
  streamOutput(dagId: string, nodeId: string, source: AsyncIterable<string> | Iterable<string>): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    dagStream: DagStream
  }
}

const isIdentifier = TypeCompiler.Compile(Identifier)

const dagStreamPlugin: FastifyPluginAsync<DagStreamOptions> = async (fastify, rawOptions) => {
  const options = resolveOptions(rawOptions)
  const handlers = new Set<ClientEventHandler>()
  // First: when prom-client is missing or a name is taken, registration fails before anything starts.
  const metrics = await createMetrics(options.metrics, {
    connections: (dagId) => rooms.count(dagId),
    rooms: () => rooms.size,
    listConnections: () => liveLists.size
  })
  fastify.addHook('onClose', async () => metrics.close())

  function broadcast (dagId: string, event: DAGEvent): Promise<SequencedEvent> {
    if (!isIdentifier.Check(dagId)) throw new InvalidDagIdError(JSON.stringify(dagId))
    const validation = validateDagEvent(event)
    if (!validation.ok) throw new InvalidEventError(dagId, validation.message)
    // Text written for this node before this event goes first.
    const nodeId = 'node_id' in event ? event.node_id : undefined
    if (nodeId !== undefined && event.type !== 'node_output_delta') outputs.flushQuietly(dagId, nodeId)
    const startedAt = metrics.broadcastStarting(dagId)
    const appended = backplane.append(dagId, validation.value)
    // The one reaction to the append (a reaction per broadcast costs more than anything the metrics
    // do with it). It marks the promise handled, so a caller that ignores it never sees an unhandled
    // rejection; a caller that awaits it still gets the error. An outage is logged once by the
    // backplane, not once per broadcast.
    appended.then(
      (sequenced) => metrics.broadcast(dagId, validation.value, sequenced, startedAt),
      (error: unknown) => {
        metrics.broadcastFailed(dagId)
        if (!(error instanceof BackplaneUnavailableError)) fastify.log.error({ err: error, dagId }, 'fastify-dag-stream: broadcast failed')
      }
    )
    return appended
  }

  const outputs = new OutputStreams({ broadcast, flushMs: options.outputFlushMs })

  function streamOutput (dagId: string, nodeId: string): OutputWriter
  function streamOutput (dagId: string, nodeId: string, source: AsyncIterable<string> | Iterable<string>): Promise<void>
  function streamOutput (dagId: string, nodeId: string, source?: AsyncIterable<string> | Iterable<string>): OutputWriter | Promise<void> {
    if (!isIdentifier.Check(dagId)) throw new InvalidDagIdError(JSON.stringify(dagId))
    const validation = validateDagEvent({ type: 'node_output_delta', node_id: nodeId, delta: ' ' })
    if (!validation.ok) throw new InvalidEventError(dagId, validation.message)
    const writer = outputs.open(dagId, nodeId)
    return source === undefined ? writer : pipeOutput(source, writer)
  }

  const commands = createCommands({
    backplane: () => backplane,
    authorize: options.authorize,
    describeSender: options.describeSender,
    handlers,
    broadcast,
    leaseMs: options.commandTimeoutMs,
    log: fastify.log
  })
  const backplane = options.backplane.create({
    historySize: options.historySize,
    retainFinishedMs: options.retainFinishedMs,
    maxIdleMs: options.maxIdleMs,
    commandTimeoutMs: options.commandTimeoutMs,
    execute: commands.execute,
    receiveStreamMessage: (message) => streamKeys.receive(message),
    log: fastify.log
  })
  const streamKeys = new StreamKeys(backplane.instanceId)
  const rooms = new Rooms<Connection>(backplane, metrics)
  const presence = options.presence ? new Presence({ store: backplane.presence, flushMs: options.presenceFlushMs, log: fastify.log }) : undefined
  const liveLists = new LiveLists(backplane)
  const snapshots = new SnapshotCache(backplane, options.snapshotCacheBytes)
  fastify.addHook('onClose', async () => backplane.close())
  try {
    await backplane.ready()
  } catch (error) {
    // Registration fails loudly when the backplane cannot serve (Redis unreachable at boot), and
    // leaves no connection retrying behind, whether or not the application closes the app.
    await backplane.close()
    metrics.close()
    throw error
  }

  fastify.decorate('dagStream', {
    broadcast,
    snapshot: (dagId: string) => backplane.snapshot(dagId),
    onClientEvent (handler: ClientEventHandler) {
      if (typeof handler !== 'function') throw new TypeError('onClientEvent expects a function (event, context) => void')
      handlers.add(handler)
      return () => {
        handlers.delete(handler)
      }
    },
    connections: (dagId?: string) => rooms.count(dagId),
    streamOutput
  } satisfies DagStream)

  // ---------------------------------------------------------------------------------------------
  // Shutdown. Added before @fastify/websocket registers, so its preClose (which closes sockets
  // without a code) runs after ours and every client learns it should reconnect (1001).
  // ---------------------------------------------------------------------------------------------
  const unusedConnections = new UnusedConnections(fastify.server)
  fastify.addHook('preClose', async () => {
    // Text still waiting reaches the log while the backplane is open.
    await outputs.close()
    for (const connection of rooms.members()) connection.close(CloseCode.GOING_AWAY, 'server shutting down')
    for (const list of [...liveLists.members()]) list.close(CloseCode.GOING_AWAY, 'server shutting down')
    // The viewers of the sockets just closed leave the other instances' view now, not at their expiry.
    await presence?.close()
    // Last, so that it also ends those opened meanwhile (a Node client whose event stream was just
    // closed may open one): server.close() follows before the event loop turns, so before another can
    // be accepted, unless a preClose hook added after this plugin waits for I/O.
    unusedConnections.end()
  })
  fastify.addHook('onClose', async () => {
    clearInterval(heartbeat)
  })

  const registersWebsocket = !fastify.hasDecorator('websocketServer')
  if (registersWebsocket) {
    await fastify.register(websocket, {
      options: { maxPayload: options.maxPayload, maxFragments: MAX_FRAGMENTS },
      // Not @fastify/websocket's default, which terminates the socket: see logProtocolError.
      errorHandler: (error, _socket, request) => logProtocolError(request.log, error)
    })
  }

  // ---------------------------------------------------------------------------------------------
  // Heartbeat: one timer for all sockets, not one per socket, each due in its slice of the interval
  // (lib/heartbeat.ts). Each socket's beat also asks `authorize` again,
  // so a revoked permission or an expired token ends the stream instead of lasting as long as it.
  // ---------------------------------------------------------------------------------------------
  const heartbeatSchedule = new HeartbeatSchedule(options.heartbeatMs)
  const heartbeat = setInterval(() => {
    heartbeatSchedule.advance()
    for (const connection of rooms.members()) {
      if (heartbeatSchedule.isDue(connection) && connection.heartbeat()) checkStillAllowed(connection)
    }
    // A list socket asks `authorize` for every frame it sends: the tick only checks that it is alive.
    for (const list of [...liveLists.members()]) {
      if (heartbeatSchedule.isDue(list)) list.heartbeat()
    }
  }, heartbeatSchedule.tickMs)

  function checkStillAllowed (connection: Connection): void {
    options.authorize(connection.request, connection.dagId, 'view').then(
      (access) => {
        if (access.allowed) expireAt(connection, access.expiresAt)
        else connection.close(CloseCode.FORBIDDEN, 'no longer allowed to view this DAG')
      },
      (error: unknown) => {
        if (isUnauthenticated(error)) {
          closeExpired(connection)
          return
        }
        connection.log.error({ err: error }, 'fastify-dag-stream: authorize threw')
        connection.close(CloseCode.FORBIDDEN, 'authorization failed')
      }
    )
  }

  // ---------------------------------------------------------------------------------------------
  // Credentials with a known end: when `authorize` says when they expire, the stream closes at that
  // moment (4401) instead of lasting until the next heartbeat; each re-check moves the moment.
  // ---------------------------------------------------------------------------------------------
  const expiryTimers = new Map<Connection, ReturnType<typeof setTimeout>>()

  function expireAt (connection: Connection, expiresAt: number | undefined): void {
    forgetExpiry(connection)
    // A re-check may answer after the socket went: a timer set then would never be cleared.
    if (connection.socket.readyState !== connection.socket.OPEN) return
    const timer = expiryTimer(expiresAt, () => closeExpired(connection))
    if (timer !== undefined) expiryTimers.set(connection, timer)
  }

  function forgetExpiry (connection: Connection): void {
    clearTimeout(expiryTimers.get(connection))
    expiryTimers.delete(connection)
  }

  function closeExpired (connection: Connection): void {
    connection.close(CloseCode.UNAUTHORIZED, 'credentials expired')
  }

  // ---------------------------------------------------------------------------------------------
  // Guards that run before a route's handler, hence before any WebSocket upgrade.
  // ---------------------------------------------------------------------------------------------
  // Refused before the upgrade: a socket opened now could neither replay nor follow the log.
  function requireBackplane (): void {
    if (!backplane.isAvailable()) throw new BackplaneUnavailableError('cannot open a stream now')
  }

  async function requireAllowed (request: FastifyRequest, dagId: string, action: Action): Promise<Access> {
    const access = await options.authorize(request, dagId, action)
    if (!access.allowed) throw new ForbiddenError(action, dagId)
    return access
  }

  const limits = new ConnectionLimits(options)
  const upgradeLeftovers = new UpgradeLeftovers(registersWebsocket)
  /**
   * What the preHandler of an admitted stream learned, for its handler: when the credentials expire,
   * and who the viewer is (`identify`). Taken out by the handler: a request lives as long as its stream.
   */
  const admissions = new WeakMap<FastifyRequest, Admission>()

  // Cross-Site WebSocket Hijacking: a browser sends the victim's cookies with an upgrade from any page,
  // so a foreign Origin must be refused unless the application listed it.
  function checkOrigin (request: FastifyRequest): void {
    const origin = request.headers.origin
    if (origin === undefined || options.allowedOrigins.has(origin)) return
    if (URL.canParse(origin) && new URL(origin).host === request.host) return
    throw new OriginNotAllowedError(origin)
  }

  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { prefix } = options
  // Fastify logs each request's URL, query string included, and a stream's query may carry a token
  // (the client's streamParams): the plugin's routes log it with the query's values redacted.
  const logSerializers = { req: redactedRequest }

  if (options.asyncapi !== false) {
    const { path, title, version } = options.asyncapi
    // Built once: the protocol cannot change while the server runs.
    const document = buildAsyncApiDocument({ prefix, title, version })
    app.get(path, async () => document)
  }

  const { scrapeRoute } = metrics
  if (scrapeRoute !== undefined) {
    app.get(scrapeRoute.path, async (_request, reply) => reply.type(scrapeRoute.registry.contentType).send(await scrapeRoute.registry.metrics()))
  }

  // One route, two answers: a plain GET gets the page, an upgrade gets the page and then its changes
  // (lib/live-list.ts). The guards of a stream apply to the upgrade only.
  app.route({
    method: 'GET',
    url: prefix,
    logSerializers,
    schema: {
      ...ListRoute,
      tags: ['dags'],
      summary: 'List the DAGs of every instance, newest first unless asked otherwise',
      description: 'With `Upgrade: websocket`, the live list: this page, then a frame per change (see the AsyncAPI document).'
    },
    schemaErrorFormatter: describeSchemaErrors,
    onRequest: async (request, reply) => {
      if (!request.ws) return
      upgradeLeftovers.remember(request, reply)
      checkOrigin(request)
      limits.admit(request, reply)
    },
    preHandler: async (request) => {
      if (request.ws) requireBackplane()
    },
    onError: async (request, _reply, error) => {
      if (request.ws) metrics.upgradeRefused(refusalReasonOf(error))
    },
    wsHandler: async (socket, request) => {
      upgradeLeftovers.release(socket, request, logProtocolError)
      const { limit, offset, order = 'newest', status } = request.query
      const query = { limit, offset, order, status }
      const list = new ListConnection(socket, request, query, {
        maxBufferedBytes: options.maxBufferedBytes,
        authorize: options.authorize,
        metrics,
        readPage: () => backplane.list(query),
        onClose: (closed) => liveLists.leave(closed)
      })
      try {
        // Join before reading the page: a change made while it is read waits in the connection.
        await liveLists.join(list)
      } catch (error) {
        list.log.error({ err: error }, 'fastify-dag-stream: could not follow the DAG list')
        list.close(CloseCode.INTERNAL_ERROR, 'could not follow the DAG list')
        return
      }
      await list.start()
    },
    handler: async (request) => {
      const { limit, offset, order = 'newest', status } = request.query
      const page = await backplane.list({ limit, offset, order, status })
      const allowed = await Promise.all(page.dags.map(async (dag) => (await options.authorize(request, dag.dag_id, 'view')).allowed))
      return { dags: page.dags.filter((_, index) => allowed[index]), total: page.total, limit, offset, order }
    }
  })

  app.get(
    `${prefix}/:id`,
    {
      logSerializers,
      schema: { ...SnapshotRoute, tags: ['dags'], summary: 'The state of one DAG, stamped with the seq it includes' },
      preHandler: async (request) => requireAllowed(request, request.params.id, 'view')
    },
    async (request, reply) => {
      const served = await snapshots.read(request.params.id, acceptedEncodings(request.headers['accept-encoding']))
      if (served === undefined) throw new DagNotFoundError(request.params.id)
      reply.header('content-type', 'application/json; charset=utf-8').header('vary', 'accept-encoding')
      if (served.encoding !== undefined) reply.header('content-encoding', served.encoding)
      // Bytes serialized once per seq (lib/snapshots.ts): Fastify sends a Buffer as is, and the schema
      // above documents what it holds.
      return reply.send(served.body as unknown as DAGSnapshot)
    }
  )

  /** What every stream (WebSocket or event stream) must pass before it opens; remembered for openStream. */
  async function admitStream (request: FastifyRequest, dagId: string): Promise<void> {
    const { expiresAt } = await requireAllowed(request, dagId, 'view')
    requireBackplane()
    admissions.set(request, { expiresAt, identity: await options.identify(request) })
  }

  // Every refusal before a stream opens is an error that ends here.
  const countRefusal = async (_request: FastifyRequest, _reply: unknown, error: Error) => metrics.upgradeRefused(refusalReasonOf(error))

  app.get(
    `${prefix}/:id/stream`,
    {
      logSerializers,
      schema: StreamRoute,
      websocket: true,
      onRequest: async (request, reply) => {
        upgradeLeftovers.remember(request, reply)
        checkOrigin(request)
        limits.admit(request, reply)
      },
      preHandler: async (request) => admitStream(request, request.params.id),
      onError: countRefusal
    },
    async (socket, request) => {
      upgradeLeftovers.release(socket, request, logProtocolError)
      await openStream(socket, request, request.params.id, request.query)
    }
  )

  // ---------------------------------------------------------------------------------------------
  // The Server-Sent Events fallback: the same stream over plain HTTP, served by the same Connection
  // (see lib/event-stream.ts), and client events by POST.
  // ---------------------------------------------------------------------------------------------
  app.get(
    `${prefix}/:id/events`,
    {
      logSerializers,
      schema: { ...EventStreamRoute, tags: ['dags'], summary: 'The DAG stream as Server-Sent Events, for networks that break WebSockets' },
      onRequest: async (request, reply) => {
        checkOrigin(request)
        limits.admitEventStream(request, reply)
      },
      preHandler: async (request) => admitStream(request, request.params.id),
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
      // The answer is always the frame a WebSocket would get (invalid_message …), not Fastify's 400.
      attachValidation: true,
      // Not Fastify's Ajv, whose `removeAdditional` strips the body's fields while it tries each member of
      // the union (a gate_viewing lost its node_id to pause_execution's shape): TypeBox checks, never changes.
      validatorCompiler: checkWithTypeBox,
      errorHandler: (error, _request, reply) => {
        if (!isInvalidJsonBody(error)) throw error
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
  // connection" in the README.
  const connectionOptions: ConnectionOptions = {
    maxPayload: options.maxPayload,
    maxBufferedBytes: options.maxBufferedBytes,
    rateLimit: options.rateLimit,
    metrics,
    onClose: (closed) => {
      forgetExpiry(closed)
      rooms.leave(closed.dagId, closed)
      presence?.leave(closed)
      if (closed.socket instanceof EventStreamSocket) streamKeys.remove(closed.socket.key)
    },
    runCommand: (event, from) => metrics.command(event.type, () => commands.run(event, from)),
    onGateViewing: (from, nodeId) => presence?.viewGate(from, nodeId)
  }

  /** Joins the DAG's room, replays from `since` (within `epoch`) or says to resync, and goes live. */
  async function openStream (socket: StreamSocket, request: FastifyRequest, dagId: string, { since, epoch }: { since?: number; epoch?: string }): Promise<void> {
    const admission = admissions.get(request) as Admission
    admissions.delete(request)
    const connection = new Connection(socket, request, dagId, connectionOptions)
    // Before its hello, after which its reader may POST gate_viewing with the key.
    if (socket instanceof EventStreamSocket) streamKeys.add(socket.key, connection)
    expireAt(connection, admission.expiresAt)
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
    try {
      checkOrigin(request)
    } catch (error) {
      return errorFrame('forbidden', (error as Error).message)
    }
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

// ws emits an error only for what the peer sent (invalid UTF-8, a message too big or in too many
// fragments), once it has begun the closing handshake with the code that says so (1007, 1009, 1008).
// Terminating here, as @fastify/websocket does by default, would reset a connection whose peer is
// still writing, and the close code would be lost. Like a 4xx, the error is the client's: logged at
// info, so that a misbehaving client cannot flood the error log.
function logProtocolError (log: FastifyBaseLogger, error: Error): void {
  log.info({ err: error }, 'fastify-dag-stream: closed a socket after a protocol error')
}

interface Admission {
  expiresAt: number | undefined
  identity: ViewerIdentity | undefined
}

/** Where a Last-Event-ID resumes: after its event, or (an id that is not ours) from nothing, which resyncs. */
function resumeAfter (lastEvent: { epoch: string; seq: number } | undefined): { since: number; epoch: string } {
  return lastEvent === undefined ? { since: 0, epoch: '' } : { since: lastEvent.seq, epoch: lastEvent.epoch }
}

/** Fastify's own wording, plus the allowed values of an enum: `querystring/order must be one of: newest, oldest`. */
function describeSchemaErrors (errors: FastifySchemaValidationError[], dataVar: string): Error {
  return new Error(errors.map((error) => {
    const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues
    const message = allowed === undefined ? error.message : `must be one of: ${allowed.join(', ')}`
    return `${dataVar}${error.instancePath} ${message}`
  }).join(', '))
}

// Fastify hands a validator compiler the schema of one part of the request at a time (params, body …),
// which its types do not say: TypeBox's compiler takes exactly that.
const checkWithTypeBox = TypeBoxValidatorCompiler as FastifySchemaCompiler<unknown>

/** The plugin, ready for `app.register(dagStream, options)`. */
export const dagStream = fp(dagStreamPlugin, {
  name: 'fastify-dag-stream',
  fastify: '5.x'
})
