// `npm run bench:engine-http`: events per second through the HTTP engine API (one producer POSTing its
// numbered batches one after the other, as an engine in another language does: batches of 1 and of
// 100) against `broadcast` in process (pipelined, and awaiting each), on the memory backplane and on
// Redis. The client is Node's fetch over keep-alive, in this same process: its CPU counts against
// the API, as the engine's own work would against a real engine. The median of the rounds.

import Fastify, { type FastifyInstance } from 'fastify'
import { redisBackplane } from '../lib/backplane/redis/index.js'
import dagStream from '../lib/index.js'
import type { DAGEvent } from '../schemas/index.js'
import { parseOptions } from './options.js'
import { deleteKeysUnder } from './redis-keys.js'
import { fixed, int, median, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:engine-http -- [options]

Options (full / --quick):
  --events N     events per round and way (10000 / 1000)
  --rounds N     rounds per measurement, median reported (3 / 1)
  --quick        a smoke run of a few seconds
  -h, --help     this text

Redis: REDIS_URL (redis://127.0.0.1:6379); keys under a prefix of their own, deleted after.`

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const TOKEN = 'bench'

function event (n: number): DAGEvent {
  return { type: 'node_state', node_id: `n${n % 50}`, status: n % 2 === 0 ? 'running' : 'completed', metrics: { tokens: n } }
}

async function server (backplane: 'memory' | 'redis', prefix: string): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false })
  await app.register(dagStream, {
    ...(backplane === 'redis' && { backplane: redisBackplane({ url: REDIS_URL, keyPrefix: prefix }) }),
    engineApi: {
      authorize: (request) => request.headers.authorization === `Bearer ${TOKEN}`,
      // The bench is the only client: no limit but the machine's.
      rateLimit: { max: 1_000_000, timeWindow: 1000 }
    }
  })
  // The floor: a POST that does nothing, over the same connection, client and server.
  app.post('/floor', async () => ({ results: [] }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

type Way = 'http, an empty POST each (the floor)' | 'http, batches of 1' | 'http, batches of 100' | 'broadcast, pipelined' | 'broadcast, awaiting each'
const WAYS: Way[] = ['http, an empty POST each (the floor)', 'http, batches of 1', 'http, batches of 100', 'broadcast, pipelined', 'broadcast, awaiting each']

/** Events per second, sending `count` events one way to a DAG of their own. */
async function rate ({ app, url }: { app: FastifyInstance; url: string }, way: Way, dagId: string, count: number): Promise<number> {
  const started = performance.now()
  if (way === 'http, an empty POST each (the floor)') {
    for (let n = 1; n <= count; n++) await (await fetch(`${url}/floor`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).arrayBuffer()
  } else if (way.startsWith('http')) {
    const size = way === 'http, batches of 1' ? 1 : 100
    for (let first = 1; first <= count; first += size) {
      const events = Array.from({ length: Math.min(size, count - first + 1) }, (_, index) => ({ ...event(first + index), n: first + index }))
      const response = await fetch(`${url}/api/dags/${dagId}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ producer: 'bench', events })
      })
      if (response.status !== 200) throw new Error(`POST answered ${response.status}: ${await response.text()}`)
      await response.arrayBuffer()
    }
  } else if (way === 'broadcast, pipelined') {
    let last: Promise<unknown> = Promise.resolve()
    for (let n = 1; n <= count; n++) last = app.dagStream.broadcast(dagId, event(n))
    await last
  } else {
    for (let n = 1; n <= count; n++) await app.dagStream.broadcast(dagId, event(n))
  }
  return count / ((performance.now() - started) / 1000)
}

async function main (): Promise<void> {
  const { numbers } = parseOptions(USAGE, { numbers: { events: { full: 10_000, quick: 1000 }, rounds: { full: 3, quick: 1 } } })
  const prefix = `bench-engine-http-${process.pid}`
  const rows: string[][] = []
  const servers = { memory: await server('memory', prefix), redis: await server('redis', prefix) }
  try {
    for (const backplane of ['memory', 'redis'] as const) {
      // A warm-up of each way: the JIT and the keep-alive connection are ready before anything counts.
      for (const way of WAYS) await rate(servers[backplane], way, `warm-${way.replaceAll(/\W/g, '')}`, Math.min(numbers.events, 1000))
      const samples = new Map<Way, number[]>(WAYS.map((way) => [way, []]))
      for (let round = 0; round < numbers.rounds; round++) {
        for (const way of WAYS) samples.get(way)?.push(await rate(servers[backplane], way, `r${round}-${way.replaceAll(/\W/g, '')}`, numbers.events))
      }
      const pipelined = median(samples.get('broadcast, pipelined') ?? [])
      for (const way of WAYS) {
        const perSecond = median(samples.get(way) ?? [])
        rows.push([backplane, way, int(Math.round(perSecond)), `${fixed(perSecond / pipelined, 3)}×`])
      }
    }
  } finally {
    await servers.memory.app.close()
    await servers.redis.app.close()
    await deleteKeysUnder(REDIS_URL, prefix)
  }
  printTable(['backplane', 'way', 'events/s', 'vs broadcast pipelined'], rows)
}

await main()
