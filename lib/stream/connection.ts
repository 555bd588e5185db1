// One dashboard socket's life: the hello/resume handshake, live delivery with backpressure, inbound
// parsing, validation and rate limiting, and the heartbeat.

import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { PROTOCOL_VERSION, type AckFrame, type ClientEvent, type ControlFrame, type ErrorCode, type ErrorFrame, type GateViewingEvent, type HelloFrame } from '../../schemas/events.js'
import type { LogEntry, Replay } from '../backplane/types.js'
import { CloseCode } from '../shared/close-codes.js'
import type { RateLimitOptions } from '../options.js'
import type { StreamSocket } from './event-stream.js'
import { errorFrame, idOf } from './frames.js'
import type { Metrics } from '../metrics/metrics.js'
import { validateClientMessage } from '../validation.js'
import { rawSocketOf, sendText } from './wire.js'

export interface ConnectionOptions {
  maxPayload: number
  maxBufferedBytes: number
  rateLimit: Required<RateLimitOptions> | false
  /** Client events that may wait behind the one running; see the `maxQueuedEvents` option. */
  maxQueuedEvents: number
  metrics: Pick<Metrics, 'frameSent' | 'streamClosed' | 'resyncSent'>
  /** Called once when the connection ends, whoever ended it. */
  onClose: (connection: Connection) => void
  /** Runs a validated client event and says what to answer (nothing when there is no id to ack). */
  runCommand: (event: ClientEvent, connection: Connection) => Promise<AckFrame | ErrorFrame | undefined>
  /** The client says which gate it has open (null: none); see lib/stream/presence.ts. */
  onGateViewing?: (connection: Connection, nodeId: string | null) => void
}

// A socket is `joining` from the upgrade until its hello and replay are sent. Live entries that arrive
// in the meantime wait in `pending`, so the hand-off from replay to live loses and repeats nothing.
type Phase = 'joining' | 'live' | 'closed'

export class Connection {
  /** A `ws` socket, or an event stream shaped like one (see event-stream.ts). */
  readonly socket: StreamSocket
  readonly request: FastifyRequest
  readonly dagId: string
  /** Short and random: it tells this socket's log lines apart, across instances too. */
  readonly id = randomBytes(6).toString('base64url')
  #log: FastifyBaseLogger | undefined
  readonly #options: ConnectionOptions
  /** The TCP socket under `socket`, for frames built once for every socket (see wire.ts). */
  readonly #raw: ReturnType<typeof rawSocketOf>
  #phase: Phase = 'joining'
  #pending: LogEntry[] = []
  #pendingBytes = 0
  /** The epoch and seq of the last event this socket was sent. */
  #epoch = ''
  #seq = 0
  #alive = true
  #windowStart = 0
  #messagesInWindow = 0
  #invalidInWindow = 0
  /** Client events received and not yet run, oldest first (the one running is not among them). */
  #queue: ClientEvent[] = []
  #running = false

