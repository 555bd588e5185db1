// The run list on Redis filtered by status: a page reads its status sets, not every DAG, so what it
// costs is bounded by the page; the sets follow each DAG's status through concurrent and late updates
// from several instances, lose evicted DAGs, and put themselves right from the DAGs' meta.

import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisBackplane } from '../../../lib/backplane/redis/index.js'
import { dagKeys, EXECUTION_STATUSES, listKeys, listScriptKeys } from '../../../lib/backplane/redis/keys.js'
import { ListIndex } from '../../../lib/backplane/redis/list-index.js'
import { listScripts } from '../../../lib/backplane/redis/list-scripts.js'
import { memoryBackplane, type Backplane, type BackplaneSettings, type DAGListPageQuery } from '../../../lib/index.js'
import type { ExecutionStatus } from '../../../schemas/index.js'
import { openBackplane } from '../../support/backplanes.js'
import { recordingLogger } from '../../support/logger.js'
import { cleanupPrefix, REDIS_URL, startRedis, uniquePrefix } from '../../support/redis-helpers.js'
import { nextMillisecond, until } from '../../support/wait.js'

/** Neither a probe nor a presence heartbeat within a test: what a test measures or sees is its own doing. */
const QUIET = { probeMs: 600_000, presenceTtlMs: 600_000 }

interface Setup {
  prefix: string
  redis: Redis
  /** A backplane (an instance) on the prefix; each call opens another. */
  open(settings?: Partial<BackplaneSettings>, probeMs?: number): Promise<Backplane>
}

function setup (t: Test, name: string, url = REDIS_URL): Setup {
  const prefix = uniquePrefix(name)
  cleanupPrefix(t, prefix, url)
  const redis = new Redis(url)
  t.teardown(() => redis.disconnect())
  return {
    prefix,
    redis,
    open: (settings = {}, probeMs = QUIET.probeMs) => openBackplane(t, redisBackplane({ url, keyPrefix: prefix, ...QUIET, probeMs }), settings)
  }
}

function page (limit: number, offset: number, status?: ExecutionStatus[], order: 'newest' | 'oldest' = 'newest'): DAGListPageQuery {
  return { limit, offset, order, status }
}

/** Where the list's keys have `dagId`: the status sets it is in, its stamp, and whether the index has it. */
async function placeOf (redis: Redis, prefix: string, dagId: string) {
  const keys = listKeys(prefix)
  const sets: ExecutionStatus[] = []
  for (const status of EXECUTION_STATUSES) if (await redis.zscore(keys.byStatus[status], dagId) !== null) sets.push(status)
  return { sets, stamp: await redis.hget(keys.stamps, dagId), indexed: await redis.zscore(keys.index, dagId) !== null }
}

/**
 * Resolves once the list updates of the appends `backplane` made so far are applied: they went out on
 * its command connection before those appends resolved, and a command sent after them is answered after.
 */
async function updated (backplane: Backplane): Promise<void> {
  await backplane.status('-')
}

/** Every command Redis ran (those inside scripts included), by INFO commandstats. */
async function commandsRun (redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats')
  return [...stats.matchAll(/^cmdstat_(\S+):calls=(\d+)/gm)].reduce((sum, [, name, calls]) => sum + (name === 'info' ? 0 : Number(calls)), 0)
}

t.test('a filtered page costs the same few commands for 200 DAGs and for 2,200: bounded by the page, not the list', async (t) => {
  // A server of the test's own, so that INFO commandstats counts this test's commands and no other's.
  const server = await startRedis(t)
  const { open } = setup(t, 'bounded', server.url)
  const backplane = await open()
  const statuses: ExecutionStatus[] = ['running', 'failed', 'paused', 'completed']
  async function add (from: number, count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, (_, index) =>
      backplane.append(`d${from + index}`, { type: 'execution_status', status: statuses[(from + index) % 4] as ExecutionStatus })))
  }
  async function cost (query: DAGListPageQuery): Promise<{ commands: number; dags: number; total: number }> {
    const before = await commandsRun(server.admin)
    const { dags, total } = await backplane.list(query)
    return { commands: await commandsRun(server.admin) - before, dags: dags.length, total }
  }
  await add(0, 200)
  await updated(backplane)
  // Once before measuring: the first call of each script loads it (NOSCRIPT, then EVAL).
  await backplane.list(page(10, 20, ['running', 'failed']))
  const small = await cost(page(10, 0, ['failed']))
  const smallMerged = await cost(page(10, 20, ['running', 'failed']))
  await add(200, 2000)
  await updated(backplane)
  const large = await cost(page(10, 0, ['failed']))
  t.same(large, { commands: small.commands, dags: 10, total: 550 }, '550 failed of 2,200: the same commands as for 50 of 200')
  t.ok(large.commands <= 30, `${large.commands} commands for a page of 10 (the whole list read was ≥ 2,200 HMGETs)`)
  const largeMerged = await cost(page(10, 20, ['running', 'failed']))
  t.same(largeMerged, { commands: smallMerged.commands, dags: 10, total: 1100 }, 'two statuses, page 3: bounded as well')
  const deep = await cost(page(10, 1000, ['running']))
  t.equal(deep.total, 550)
  t.ok(deep.commands <= 30, `an offset into the set costs no more (${deep.commands})`)
})

