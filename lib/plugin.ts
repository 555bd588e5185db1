// Fastify wiring: options, the `dagStream` decorator (what the engine calls), the backplane and what
// is built on it, the heartbeat and shutdown. The routes are in lib/http/rest-routes.ts and
// lib/stream/routes.ts, what a request must pass before them in lib/access/pre-handlers.ts. The path of one event:
// engine → broadcast (validate) → backplane (seq, reducer, history, serialize once) → rooms → each
// connection (backpressure) → the socket.

import websocket from '@fastify/websocket'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { DAGEvent, GateViewingEvent, SequencedEvent } from '../schemas/events.js'
import { isIdentifier, MAX_IDENTIFIER_LENGTH } from './shared/identifier.js'
import type { DAGSnapshot } from '../schemas/snapshot.js'
import { StreamAccess } from './access/pre-handlers.js'
import { closeRefusedUpgrades } from './access/upgrade.js'
import { CloseCode } from './shared/close-codes.js'
import { createCommands, type ClientEventHandler, type Commands } from './commands/commands.js'
import type { Connection } from './stream/connection.js'
import { CredentialChecks } from './access/credential-checks.js'
import { BackplaneUnavailableError, InvalidDAGIdError, InvalidEventError, InvalidOptionError } from './errors.js'
import { HeartbeatSchedule } from './stream/heartbeat.js'
import { LiveLists } from './http/live-list.js'
import { logProtocolError } from './http/log.js'
import { createMetrics } from './metrics/metrics.js'
import { MAX_FRAGMENTS, resolveOptions, type DAGStreamOptions } from './options.js'
import { OutputStreams, pipeOutput, type OutputWriter } from './engine/output.js'
import { Presence } from './stream/presence.js'
import { registerRestRoutes } from './http/rest-routes.js'
import { Rooms } from './rooms.js'
import { SnapshotCache } from './http/snapshots.js'
import { StreamKeys } from './stream/stream-keys.js'
import { registerStreamRoutes } from './stream/routes.js'
import { UnusedConnections } from './http/unused-connections.js'
import { validateDAGEvent } from './validation.js'
import { compileSchema } from './commands/values.js'
import type { RunHandle } from './engine/run.js'
import { Runs } from './engine/runs.js'
import { EngineFeeds } from './engine/feeds.js'
import { registerEngineApi } from './http/engine-api.js'
import type { ProducedAppend, ProducerStamp, StreamMessage } from './backplane/types.js'

/** The `app.dagStream` decorator: what the execution engine calls. */
export interface DAGStream {
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
  /**
   * The run handle of `dagId` in this process (one per DAG per process): ordered, pipelined sends that
   * wait out backplane outages, the structure in one event, awaitable gates, this run's controls, and
   * the engine lease that shows a dead engine's run as stalled. See docs/engine.md.
   * @example
   * const run = app.dagStream.run('run-42')
   * run.setGraph({ nodes: [{ id: 'plan' }, { id: 'review' }], edges: [{ from: 'plan', to: 'review' }] })
   * const { decision } = await run.gate('review', { title: 'Publish?', decisions: ['approve', 'reject'] })
   */
  run(dagId: string): RunHandle
}

declare module 'fastify' {
  interface FastifyInstance {
    dagStream: DAGStream
  }
}

/** An engine's event for `dagId`, checked: throws InvalidDAGIdError or InvalidEventError (naming the field). */
function validateEngineEvent (dagId: string, event: DAGEvent): DAGEvent {
  if (!isIdentifier(dagId)) throw new InvalidDAGIdError(JSON.stringify(dagId))
  const validation = validateDAGEvent(event)
  if (!validation.ok) throw new InvalidEventError(dagId, validation.message)
  const schema = validation.value.type === 'human_gate_waiting' ? validation.value.presentation.response_schema : undefined
  if (schema !== undefined) {
    // Checked now, so that a schema no validator can compile fails the engine, not the human deciding.
    try {
      compileSchema(schema)
    } catch (error) {
      throw new InvalidEventError(dagId, `human_gate_waiting: "presentation.response_schema" is not a valid JSON Schema: ${(error as Error).message}`)
    }
  }
  return validation.value
}

