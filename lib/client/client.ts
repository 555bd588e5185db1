// The stream client: one DAG, one socket at a time, and the state machine that keeps the store equal
// to the server's log through cuts, restarts and slow links.
//
//   connecting ──hello──▶ open ◀──snapshot loaded── resyncing
//        │                 │  ▲                        ▲
//        │                 │  └──────hello(resumed)──┐ │ hello(not resumed), resync_required, seq gap
//        │                 └──socket lost──▶ reconnecting (backoff timer) ──▶ new socket
//        └──────── close(), or a "do not reconnect" close code ────────▶ closed (final)
//
// Beside the connection, the client tracks whether the server has the DAG at all (`existence`): a
// hello at seq 0 or a 404 snapshot says it has no log for it; an event or a snapshot says it has.
// A DAG that is not found is still followed, so a run that an engine starts later shows up.
//
// The store only ever receives the event right after the last one it applied (same epoch, seq + 1).
// Anything else means this client missed something: it loads the REST snapshot, which is stamped
// with the seq it includes, while live events wait in a buffer; then it drops the buffered events the
// snapshot already covers and applies the rest. Snapshot + later events = the server's state.

import type {
  ClientEvent,
  ControlFrame,
  Decision,
  HelloFrame,
  HumanDecisionEvent,
  SequencedEvent,
  ServerMessage
} from '../../schemas/events.js'
import type { DAGSnapshot } from '../../schemas/snapshot.js'
import { shouldReconnect } from '../shared/close-codes.js'
import { assertNever, createState, toSnapshot } from '../shared/reducer.js'
import type { ReconnectInfo } from './backoff.js'
import { Commands } from './commands.js'
import { Emitter, type Listener } from './emitter.js'
import { DAGStreamError } from './errors.js'
import { Lifecycle } from './lifecycle.js'
import { GateViewing } from './gate-viewing.js'
import {
  checkOption,
  TRANSPORTS,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_PREFIX,
  resolveBaseUrl,
  resolveImplementation,
  type DAGStreamClientOptions
} from './options.js'
import { PresenceTracker, type PresenceView } from './presence.js'
import { fetchSnapshot } from './snapshot.js'
import { createDAGStore, type DAGStore, type DefaultDAGStore } from './store.js'
import { TransportChoice, type StreamTransport } from './transport-choice.js'
import { snapshotUrl, type FetchLike, type WebSocketLike } from './transport.js'

/**
 * - `connecting`: the first socket is opening.
 * - `open`: live; the store is current.
 * - `resyncing`: the socket is open and the snapshot is loading; live events wait.
 * - `reconnecting`: the socket was lost; see `reconnect` for when the next attempt starts.
 * - `closed`: final, after `close()` or a "do not reconnect" close code (see `error`).
 */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'resyncing' | 'closed'

/**
 * Whether the server has the DAG, a separate question from whether the stream is connected:
 * - `unknown`: not known yet (before the first hello).
 * - `found`: the server has events for it.
 * - `not_found`: the server has no event for it: the hello says its log is at seq 0, or the snapshot
 *   answered 404 (to the server these are the same thing). The DAG was never
 *   started, was evicted after it finished (`retainFinishedMs`), or went with a server that
 *   restarted. The client keeps following it: the first event of a run started later makes it
 *   `found`. A UI should say so and disable the run's commands (they would be refused with
 *   `dag_not_found`).
 */
export type DAGExistence = 'unknown' | 'found' | 'not_found'

export type { StreamTransport } from './transport-choice.js'

/** Which gate a decision is for, and its structured answer. */
export interface DecideOptions {
  /** The gate's `gate_id`; absent: the gate whose id is the node id (an engine that gives none). */
  gateId?: string
  /** The decision's value, checked by the server against the gate's `response_schema`. */
  value?: unknown
}

export type { ReconnectInfo } from './backoff.js'

/** A position in the DAG's log: the last event the store includes. */
export interface StreamPosition {
  readonly epoch: string
  readonly seq: number
}