t.test('a DAG moves between the sets with its status, and is in one set only', async (t) => {
  const { prefix, redis, open } = setup(t, 'moves')
  const backplane = await open()
  const first = await backplane.append('d', { type: 'execution_status', status: 'running' })
  await updated(backplane)
  t.same(await placeOf(redis, prefix, 'd'), { sets: ['running'], stamp: `${first.epoch} 1 running`, indexed: true })
  await backplane.append('d', { type: 'node_state', node_id: 'n', status: 'running' })
  await backplane.append('d', { type: 'execution_status', status: 'paused' })
  await updated(backplane)
  t.same(await placeOf(redis, prefix, 'd'), { sets: ['paused'], stamp: `${first.epoch} 3 paused`, indexed: true })
  t.same(await backplane.list(page(10, 0, ['running'])), { dags: [], total: 0 })
  t.match(await backplane.list(page(10, 0, ['paused'])), { dags: [{ dag_id: 'd', seq: 3, status: 'paused' }], total: 1 })
  // A batch whose last event leaves the run completed, through the run handle's path (one script call).
  await backplane.appendMany('d', [{ type: 'execution_status', status: 'running' }, { type: 'execution_complete', results: {} }])
  await updated(backplane)
  t.same(await placeOf(redis, prefix, 'd'), { sets: ['completed'], stamp: `${first.epoch} 5 completed`, indexed: true })
})

t.test('an append whose list update fails stands, and says so in the log; a page that meets the DAG puts it right', async (t) => {
  const { prefix, redis, open } = setup(t, 'update-fails')
  const { lines, log } = recordingLogger()
  const backplane = await open({ log })
  await backplane.append('d', { type: 'execution_status', status: 'running' })
  await updated(backplane)
  // A stamps hash that is not one: the update script fails after the append went through.
  await redis.set(listKeys(prefix).stamps, 'not a hash')
  const appended = await backplane.append('d', { type: 'execution_status', status: 'failed' })
  t.equal(appended.seq, 2)
  await until(() => lines.length > 0, 'the failure to be logged', 5000)
  t.same(lines, [{ level: 'warn', message: 'fastify-dag-stream: could not update the DAG list index' }])
  await redis.del(listKeys(prefix).stamps)
  t.same(await backplane.list(page(10, 0, ['failed'])), { dags: [], total: 0 }, 'not listed under its new status yet')
  t.same(await backplane.list(page(10, 0, ['running'])), { dags: [], total: 0 }, 'the page that meets it under the old one does not show it')
  t.match(await backplane.list(page(10, 0, ['failed'])), { dags: [{ dag_id: 'd', seq: 2 }], total: 1 }, 'and lists it under its status')
})

t.test('a late update never overwrites a newer one: an older seq of the same log, an older time of another', async (t) => {
  const { prefix, redis, open } = setup(t, 'stale')
  const backplane = await open()
  await backplane.append('d', { type: 'execution_status', status: 'running' })
  const done = await backplane.append('d', { type: 'execution_complete', results: {} })
  await updated(backplane)
  // Another instance's update for seq 1, which reaches Redis after the one for seq 2.
  const other = new ListIndex(redis, prefix, { maxIdleMs: 60_000, retainFinishedMs: 60_000 })
  t.equal(await other.touch('d', { epoch: done.epoch, seq: 1, status: 'running' }, Date.now()), 0, 'refused')
  t.same(await placeOf(redis, prefix, 'd'), { sets: ['completed'], stamp: `${done.epoch} 2 completed`, indexed: true })
  t.match(await backplane.list(page(10, 0, ['completed'])), { dags: [{ dag_id: 'd' }], total: 1 })
  t.same(await backplane.list(page(10, 0, ['running'])), { dags: [], total: 0 })
  // The same seq again (the update and a repair of one append) is the same place.
  t.equal(await other.touch('d', { epoch: done.epoch, seq: 2, status: 'completed' }, Date.now()), 1)
  // A log that ended before this one began (its keys expired since): older, whatever its seq.
  const listedAt = Number(await redis.zscore(listKeys(prefix).index, 'd'))
  t.equal(await other.touch('d', { epoch: 'gone', seq: 99, status: 'failed' }, listedAt - 1), 0, 'an older log is refused')
  t.same((await placeOf(redis, prefix, 'd')).sets, ['completed'])
})

