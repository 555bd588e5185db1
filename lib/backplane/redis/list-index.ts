// The run list's index: a sorted set of DAG ids by their last append, and beside it one sorted set per
// status with the same scores, so that a page filtered by status reads its sets, not every DAG: a page
// costs O(offset + limit) reads (with `total` from the sets' sizes) however many DAGs there are.
//
// After each append the appending instance lists the DAG under the status the append left it in, with
// the append's (epoch, seq) as a stamp (list-scripts.ts `update`): an update that arrives late, from
// another instance, never overwrites a newer one. A DAG's meta stays the truth: every page reads the
// meta of the DAGs it shows, and one that is gone, or not in the status it is listed under (an update
// lost with the connection, or a DAG listed by an older version, which had no status sets), is put
// right and the page read again. While an instance has list watchers every probe reconciles the whole
// index with the DAGs' keys, and every instance does so once after it starts.
//
// The index spans DAGs, so no TTL covers it: an id stays until an instance sees that its DAG is gone
// (its keys expired: idle past maxIdleMs, or finished retainFinishedMs ago) and removes it, and, being
// the one whose script took it, tells every list watcher (`evicted`). Redis says nothing when a key
// expires (keyspace notifications are usually off): the index is pruned by the time of the last event,
// and reconciled while lists are watched, so an eviction reaches the lists within probeMs.

import type { ExecutionStatus } from '../../../schemas/events.js'
import type { DAGSummary } from '../../../schemas/snapshot.js'
import { isFinished } from '../../shared/reducer.js'
import { openGatesOf } from '../list-changes.js'
import type { DAGListPageQuery, LogHead } from '../types.js'
import type { RedisClient } from './backplane.js'
import { dagKeys, EXECUTION_STATUSES, listChannel, listKeys, listScriptKeys } from './keys.js'
import { listScripts, type ListScriptName } from './list-scripts.js'

/** DAGs read per round trip when the whole index is reconciled. */
const LIST_SCAN_CHUNK = 1000
/** Ids taken per range by one prune call: a larger backlog takes several calls. */
const MAX_PRUNED_PER_RANGE = 250
const FINISHED_STATUSES = EXECUTION_STATUSES.filter(isFinished)

type ScriptCall = (...args: Array<string | number>) => Promise<unknown>

/** A DAG id as a page read it: its score, and the status it is listed under (unknown in the index itself). */
interface Listed {
  dagId: string
  score: string
  status?: string | undefined
}

export interface ListIndexSettings {
  maxIdleMs: number
  retainFinishedMs: number
}

export class ListIndex {
  readonly #redis: RedisClient
  readonly #keyPrefix: string
  readonly #keys: string[]
  readonly #settings: ListIndexSettings

  constructor (redis: RedisClient, keyPrefix: string, settings: ListIndexSettings) {
    this.#redis = redis
    this.#keyPrefix = keyPrefix
    this.#keys = listScriptKeys(listKeys(keyPrefix))
    this.#settings = settings
    for (const [name, definition] of Object.entries(listScripts)) redis.defineCommand(name, definition)
  }

  /**
   * Lists `dagId` under the status its append at `now` left it in. By SHA: after Redis lost its script
   * cache, the client sends this again after calls written since, which the stamps make harmless.
   */
  touch (dagId: string, { epoch, seq, status }: LogHead, now: number): Promise<unknown> {
    return this.#script('dagStreamListUpdate')(...this.#keys, dagId, epoch, seq, status, now, '')
  }

  /** One page of the list; DAGs idle past maxIdleMs, or finished past retainFinishedMs, are dropped first. */
  async page ({ limit, offset, order, status }: DAGListPageQuery): Promise<{ dags: DAGSummary[]; total: number }> {
    await this.pruneIdle()
    for (;;) {
      const { listed, total } = await this.#read(limit, offset, order, status === undefined ? [] : [...new Set(status)])
      const { dags, putRight } = await this.#check(listed, status !== undefined)
      if (!putRight) return { dags, total }
    }
  }

