// Who else watches the DAG, as the server tells this client: the whole picture after each hello
// (`presence`), then deltas (`presence_delta`), and a new picture in place of a change too large for
// a delta; a picture always replaces what was held. Not part of the store: it is no event of the log.

import type { PresenceDeltaFrame, PresenceFrame, PresenceViewer } from '../../schemas/events.js'
import { applyPresenceChange } from '../shared/presence-change.js'

/** A new object after every change (so React re-renders), the same one otherwise. */
export interface PresenceView {
  /**
   * Sockets watching the DAG, on every instance, this one first. Empty while disconnected. Not
   * always all of them: the server lists at most 50 in its picture (this client, then those with a
   * gate open), then names each change of up to 50 viewers (a larger one comes as a new picture);
   * `count` is exact, and may be larger than this list.
   */
  readonly viewers: readonly PresenceViewer[]
  /** How many sockets watch the DAG (a person with two tabs counts twice), listed or not. */
  readonly count: number
  /** This client's own viewer id, to tell "me" from the others; undefined while disconnected. */
  readonly self: string | undefined
  /** The viewers with a gate open in front of them, by the gate's node id (this client too). */
  readonly gates: ReadonlyMap<string, readonly PresenceViewer[]>
}

export const NO_PRESENCE: PresenceView = Object.freeze({ viewers: [], count: 0, self: undefined, gates: new Map() })

export class PresenceTracker {
  readonly #viewers = new Map<string, PresenceViewer>()
  #self: string | undefined
  #view: PresenceView = NO_PRESENCE

  get view (): PresenceView {
    return this.#view
  }

  /** Applies a presence frame; returns the new view. */
  receive (frame: PresenceFrame | PresenceDeltaFrame): PresenceView {
    if (frame.type === 'presence') {
      this.#viewers.clear()
      this.#self = frame.self
      applyPresenceChange(this.#viewers, { upserted: frame.viewers, removed: [] })
    } else {
      applyPresenceChange(this.#viewers, frame)
    }
    const viewers = [...this.#viewers.values()]
    const gates = new Map<string, PresenceViewer[]>()
    for (const viewer of viewers) {
      if (viewer.gate !== null) gates.set(viewer.gate, [...(gates.get(viewer.gate) ?? []), viewer])
    }
    // Never fewer than listed: a count from an instance that has not yet heard of a viewer it lists.
    this.#view = { viewers, count: Math.max(frame.count, viewers.length), self: this.#self, gates }
    return this.#view
  }

  /** The socket is gone: the server forgot this client, and what it said about the others is stale. */
  clear (): boolean {
    if (this.#view === NO_PRESENCE) return false
    this.#viewers.clear()
    this.#self = undefined
    this.#view = NO_PRESENCE
    return true
  }
}
