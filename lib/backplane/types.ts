// The seam between the plugin and where DAG logs live.
//
// A backplane owns, per DAG: the epoch, the sequence counter, the state (through the reducer), the
// bounded history used for resume, the gate book, and the fan-out of new events to every subscriber
// of this instance. It also carries client events to the instance that drives the DAG. The plugin only
// talks to this interface; `memory.ts` (one process) and `redis/` (N instances) implement it, and
// test/backplane-contract.test.ts runs one suite against both.

import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { ClientEvent, DAGEvent, ErrorCode, ExecutionStatus, GateViewingEvent, PresenceViewer, ResyncReason, SequencedEvent } from '../../schemas/events.js'
import type { DAGListChangeFrame } from '../../schemas/list.js'
import type { EngineAnswer } from '../../schemas/engine.js'
import type { ListOrder } from '../../schemas/routes.js'
import type { DAGSnapshot, DAGSummary } from '../../schemas/snapshot.js'
import type { GateRecord } from '../commands/gates.js'
import type { PresenceChange } from '../shared/presence-change.js'

export type { PresenceChange } from '../shared/presence-change.js'

/** One event of a DAG's log, serialized once for every socket that will carry it. */
export interface LogEntry {
  epoch: string
  seq: number
  /** The UTF-8 JSON of the `SequencedEvent`: what goes on the wire, as is. */
  frame: Buffer
}

/** What the log can give a client that asks to resume after `since`. */
export type Replay =
  | { recovered: true; epoch: string; seq: number; entries: LogEntry[] }
  | { recovered: false; epoch: string; seq: number; reason?: ResyncReason }

/** The head of a DAG's log: its epoch, the seq of its last event, and the run's status (what commands are checked against). */
export interface LogHead {
  epoch: string
  seq: number
  status: ExecutionStatus
}

export type LogListener = (entry: LogEntry) => void

/**
 * Hears what a run list shows change, on every instance: a DAG created, its status changed or
 * finished, its log evicted. Never called for node events, so a busy DAG costs the list nothing.
 */
export type ListChangeListener = (change: DAGListChangeFrame | ListGap) => void

/**
 * Changes may have been missed (the Redis subscriber reconnected): whoever shows a list reads its page
 * again. The memory backplane never reports one.
 */
export interface ListGap {
  type: 'list_gap'
}

/** Which DAGs `list` returns: a page of those in `status` (all when absent), by the time of their last event. */
export interface DAGListPageQuery {
  limit: number
  offset: number
  order: ListOrder
  status?: readonly ExecutionStatus[]
}

/** Who sent a client event. */
export interface CommandSender {
  /** What the plugin's `describeSender(request)` returned for the sender's socket: JSON, so it travels. */
  info: unknown
  /** The sender's upgrade request: only on the instance where the event arrived (it does not travel). */
  request?: FastifyRequest
  /** The id of the sender's connection, which its instance's log lines carry: it travels, for the logs here. */
  connectionId?: string
}

/** Who produced an event sent through the HTTP engine API, and its number in that producer's sequence. */
export interface ProducerStamp {
  producer: string
  /** The producer's number of the batch's first event; the others follow (first + 1 …). */
  first: number
  /** Whether this instance becomes the driver (it holds the engine's command feed). */
  drive: boolean
}

/** What became of a producer's batch. */
export interface ProducedAppend {
  /** One per event stored or skipped, in order: as stored, or undefined when it was stored already (a retry). */
  stored: Array<SequencedEvent | undefined>
  /** The number the producer must send next, when the batch skipped numbers: the events from there on were not stored. */
  gap?: number
}

/** What became of a client event at the engine. */
export type CommandOutcome = { ok: true } | { ok: false; code: ErrorCode; message: string; path?: string }

/**
 * Runs a client event on the instance that drives its DAG: the plugin's part (gate rules, the
 * `onClientEvent` handlers, the `human_gate_resolved` broadcast). A backplane calls it for events
 * dispatched to this instance, from here or from another one.
 */
export type CommandExecutor = (dagId: string, event: ClientEvent, sender: CommandSender) => Promise<CommandOutcome>

