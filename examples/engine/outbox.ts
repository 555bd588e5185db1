// One run's way out to the plugin. Events go out one at a time, in the order the run made them.
// When the backplane is unavailable (Redis down, `broadcast` rejects with BackplaneUnavailableError),
// the event that failed and every later one wait here, the run is held (its clock stops, so it does
// not race ahead of what dashboards can see), and a retry every second sends them, still in order,
// once Redis answers again. Dropping them instead would leave dashboards showing a step as running
// forever: the log would have no gap, just a missing truth. (An event whose reply was lost may have
// been stored, and goes again: a repeated `error` is listed twice; every other event sets a state,
// so its repeat changes nothing.)
//
// When a sent event comes back in a new epoch, the DAG's log started over (Redis lost its data): the
// run's whole picture goes out first, so the new log describes the run, not just what came after.

import type { FastifyBaseLogger } from 'fastify'
import { BackplaneUnavailableError, type DAGEvent, type SequencedEvent } from '../../lib/index.js'

const RETRY_MS = 1000

export interface OutboxOptions {
  send: (event: DAGEvent) => Promise<SequencedEvent>
  /** The first event could not go out: hold the run. */
  onStall: () => void
  /** Events go out again: let the run go on. */
  onFlow: () => void
  /** The run as it stands, as events: sent first when the DAG's log started over (a new epoch). */
  picture: () => DAGEvent[]
  log: FastifyBaseLogger
}

export class Outbox {
  readonly #options: OutboxOptions
  readonly #queue: DAGEvent[] = []
  /** Set from the first event of a drain to its last, synchronously: whether a push must start one. */
  #busy = false
  /** The latest drain: it sends every event pushed before it ends. */
  #draining: Promise<void> = Promise.resolve()
  #retry: { timer: NodeJS.Timeout; wake: () => void } | undefined
  #closed = false
  /** The epoch of the last event sent. */
  #epoch: string | undefined

  constructor (options: OutboxOptions) {
    this.#options = options
  }

  /** Sends `event` after those pushed before it; at once (synchronously) when nothing waits. */
  push (event: DAGEvent): void {
    if (this.#closed) return
    this.#queue.push(event)
    if (!this.#busy) this.#draining = this.#drain()
  }

  /** Resolves once every event pushed so far went out (or was dropped by `close`). */
  drained (): Promise<void> {
    return this.#draining
  }

  /** Drops what is still waiting and stops retrying. */
  close (): void {
    this.#closed = true
    this.#queue.length = 0
    if (this.#retry !== undefined) {
      clearTimeout(this.#retry.timer)
      this.#retry.wake()
    }
  }

  async #drain (): Promise<void> {
    this.#busy = true
    let stalled = false
    while (this.#queue.length > 0 && !this.#closed) {
      const event = this.#queue[0] as DAGEvent
      let sent: SequencedEvent | undefined
      try {
        sent = await this.#options.send(event)
      } catch (error) {
        if (error instanceof BackplaneUnavailableError) {
          if (!stalled) {
            stalled = true
            this.#options.log.warn({ err: error }, `example engine: holding the run until Redis is back (${this.#queue.length} event(s) waiting)`)
            this.#options.onStall()
          }
          await this.#sleep(RETRY_MS)
          continue
        }
        // Anything else is a bug in the run (an event the plugin refused) or the app closing: not
        // worth holding the run for. Report it and go on.
        this.#options.log.error({ err: error, event }, 'example engine: an event could not be sent')
      }
      this.#queue.shift()
      if (stalled) {
        stalled = false
        this.#options.log.warn('example engine: Redis is back, the run goes on')
        this.#options.onFlow()
      }
      if (sent !== undefined) this.#followEpoch(sent.epoch)
    }
    this.#busy = false
  }

  #followEpoch (epoch: string): void {
    if (this.#epoch !== undefined && epoch !== this.#epoch) {
      this.#options.log.warn('example engine: the run\'s log started over (Redis lost its data); sending the whole run again')
      this.#queue.unshift(...this.#options.picture())
    }
    this.#epoch = epoch
  }

  #sleep (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#retry = undefined
        resolve()
      }
      this.#retry = { timer: setTimeout(wake, ms), wake }
    })
  }
}