/** What `on` can listen to, and what each listener receives. */
export interface DAGStreamClientEvents {
  /** The connection's state changed (see `ConnectionStatus`). */
  connection: ConnectionStatus
  /** @deprecated listen to `connection` (the same value) */
  status: ConnectionStatus
  /** Whether the server has the DAG changed (see `DAGExistence`). */
  existence: DAGExistence
  /** `transport: 'auto'` fell back to Server-Sent Events: WebSocket upgrades kept failing. */
  transport: StreamTransport
  /** An event was applied to the store (each exactly once, in order). */
  event: SequencedEvent
  /** The store was replaced by a snapshot (the first load, or a resync). */
  snapshot: DAGSnapshot
  reconnecting: ReconnectInfo
  /** A problem no promise reports: a refused frame without id, a failed snapshot, a final close. */
  error: DAGStreamError
  /** Who watches the DAG changed (see `presence`). */
  presence: PresenceView
}

// The one frame type both kinds share: a DAG `error` event has a position, an `error` answer has none.
function isControlFrame (message: ServerMessage): message is ControlFrame {
  switch (message.type) {
    case 'hello':
    case 'resync_required':
    case 'ack':
    case 'presence':
    case 'presence_delta':
      return true
    case 'error':
      return !('seq' in message)
    default:
      return false
  }
}

/**
 * A self-healing stream of one DAG. Create it with `createDAGStreamClient`.
 * @example
 * const client = createDAGStreamClient({ baseUrl: 'https://api.example.com', dagId: 'run-42' })
 * client.on('connection', (connection) => console.log(connection))
 * client.store.subscribe(() => render(client.store.getSnapshot()))
 * await client.decide('review', 'approve')
 */
export class DAGStreamClient<Store extends DAGStore = DefaultDAGStore> {
  readonly dagId: string
  /** Where the stream is applied. */
  readonly store: Store
  readonly #baseUrl: string
  readonly #prefix: string
  readonly #transport: TransportChoice
  readonly #fetch: FetchLike
  readonly #streamParams: (() => Record<string, string>) | undefined
  readonly #commands: Commands
  readonly #emitter = new Emitter<DAGStreamClientEvents>()
  /** Status, last error and retries (lib/client/lifecycle.ts), with one status of this client's own: `resyncing`. */
  readonly #life: Lifecycle<'resyncing'>
  #existence: DAGExistence = 'unknown'
  /** The position of the store: what the next connection resumes from. */
  #epoch = ''
  #seq = 0
  #socket: WebSocketLike | undefined
  /** Bumped whenever a socket is given up, so that its late frames and its snapshot load are ignored. */
  #generation = 0
  /** The epoch of the newest frame the current socket carried: epochs only move forward on one socket. */
  #wireEpoch = ''
  /** Live events waiting while a snapshot loads; undefined when no snapshot is loading. */
  #buffer: SequencedEvent[] | undefined
  readonly #presence = new PresenceTracker()
  readonly #gateViewing = new GateViewing()
  /** Whether the current socket has carried its hello: it then takes client messages. */
  #greeted = false

  constructor (options: DAGStreamClientOptions<Store>) {
    if (typeof options?.dagId !== 'string' || options.dagId === '') {
      checkOption.reject('dagId', 'be a non-empty string', options?.dagId)
    }
    this.dagId = options.dagId
    this.#baseUrl = resolveBaseUrl(options.baseUrl)
    this.#prefix = options.prefix ?? DEFAULT_PREFIX
    const transport = checkOption.oneOf('transport', options.transport, TRANSPORTS, 'websocket')
    const fetchImplementation = resolveImplementation<FetchLike>('fetch', options.fetch, globalThis.fetch, 'pass `fetch`')
    // Called as a plain function: browsers throw "Illegal invocation" when their fetch is called as a
    // method of any object but `window`, and `this.#fetch(…)` would be exactly that.
    this.#fetch = (url, init) => fetchImplementation(url, init)
    this.#transport = new TransportChoice(transport, options.WebSocket, this.#fetch, { baseUrl: this.#baseUrl, prefix: this.#prefix, dagId: this.dagId })
    this.#streamParams = options.streamParams
    this.#life = new Lifecycle(this.#emitter, options.backoff, () => this.#open())
    this.#commands = new Commands(checkOption.milliseconds('commandTimeoutMs', options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS))
    // Without a store of the caller's, Store is its default, DefaultDAGStore.
    this.store = (options.store ?? createDAGStore()) as Store
    if (options.connect !== false) this.connect()
  }

  /** The connection's state (see `ConnectionStatus`); `on('connection')` tells each change. */
  get connection (): ConnectionStatus {
    return this.#life.status
  }

  /** @deprecated use `connection` (the same value) */
  get status (): ConnectionStatus {
    return this.#life.status
  }

