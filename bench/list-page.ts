// `npm run bench:list-page`: what one page of the run list costs on Redis (`GET {prefix}`, and the live
// list's reads), filtered by status and not, with N DAGs listed: the Redis commands it takes (INFO
// commandstats on a redis-server of its own, commands inside scripts included) and its time through
// `Backplane.list`, the median of many pages. The HTTP route adds its own (authorize, JSON) on top.

import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { redisBackplane } from '../lib/backplane/redis/index.js'
import type { DAGListPageQuery } from '../lib/index.js'
import type { ExecutionStatus } from '../schemas/index.js'
import { parseOptions } from './options.js'
import { startOwnRedis } from './own-redis.js'
import { guard } from './processes.js'
import { killChildren, now } from './redis-ipc.js'
import { fixed, int, median, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:list-page -- [options]

Options (full / --quick):
  --dags N         DAGs listed (3000 / 300)
  --pages N        pages timed per query (200 / 20)
  --deadline S     give up (exit 1) after this long (120 / 30)
  --quick          a smoke run of a few seconds
  -h, --help       this text`

/** Of every 10 DAGs: 4 running, 2 completed, and one each failed, paused, cancelled, stalled. */
const SPREAD: ExecutionStatus[] = ['running', 'completed', 'running', 'failed', 'running', 'paused', 'completed', 'running', 'cancelled', 'stalled']

const QUERIES: Array<{ name: string; query: DAGListPageQuery }> = [
  { name: 'no filter, 10 from 0', query: { limit: 10, offset: 0, order: 'newest' } },
  { name: 'status=failed, 10 from 0', query: { limit: 10, offset: 0, order: 'newest', status: ['failed'] } },
  { name: 'status=failed, 100 from 0', query: { limit: 100, offset: 0, order: 'newest', status: ['failed'] } },
  { name: 'status=running&status=paused, 10 from 100', query: { limit: 10, offset: 100, order: 'newest', status: ['running', 'paused'] } },
  { name: 'status=failed, 10 from 5000 (past the end)', query: { limit: 10, offset: 5000, order: 'newest', status: ['failed'] } }
]

function options () {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      dags: { full: 3000, quick: 300 },
      pages: { full: 200, quick: 20 },
      deadline: { full: 120, quick: 30 }
    }
  })
  return { dags: numbers.dags, pages: numbers.pages, deadlineS: numbers.deadline }
}

async function commandsRun (admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats')
  return [...stats.matchAll(/^cmdstat_(\S+):calls=(\d+)/gm)].reduce((sum, [, name, calls]) => sum + (name === 'info' ? 0 : Number(calls)), 0)
}

async function main (): Promise<void> {
  const settings = options()
  guard(settings.deadlineS)
  const url = await startOwnRedis()
  const admin = new Redis(url)
  const log = { warn: console.warn, error: console.error, info: () => {}, debug: () => {} } as unknown as FastifyBaseLogger
  // No probe and no presence heartbeat during the run: the commands counted are the pages' alone.
  const backplane = redisBackplane({ url, keyPrefix: 'bench', probeMs: 600_000, presenceTtlMs: 600_000 }).create({
    historySize: 100,
    retainFinishedMs: 3_600_000,
    maxIdleMs: 3_600_000,
    commandTimeoutMs: 2000,
    execute: async () => ({ ok: true }),
    receiveStreamMessage: () => ({ ok: true }),
    log
  })
  await backplane.ready()
  for (let from = 0; from < settings.dags; from += 500) {
    const count = Math.min(500, settings.dags - from)
    await Promise.all(Array.from({ length: count }, (_, index) =>
      backplane.append(`run-${from + index}`, { type: 'execution_status', status: SPREAD[(from + index) % SPREAD.length] as ExecutionStatus })))
  }
  await backplane.status('run-0') // after the appends' index updates, on the same connection

  const rows: string[][] = []
  for (const { name, query } of QUERIES) {
    await backplane.list(query) // loads the scripts it uses
    const before = await commandsRun(admin)
    const { total } = await backplane.list(query)
    const commands = await commandsRun(admin) - before
    const times: number[] = []
    for (let page = 0; page < settings.pages; page++) {
      const began = now()
      await backplane.list(query)
      times.push(now() - began)
    }
    rows.push([name, int(total), int(commands), fixed(median(times), 2)])
  }
  await backplane.close()
  admin.disconnect()
  console.log(`\n${int(settings.dags)} DAGs listed; the median of ${int(settings.pages)} pages per query\n`)
  printTable(['query', '>total', '>Redis commands per page', '>ms per page'], rows)
  killChildren() // the redis-server
}

await main()