  /** Drops the ids of DAGs whose keys expired by now, so the index stays as large as the set of live DAGs. */
  async pruneIdle (): Promise<void> {
    const now = Date.now()
    for (;;) {
      const gone = await this.#script('dagStreamListPrune')(
        ...this.#keys, now - this.#settings.maxIdleMs, now - this.#settings.retainFinishedMs, MAX_PRUNED_PER_RANGE, ...FINISHED_STATUSES
      ) as string[]
      await this.#evicted(gone)
      if (gone.length < MAX_PRUNED_PER_RANGE) return
    }
  }

  /** Drops the ids of DAGs whose keys expired, and lists every other DAG under its status as its meta has it. */
  async reconcile (): Promise<void> {
    const range = await this.#redis.zrange(this.#keys[0] as string, 0, '-1', 'WITHSCORES')
    const listed = pairs(range)
    for (let start = 0; start < listed.length; start += LIST_SCAN_CHUNK) await this.#check(listed.slice(start, start + LIST_SCAN_CHUNK), false)
  }

  /**
   * The page's ids in order, and `total`, in one script call. Of several statuses, the first
   * offset + limit of each set, merged here by score (ties as Redis orders them: by id, bytewise).
   */
  async #read (limit: number, offset: number, order: DAGListPageQuery['order'], statuses: readonly ExecutionStatus[]): Promise<{ listed: Listed[]; total: number }> {
    const reply = await this.#script('dagStreamListRead')(...this.#keys, offset, limit, order, ...statuses) as Array<number | string[]>
    let total = 0
    const listed: Listed[] = []
    for (let index = 0; index < reply.length; index += 2) {
      total += reply[index] as number
      listed.push(...pairs(reply[index + 1] as string[], statuses[index / 2]))
    }
    if (statuses.length < 2) return { listed, total }
    const direction = order === 'newest' ? -1 : 1
    listed.sort((a, b) => direction * (Number(a.score) - Number(b.score) || Buffer.compare(Buffer.from(a.dagId), Buffer.from(b.dagId))))
    return { listed: listed.slice(offset, offset + limit), total }
  }

  /**
   * The summaries of those of `listed` that still exist, in the status they were listed under (when
   * `filtered`: a page of some statuses; otherwise any). Gone ones are dropped from the index, and
   * those listed under another status than their meta's are listed again under it: `putRight` tells
   * that the page read may have missed or shown what it should not, and must be read again.
   */
  async #check (listed: Listed[], filtered: boolean): Promise<{ dags: DAGSummary[]; putRight: boolean }> {
    const redis = this.#redis
    const [metas, stamps] = await Promise.all([
      Promise.all(listed.map(({ dagId }) => redis.hmget(dagKeys(this.#keyPrefix, dagId).meta, 'epoch', 'seq', 'status', 'updated_at', 'open_gates'))),
      // Read from the index itself, a DAG's status there is its stamp's.
      filtered || listed.length === 0 ? [] : redis.hmget(this.#keys[1] as string, ...listed.map(({ dagId }) => dagId))
    ])
    const gone: Listed[] = []
    const misplaced: Array<Promise<unknown>> = []
    const dags = listed.flatMap((entry, index): DAGSummary[] => {
      const [epoch, seq, status, updatedAt, waiting] = metas[index] as [string | null, string, ExecutionStatus, string, string | null]
      if (epoch === null) {
        gone.push(entry)
        return []
      }
      const listedAs = filtered ? entry.status : stamps[index]?.split(' ')[2]
      if (listedAs !== status) misplaced.push(this.#script('dagStreamListUpdate')(...this.#keys, entry.dagId, epoch, seq, status, updatedAt, '1'))
      if (filtered && listedAs !== status) return []
      // (null, 0: a log written before the count was kept, counted at its next append.)
      const openGates = openGatesOf(status, Number(waiting))
      return [{ dag_id: entry.dagId, epoch, seq: Number(seq), status, updated_at: new Date(Number(updatedAt)).toISOString(), open_gates: openGates }]
    })
    await Promise.all(misplaced)
    if (gone.length > 0) await this.#evicted(await this.#script('dagStreamListDrop')(...this.#keys, ...gone.flatMap(({ dagId, score }) => [dagId, score])) as string[])
    // Unfiltered, a DAG listed under the wrong status is on the page all the same, where it belongs.
    return { dags, putRight: gone.length > 0 || (filtered && misplaced.length > 0) }
  }

  /** Tells every list watcher of the DAGs this instance removed from the index. */
  async #evicted (dagIds: string[]): Promise<void> {
    await Promise.all(dagIds.map((dagId) => this.#redis.publish(listChannel(this.#keyPrefix), `evicted ${dagId}`)))
  }

  #script (name: ListScriptName): ScriptCall {
    const commands = this.#redis as unknown as Record<string, ScriptCall>
    return (...args) => (commands[name] as ScriptCall).call(commands, ...args)
  }
}

/** [id, score, id, score, …] as entries, listed under `status` if given. */
function pairs (range: string[], status?: string): Listed[] {
  const listed: Listed[] = []
  for (let index = 0; index < range.length; index += 2) listed.push({ dagId: range[index] as string, score: range[index + 1] as string, status })
  return listed
}