/**
 * A client message for one event stream, POSTed to any instance: it must reach the instance that holds
 * the stream, named by the first part of its key (lib/stream/stream-keys.ts).
 */
export interface StreamMessage {
  /** The DAG of the POST's route: the stream must be one of its streams. */
  dagId: string
  streamKey: string
  /** A gate_viewing for an event stream, or an engine's answer for its command feed (lib/engine/feeds.ts). */
  message: GateViewingEvent | EngineAnswer
}

/** Hands a StreamMessage to the event stream of this instance whose key it carries; says what became of it. */
export type StreamMessageReceiver = (message: StreamMessage) => CommandOutcome

/** What the plugin hands a backplane when it creates it: its options apply to every backplane. */
export interface BackplaneSettings {
  /** Events kept per DAG for resume. */
  historySize: number
  /** How long a finished DAG stays readable before it is evicted. */
  retainFinishedMs: number
  /** How long a DAG with no event at all is kept (an engine that died mid-run). */
  maxIdleMs: number
  /** How long a client event may wait for the engine before the sender gets `engine_unavailable`. */
  commandTimeoutMs: number
  execute: CommandExecutor
  /** Called for the stream messages sent to this instance (`sendToInstance`), from here or from another one. */
  receiveStreamMessage: StreamMessageReceiver
  log: FastifyBaseLogger
}

/**
 * What the plugin's `backplane` option takes: a recipe the plugin calls once, with its own settings,
 * when it registers. The plugin then owns the backplane and closes it with the app.
 */
export interface BackplaneProvider {
  /** Shown in logs and errors, e.g. 'memory' or 'redis'. */
  readonly kind: string
  create(settings: BackplaneSettings): Backplane
}

/**
 * A rule of lib/commands/gates.ts applied to one gate's record: what to answer, and the record to store.
 * The rules change the claim only: the phase and offer are written by the appends of the gate's events,
 * and a summary's `open_gates` follows them (the Redis append script keeps the count).
 */
export type GateTransition<Result> = (
  record: GateRecord,
  dag: LogHead
) => { result: Result; next: GateRecord }

/**
 * `count`: how many viewers the DAG has after `change`, as the store knows them; `viewers`: those
 * viewers, to read within the call if at all (lib/stream/presence.ts sends a picture of them in place of a
 * change too large to forward).
 */
export type PresenceListener = (dagId: string, change: PresenceChange, count: number, viewers: Iterable<PresenceViewer>) => void

/**
 * Who watches each DAG, on every instance: each instance writes its own viewers, and reads the union.
 * Not part of any log. The viewers of an instance that dies without a word go away by themselves
 * (lib/backplane/redis/presence.ts: a liveness key with a TTL).
 */
export interface PresenceStore {
  /** Writes this instance's changes for the DAG and tells every instance's watchers of it. */
  update(dagId: string, change: PresenceChange): Promise<void>
  /**
   * Calls `listener` with every change of the DAG's viewers (this instance's too) once the promise
   * resolves. The store reads the DAG's viewers when its watch of the DAG starts (on Redis, one read
   * shared by every watch that starts meanwhile) and keeps them up to date from then on. Rejects when
   * it cannot start, without keeping the listener.
   */
  watch(dagId: string, listener: PresenceListener): Promise<PresenceWatch>
}

/** A watch of one DAG's viewers (PresenceStore.watch). */
export interface PresenceWatch {
  /**
   * Every viewer of the DAG, on every live instance, as the store knows them now: what the changes
   * handed to the listener so far add up to. No read: to use within the call.
   */
  viewers(): Iterable<PresenceViewer>
  /** Stops calling the listener. */
  stop(): void
}

