// One definition of how presence changes apply, shared by the server (the stores, the hub) and the
// client: viewers by id, replaced whole by an upsert, dropped by a removal.

import type { PresenceViewer } from '../../schemas/events.js'

export interface PresenceChange {
  /** Viewers who joined or changed, replacing what was held for their id. */
  upserted: PresenceViewer[]
  /** Ids of the viewers who left. */
  removed: string[]
}

/** Applies `change` to `viewers` in place. */
export function applyPresenceChange (viewers: Map<string, PresenceViewer>, change: PresenceChange): void {
  for (const viewer of change.upserted) viewers.set(viewer.id, viewer)
  for (const id of change.removed) viewers.delete(id)
}

export function isEmptyChange (change: PresenceChange): boolean {
  return change.upserted.length === 0 && change.removed.length === 0
}
