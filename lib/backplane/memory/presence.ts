// Presence on the in-memory backplane: one process, so the union of instances is this one.

import type { PresenceViewer } from '../../../schemas/events.js'
import { applyPresenceChange, type PresenceChange } from '../../shared/presence-change.js'
import type { PresenceListener, PresenceStore, PresenceWatch } from '../types.js'

export class MemoryPresence implements PresenceStore {
  readonly #viewers = new Map<string, Map<string, PresenceViewer>>()
  readonly #listeners = new Map<string, Set<PresenceListener>>()

  async update (dagId: string, change: PresenceChange): Promise<void> {
    const viewers = this.#viewers.get(dagId) ?? new Map<string, PresenceViewer>()
    applyPresenceChange(viewers, change)
    if (viewers.size === 0) this.#viewers.delete(dagId)
    else this.#viewers.set(dagId, viewers)
    for (const listener of this.#listeners.get(dagId) ?? []) listener(dagId, change, viewers.size, viewers.values())
  }

  async watch (dagId: string, listener: PresenceListener): Promise<PresenceWatch> {
    const listeners = this.#listeners.get(dagId) ?? new Set<PresenceListener>()
    this.#listeners.set(dagId, listeners)
    listeners.add(listener)
    return {
      // Looked up on each call: the DAG's map is dropped when its last viewer leaves.
      viewers: () => this.#viewers.get(dagId)?.values() ?? [],
      stop: () => {
        listeners.delete(listener)
        if (listeners.size === 0) this.#listeners.delete(dagId)
      }
    }
  }
}
