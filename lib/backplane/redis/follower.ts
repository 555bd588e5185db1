// One DAG followed by one instance: the live entries from pub/sub, merged with reads of the log, so
// that the local sockets get every entry once, in seq order.
//
// Pub/sub is at most once: a message can be lost (a reconnect, a deaf connection after a failover),
// and nothing else tells the follower. So the follower checks each entry's seq against the last one it
// delivered: a duplicate is dropped, a gap is filled from the log before anything later is delivered.
// A gap the log cannot fill (trimmed meanwhile) is passed on as a jump in seq, which each socket turns
// into `resync_required`: never a silent gap.

import type { LogEntry, LogListener, Replay } from '../types.js'

/** Entries held while a gap is filled. Past it, the follower gives up on the gap (sockets resync). */
const MAX_HELD = 10_000

export type ReadAfter = (since: { epoch: string; seq: number }) => Promise<Replay>

export class Follower {
  readonly listeners = new Set<LogListener>()
  /** The position of the last entry delivered (or of the log when the follower started). */
  #epoch = ''
  #seq = 0
  #started = false
  #filling = false
  #held: LogEntry[] = []
  readonly #readAfter: ReadAfter
  readonly #onError: (error: unknown) => void

  constructor (readAfter: ReadAfter, onError: (error: unknown) => void) {
    this.#readAfter = readAfter
    this.#onError = onError
  }

  get position (): { epoch: string; seq: number } {
    return { epoch: this.#epoch, seq: this.#seq }
  }

  /** Called once subscribed and the log's head read: entries up to it are the sockets' replay's job. */
  start (head: { epoch: string; seq: number }): void {
    this.#epoch = head.epoch
    this.#seq = head.seq
    this.#started = true
    this.#release()
  }

  /** An entry from pub/sub. */
  receive (entry: LogEntry): void {
    this.#held.push(entry)
    this.#release()
  }

  /** Reads what the log has after the last delivered entry: after a reconnect, or when a probe saw the head move. */
  recover (): void {
    if (this.#started && !this.#filling) void this.#fill()
  }

  /** Delivers held entries in arrival order, until one of them shows a gap, which is filled first. */
  #release (): void {
    while (this.#started && !this.#filling && this.#held.length > 0) {
      const entry = this.#held[0] as LogEntry
      if (entry.epoch !== this.#epoch) {
        // A new log (the DAG was evicted or its data lost, then appended to again), or the first
        // one this follower sees: follow it from its start.
        this.#epoch = entry.epoch
        this.#seq = 0
      }
      if (entry.seq > this.#seq + 1) {
        void this.#fill()
        break
      }
      this.#held.shift()
      if (entry.seq === this.#seq + 1) this.#deliver(entry)
    }
    if (this.#started && this.#held.length > MAX_HELD) this.#skipGap()
  }

  #deliver (entry: LogEntry): void {
    this.#seq = entry.seq
    for (const listener of this.listeners) listener(entry)
  }

  async #fill (): Promise<void> {
    this.#filling = true
    // At most three reads: the gap itself, then (if the log was replaced or trimmed meanwhile) its
    // new start, then its newest entry.
    for (let read = 0; read < 3; read++) {
      let replay: Replay
      try {
        replay = await this.#readAfter({ epoch: this.#epoch, seq: this.#seq })
      } catch (error) {
        // The log cannot be read (Redis is down): hold on; `recover`, or the next entry, tries again.
        this.#filling = false
        this.#onError(error)
        return
      }
      if (replay.recovered) {
        for (const entry of replay.entries) if (entry.seq === this.#seq + 1) this.#deliver(entry)
        break
      }
      // The DAG is gone from Redis: what is held (if anything) goes out as it is.
      if (replay.seq === 0) {
        this.#skipGap()
        break
      }
      // A new log replaced this one (Redis restarted empty, or the DAG was evicted and begun again):
      // read it from its start, even with entries held. They belong to it, and the first of them may
      // come after entries published while this instance was not subscribed yet.
      if (replay.epoch !== this.#epoch) {
        this.#epoch = replay.epoch
        this.#seq = 0
        // Entries of the replaced log, held since before it was replaced, are stale: the log says
        // which one is current. (Delivered, they would switch the sockets back to a dead epoch.)
        this.#held = this.#held.filter((entry) => entry.epoch === replay.epoch)
        continue
      }
      // The gap was trimmed from the log. Entries wait: they go out with the jump. Nothing waits:
      // the newest entry at least, so the sockets learn of the jump now rather than at the next
      // event, which may be long in coming.
      if (this.#held.length > 0) {
        this.#skipGap()
        break
      }
      this.#seq = Math.max(this.#seq, replay.seq - 1)
    }
    this.#filling = false
    this.#release()
  }

  /** Gives up on the gap before the held entries: they go out with the jump, which sockets see. */
  #skipGap (): void {
    const held = this.#held
    this.#held = []
    for (const entry of held) {
      if (entry.epoch === this.#epoch && entry.seq <= this.#seq) continue
      this.#epoch = entry.epoch
      this.#deliver(entry)
    }
  }
}
