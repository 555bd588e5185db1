// One instance of the plugin for bench/redis.ts, in its own process: a server that listens (dashboards
// connect to it), an engine that only broadcasts (`app.ready()`, no listen), or both in one process
// (the in-memory baseline). The parent drives it with the commands below over the IPC channel.

import Fastify, { type FastifyInstance } from 'fastify'
import dagStream from '../lib/index.js'
import type { DAGEvent } from '../schemas/index.js'
import { BUCKETS_PER_MS, cpuMs, now, serve, sleep } from './redis-ipc.js'

export interface InstanceOptions {
  backplane: 'memory' | 'redis'
  redisUrl: string
  keyPrefix: string
  historySize: number
  /** Listen on an ephemeral port of 127.0.0.1 (a server); otherwise only `ready()` (an engine). */
  listen: boolean
}

/** What a batch of broadcasts achieved. */
export interface AppendReport {
  /** broadcast() calls made. */
  sent: number
  /** Promises that resolved (the event is numbered, stored and published). */
  completed: number
  failed: number
  firstError?: string
  /** From the first call to the last settled promise. */
  elapsedMs: number
  /** The seq the last completed append got, per DAG. */
  lastSeq: Record<string, number>
  /** How long broadcast() took to resolve (warm-up left out): [bucket, count], bucket = round(ms × BUCKETS_PER_MS). */
  appendHistogram: Array<[number, number]>
}

export interface RateArgs {
  dagId: string
  perSecond: number
  warmupMs: number
  durationMs: number
}

export interface FloodArgs {
  dagIds: string[]
  inFlight: number
  durationMs: number
}

export interface FillArgs {
  /** Each DAG gets `events` events, interleaved over DAGs as a busy engine would. */
  dagIds: string[]
  events: number
  inFlight: number
}

export interface BuildArgs {
  dagId: string
  nodes: number
  edges: number
  inFlight: number
}

// A deadline for the last promises of a batch: a stuck backplane must not stall the benchmark.
const SETTLE_TIMEOUT_MS = 30_000
const STATUSES = ['queued', 'running', 'completed'] as const
const ROUND = 256

let app: FastifyInstance | undefined

function instance (): FastifyInstance {
  if (app === undefined) throw new Error('start the instance first')
  return app
}

