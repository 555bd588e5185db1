// The seam between the plugin and where DAG logs live.
//
// A backplane owns, per DAG: the epoch, the sequence counter, the state (through the reducer), the
// bounded history used for resume, the gate book, and the fan-out of new events to every subscriber.
// The plugin only talks to this interface, so a Redis implementation (several instances, a log that
// survives restarts) can replace the in-memory one without changing the public API. Every method is
// async for that reason, even where the in-memory implementation answers at once.

import type { DAGEvent, ExecutionStatus, ResyncReason, SequencedEvent } from '../../schemas/events.js'
import type { DAGSnapshot, DAGSummary } from '../../schemas/snapshot.js'
import type { GateClaim } from '../gates.js'

/** One event of a DAG's log, serialized once for every socket that will carry it. */
export interface LogEntry {
  epoch: string
  seq: number
  /** The UTF-8 JSON of the `SequencedEvent`: what goes on the wire, as is. */
  frame: Buffer
}

/** What the log can give a client that asks to resume after `since`. */
export type Replay =
  | { recovered: true; epoch: string; seq: number; entries: LogEntry[] }
  | { recovered: false; epoch: string; seq: number; reason?: ResyncReason }

/** The part of a DAG's state that commands are checked against. */
export interface DagStatus {
  epoch: string
  seq: number
  status: ExecutionStatus
}

export type LogListener = (entry: LogEntry) => void

export interface Backplane {
  /** Numbers the event, applies it to the DAG's state, stores it, and delivers it to every subscriber. */
  append(dagId: string, event: DAGEvent): Promise<SequencedEvent>
  /** The DAG's full state, stamped with the seq of the last event it includes; undefined if unknown. */
  snapshot(dagId: string): Promise<DAGSnapshot | undefined>
  status(dagId: string): Promise<DagStatus | undefined>
  /** Exactly the events after `since` in `epoch`, or `recovered: false` when that cannot be guaranteed. */
  replay(dagId: string, since?: { epoch: string; seq: number }): Promise<Replay>
  list(limit: number, offset: number): Promise<{ dags: DAGSummary[]; total: number }>
  /** Receives every entry appended to the DAG from now on, in seq order. Returns the unsubscribe function. */
  subscribe(dagId: string, listener: LogListener): () => void
  /** Applies the gate rules of lib/gates.ts to a decision for `nodeId`. */
  claimGate(dagId: string, nodeId: string, key: string): Promise<GateClaim | { kind: 'refused'; code: 'dag_not_found' }>
  settleGate(dagId: string, nodeId: string, key: string, accepted: boolean): Promise<void>
  /** Releases timers and connections. Appending afterwards rejects. */
  close(): Promise<void>
}
