// `npm run bench:engine`: what the run handle costs and what its pipelining buys.
//   1. Server CPU per event, sending through `run.send` and through `broadcast`, on the memory backplane
//      and on Redis (the CPU of this process, which is the server: the plugin, the reducer, ioredis).
//      Each round sends `--events` events and waits until all are stored; the median of the rounds.
//   2. A burst of `--burst` sends on Redis: through the handle (pipelined, then `flushed()`), and with
//      `await broadcast(...)` for each, as an engine that awaits every call does. Wall time, median.
// Exits 1 if the handle costs more than 10 % over broadcast per event, or pipelining is not 5× faster.

import Fastify, { type FastifyInstance } from 'fastify'
import { redisBackplane } from '../lib/backplane/redis/index.js'
import dagStream from '../lib/index.js'
import type { DAGEvent } from '../schemas/index.js'
import { parseOptions } from './options.js'
import { deleteKeysUnder } from './redis-keys.js'
import { fixed, median, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:engine -- [options]

Options (full / --quick):
  --events N     events per CPU round (20000 / 2000)
  --burst N      sends in the Redis burst (1000 / 1000)
  --rounds N     rounds per measurement, median reported (5 / 2)
  --quick        a smoke run of a few seconds
  -h, --help     this text

Redis: REDIS_URL (redis://127.0.0.1:6379); keys under a prefix of their own, deleted after.`

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

function event (n: number): DAGEvent {
  return { type: 'node_state', node_id: `n${n % 50}`, status: n % 2 === 0 ? 'running' : 'completed', metrics: { tokens: n } }
}

async function app (backplane: 'memory' | 'redis', prefix: string): Promise<FastifyInstance> {
  const server = Fastify({ logger: false })
  await server.register(dagStream, backplane === 'redis' ? { backplane: redisBackplane({ url: REDIS_URL, keyPrefix: prefix }) } : {})
  await server.ready()
  return server
}

type Way = 'handle' | 'broadcast'

/** The DAG exists and, for the handle, its lease is taken: once per run, not per event, so not measured. */
async function begin (server: FastifyInstance, way: Way, dagId: string): Promise<void> {
  if (way === 'broadcast') {
    await server.dagStream.broadcast(dagId, event(0))
    return
  }
  const run = server.dagStream.run(dagId)
  run.send(event(0))
  await run.flushed()
}

/** µs of CPU (user + system) per event, sending `count` events one way and waiting until all are stored. */
async function cpuPerEvent (server: FastifyInstance, way: Way, dagId: string, count: number): Promise<number> {
  await begin(server, way, dagId)
  const started = process.cpuUsage()
  if (way === 'handle') {
    const run = server.dagStream.run(dagId)
    for (let n = 0; n < count; n++) run.send(event(n))
    await run.flushed()
  } else {
    let last: Promise<unknown> = Promise.resolve()
    for (let n = 0; n < count; n++) last = server.dagStream.broadcast(dagId, event(n))
    await last
  }
  const used = process.cpuUsage(started)
  return (used.user + used.system) / count
}

/** ms of wall time for a burst of `count` sends: pipelined through the handle, or awaiting each broadcast. */
async function burst (server: FastifyInstance, way: Way, dagId: string, count: number): Promise<number> {
  await begin(server, way, dagId)
  const started = performance.now()
  if (way === 'handle') {
    const run = server.dagStream.run(dagId)
    for (let n = 0; n < count; n++) run.send(event(n))
    await run.flushed()
  } else {
    for (let n = 0; n < count; n++) await server.dagStream.broadcast(dagId, event(n))
  }
  return performance.now() - started
}

async function main (): Promise<number> {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      events: { full: 20_000, quick: 2000 },
      burst: { full: 1000, quick: 1000 },
      rounds: { full: 5, quick: 2 }
    }
  })
  const prefix = `bench-engine-${process.pid}`
  const rows: string[][] = []
  let ok = true
  const servers = { memory: await app('memory', prefix), redis: await app('redis', prefix) }
  try {
    for (const backplane of ['memory', 'redis'] as const) {
      const server = servers[backplane]
      // A warm-up of each way, so the JIT has seen both before anything is measured.
      for (const way of ['handle', 'broadcast'] as const) await cpuPerEvent(server, way, `warm-${way}`, numbers.events)
      const samples: Record<Way, number[]> = { handle: [], broadcast: [] }
      for (let round = 0; round < numbers.rounds; round++) {
        // Alternating, so drift (a neighbour's load, the GC's state) falls on both.
        for (const way of round % 2 === 0 ? ['handle', 'broadcast'] as const : ['broadcast', 'handle'] as const) {
          samples[way].push(await cpuPerEvent(server, way, `cpu-${way}-${round}`, numbers.events))
        }
      }
      const handle = median(samples.handle)
      const broadcast = median(samples.broadcast)
      rows.push([`CPU per event, ${backplane}`, `${fixed(handle, 2)} µs`, `${fixed(broadcast, 2)} µs`, `${fixed(handle / broadcast, 2)}×`])
      if (handle > broadcast * 1.1) ok = false
    }
    const server = servers.redis
    const samples: Record<Way, number[]> = { handle: [], broadcast: [] }
    for (let round = 0; round < numbers.rounds; round++) {
      for (const way of ['handle', 'broadcast'] as const) samples[way].push(await burst(server, way, `burst-${way}-${round}`, numbers.burst))
    }
    const pipelined = median(samples.handle)
    const awaited = median(samples.broadcast)
    rows.push([`${numbers.burst} sends on Redis, wall time`, `${fixed(pipelined, 1)} ms`, `${fixed(awaited, 1)} ms (awaiting each)`, `${fixed(awaited / pipelined, 1)}× faster`])
    if (awaited / pipelined < 5) ok = false
  } finally {
    await servers.memory.close()
    await servers.redis.close()
    await deleteKeysUnder(REDIS_URL, prefix)
  }
  printTable(['measure', 'run handle', 'broadcast', 'handle vs broadcast'], rows)
  if (!ok) console.error('the handle costs more than 10 % over broadcast per event, or pipelining is less than 5× faster')
  return ok ? 0 : 1
}

process.exitCode = await main()