t.test('the meta is the truth: a DAG listed under a status it is not in is put right by the page that finds it', async (t) => {
  const { prefix, redis, open } = setup(t, 'repair')
  const backplane = await open()
  for (const dagId of ['a', 'b', 'c']) {
    await backplane.append(dagId, { type: 'execution_status', status: 'running' })
    await nextMillisecond()
  }
  const done = await backplane.append('b', { type: 'execution_complete', results: {} })
  await updated(backplane)
  // An update from a log that is not the DAG's (with a later time, as a skewed clock gives it): applied,
  // and wrong.
  const other = new ListIndex(redis, prefix, { maxIdleMs: 60_000, retainFinishedMs: 60_000 })
  t.equal(await other.touch('b', { epoch: 'other', seq: 7, status: 'running' }, Date.now() + 60_000), 1)
  t.same((await placeOf(redis, prefix, 'b')).sets, ['running'])
  const running = await backplane.list(page(10, 0, ['running']))
  t.same(running.dags.map((dag) => dag.dag_id), ['c', 'a'], 'b is not shown as running')
  t.equal(running.total, 2, 'and not counted: the page was read again once b was put right')
  t.same(await placeOf(redis, prefix, 'b'), { sets: ['completed'], stamp: `${done.epoch} 2 completed`, indexed: true })
  t.match(await backplane.list(page(10, 0, ['completed'])), { dags: [{ dag_id: 'b', status: 'completed' }], total: 1 })
})

t.test('several statuses: pages merged by time, ties by id as Redis orders them; total is the sum', async (t) => {
  const { prefix, redis, open } = setup(t, 'merge')
  const backplane = await open()
  const memory = await openBackplane(t, memoryBackplane)
  const statuses: ExecutionStatus[] = ['running', 'failed', 'paused', 'completed', 'running', 'cancelled', 'failed']
  for (let index = 0; index < 21; index++) {
    const event = { type: 'execution_status', status: statuses[(index * 5) % statuses.length] as ExecutionStatus } as const
    await backplane.append(`d${index}`, event)
    await memory.append(`d${index}`, event)
    await nextMillisecond() // one order by time, the same in both
  }
  const filters: ExecutionStatus[][] = [['running', 'failed'], ['failed', 'completed', 'cancelled'], ['paused', 'stalled'], ['running', 'paused', 'cancelled', 'completed', 'failed', 'stalled']]
  for (const status of filters) {
    for (const order of ['newest', 'oldest'] as const) {
      for (const [limit, offset] of [[4, 0], [4, 4], [5, 9], [100, 0], [3, 20]] as const) {
        const query = page(limit, offset, status, order)
        // (Epochs and times are each backplane's own.)
        const [onRedis, inMemory] = (await Promise.all([backplane.list(query), memory.list(query)]))
          .map(({ dags, total }) => ({ dags: dags.map((dag) => `${dag.dag_id} ${dag.status}`), total }))
        t.same(onRedis, inMemory, `${status.join('+')}, ${order}, ${limit} from ${offset}`)
      }
    }
  }
  // Equal times (DAG ids are the tie-break): Redis orders a set's ties by id, bytewise; a merge of sets must agree.
  const other = new ListIndex(redis, prefix, { maxIdleMs: 60_000, retainFinishedMs: 60_000 })
  const at = Date.now()
  for (const dagId of ['x', 'é', 'y', 'Z']) {
    const status: ExecutionStatus = dagId === 'x' || dagId === 'Z' ? 'running' : 'failed'
    const appended = await backplane.append(dagId, { type: 'execution_status', status })
    await updated(backplane)
    t.equal(await other.touch(dagId, { epoch: appended.epoch, seq: 1, status }, at), 1)
  }
  const merged = await backplane.list(page(4, 0, ['running', 'failed']))
  t.same(merged.dags.map((dag) => dag.dag_id), ['é', 'y', 'x', 'Z'], 'newest first: ids descending')
  const tiesOldest = (await backplane.list(page(100, 0, ['running', 'failed'], 'oldest'))).dags.slice(-4)
  t.same(tiesOldest.map((dag) => dag.dag_id), ['Z', 'x', 'y', 'é'], 'oldest first: ids ascending')
  const single = await backplane.list(page(100, 0, ['running'], 'oldest'))
  t.same(single.dags.slice(-2).map((dag) => dag.dag_id), ['Z', 'x'], 'as one set orders them')
})