export interface Backplane {
  /** Who watches which DAG, across instances. */
  readonly presence: PresenceStore
  /** Resolves once the backplane can serve (connected, listening for commands); rejects if it cannot. */
  ready(): Promise<void>
  /** Whether the backplane can serve right now; false while its store is unreachable. */
  isAvailable(): boolean
  /**
   * Numbers the event, applies it to the DAG's state, stores it, and delivers it to every subscriber
   * on every instance. Calls for one DAG from one process take effect in call order, awaited or not.
   */
  append(dagId: string, event: DAGEvent): Promise<SequencedEvent>
  /**
   * `appendMany` for a batch of a producer of the HTTP engine API, numbered from `stamp.first`: the
   * events whose numbers the producer stored already are skipped, and the producer's last number is
   * stored with the events, in one step, so that a retried batch is never applied twice, whichever
   * instance it reaches. A batch that skips numbers is refused (`gap`).
   */
  appendProduced(dagId: string, events: readonly DAGEvent[], stamp: ProducerStamp): Promise<ProducedAppend>
  /**
   * Makes this instance the DAG's driver: client events are dispatched here from now on (an engine's
   * command feed is held here), whether or not the DAG has a log yet.
   */
  drive(dagId: string): Promise<void>
  /**
   * `append` for several events of one DAG, in order and in as few steps as the store allows (Redis:
   * one script call per 200 events). Keeps call order with `append`. A run handle sends what waited
   * in its outbox this way.
   */
  appendMany(dagId: string, events: readonly DAGEvent[]): Promise<SequencedEvent[]>
  /** The DAG's full state, stamped with the seq of the last event it includes; undefined if unknown. */
  snapshot(dagId: string): Promise<DAGSnapshot | undefined>
  /** The head of the DAG's log (its epoch, last seq and the run's status); undefined if unknown. */
  status(dagId: string): Promise<LogHead | undefined>
  /** Exactly the events after `since` in `epoch`, or `recovered: false` when that cannot be guaranteed. */
  replay(dagId: string, since?: { epoch: string; seq: number }): Promise<Replay>
  /** One page of the DAGs of every instance, in the order asked; `total` counts every DAG that matches. */
  list(query: DAGListPageQuery): Promise<{ dags: DAGSummary[]; total: number }>
  /**
   * Delivers every entry appended to the DAG once the returned promise resolves, in seq order and
   * without gaps (a gap that cannot be filled shows as a jump in seq, which the socket turns into
   * `resync_required`). Resolves with the unsubscribe function.
   */
  subscribe(dagId: string, listener: LogListener): Promise<() => void>
  /**
   * Delivers every change to the list of DAGs (see ListChangeListener) once the returned promise
   * resolves. Creations and status changes are reported as they are appended; evictions once the
   * backplane notices them (at once in memory; on Redis, where keys expire by TTL, within `probeMs`).
   * Resolves with the unsubscribe function.
   */
  watchList(listener: ListChangeListener): Promise<() => void>
  /**
   * Applies `transition` to the gate `gateId` (see gateIdOf) atomically (no other instance changes that
   * gate in between). Resolves undefined when the DAG is unknown.
   */
  updateGate<Result>(dagId: string, gateId: string, transition: GateTransition<Result>): Promise<Result | undefined>
  /**
   * Carries a client event to the instance that drives the DAG (the last one that appended to it) and
   * resolves with its outcome, or `engine_unavailable` when that instance is gone or too slow.
   */
  dispatch(dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome>
  /**
   * Holds the engine lease of the DAG until `expiresAt` (ms since the epoch) for the process that drives
   * it through a run handle, and says how the DAG stands: its status, or undefined when the DAG is
   * unknown (never created, evicted, or its data lost).
   */
  renewLease(dagId: string, expiresAt: number): Promise<LogHead | undefined>
  /** Gives the lease up: the run is final, or its handle closed. */
  releaseLease(dagId: string): Promise<void>
  /**
   * Removes and returns the DAGs whose lease lapsed before `now`: each to exactly one caller, on any
   * instance, which reports it stalled.
   */
  takeLapsedLeases(now: number): Promise<string[]>
  /** This instance's address for `sendToInstance`: letters, digits, `-` and `_`, unique among the instances. */
  readonly instanceId: string
  /**
   * Carries `message` to the instance `instanceId` (this one included), whose `receiveStreamMessage`
   * answers it; `stream_not_found` when that instance is gone, `engine_unavailable` when it does not
   * answer within `commandTimeoutMs`.
   */
  sendToInstance(instanceId: string, message: StreamMessage): Promise<CommandOutcome>
  /** Releases timers and connections (only those it opened). Appending afterwards rejects. */
  close(): Promise<void>
}
