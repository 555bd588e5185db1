// The run list's index: a sorted set of DAG ids by their last append. It spans DAGs, so no TTL covers
// it: an id stays until an instance sees that its DAG is gone (its keys expired) or idle past
// maxIdleMs, removes it, and, being the one whose ZREM took it, tells every list watcher (`evicted`).
// Redis says nothing when a key expires (keyspace notifications are usually off), so while an instance
// has list watchers every probe reconciles the index with the DAGs' keys: an eviction reaches the
// lists within probeMs.

import type { ExecutionStatus } from '../../../schemas/events.js'
import type { DAGSummary } from '../../../schemas/snapshot.js'
import { openGatesOf } from '../list-changes.js'
import type { DAGListPageQuery } from '../types.js'
import type { RedisClient } from './backplane.js'
import { dagKeys, indexKey, listChannel } from './keys.js'

/** DAG summaries read per round trip when the list is filtered by status. */
const LIST_SCAN_CHUNK = 1000

export class ListIndex {
  readonly #redis: RedisClient
  readonly #keyPrefix: string
  readonly #maxIdleMs: number

  constructor (redis: RedisClient, keyPrefix: string, maxIdleMs: number) {
    this.#redis = redis
    this.#keyPrefix = keyPrefix
    this.#maxIdleMs = maxIdleMs
  }

  /** Marks `dagId` as appended to at `now`. */
  touch (dagId: string, now: number): Promise<unknown> {
    return this.#redis.zadd(indexKey(this.#keyPrefix), now, dagId)
  }

  /** One page of the list; DAGs idle past maxIdleMs are dropped first. */
  async page ({ limit, offset, order, status }: DAGListPageQuery): Promise<{ dags: DAGSummary[]; total: number }> {
    const redis = this.#redis
    const index = indexKey(this.#keyPrefix)
    // (ioredis types ZRANGE's stop as a string only.)
    const range = (start: number, stop: number) => order === 'newest' ? redis.zrevrange(index, start, stop) : redis.zrange(index, start, String(stop))
    await this.pruneIdle()
    if (status === undefined) {
      // Some ids may name nothing (finished DAGs expire sooner than the index): #present drops them
      // from the index, and the page is read again.
      for (;;) {
        const ids = await range(offset, offset + limit - 1)
        const dags = await this.#present(ids)
        if (dags.length === ids.length) return { dags, total: await redis.zcard(index) }
      }
    }
    // The index is ordered by time, not by status: a filter reads every DAG's status, so that
    // `total` is exact. One ZRANGE for a consistent order, then a round trip per chunk of DAGs.
    const ids = await range(0, -1)
    const matching: DAGSummary[] = []
    for (let start = 0; start < ids.length; start += LIST_SCAN_CHUNK) {
      const present = await this.#present(ids.slice(start, start + LIST_SCAN_CHUNK))
      matching.push(...present.filter((dag) => status.includes(dag.status)))
    }
    return { dags: matching.slice(offset, offset + limit), total: matching.length }
  }

  /** Drops the ids of DAGs idle past maxIdleMs, so the index stays as large as the set of live DAGs. */
  async pruneIdle (): Promise<void> {
    const idle = await this.#redis.zrangebyscore(indexKey(this.#keyPrefix), '-inf', Date.now() - this.#maxIdleMs)
    if (idle.length > 0) await this.#drop(idle)
  }

  /** Drops the ids of DAGs whose keys expired. */
  async reconcile (): Promise<void> {
    const ids = await this.#redis.zrange(indexKey(this.#keyPrefix), 0, '-1')
    for (let start = 0; start < ids.length; start += LIST_SCAN_CHUNK) await this.#present(ids.slice(start, start + LIST_SCAN_CHUNK))
  }

  /** The summaries of those of `ids` that still exist; the others are dropped from the index. */
  async #present (ids: string[]): Promise<DAGSummary[]> {
    const redis = this.#redis
    const metas = await Promise.all(ids.map((id) => redis.hmget(dagKeys(this.#keyPrefix, id).meta, 'epoch', 'seq', 'status', 'updated_at', 'open_gates')))
    const gone = ids.filter((_, index) => metas[index]?.[0] === null)
    if (gone.length > 0) await this.#drop(gone)
    return ids.flatMap((dagId, index): DAGSummary[] => {
      const [epoch, seq, status, updatedAt, waiting] = metas[index] as [string | null, string, ExecutionStatus, string, string | null]
      if (epoch === null) return []
      // (null, 0: a log written before the count was kept, counted at its next append.)
      const openGates = openGatesOf(status, Number(waiting))
      return [{ dag_id: dagId, epoch, seq: Number(seq), status, updated_at: new Date(Number(updatedAt)).toISOString(), open_gates: openGates }]
    })
  }

  async #drop (ids: string[]): Promise<void> {
    const redis = this.#redis
    const index = indexKey(this.#keyPrefix)
    const removed = await Promise.all(ids.map((id) => redis.zrem(index, id)))
    const evicted = ids.filter((_, position) => removed[position] === 1)
    await Promise.all(evicted.map((id) => redis.publish(listChannel(this.#keyPrefix), `evicted ${id}`)))
  }
}
