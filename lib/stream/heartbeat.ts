// When each socket's heartbeat is due. Every socket is pinged once per `heartbeatMs`, but not all in
// the same turn: pinging 10,000 sockets (and re-running `authorize` for each) blocks the event loop
// for tens of milliseconds, and their pongs come back together, so every dashboard would see a
// latency spike once per interval. The interval is cut into slices of about a second; each socket
// gets a slice when first seen, round robin, and keeps it, so it is still pinged exactly once per
// interval and a dead peer is still found within two.

/** The length of a slice: the interval's work is done in ticks about this far apart. */
const SLICE_MS = 1000

export class HeartbeatSchedule {
  /** How many slices an interval has (1: every socket in every tick, for intervals under 2 s). */
  readonly slices: number
  /** The time between two ticks. */
  readonly tickMs: number
  readonly #sliceOf = new WeakMap<object, number>()
  #nextSlice = 0
  #currentSlice = 0

  constructor (intervalMs: number) {
    this.slices = Math.max(1, Math.round(intervalMs / SLICE_MS))
    this.tickMs = intervalMs / this.slices
  }

  /** Moves on to the next tick's slice. */
  advance (): void {
    this.#currentSlice = (this.#currentSlice + 1) % this.slices
  }

  /** Whether `member`'s heartbeat is due in this tick. */
  isDue (member: object): boolean {
    let slice = this.#sliceOf.get(member)
    if (slice === undefined) {
      slice = this.#nextSlice
      this.#nextSlice = (slice + 1) % this.slices
      this.#sliceOf.set(member, slice)
    }
    return slice === this.#currentSlice
  }
}