async function start (options: InstanceOptions): Promise<{ port?: number }> {
  app = Fastify({ logger: { level: 'error' } })
  // A deep socket buffer, as in bench/broadcast.ts, so a busy client machine is measured as latency
  // rather than as sockets closed with 4000 (which would make the counts meaningless).
  // Every benchmark client comes from 127.0.0.1: no per-address limit.
  const common = { historySize: options.historySize, maxBufferedBytes: 64 * 1024 * 1024, maxConnectionsPerIp: Number.POSITIVE_INFINITY }
  if (options.backplane === 'redis') {
    const { redisBackplane } = await import('../lib/backplane/redis/index.js')
    await app.register(dagStream, { ...common, backplane: redisBackplane({ url: options.redisUrl, keyPrefix: options.keyPrefix }) })
  } else {
    await app.register(dagStream, { ...common, backplane: 'memory' })
  }
  if (!options.listen) {
    await app.ready()
    return {}
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { port: (app.server.address() as { port: number }).port }
}

/**
 * Broadcasts what `next(i)` returns, keeping at most `inFlight` promises unsettled, until `next`
 * returns undefined or `deadline` (ms, `now()` clock) passes; then waits for the last ones to settle.
 * `next` may return a number instead of an event: nothing is due yet, ask again after that many ms.
 */
async function pump (next: (i: number) => [string, DAGEvent] | number | undefined, inFlight: number, deadline: number, measureFrom = 0): Promise<AppendReport> {
  const dagStream = instance().dagStream
  const report: AppendReport = { sent: 0, completed: 0, failed: 0, elapsedMs: 0, lastSeq: {}, appendHistogram: [] }
  const histogram = new Map<number, number>()
  const began = now()
  let unsettled = 0
  let lastSettled = began
  let wake: (() => void) | undefined
  const settled = () => {
    unsettled--
    lastSettled = now()
    if (wake !== undefined && unsettled <= inFlight / 2) {
      wake()
      wake = undefined
    }
  }
  while (now() < deadline) {
    let item: ReturnType<typeof next> = 0
    // At most ROUND broadcasts between two turns of the event loop: an in-memory backplane settles
    // each one at once, so `unsettled` alone would never end the round, and sockets must get to write.
    for (let round = 0; round < ROUND && unsettled < inFlight && now() < deadline; round++) {
      item = next(report.sent)
      if (item === undefined || typeof item === 'number') break
      const [dagId, event] = item
      report.sent++
      unsettled++
      const calledAt = report.sent > measureFrom ? now() : undefined
      dagStream.broadcast(dagId, event).then(
        (sequenced) => {
          if (calledAt !== undefined) {
            const bucket = Math.round((now() - calledAt) * BUCKETS_PER_MS)
            histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1)
          }
          report.completed++
          report.lastSeq[dagId] = Math.max(report.lastSeq[dagId] ?? 0, sequenced.seq)
          settled()
        },
        (error: unknown) => {
          report.failed++
          report.firstError ??= error instanceof Error ? error.message : String(error)
          settled()
        }
      )
      // Lets the promise's callbacks run now: an in-memory broadcast resolves at once, and without
      // this its time would include every broadcast this loop makes before it next yields.
      await Promise.resolve()
    }
    if (item === undefined) break
    if (typeof item === 'number') {
      await sleep(item)
      continue
    }
    if (unsettled >= inFlight) {
      // Full: wait until half the promises have settled (or a while, to look at the deadline again).
      await Promise.race([new Promise<void>((resolve) => { wake = resolve }), sleep(50)])
      wake = undefined
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  const settleBy = now() + SETTLE_TIMEOUT_MS
  while (unsettled > 0 && now() < settleBy) await sleep(5)
  report.elapsedMs = lastSettled - began
  report.appendHistogram = [...histogram]
  return report
}

/** A node_state event as engines send them: a status and a few metrics. */
function nodeState (nodeId: string, i: number, extra: Record<string, number> = {}): DAGEvent {
  return {
    type: 'node_state',
    node_id: nodeId,
    status: STATUSES[i % STATUSES.length] as (typeof STATUSES)[number],
    metrics: { tokens: 100 + (i % 900), latency_ms: 5 + (i % 50), cost: 0.0001 * (i % 100), ...extra }
  }
}

/**
 * Broadcasts `perSecond` events for `warmupMs + durationMs`, paced by the clock rather than by
 * timers (each tick sends what is due), so the rate does not drift with a busy event loop. Each
 * event carries `metrics.sent_at`, stamped just before `broadcast()`; warm-up events also carry
 * `metrics.warmup`, and clients leave them out of the latency figures.
 */
async function rate ({ dagId, perSecond, warmupMs, durationMs }: RateArgs): Promise<AppendReport & { measured: number; maxLagMs: number; achievedPerSecond: number }> {
  const warmup = Math.round((perSecond * warmupMs) / 1000)
  const total = warmup + Math.round((perSecond * durationMs) / 1000)
  const began = now()
  // How far behind its schedule the engine fell: a process too busy to send on time shows here, not
  // in the latency (each event is stamped when it is actually sent).
  let maxLagMs = 0
  let lastSentAt = began
  const report = await pump((i) => {
    if (i >= total) return undefined
    const due = began + (i * 1000) / perSecond
    const t = now()
    if (t < due) return Math.max(1, Math.floor(due - t))
    maxLagMs = Math.max(maxLagMs, t - due)
    lastSentAt = t
    const extra: Record<string, number> = i < warmup ? { warmup: 1 } : {}
    return [dagId, nodeState(`n${i % 100}`, i, { ...extra, sent_at: now() })]
  }, Number.POSITIVE_INFINITY, began + 2 * (warmupMs + durationMs) + 10_000, warmup)
  const achievedPerSecond = (report.sent * 1000) / (lastSentAt - began + 1000 / perSecond)
  return { ...report, measured: Math.max(0, report.completed - warmup), maxLagMs, achievedPerSecond }
}

async function flood ({ dagIds, inFlight, durationMs }: FloodArgs): Promise<AppendReport> {
  return await pump((i) => {
    const dagId = dagIds[i % dagIds.length] as string
    return [dagId, nodeState(`n${i % 50}`, i, { sent_at: now() })]
  }, inFlight, now() + durationMs)
}

async function fill ({ dagIds, events, inFlight }: FillArgs): Promise<AppendReport> {
  const total = dagIds.length * events
  return await pump((i) => {
    if (i >= total) return undefined
    return [dagIds[i % dagIds.length] as string, nodeState(`step-${Math.floor(i / dagIds.length) % 20}`, i)]
  }, inFlight, now() + 10 * 60_000)
}

/** A DAG of `nodes` nodes, each reported once, and `edges` edges between consecutive nodes. */
async function build ({ dagId, nodes, edges, inFlight }: BuildArgs): Promise<AppendReport> {
  return await pump((i) => {
    if (i < nodes) return [dagId, nodeState(`n${i}`, i)]
    const edge = i - nodes
    if (edge >= edges) return undefined
    return [dagId, { type: 'dag_mutated', mutation: { op: 'add_edge', from: `n${edge % nodes}`, to: `n${(edge + 1) % nodes}` } }]
  }, inFlight, now() + 10 * 60_000)
}

const commands = {
  start,
  rate,
  flood,
  fill,
  build,
  cpu: () => cpuMs()
}
export type InstanceCommands = typeof commands

serve(commands, async () => {
  await app?.close()
})