const dagStreamPlugin: FastifyPluginAsync<DAGStreamOptions> = async (fastify, rawOptions) => {
  const options = resolveOptions(rawOptions)
  // A DAG id is a path segment: a router that cuts segments shorter than the id rule answers 414 for
  // runs that were broadcast, which no dashboard could then open (see lib/shared/identifier.ts).
  const maxParamLength = fastify.initialConfig.routerOptions?.maxParamLength
  if (maxParamLength !== undefined && maxParamLength < MAX_IDENTIFIER_LENGTH) {
    throw new InvalidOptionError(
      `Fastify's routerOptions.maxParamLength is ${maxParamLength}: DAG ids of up to ${MAX_IDENTIFIER_LENGTH} characters could not be opened; set it to at least ${MAX_IDENTIFIER_LENGTH}`
    )
  }

  // Two parts call back into parts built on them: the metrics read the rooms and the live lists (when
  // scraped, or when a broadcast is timed), and the backplane hands client events to the commands and
  // event-stream messages to the stream keys (as they arrive). None of that happens before
  // registration ends, so those callbacks reach the later parts through `later`, complete by then.
  const later = {} as { rooms: Rooms<Connection>; liveLists: LiveLists; commands: Commands; streamKeys: StreamKeys; feeds: EngineFeeds | undefined }

  // First: when prom-client is missing or a name is taken, registration fails before anything starts.
  const metrics = await createMetrics(options.metrics, {
    connections: (dagId) => later.rooms.count(dagId),
    rooms: () => later.rooms.size,
    listConnections: () => later.liveLists.size
  })
  fastify.addHook('onClose', async () => metrics.close())

  const backplane = options.backplane.create({
    historySize: options.historySize,
    retainFinishedMs: options.retainFinishedMs,
    maxIdleMs: options.maxIdleMs,
    commandTimeoutMs: options.commandTimeoutMs,
    execute: (dagId, event, sender) => later.commands.execute(dagId, event, sender),
    // An engine's answer to its feed, or a gate_viewing POSTed for an event stream.
    receiveStreamMessage: (message) => {
      if (!('feed' in message.message)) return later.streamKeys.receive(message as StreamMessage & { message: GateViewingEvent })
      /* c8 ignore start -- an answer is routed to the instance holding its feed, which has the engine API;
         only a forged bus message, or instances configured apart mid-deploy, reach here: refused, not thrown */
      if (later.feeds === undefined) return { ok: false, code: 'stream_not_found', message: 'The engine API is off on this server' }
      /* c8 ignore stop */
      return later.feeds.receive(message.dagId, message.message)
    },
    log: fastify.log
  })
  fastify.addHook('onClose', async () => backplane.close())
  const streamKeys = new StreamKeys(backplane.instanceId)
  const rooms = new Rooms<Connection>(backplane, metrics)
  const liveLists = new LiveLists(backplane)
  const presence = options.presence ? new Presence({ store: backplane.presence, flushMs: options.presenceFlushMs, log: fastify.log }) : undefined
  const snapshots = new SnapshotCache(backplane, options.snapshotCacheBytes)

  /** Appends a checked event to the DAG's log, and times it. */
  function append (dagId: string, validated: DAGEvent): Promise<SequencedEvent> {
    const startedAt = metrics.broadcastStarting(dagId)
    const appended = backplane.append(dagId, validated)
    // The one reaction to the append (a reaction per broadcast costs more than anything the metrics
    // do with it). It marks the promise handled, so a caller that ignores it never sees an unhandled
    // rejection; a caller that awaits it still gets the error. An outage is logged once by the
    // backplane, not once per broadcast.
    appended.then(
      (sequenced) => metrics.broadcast(dagId, validated, sequenced, startedAt),
      (error: unknown) => {
        metrics.broadcastFailed(dagId)
        if (!(error instanceof BackplaneUnavailableError)) fastify.log.error({ err: error, dagId }, 'fastify-dag-stream: broadcast failed')
      }
    )
    return appended
  }

  // A node's live output goes out as `node_output_delta` events, which wait for no earlier text.
  const outputs = new OutputStreams({ broadcast: (dagId, event) => append(dagId, validateEngineEvent(dagId, event)), flushMs: options.outputFlushMs })

  /** Text written for the event's node before the event goes first. */
  function flushOutputFor (dagId: string, event: DAGEvent): void {
    const nodeId = 'node_id' in event ? event.node_id : undefined
    if (nodeId !== undefined && event.type !== 'node_output_delta') outputs.flushQuietly(dagId, nodeId)
  }

  function broadcast (dagId: string, event: DAGEvent): Promise<SequencedEvent> {
    const validated = validateEngineEvent(dagId, event)
    flushOutputFor(dagId, validated)
    return append(dagId, validated)
  }

  /**
   * Stores a run handle's events, already checked, in one step where the backplane can (the sends of
   * one tick): one reaction for all of them, the metrics of each.
   */
  function appendMany (dagId: string, validated: readonly DAGEvent[]): Promise<SequencedEvent[]> {
    return storeMany(dagId, validated, () => backplane.appendMany(dagId, validated), (sequenced) => sequenced)
  }

  /** `appendMany` for a batch of a producer of the HTTP engine API (lib/http/engine-api.ts). */
  function appendProduced (dagId: string, validated: readonly DAGEvent[], stamp: ProducerStamp): Promise<ProducedAppend> {
    return storeMany(dagId, validated, () => backplane.appendProduced(dagId, validated, stamp), (produced) => produced.stored)
  }

  function storeMany<Stored> (dagId: string, validated: readonly DAGEvent[], write: () => Promise<Stored>, sequencedOf: (stored: Stored) => Array<SequencedEvent | undefined>): Promise<Stored> {
    for (const event of validated) flushOutputFor(dagId, event)
    const startedAt = metrics.broadcastStarting(dagId)
    const appended = write()
    appended.then(
      (stored) => {
        for (const [index, sequenced] of sequencedOf(stored).entries()) {
          if (sequenced !== undefined) metrics.broadcast(dagId, validated[index] as DAGEvent, sequenced, startedAt)
        }
      },
      () => {
        // The run handle (or the engine API's caller) logs what is not an outage, and sends again what is.
        for (let index = 0; index < validated.length; index++) metrics.broadcastFailed(dagId)
      }
    )
    return appended
  }

  const runs = new Runs({
    backplane,
    validate: validateEngineEvent,
    append,
    appendMany,
    leaseMs: options.engineLeaseMs,
    outboxSize: options.engineOutboxSize,
    log: fastify.log
  })
  // Registered after the backplane's: Fastify runs onClose hooks last registered first, so the
  // handles stop (and give their leases up) while the backplane is still open.
  fastify.addHook('onClose', async () => runs.close())
  // The command feeds of engines that talk HTTP (option engineApi): each makes its instance the driver.
  const feeds = options.engineApi === false
    ? undefined
    : new EngineFeeds({ backplane, createKey: () => streamKeys.create(), append, leaseMs: options.engineLeaseMs, heartbeatMs: options.heartbeatMs, log: fastify.log })

  function streamOutput (dagId: string, nodeId: string): OutputWriter
  function streamOutput (dagId: string, nodeId: string, source: AsyncIterable<string> | Iterable<string>): Promise<void>
  function streamOutput (dagId: string, nodeId: string, source?: AsyncIterable<string> | Iterable<string>): OutputWriter | Promise<void> {
    // Its deltas will be checked one by one; the node id, now, so that a bad one throws here.
    validateEngineEvent(dagId, { type: 'node_output_delta', node_id: nodeId, delta: ' ' })
    const writer = outputs.open(dagId, nodeId)
    return source === undefined ? writer : pipeOutput(source, writer)
  }

  const handlers = new Set<ClientEventHandler>()
  const commands = createCommands({
    backplane,
    authorize: options.authorize,
    describeSender: options.describeSender,
    handlers,
    runs: {
      gateOwner: (dagId, gateId) => runs.gateOwner(dagId, gateId),
      control: (dagId, event, sender) => runs.control(dagId, event, sender),
      remote: (dagId) => feeds?.engine(dagId)
    },
    broadcast,
    leaseMs: options.commandTimeoutMs,
    log: fastify.log
  })
  Object.assign(later, { rooms, liveLists, commands, streamKeys, feeds })

  try {
    await backplane.ready()
  } catch (error) {
    runs.close()
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
    streamOutput,
    run: (dagId: string) => runs.run(dagId)
  } satisfies DAGStream)

  // ---------------------------------------------------------------------------------------------
  // Shutdown. Added before @fastify/websocket registers, so its preClose (which closes sockets
  // without a code) runs after ours and every client learns it should reconnect (1001).
  // ---------------------------------------------------------------------------------------------
  const unusedConnections = new UnusedConnections(fastify.server)
  fastify.addHook('preClose', async () => {
    // Text still waiting reaches the log while the backplane is open.
    await outputs.close()
    // Their engines reconnect elsewhere; the leases they held lapse if none does.
    feeds?.close()
    for (const connection of rooms.members()) connection.close(CloseCode.GOING_AWAY, 'server shutting down')
    for (const list of [...liveLists.members()]) list.close(CloseCode.GOING_AWAY, 'server shutting down')
    // The viewers of the sockets just closed leave the other instances' view now, not at their expiry.
    await presence?.close()
    // Last, so that it also ends those opened meanwhile (a Node client whose event stream was just
    // closed may open one): server.close() follows before the event loop turns, so before another can
    // be accepted, unless a preClose hook added after this plugin waits for I/O.
    unusedConnections.end()
  })

  const registersWebsocket = !fastify.hasDecorator('websocketServer')
  if (registersWebsocket) {
    await fastify.register(websocket, {
      options: { maxPayload: options.maxPayload, maxFragments: MAX_FRAGMENTS },
      // Not @fastify/websocket's default, which terminates the socket: see logProtocolError.
      errorHandler: (error, _socket, request) => logProtocolError(request.log, error)
    })
  }
  // After @fastify/websocket's own listener, whoever registered it (lib/access/upgrade.ts).
  const stopClosingRefusedUpgrades = closeRefusedUpgrades(fastify.server)
  fastify.addHook('onClose', async () => stopClosingRefusedUpgrades())

  // ---------------------------------------------------------------------------------------------
  // Heartbeat: one timer for all sockets, not one per socket, each due in its slice of the interval
  // (lib/stream/heartbeat.ts). Each socket's beat also asks `authorize` again (lib/access/credential-checks.ts).
  // ---------------------------------------------------------------------------------------------
  const credentials = new CredentialChecks(options.authorize)
  const heartbeatSchedule = new HeartbeatSchedule(options.heartbeatMs)
  const heartbeat = setInterval(() => {
    heartbeatSchedule.advance()
    for (const connection of rooms.members()) {
      if (heartbeatSchedule.isDue(connection) && connection.heartbeat()) credentials.recheck(connection)
    }
    // A list socket asks `authorize` for every frame it sends: the tick only checks that it is alive.
    for (const list of [...liveLists.members()]) {
      if (heartbeatSchedule.isDue(list)) list.heartbeat()
    }
  }, heartbeatSchedule.tickMs)
  fastify.addHook('onClose', async () => {
    clearInterval(heartbeat)
  })

  const access = new StreamAccess(options, backplane, registersWebsocket)
  registerRestRoutes(fastify, { options, backplane, metrics, access, liveLists, snapshots })
  registerStreamRoutes(fastify, { options, backplane, metrics, access, credentials, rooms, presence, streamKeys, commands })
  if (options.engineApi !== false && feeds !== undefined) {
    registerEngineApi(fastify, { prefix: options.prefix, engineApi: options.engineApi, backplane, feeds, validate: validateEngineEvent, appendProduced })
  }
}

/** The plugin, ready for `app.register(dagStream, options)`. */
export const dagStream = fp(dagStreamPlugin, {
  name: 'fastify-dag-stream',
  fastify: '5.x'
})