  /** Whether the server has the DAG; it stays as last known while the stream is away. */
  get existence (): DAGExistence {
    return this.#existence
  }

  /** The last problem reported, until the next successful connection. */
  get error (): DAGStreamError | undefined {
    return this.#life.error
  }

  /** While `reconnecting`: when the next attempt starts. */
  get reconnect (): ReconnectInfo | undefined {
    return this.#life.reconnect
  }

  /** What carries the stream now; `transport: 'auto'` starts with `websocket`. */
  get transport (): StreamTransport {
    return this.#transport.current
  }

  /** The last event the store includes. */
  get position (): StreamPosition {
    return { epoch: this.#epoch, seq: this.#seq }
  }

  /** Who watches the DAG, on every instance; empty while disconnected. */
  get presence (): PresenceView {
    return this.#presence.view
  }

  /**
   * Tells the others which gate this client has open in front of its user (null: none), so they see
   * "reviewed by …" before anyone decides. Kept across reconnects; sent at most every 100 ms.
   * @example useEffect(() => { viewGate(nodeId); return () => viewGate(null) }, [nodeId])
   */
  viewGate (nodeId: string | null): void {
    this.#gateViewing.view(nodeId)
  }

  /** Opens the stream; only needed after `connect: false`. Does nothing once started or closed. */
  connect (): void {
    if (this.#life.start()) this.#open()
  }

  /** Closes the stream for good: no reconnect, every timer cleared, waiting commands rejected. */
  close (): void {
    if (this.#life.status !== 'closed') this.#finish(undefined)
  }

  /**
   * Sends a client event. Resolves on the server's `ack`; rejects with a DAGStreamError whose `code`
   * is the server's (`gate_not_waiting`, `forbidden` …) or the client's (`timeout`, `connection_lost`,
   * `client_closed`). Without an `id`, one is generated: it is the event's idempotency key.
   * While disconnected, the event waits (see `commandTimeoutMs`).
   */
  send (event: ClientEvent): Promise<void> {
    if (this.#life.status === 'closed') return Promise.reject(new DAGStreamError('client_closed', 'The stream is closed'))
    return this.#commands.submit(event)
  }

  /**
   * Decides a waiting human gate: the node's only gate, or the one `gateId` names (an open gate's
   * `gate_id` in the snapshot), with a structured `value` when the gate has a `response_schema`.
   * @example await client.decide('review', 'modify', 'Use the cheaper model')
   * @example await client.decide('review', 'approve', undefined, { gateId: 'review~2', value: { branch: 'b' } })
   */
  decide (nodeId: string, decision: Decision, feedback?: string, { gateId, value }: DecideOptions = {}): Promise<void> {
    const event: HumanDecisionEvent = { type: 'human_decision', node_id: nodeId, decision }
    if (gateId !== undefined) event.gate_id = gateId
    if (feedback !== undefined) event.feedback = feedback
    if (value !== undefined) event.value = value
    return this.send(event)
  }

  pause (): Promise<void> {
    return this.send({ type: 'pause_execution' })
  }

  resume (): Promise<void> {
    return this.send({ type: 'resume_execution' })
  }

  cancel (): Promise<void> {
    return this.send({ type: 'cancel_execution' })
  }

  /**
   * @returns the function that removes the listener
   * @example const off = client.on('reconnecting', ({ retryAt }) => showCountdown(retryAt))
   */
  on<Type extends keyof DAGStreamClientEvents> (type: Type, listener: Listener<DAGStreamClientEvents[Type]>): () => void {
    return this.#emitter.on(type, listener)
  }

  off<Type extends keyof DAGStreamClientEvents> (type: Type, listener: Listener<DAGStreamClientEvents[Type]>): void {
    this.#emitter.off(type, listener)
  }

  // -------------------------------------------------------------------------------------------
  // The socket's life
  // -------------------------------------------------------------------------------------------

  #open (): void {
    const generation = ++this.#generation
    // With a position once the client knows one: seq 0 of the empty epoch after a hello said the DAG has
    // no log, which the server continues into a run created since (its history from seq 1, no snapshot).
    // Before any hello, none: the server answers with "load the snapshot" rather than a replay of its
    // whole history.
    const socket = this.#transport.open(this.#resumeFrom(), this.#streamParams?.())
    this.#socket = socket
    socket.onmessage = (message) => {
      if (generation === this.#generation) this.#onFrame(socket, message.data)
    }
    socket.onclose = (event) => {
      if (generation === this.#generation) this.#onClose(event.code, event.reason)
    }
    // An error carries no detail in browsers and is always followed by close, which has the code. The
    // listener must exist all the same: `ws` throws an error event that nobody listens to.
    socket.onerror = () => {}
  }

  #resumeFrom (): StreamPosition | undefined {
    return this.#existence === 'unknown' ? undefined : this.position
  }

  #onFrame (socket: WebSocketLike, data: unknown): void {
    let message: ServerMessage
    try {
      message = JSON.parse(String(data)) as ServerMessage
    } catch (cause) {
      // A lost frame may have been an event; the next event's seq shows the gap and heals it.
      this.#life.report(new DAGStreamError('invalid_frame', 'The server sent a frame that is not JSON', { cause }))
      return
    }
    if (isControlFrame(message)) this.#onControl(socket, message)
    else this.#onEvent(message)
  }

  #onControl (socket: WebSocketLike, frame: ControlFrame): void {
    switch (frame.type) {
      case 'hello':
        this.#onHello(socket, frame)
        break
      case 'resync_required':
        this.#wireEpoch = frame.epoch
        this.#resync()
        break
      case 'ack':
        this.#commands.acknowledged(frame.id)
        break
      case 'presence':
      case 'presence_delta':
        this.#emitter.emit('presence', this.#presence.receive(frame))
        break
      case 'error': {
        const error = new DAGStreamError(frame.code, frame.message, frame.path === undefined ? {} : { path: frame.path })
        if (frame.id === undefined) this.#life.report(error)
        else this.#commands.refused(frame.id, error)
        break
      }
      /* c8 ignore next 2 -- unreachable by type: the compiler proves every control frame is handled */
      default:
        assertNever(frame)
    }
  }

  #onHello (socket: WebSocketLike, hello: HelloFrame): void {
    this.#wireEpoch = hello.epoch
    this.#greeted = true
    this.#transport.greeted()
    this.#life.connected()
    if (hello.seq === 0) {
      // The server has no log for the DAG (it says so for exactly the DAGs whose snapshot is a 404):
      // nothing to fetch. The existence is set before the status, so that no listener sees the stream
      // open with the DAG still unknown.
      // (Not recovered, but holding nothing: the first hello of a client that asked from nowhere.)
      if (hello.recovered || this.#existence === 'unknown') {
        this.#setExistence('not_found')
        this.#life.setStatus('open')
      } else {
        this.#load(emptyLog(this.dagId, hello.epoch), 'not_found') // the store held a log the server no longer has
      }
    } else if (hello.recovered) {
      this.#life.setStatus('open') // exactly the missed events follow
    } else {
      this.#resync()
    }
    this.#commands.online((event) => socket.send(JSON.stringify(event)))
    this.#gateViewing.online((message) => socket.send(message))
  }

  #onEvent (event: SequencedEvent): void {
    this.#wireEpoch = event.epoch
    this.#receive(event)
  }