  constructor (socket: StreamSocket, request: FastifyRequest, dagId: string, options: ConnectionOptions) {
    this.socket = socket
    this.request = request
    this.dagId = dagId
    this.#options = options
    this.#raw = rawSocketOf(socket)
    socket.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary))
    socket.on('pong', () => {
      this.#alive = true
    })
    socket.on('close', () => this.#ended())
  }

  /**
   * The request's logger, and every line says which DAG and which socket. Made on first use: most
   * sockets never log, and an idle socket's memory is a feature.
   */
  get log (): FastifyBaseLogger {
    this.#log ??= this.request.log.child({ dagId: this.dagId, connectionId: this.id })
    return this.#log
  }

  /** Sends hello and the replayed events, then whatever arrived live meanwhile, and goes live. */
  start (replay: Replay): void {
    if (this.#phase !== 'joining') return
    this.#epoch = replay.epoch
    this.#seq = replay.seq
    const hello: HelloFrame = { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: this.dagId, epoch: replay.epoch, seq: replay.seq, recovered: replay.recovered }
    if (!replay.recovered && replay.reason !== undefined) hello.reason = replay.reason
    this.#sendControl(hello)
    if (replay.recovered) for (const entry of replay.entries) this.#sendFrame(entry.frame)
    // The replay alone may pass maxBufferedBytes: the socket is then closed, and stays so.
    // (The cast: TypeScript cannot see that sending may close the connection.)
    if ((this.#phase as Phase) === 'closed') return
    const pending = this.#pending
    this.#pending = []
    this.#phase = 'live'
    for (const entry of pending) this.deliver(entry)
  }

  /** Called by the room for every new event of the DAG. */
  deliver (entry: LogEntry): void {
    if (this.#phase === 'joining') {
      this.#pending.push(entry)
      this.#pendingBytes += entry.frame.length
      if (this.#pendingBytes > this.#options.maxBufferedBytes) this.#closeSlow()
      return
    }
    if (entry.epoch === this.#epoch) {
      if (entry.seq <= this.#seq) return // already sent by the replay
      // The last line of "never a silent gap": events this socket never got and the backplane could not
      // recover (trimmed from the log while its instance was cut off from the others).
      if (entry.seq > this.#seq + 1) {
        this.#sendControl({ type: 'resync_required', epoch: entry.epoch, seq: entry.seq - 1, reason: 'history_exceeded' })
        this.#options.metrics.resyncSent('history_exceeded') // metrics
      }
    } else if (this.#seq > 0) {
      // The DAG's log was replaced (evicted and started again, or lost): what this client holds no
      // longer matches. Say so before the first event of the new log.
      this.#sendControl({ type: 'resync_required', epoch: entry.epoch, seq: entry.seq - 1, reason: 'epoch_changed' })
      this.#options.metrics.resyncSent('epoch_changed') // metrics
    }
    this.#epoch = entry.epoch
    this.#seq = entry.seq
    this.#sendFrame(entry.frame)
  }

  /**
   * One heartbeat tick: a peer that has not answered the previous ping is dead (a vanished laptop
   * never sends a close frame) and is terminated, which frees its room slot at once.
   * @returns whether the peer is still alive
   */
  heartbeat (): boolean {
    if (!this.#alive) {
      this.socket.terminate()
      this.#options.metrics.streamClosed(CloseCode.ABNORMAL) // metrics
      this.#ended()
      return false
    }
    this.#alive = false
    this.socket.ping()
    return true
  }

  /**
   * Starts the closing handshake and leaves the room at once: a peer that never answers (a stalled
   * reader) no longer counts, and ws destroys its socket after its close timeout.
   */
  close (code: CloseCode, reason: string): void {
    if (this.#phase === 'closed') return
    this.socket.close(code, reason)
    this.#options.metrics.streamClosed(code) // metrics
    this.#ended()
  }

  #ended (): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    this.#pending = []
    // Nobody is left to answer: what waits is never run, and its memory goes now.
    this.#queue = []
    this.#options.onClose(this)
  }

  /** A serialized presence frame, once this socket is live (after its hello); see lib/stream/presence.ts. */
  sendPresence (frame: Buffer): void {
    if (this.#phase === 'live') this.#sendFrame(frame)
  }

  #sendControl (frame: ControlFrame): void {
    this.#sendFrame(Buffer.from(JSON.stringify(frame)))
  }

  #sendFrame (frame: Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return
    // Past the cap we stop queueing rather than let a slow reader grow the server's memory. The client
    // is told with a close code that means "reconnect and resume": it may get exactly what it missed.
    if (this.socket.bufferedAmount + frame.length > this.#options.maxBufferedBytes) {
      this.#closeSlow()
      return
    }
    sendText(this.socket, this.#raw, frame)
    this.#options.metrics.frameSent(frame.length) // metrics
  }

  #closeSlow (): void {
    this.close(CloseCode.SLOW_CONSUMER, 'slow consumer: reconnect and resume')
  }

  /**
   * A `gate_viewing` POSTed for this event stream (lib/stream/stream-keys.ts), which has no way back of its own:
   * counted against the rate limit as a message on a socket is.
   * @returns false when it broke the limit, which closed the stream
   */
  receivePosted (message: GateViewingEvent): boolean {
    if (!this.#withinRateLimit()) return false
    this.#options.onGateViewing?.(this, message.node_id)
    return true
  }

  #onMessage (data: Buffer, isBinary: boolean): void {
    if (this.#phase === 'closed') return
    if (!this.#withinRateLimit()) return
    // ws already enforces maxPayload when this plugin registered @fastify/websocket; this covers an
    // application that registered it itself with a larger limit.
    if (data.length > this.#options.maxPayload) {
      this.close(CloseCode.MESSAGE_TOO_BIG, 'message too big')
      return
    }
    if (isBinary) {
      this.#refuse('unsupported_binary', 'Binary frames are not supported: send JSON text')
      return
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(data.toString('utf8'))
    } catch {
      this.#refuse('invalid_json', 'The message is not valid JSON')
      return
    }
    const id = idOf(parsed)
    const result = validateClientMessage(parsed)
    if (!result.ok) {
      this.#refuse(result.code, result.message, id)
      return
    }
    const event = result.value
    if (event.type === 'gate_viewing') {
      this.#options.onGateViewing?.(this, event.node_id)
      return
    }
    this.#enqueue(event)
  }

  /**
   * One at a time, in the order sent: a dashboard's pause, decision and resume reach the engine as the
   * user made them, even when a decision takes longer to check than a pause. Past `maxQueuedEvents`
   * waiting, an event is refused: the rate limit bounds how many arrive, this bounds how many wait
   * when `authorize` or the engine is slow.
   */
  #enqueue (event: ClientEvent): void {
    if (this.#queue.length >= this.#options.maxQueuedEvents) {
      const message = `More than ${this.#options.maxQueuedEvents} client events wait on this socket: this one was not run, send it again once they are answered`
      this.#sendControl(errorFrame('rate_limited', message, event.id))
      return
    }
    this.#queue.push(event)
    if (!this.#running) void this.#runQueue()
  }

  async #runQueue (): Promise<void> {
    this.#running = true
    let event: ClientEvent | undefined
    // A close empties the queue: nothing more runs.
    while ((event = this.#queue.shift()) !== undefined) {
      let reply: AckFrame | ErrorFrame | undefined
      try {
        reply = await this.#options.runCommand(event, this)
      } catch {
        // runCommand answers every refusal with an error frame; only a failing backplane gets here.
        this.close(CloseCode.INTERNAL_ERROR, 'internal error')
        break
      }
      if (reply !== undefined && this.#phase !== 'closed') this.#sendControl(reply)
    }
    this.#running = false
  }

  #refuse (code: ErrorCode, message: string, id?: string): void {
    this.#sendControl(errorFrame(code, message, id))
    if (this.#options.rateLimit !== false && ++this.#invalidInWindow > this.#options.rateLimit.maxInvalid) {
      this.#rateLimited('too many invalid messages')
    }
  }

  #withinRateLimit (): boolean {
    const limit = this.#options.rateLimit
    if (limit === false) return true
    const now = Date.now()
    if (now - this.#windowStart >= limit.timeWindow) {
      this.#windowStart = now
      this.#messagesInWindow = 0
      this.#invalidInWindow = 0
    }
    if (++this.#messagesInWindow <= limit.max) return true
    this.#rateLimited(`more than ${limit.max} messages in ${limit.timeWindow} ms`)
    return false
  }

  #rateLimited (why: string): void {
    this.#sendControl({ type: 'error', code: 'rate_limited', message: `Rate limited: ${why}` })
    this.close(CloseCode.POLICY_VIOLATION, 'rate limited')
  }
}
