// The resume rules, shared by every backplane: from the log's position and what the client last saw,
// decide whether the client can be given exactly the events it missed, and from which seq.

import type { ResyncReason } from '../../schemas/events.js'
import type { LogEntry, Replay } from './types.js'

/** Where a DAG's log stands: its epoch, its head, and the oldest seq still kept for replay. */
export interface LogPosition {
  epoch: string
  seq: number
  oldestKept: number
}

export type ReplayPlan = { recovered: true; from: number } | { recovered: false; reason?: ResyncReason }

/** `log` is undefined for a DAG with no events. */
export function planReplay (log: LogPosition | undefined, since?: { epoch: string; seq: number }): ReplayPlan {
  if (since === undefined) return { recovered: false }
  if (log === undefined || since.epoch !== log.epoch) {
    // A client that saw nothing yet has nothing to lose: it can follow any log from its start, and
    // from the history while that still holds seq 1 (a run created after the client connected: its
    // events 1, 2 … continue the empty log the client had, no snapshot needed).
    if (since.seq === 0 && (log === undefined || log.oldestKept <= 1)) return { recovered: true, from: 1 }
    return { recovered: false, reason: 'epoch_changed' }
  }
  if (since.seq > log.seq) return { recovered: false, reason: 'ahead_of_log' }
  if (since.seq + 1 < log.oldestKept) return { recovered: false, reason: 'history_exceeded' }
  return { recovered: true, from: since.seq + 1 }
}

/** The replay of a plan, with the log's entries from `plan.from` on when it recovers. */
export function replayOf (plan: ReplayPlan, epoch: string, seq: number, entriesFrom: (from: number) => LogEntry[]): Replay {
  if (plan.recovered) return { recovered: true, epoch, seq, entries: entriesFrom(plan.from) }
  return plan.reason === undefined ? { recovered: false, epoch, seq } : { recovered: false, epoch, seq, reason: plan.reason }
}