t.test('evictions leave no trace in the sets: expired finished runs, idle runs, and DAGs whose keys are gone', async (t) => {
  const { prefix, redis, open } = setup(t, 'evictions')
  const backplane = await open({ retainFinishedMs: 300, maxIdleMs: 1500 })
  const evicted: string[] = []
  await backplane.watchList((change) => change.type === 'dag_evicted' && evicted.push(change.dag_id))
  await backplane.append('done', { type: 'execution_complete', results: {} })
  await backplane.append('idle', { type: 'execution_status', status: 'paused' })
  await backplane.append('deleted', { type: 'execution_status', status: 'failed' })
  await backplane.append('kept', { type: 'execution_status', status: 'failed' })
  t.match(await backplane.list(page(10, 0, ['failed'])), { total: 2 })
  // Keys removed from under the index (an operator's DEL, a failover to a replica that lacked them).
  await redis.del(...Object.values(dagKeys(prefix, 'deleted')).slice(0, 4))
  t.match(await backplane.list(page(10, 0, ['failed'])), { dags: [{ dag_id: 'kept' }], total: 1 }, 'found gone by the page that showed it, which was read again')
  t.same(await placeOf(redis, prefix, 'deleted'), { sets: [], stamp: null, indexed: false })
  await until(async () => (await backplane.list(page(10, 0, ['completed']))).total === 0, 'the finished run to be dropped', 5000)
  t.same(await placeOf(redis, prefix, 'done'), { sets: [], stamp: null, indexed: false })
  await until(async () => (await backplane.list(page(10, 0))).total === 0, 'the idle runs to be dropped', 8000)
  for (const dagId of ['idle', 'kept']) t.same(await placeOf(redis, prefix, dagId), { sets: [], stamp: null, indexed: false }, dagId)
  await until(() => evicted.length === 4, 'four evictions', 5000)
  t.same(evicted.sort(), ['deleted', 'done', 'idle', 'kept'])
})

t.test('a DAG seen gone is not dropped when an append listed it again since (a new log)', async (t) => {
  const { prefix, redis, open } = setup(t, 'drop-race')
  const backplane = await open()
  await backplane.append('d', { type: 'execution_status', status: 'failed' })
  await updated(backplane)
  const keys = listKeys(prefix)
  const seenAt = await redis.zscore(keys.index, 'd') as string
  await redis.del(...Object.values(dagKeys(prefix, 'd')).slice(0, 4))
  await nextMillisecond()
  await backplane.append('d', { type: 'execution_status', status: 'running' })
  await updated(backplane)
  // The drop of an instance that read 'd' before the new log began, and got to Redis after.
  redis.defineCommand('listDrop', listScripts.dagStreamListDrop)
  const drop = (redis as unknown as Record<string, (...args: string[]) => Promise<string[]>>).listDrop as (...args: string[]) => Promise<string[]>
  t.same(await drop.call(redis, ...listScriptKeys(keys), 'd', seenAt), [], 'not dropped')
  t.match(await placeOf(redis, prefix, 'd'), { sets: ['running'], indexed: true })
  t.equal((await placeOf(redis, prefix, 'd')).sets.length, 1)
  t.same(await drop.call(redis, ...listScriptKeys(keys), 'd', await redis.zscore(keys.index, 'd') as string), ['d'], 'dropped when seen at its current time')
})

