// One server under test in its own process, driven by the orchestrator over IPC (bench/redis-ipc.ts):
// the target (bench/targets/), the engine that feeds it, and the measurements only this process can
// take without counting anyone else's work: its CPU time (process.cpuUsage) and its memory (after a
// GC: start it with --expose-gc).

import type { DAGEvent, NodeMetrics } from '../schemas/index.js'
import { cpuMs, cpuTimes, now, serve, sleep } from './redis-ipc.js'
import { record, type Histogram } from './stats.js'
import type { Target, TargetName, TargetOptions } from './targets/index.js'

const LOADERS: Record<TargetName, () => Promise<{ createTarget: (options: TargetOptions) => Promise<Target> }>> = {
  plugin: () => import('./targets/plugin.js'),
  raw: () => import('./targets/raw.js'),
  socketio: () => import('./targets/socketio.js')
}

// At most this many socket writes between two turns of the event loop, so that the sockets get to
// write and the IPC channel to answer while the engine runs flat out.
const DELIVERIES_PER_TURN = 2000
const STATUSES = ['running', 'completed', 'queued'] as const
const MAX_DEBT_MS = 100

let target: Target | undefined
/** `now()` of each stream request, when the orchestrator asked for them (the reconnect storm). */
const arrivals: number[] = []