  #receive (event: SequencedEvent): void {
    if (this.#buffer !== undefined) {
      this.#buffer.push(event)
      return
    }
    if (this.#follows(event)) this.#apply(event)
    else if (this.#missedBefore(event)) this.#resync(event)
    // else: the store already includes it (the snapshot covered it), or its log was replaced.
  }

  /** Whether `event` is the one right after the store's position. */
  #follows (event: SequencedEvent): boolean {
    if (event.epoch === this.#epoch) return event.seq === this.#seq + 1
    // A store holding nothing can start any log at its first event (a DAG's first event opens an epoch).
    return this.#seq === 0 && event.seq === 1
  }

  /** Whether events between the store's position and `event` are missing. */
  #missedBefore (event: SequencedEvent): boolean {
    if (event.epoch === this.#epoch) return event.seq > this.#seq
    // From another log: if it is the socket's current one, the store is behind it; if not, the socket
    // has moved on since (an old event waiting in the buffer) and the event is history.
    return event.epoch === this.#wireEpoch
  }

  #apply (event: SequencedEvent): void {
    this.store.apply(event)
    this.#epoch = event.epoch
    this.#seq = event.seq
    this.#setExistence('found')
    this.#emitter.emit('event', event)
  }

  #load (snapshot: DAGSnapshot, existence: DAGExistence): void {
    this.store.reset(snapshot)
    this.#epoch = snapshot.epoch
    this.#seq = snapshot.seq
    this.#setExistence(existence)
    this.#emitter.emit('snapshot', snapshot)
    this.#life.setStatus('open')
  }

  // -------------------------------------------------------------------------------------------
  // Resync: snapshot + the live events that arrive while it loads
  // -------------------------------------------------------------------------------------------

  #resync (first?: SequencedEvent): void {
    // One load at a time: whatever asks for another meanwhile (a gap, resync_required) waits in the
    // buffer, and the hand-off below decides whether the snapshot covers it.
    if (this.#buffer !== undefined) return
    const buffer = first === undefined ? [] : [first]
    this.#buffer = buffer
    this.#life.setStatus('resyncing')
    const generation = this.#generation
    fetchSnapshot(this.#fetch, snapshotUrl(this.#baseUrl, this.#prefix, this.dagId)).then(
      (snapshot) => {
        if (generation === this.#generation) this.#handOff(snapshot, buffer)
      },
      (error: DAGStreamError) => {
        if (generation === this.#generation) this.#drop(error)
      }
    )
  }

  #handOff (snapshot: DAGSnapshot | undefined, buffer: SequencedEvent[]): void {
    this.#buffer = undefined
    if (snapshot === undefined) {
      // The DAG is gone (evicted after it finished, or the server restarted empty): its state is that
      // of an empty log. The log this socket was following is gone with it, so its buffered events are
      // history; taking them for a gap would load the same 404 again and again. The next log announces
      // itself (resync_required, or its event seq 1).
      this.#wireEpoch = ''
      this.#load(emptyLog(this.dagId, ''), 'not_found')
    } else {
      this.#load(snapshot, 'found')
    }
    // Events the snapshot includes are dropped by #receive (seq <= snapshot.seq); if the buffer shows
    // yet another gap, a new resync starts and the rest of the buffer waits for it.
    for (const event of buffer) this.#receive(event)
  }

  // -------------------------------------------------------------------------------------------
  // Losing a socket, and getting another
  // -------------------------------------------------------------------------------------------

  #onClose (code: number, reason: string): void {
    const greeted = this.#greeted
    this.#detach()
    if (!greeted && this.#transport.failedBeforeHello()) this.#emitter.emit('transport', 'sse')
    if (shouldReconnect(code)) this.#life.scheduleReconnect(code)
    else this.#finish(new DAGStreamError('closed_by_server', `The server closed the stream for good: ${code} ${reason}`, { closeCode: code }))
  }

  /** Gives up a socket that cannot serve (its snapshot failed to load) and tries again later. */
  #drop (error: DAGStreamError): void {
    this.#life.report(error)
    const socket = this.#socket
    this.#detach()
    socket?.close(1000, 'snapshot failed')
    this.#life.scheduleReconnect()
  }

  /** Forgets the current socket: its late frames, its snapshot load and its commands in flight. */
  #detach (): void {
    this.#generation += 1
    this.#socket = undefined
    this.#buffer = undefined
    this.#life.disconnected()
    this.#commands.offline()
    this.#greeted = false
    this.#gateViewing.offline()
    if (this.#presence.clear()) this.#emitter.emit('presence', this.#presence.view)
  }

  #finish (error: DAGStreamError | undefined): void {
    // First, so that commands in flight learn the client closed rather than that the link dropped.
    this.#commands.rejectAll(new DAGStreamError('client_closed', 'The stream is closed'))
    const socket = this.#socket
    this.#detach()
    socket?.close(1000, 'client closed')
    this.#life.finish(error)
  }

  #setExistence (existence: DAGExistence): void {
    if (existence === this.#existence) return
    this.#existence = existence
    this.#emitter.emit('existence', existence)
  }
}

/** The state of a DAG with no events: nothing, at seq 0. */
function emptyLog (dagId: string, epoch: string): DAGSnapshot {
  return toSnapshot(dagId, epoch, 0, createState())
}

/**
 * Creates a client and (unless `connect: false`) starts streaming.
 * @example
 * import WebSocket from 'ws' // Node 20 only; browsers have one
 * const client = createDAGStreamClient({ baseUrl: 'http://localhost:3000', dagId: 'run-42', WebSocket })
 */
export function createDAGStreamClient<Store extends DAGStore = DefaultDAGStore> (
  options: DAGStreamClientOptions<Store>
): DAGStreamClient<Store> {
  return new DAGStreamClient(options)
}
