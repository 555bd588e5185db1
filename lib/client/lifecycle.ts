// What the stream client and the list client share about their life: started at most once, open while
// a socket serves, reconnecting on the backoff's schedule when one is lost, closed for good at the end.
// The status and the last problem say where a client is, and each change is announced on its emitter.
// Each client keeps its sockets and what they carry.

import { Retries, type BackoffOptions, type ReconnectInfo } from './backoff.js'
import type { EventSink } from './emitter.js'
import type { DAGStreamError } from './errors.js'

/** The statuses every client goes through; a client may add its own (`Extra`). */
export type LifecycleStatus = 'connecting' | 'open' | 'reconnecting' | 'closed'

/** The events a Lifecycle announces on its client's emitter. */
export interface LifecycleEvents<Status> {
  /** The connection's state changed. */
  connection: Status
  /** @deprecated listen to `connection` (the same value) */
  status: Status
  error: DAGStreamError
  reconnecting: ReconnectInfo
}

export class Lifecycle<Extra extends string = never> {
  readonly #emitter: EventSink<LifecycleEvents<LifecycleStatus | Extra>>
  readonly #retries: Retries
  #status: LifecycleStatus | Extra = 'connecting'
  #started = false
  #error: DAGStreamError | undefined

  /** `open` opens a new socket: at the start and when a scheduled retry is due. */
  constructor (emitter: EventSink<LifecycleEvents<LifecycleStatus | Extra>>, backoff: BackoffOptions | undefined, open: () => void) {
    this.#emitter = emitter
    this.#retries = new Retries(backoff, open)
  }

  get status (): LifecycleStatus | Extra {
    return this.#status
  }

  /** The last problem reported, until a socket serves again. */
  get error (): DAGStreamError | undefined {
    return this.#error
  }

  /** While `reconnecting`: when the next attempt starts. */
  get reconnect (): ReconnectInfo | undefined {
    return this.#retries.pending
  }

  /** Whether the first socket should open now: once, and never after the end. */
  start (): boolean {
    if (this.#started || this.#status === 'closed') return false
    this.#started = true
    return true
  }

  /** A socket serves (its first frame came): the backoff may start over, and the last problem is past. */
  connected (): void {
    this.#retries.connected()
    this.#error = undefined
  }

  /** The socket is gone, whatever comes next. */
  disconnected (): void {
    this.#retries.disconnected()
  }

  /** Another socket opens after the backoff's delay; `closeCode` says how the last one ended, if it was closed. */
  scheduleReconnect (closeCode?: number): void {
    const retry = this.#retries.schedule(closeCode)
    this.setStatus('reconnecting')
    this.#emitter.emit('reconnecting', retry)
  }

  /** The end: no more attempts. `error` says why, unless the client was closed by its owner. */
  finish (error: DAGStreamError | undefined): void {
    this.#retries.cancel()
    if (error !== undefined) this.report(error)
    this.setStatus('closed')
  }

  report (error: DAGStreamError): void {
    this.#error = error
    this.#emitter.emit('error', error)
  }

  setStatus (status: LifecycleStatus | Extra): void {
    if (status === this.#status) return
    this.#status = status
    this.#emitter.emit('connection', status)
    this.#emitter.emit('status', status)
  }
}