function current (): Target {
  if (target === undefined) throw new Error('start the target first')
  return target
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

export interface StartArgs {
  target: TargetName
  recordArrivals?: boolean
}

async function start ({ target: name, recordArrivals = false }: StartArgs): Promise<void> {
  const { createTarget } = await LOADERS[name]()
  target = await createTarget(recordArrivals ? { onStreamRequest: () => arrivals.push(now()) } : {})
}

/** Separate from `start`, so a standby server can take over a port the moment the old one is gone. */
async function listen ({ port }: { port: number }): Promise<{ port: number; at: number }> {
  const bound = await current().listen(port)
  return { port: bound, at: now() }
}

export interface MemorySample {
  rss: number
  heapUsed: number
  external: number
}

async function memory ({ gc }: { gc: boolean }): Promise<MemorySample> {
  if (gc) {
    if (global.gc === undefined) throw new Error('memory({ gc: true }) needs the server started with --expose-gc')
    // Several rounds with turns in between: finalizers and closed sockets' buffers free on a later one.
    for (let round = 0; round < 3; round++) {
      global.gc()
      await nextTurn()
    }
  }
  const { rss, heapUsed, external } = process.memoryUsage()
  return { rss, heapUsed, external }
}

// ---------------------------------------------------------------------------------------------
// The engine: node_state events, each stamped with the wall clock (`metrics.sent_at`, see now()), so
// a client can tell how long it took to arrive. At a fixed rate the stamp is the moment the event was
// due, not the moment the engine got round to it (the correction for "coordinated omission", as wrk2
// makes it): a server whose broadcast blocks the engine (the raw loop writes to every socket before it
// returns) delays the events after it, and that delay is latency a dashboard sees.
// ---------------------------------------------------------------------------------------------

function nodeState (nodeId: string, i: number, status: (typeof STATUSES)[number] = STATUSES[i % STATUSES.length] as (typeof STATUSES)[number], sentAt = now()): DAGEvent {
  const metrics: NodeMetrics = { tokens: 100 + (i % 900), latency_ms: 5 + (i % 50), sent_at: sentAt }
  return { type: 'node_state', node_id: nodeId, status, metrics }
}

export interface LoadArgs {
  /** The DAGs, served round robin. */
  dagIds: string[]
  /** Events per second over all DAGs, or as fast as the flow control lets through. */
  rate: number | 'max'
  /** Flow control: the clients of each DAG (same order as dagIds), so the engine knows what an event costs. */
  clientsPerDag?: number[]
  /**
   * Flow control: at most this many deliveries sent and not yet reported by the client process
   * (`progress`). Without it the engine keeps its rate whatever happens (the churn runs so).
   */
  window?: number
}

interface Load {
  args: LoadArgs
  running: boolean
  sent: number
  expected: number
  delivered: number
  wake?: () => void
  done: Promise<void>
}

let load: Load | undefined

/** Starts the engine in the background; `mark` reads its progress, `stopLoad` ends it. */
function startLoad (args: LoadArgs): void {
  if (load?.running === true) throw new Error('a load is already running')
  const started: Load = { args, running: true, sent: 0, expected: 0, delivered: 0, done: Promise.resolve() }
  started.done = pump(started)
  load = started
}

async function pump (state: Load): Promise<void> {
  const { dagIds, rate, clientsPerDag, window } = state.args
  const target = current()
  const interval = rate === 'max' ? 0 : 1000 / rate
  // The fixed rate is kept by the clock, not by timers, so a late turn catches up; but a debt older
  // than MAX_DEBT_MS (the flow control held the engine back) is forgiven, or the window measured
  // would carry a catch-up burst above the rate asked for.
  let nextDueAt = now()
  const full = () => window !== undefined && state.expected - state.delivered >= window
  while (state.running) {
    const t = now()
    nextDueAt = Math.max(nextDueAt, t - MAX_DEBT_MS)
    let due = rate === 'max' ? Number.POSITIVE_INFINITY : t < nextDueAt ? 0 : Math.floor((t - nextDueAt) / interval) + 1
    let budget = DELIVERIES_PER_TURN
    while (due > 0 && budget > 0 && !full()) {
      const d = state.sent % dagIds.length
      const deliveries = clientsPerDag?.[d] ?? 1
      const sentAt = rate === 'max' ? now() : nextDueAt
      target.broadcast(dagIds[d] as string, nodeState(`n${state.sent % 100}`, state.sent, undefined, sentAt))
      // Once this turn's ticks are done, a server that coalesces its writes has written them too.
      process.nextTick(recordWritten, sentAt)
      state.sent++
      state.expected += deliveries
      budget -= Math.max(1, deliveries)
      nextDueAt += interval
      due--
    }
    if (full()) {
      // Woken by the next progress report, or after a while to look at `running` again.
      await Promise.race([new Promise<void>((resolve) => { state.wake = resolve }), sleep(5)])
      state.wake = undefined
    } else if (due <= 0 && rate !== 'max') {
      await sleep(Math.max(1, nextDueAt - now()))
    } else {
      await nextTurn()
    }
  }
}

/**
 * The server's own part of the latency: from the moment an event was due to the moment its frames
 * were handed to the kernel, measured in this process. What the clients measure on top of it is the
 * kernel's loopback and the client process, which share this machine's cores with the server.
 */
let written: Histogram = new Map()

function recordWritten (sentAt: number): void {
  record(written, now() - sentAt)
}

/** The client process's count of deliveries since the load started (relayed by the orchestrator). */
function progress ({ delivered }: { delivered: number }): void {
  if (load === undefined) return
  load.delivered = delivered
  load.wake?.()
}

/** A point in the measured window: when, this process's CPU time so far, and events sent. */
export interface Mark {
  at: number
  /** The same instant on the monotonic clock in µs, the clock V8 stamps CPU profile samples with. */
  monotonicUs: number
  cpuMs: number
  /** The user-space part of cpuMs. */
  userCpuMs: number
  sent: number
  /** Due-to-written latencies of the events sent since the previous mark (see recordWritten). */
  written: Array<[number, number]>
}

function mark (): Mark {
  const since = [...written]
  written = new Map()
  return { at: now(), monotonicUs: Number(process.hrtime.bigint() / 1000n), ...cpuTimes(), sent: load?.sent ?? 0, written: since }
}

async function stopLoad (): Promise<Mark> {
  if (load === undefined) throw new Error('no load to stop')
  load.running = false
  load.wake?.()
  await load.done
  return mark()
}

/**
 * A fan-out: `events` nodes start at once, all in one tick, as an engine releases the children of a
 * finished node. The CPU counted runs from the first broadcast to two turns of the event loop
 * later: a server that coalesces its writes per tick flushes them there, and that work is the burst's.
 */
async function burst ({ dagId, events, round }: { dagId: string; events: number; round: number }): Promise<{ cpuMs: number }> {
  const target = current()
  const before = cpuMs()
  for (let i = 0; i < events; i++) target.broadcast(dagId, nodeState(`fan-${round}-${i}`, i, 'running'))
  await nextTurn()
  await nextTurn()
  return { cpuMs: cpuMs() - before }
}

/**
 * A DAG of `nodes` nodes for the snapshot readers: each node reported once with a small output, and
 * a tree of edges (every node below the first has a parent), as a large fanned-out run looks.
 */
async function build ({ dagId, nodes }: { dagId: string; nodes: number }): Promise<void> {
  const target = current()
  for (let i = 0; i < nodes; i++) {
    target.broadcast(dagId, { type: 'node_state', node_id: `n${i}`, status: 'completed', output: { summary: `result of step ${i}` }, metrics: { tokens: 100 + (i % 900), latency_ms: 5 + (i % 50) } })
    if (i > 0) target.broadcast(dagId, { type: 'dag_mutated', mutation: { op: 'add_edge', from: `n${Math.floor((i - 1) / 4)}`, to: `n${i}` } })
    if (i % 1000 === 999) await nextTurn()
  }
}

const commands = {
  start,
  listen,
  memory,
  startLoad,
  progress,
  mark,
  stopLoad,
  burst,
  build,
  /** Sends `events` events to each DAG, to give clients a position before something happens to them. */
  seed: ({ dagIds, events }: { dagIds: string[]; events: number }) => {
    for (const dagId of dagIds) for (let i = 0; i < events; i++) current().broadcast(dagId, nodeState(`n${i}`, i))
  },
  connections: () => current().connections(),
  arrivals: () => arrivals,
  cpu: () => cpuMs()
}
export type ServerCommands = typeof commands

serve(commands, async () => {
  if (load !== undefined) load.running = false
  await target?.close()
})
