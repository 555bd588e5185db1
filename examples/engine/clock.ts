// Simulated time for one run: every delay the engine waits goes through here, so that one call pauses
// the whole run (work in flight keeps the time it has left), one call cancels it, and a speed factor
// makes tests fast without changing the story the run tells.

/**
 * Why a clock stands still: a user paused the run. (While Redis is down the run goes on: its run
 * handle keeps the events, in order, until they can be stored.) Time moves only when none holds.
 */
export type Hold = 'paused'

interface Pending {
  /** Milliseconds of simulated time still to wait (already divided by the speed factor). */
  remaining: number
  startedAt: number
  timer: NodeJS.Timeout | undefined
  fire: () => void
}

export class Clock {
  readonly #speed: number
  readonly #pending = new Set<Pending>()
  readonly #holds = new Set<Hold>()
  #stopped = false

  /** @param speed how many times faster than real time the run goes, e.g. 10 in tests. */
  constructor (speed: number) {
    if (!(speed > 0)) throw new RangeError(`speed must be a positive number, got ${speed}`)
    this.#speed = speed
  }

  /** Calls `fire` after `ms` of simulated time that the run is not paused. */
  after (ms: number, fire: () => void): void {
    if (this.#stopped) return
    const pending: Pending = { remaining: ms / this.#speed, startedAt: 0, timer: undefined, fire }
    this.#pending.add(pending)
    if (this.#holds.size === 0) this.#arm(pending)
  }

  /** Resolves after `ms` of unpaused simulated time; never resolves once the clock is stopped. */
  sleep (ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve))
  }

  pause (reason: Hold = 'paused'): void {
    if (this.#holds.has(reason)) return
    this.#holds.add(reason)
    if (this.#holds.size > 1) return
    const now = Date.now()
    for (const pending of this.#pending) {
      clearTimeout(pending.timer)
      pending.remaining = Math.max(0, pending.remaining - (now - pending.startedAt))
    }
  }

  resume (reason: Hold = 'paused'): void {
    if (!this.#holds.delete(reason) || this.#holds.size > 0) return
    for (const pending of this.#pending) this.#arm(pending)
  }

  /** Drops everything still waiting: nothing scheduled on this clock will run. */
  stop (): void {
    this.#stopped = true
    for (const pending of this.#pending) clearTimeout(pending.timer)
    this.#pending.clear()
  }

  #arm (pending: Pending): void {
    pending.startedAt = Date.now()
    pending.timer = setTimeout(() => {
      this.#pending.delete(pending)
      pending.fire()
    }, pending.remaining)
  }
}
