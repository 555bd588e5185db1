// Where things live in Redis. Every key of one DAG carries the hash tag `{dagId}`, so the per-DAG
// scripts touch one slot and run on Redis Cluster. The run list's keys span DAGs: they share one slot
// of their own (listKeys), so the list index's scripts (list-scripts.ts) run on Redis Cluster too, and
// no script touches both a DAG's keys and the list's.

import { ExecutionStatus } from '../../../schemas/events.js'

export interface DAGKeys {
  /** Hash: epoch, seq, ckpt_seq, status, driver, updated_at, ttl, open_gates (gates in phase `waiting`), `n:<producer>`. */
  meta: string
  /** Stream: one entry per event, entry id `<seq>-0`, field `f` = the frame. */
  log: string
  /** String: the JSON snapshot at meta.ckpt_seq. */
  checkpoint: string
  /** Hash: `p:<gate id>` = gate phase (and offer), `c:<gate id>` = the claim's JSON. */
  gates: string
  /** Pub/sub channel: `<seq> <epoch> <frame>` for every append. */
  channel: string
}

export function dagKeys (keyPrefix: string, dagId: string): DAGKeys {
  const tagged = `${keyPrefix}:{${dagId}}`
  return {
    meta: `${tagged}:meta`,
    log: `${tagged}:log`,
    checkpoint: `${tagged}:ckpt`,
    gates: `${tagged}:gates`,
    channel: `${tagged}:events`
  }
}

/** Sorted set of DAG ids by the time of their last event: `GET {prefix}` on every instance. */
export function indexKey (keyPrefix: string): string {
  return `${keyPrefix}:dags`
}

/** Every execution status, in the order the list scripts take their sorted sets. */
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = ExecutionStatus.anyOf.map((member) => member.const)

/** The run list's keys: the index, and what a page filtered by status reads instead of every DAG. */
export interface ListKeys {
  /** Sorted set of every listed DAG id by the time of its last event (as before the sets below). */
  index: string
  /** Hash: DAG id → `<epoch> <seq> <status>`, the append that the DAG's place in the sets reflects. */
  stamps: string
  /** Per status, the sorted set of the ids of the DAGs in it, scored as in the index. */
  byStatus: Record<ExecutionStatus, string>
}

/**
 * The index keeps its name; the others end in the hash tag `{<the index's name>}`, which Redis Cluster
 * hashes exactly as it hashes the index's name (that has no braces): one slot for all of them.
 */
export function listKeys (keyPrefix: string): ListKeys {
  const index = indexKey(keyPrefix)
  const slot = `{${index}}`
  const byStatus = Object.fromEntries(EXECUTION_STATUSES.map((status) => [status, `${index}:status:${status}:${slot}`]))
  return { index, stamps: `${index}:stamps:${slot}`, byStatus: byStatus as Record<ExecutionStatus, string> }
}

/** The list's keys in the order every list script takes them: index, stamps, then the status sets. */
export function listScriptKeys ({ index, stamps, byStatus }: ListKeys): string[] {
  return [index, stamps, ...EXECUTION_STATUSES.map((status) => byStatus[status])]
}

/**
 * Pub/sub channel of the list's changes, for every instance: `changed …` from the append script (see
 * scripts.ts), `evicted <dagId>` from the instance that removed a gone DAG from the index.
 */
export function listChannel (keyPrefix: string): string {
  return `${keyPrefix}:dags:changes`
}

/**
 * Sorted set of DAG ids by when their engine lease lapses. Spans DAGs, like the index: the lease
 * script touches only it, so it runs on Redis Cluster too.
 */
export function leasesKey (keyPrefix: string): string {
  return `${keyPrefix}:leases`
}

/** Pub/sub channel of one backplane instance: client events forwarded to it, and their replies. */
export function instanceChannel (keyPrefix: string, instanceId: string): string {
  return `${keyPrefix}:instance:${instanceId}`
}
