// Where things live in Redis. Every key of one DAG carries the hash tag `{dagId}`, so the per-DAG
// scripts touch one slot and run on Redis Cluster; only the list index spans DAGs, and no script
// touches it.

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