t.test('a backlog of idle DAGs is pruned in several calls, each reported by one instance only', async (t) => {
  const { prefix, redis, open } = setup(t, 'backlog')
  const [a, b] = [await open({ maxIdleMs: 1000 }), await open({ maxIdleMs: 1000 })]
  const evicted: string[] = []
  await a.watchList((change) => change.type === 'dag_evicted' && evicted.push(change.dag_id))
  await Promise.all(Array.from({ length: 600 }, (_, index) => a.append(`d${index}`, { type: 'execution_status', status: index % 2 === 0 ? 'running' : 'completed' })))
  await updated(a)
  t.equal(await redis.zcard(listKeys(prefix).index), 600)
  await until(async () => Date.now() > Number((await redis.zrange(listKeys(prefix).index, '-1', '-1', 'WITHSCORES'))[1]) + 1000, 'every DAG to be idle', 5000)
  const [onA, onB] = await Promise.all([a.list(page(10, 0, ['running'])), b.list(page(10, 0))])
  t.same([onA, onB], [{ dags: [], total: 0 }, { dags: [], total: 0 }])
  for (const key of listScriptKeys(listKeys(prefix))) t.equal(await redis.exists(key), 0, `${key} is empty`)
  await until(() => evicted.length >= 600, 'every eviction', 5000)
  t.equal(new Set(evicted).size, 600)
  t.equal(evicted.length, 600, 'none reported twice')
})

t.test('two instances appending to the same DAGs at once: each ends in the set of its last status', async (t) => {
  const { prefix, redis, open } = setup(t, 'two-instances')
  const [a, b] = [await open(), await open()]
  const cycle: ExecutionStatus[] = ['running', 'paused', 'failed', 'running', 'cancelled', 'completed', 'stalled']
  const dagIds = Array.from({ length: 40 }, (_, index) => `d${index}`)
  // Unawaited, interleaved: the two instances' updates reach Redis in any order relative to the appends.
  await Promise.all(dagIds.flatMap((dagId, index) => Array.from({ length: 12 }, (_, round) =>
    (round % 2 === 0 ? a : b).append(dagId, { type: 'execution_status', status: cycle[(index + round) % cycle.length] as ExecutionStatus }))))
  async function consistent (): Promise<boolean> {
    for (const dagId of dagIds) {
      const [epoch, seq, status] = await redis.hmget(dagKeys(prefix, dagId).meta, 'epoch', 'seq', 'status')
      const place = await placeOf(redis, prefix, dagId)
      if (place.stamp !== `${epoch} ${seq} ${status}` || place.sets.length !== 1 || place.sets[0] !== status) return false
    }
    return true
  }
  // (Each append's update is sent once its reply is in: the last ones may still be on their way.)
  await until(consistent, 'every DAG listed under its last status, by the updates alone', 5000)
  const counts = new Map<string, number>()
  for (const dagId of dagIds) {
    const status = await redis.hget(dagKeys(prefix, dagId).meta, 'status') as string
    counts.set(status, (counts.get(status) ?? 0) + 1)
  }
  for (const status of EXECUTION_STATUSES) {
    const [onA, onB] = await Promise.all([a.list(page(100, 0, [status])), b.list(page(100, 0, [status]))])
    t.equal(onA.total, counts.get(status) ?? 0, `${status}: total`)
    t.same(onB, onA, `${status}: both instances list the same`)
    t.ok(onA.dags.every((dag) => dag.status === status))
  }
})

t.test('DAGs listed by an older version (no status sets): missing from filtered pages until an unfiltered page or the first probe lists them', async (t) => {
  const { prefix, redis, open } = setup(t, 'upgrade')
  const writer = await open()
  for (const [dagId, status] of [['a', 'failed'], ['b', 'running'], ['c', 'failed']] as const) {
    await writer.append(dagId, { type: 'execution_status', status })
    await nextMillisecond()
  }
  await updated(writer)
  // What an older version left: the index alone.
  const keys = listKeys(prefix)
  await redis.del(keys.stamps, ...Object.values(keys.byStatus))
  t.same(await writer.list(page(10, 0, ['failed'])), { dags: [], total: 0 }, 'not in the filtered pages yet')
  t.match(await writer.list(page(1, 0)), { dags: [{ dag_id: 'c', status: 'failed' }], total: 3 }, 'an unfiltered page shows them all the same')
  t.match(await writer.list(page(10, 0, ['failed'])), { dags: [{ dag_id: 'c' }], total: 1 }, 'and lists the DAGs it showed under their status')
  // An instance that starts reconciles the whole index at its first probe.
  await open({}, 50)
  await until(async () => (await writer.list(page(10, 0, ['failed']))).total === 2, 'the first probe to list every DAG', 5000)
  t.same((await writer.list(page(10, 0, ['failed']))).dags.map((dag) => dag.dag_id), ['c', 'a'])
  t.same(await placeOf(redis, prefix, 'b'), { sets: ['running'], stamp: `${(await writer.status('b'))?.epoch} 1 running`, indexed: true })
})
