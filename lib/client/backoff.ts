// When to try again after a connection is lost.
//
// Full jitter with a floor: the n-th retry waits a uniformly random whole number of ms in
// [⌊min/2⌋, min(max, min·2^n)).
// After a deploy every dashboard loses its socket at the same moment; without jitter they would all
// come back at 1 s, 2 s, 4 s … together and knock the new instance over in waves. Spreading each wave
// over its whole window keeps the load flat. The floor keeps the first wave off the first few
// milliseconds after a restart, when the new instance is still warming up: with plain full jitter
// the earliest of 5,000 dashboards would be back almost at once. The schedule starts over once a connection has stayed up for
// `resetAfterMs`, so a flapping link keeps backing off while a link that was healthy for a long time
// recovers fast.

import { checkOption } from './options.js'

/** The first retry waits up to this long. */
export const DEFAULT_MIN_DELAY_MS = 1000
/** No retry waits longer than this. */
export const DEFAULT_MAX_DELAY_MS = 30_000
/** A connection that lasted this long counts as healthy: the next retry starts the schedule over. */
export const DEFAULT_RESET_AFTER_MS = 10_000

export interface BackoffOptions {
  /** Upper bound of the first delay, doubled at each attempt; every delay is at least half of it. @default 1000 */
  minDelayMs?: number
  /** Cap on the upper bound. @default 30000 */
  maxDelayMs?: number
  /** How long a connection must stay up for the schedule to start over. @default 10000 */
  resetAfterMs?: number
  /** Source of randomness in [0, 1), replaceable for tests. @default Math.random */
  random?: () => number
}

/**
 * The retry schedule of one client.
 * @example
 * const backoff = new Backoff({ minDelayMs: 500 })
 * setTimeout(reconnect, backoff.next()) // 250–500 ms, then 250 ms–1 s, 250 ms–2 s … 250 ms–30 s
 */
export class Backoff {
  readonly #min: number
  readonly #max: number
  readonly #resetAfter: number
  readonly #random: () => number
  #attempt = 0
  #connectedAt: number | undefined

  constructor (options: BackoffOptions = {}) {
    this.#min = checkOption.milliseconds('backoff.minDelayMs', options.minDelayMs, DEFAULT_MIN_DELAY_MS)
    this.#max = checkOption.milliseconds('backoff.maxDelayMs', options.maxDelayMs, Math.max(DEFAULT_MAX_DELAY_MS, this.#min))
    this.#resetAfter = checkOption.milliseconds('backoff.resetAfterMs', options.resetAfterMs, DEFAULT_RESET_AFTER_MS)
    if (this.#max < this.#min) {
      throw new RangeError(`backoff.maxDelayMs (${this.#max}) must be at least backoff.minDelayMs (${this.#min})`)
    }
    this.#random = options.random ?? Math.random
  }

  /** How many delays were handed out since the schedule last started over. */
  get attempt (): number {
    return this.#attempt
  }

  /** The delay before the next attempt, in ms; each call moves one step along the schedule. */
  next (): number {
    // The exponent is capped so that a client retrying for days never computes Infinity.
    const ceiling = Math.min(this.#max, this.#min * 2 ** Math.min(this.#attempt, 32))
    // Whole milliseconds, so the sum below is exact: adding a fractional floor after the product could
    // round a draw just under 1 up to the ceiling itself (0.5 + 0.49999999999999994 === 1).
    const floor = Math.floor(this.#min / 2)
    this.#attempt += 1
    return floor + Math.floor(this.#random() * (ceiling - floor))
  }

  /** A connection was established; how long it lasts decides whether the schedule starts over. */
  connected (): void {
    this.#connectedAt = Date.now()
  }

  /** The connection ended. */
  disconnected (): void {
    if (this.#connectedAt !== undefined && Date.now() - this.#connectedAt >= this.#resetAfter) this.#attempt = 0
    this.#connectedAt = undefined
  }
}

/** When the next connection attempt starts, for a "reconnecting in N s" message. */
export interface ReconnectInfo {
  /** 1 for the first retry since the schedule last started over. */
  readonly attempt: number
  readonly delayMs: number
  /** `Date.now()` at which the attempt starts. */
  readonly retryAt: number
  /** How the last connection ended, when the server or the network closed it (4401: credentials expired …). */
  readonly closeCode?: number
}

/** A client's retries: the backoff, the timer of the next attempt, and what to tell about it. */
export class Retries {
  readonly #backoff: Backoff
  readonly #attempt: () => void
  #timer: ReturnType<typeof setTimeout> | undefined
  #pending: ReconnectInfo | undefined

  /** `attempt` opens a new connection; it runs when a scheduled retry is due. */
  constructor (options: BackoffOptions | undefined, attempt: () => void) {
    this.#backoff = new Backoff(options)
    this.#attempt = attempt
  }

  /** The retry waiting to start, if one is. */
  get pending (): ReconnectInfo | undefined {
    return this.#pending
  }

  /** Schedules the next attempt after the backoff's delay, and says when it starts. */
  schedule (closeCode?: number): ReconnectInfo {
    const delayMs = this.#backoff.next()
    this.#pending = { attempt: this.#backoff.attempt, delayMs, retryAt: Date.now() + delayMs, ...(closeCode === undefined ? {} : { closeCode }) }
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#attempt()
    }, delayMs)
    return this.#pending
  }

  /** A connection was established (see Backoff.connected). */
  connected (): void {
    this.#backoff.connected()
    this.#pending = undefined
  }

  /** The connection ended (see Backoff.disconnected). */
  disconnected (): void {
    this.#backoff.disconnected()
  }

  /** No more attempts: the client was closed. */
  cancel (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#pending = undefined
  }
}
