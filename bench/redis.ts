// The Redis backplane against the in-memory one, with servers, the engine and the dashboards in
// separate processes (bench/redis-server.ts, bench/redis-clients.ts), as they run in production.
//
//   npm run bench:redis                 # the full run (about 5 minutes)
//   QUICK=1 npm run bench:redis         # about a minute: 200 clients, short windows, small DAGs
//   SCENARIOS=1,4 CLIENTS=500 RATE=100 npm run bench:redis
//   PROFILE=1 npm run bench:redis       # also --cpu-prof the engine and a server (scenarios 1 and 2)
//
// Needs Redis at REDIS_URL (default redis://127.0.0.1:6379). Every run uses its own key prefix
// (bench-<pid>-<time>-<n>) and deletes its keys when it ends, on failure too. The script stops by
// itself (DEADLINE_S at the latest) and kills its child processes however it ends. Settings (env),
// full / QUICK: RATE (events/s, comma-separated for several runs) 200,50 / 200, DURATION_S 10 / 3,
// WARMUP_S 1 / 0.5, CLIENTS 1000 / 200, SERVERS 3, CLIENT_PROCS 2, IN_FLIGHT 256, FLOOD_S 5 / 2,
// FLOOD_DAGS 100, HISTORY 1000, MEM_DAGS 50 / 10, MEM_EVENTS 1200 / 1100, COLD_NODES 10000 / 2000,
// COLD_EDGES 5000 / 1000, COLD_RUNS 5 / 2, DEADLINE_S 1200 / 300.
//
// What the figures mean:
// 1. Added latency. The engine stamps `metrics.sent_at` (wall clock in ms: performance.timeOrigin +
//    performance.now(), which agree across processes) right before `broadcast()`; a client stamps
//    the frame on arrival, before parsing it. The difference covers validation, the backplane (for
//    Redis: the append script, pub/sub to every server, the server's fan-out), the socket and the
//    wait in the client's event loop. Redis: CLIENTS sockets over SERVERS server processes and the
//    engine in one more process. Memory: the same clients on one process that is also the engine.
//    The engine keeps to its schedule only if its process has the time: "events/s sent" and
//    "behind schedule" say when it did not. In memory mode the fan-out runs inside broadcast(), so a
//    saturated server slows the engine down (low latency, lower rate); with Redis the engine runs
//    on, and a saturated server queues (rate kept, latency grows). Compare rows where both kept
//    the rate. The CPU table (cores busy) says how loaded the machine was, "others" included.
// 2. Throughput. The engine broadcasts as fast as it can with IN_FLIGHT unawaited promises;
//    appends/s counts resolved promises (numbered, stored, published). One client per DAG on one
//    server process counts what arrives, and its latency shows the queueing at that rate.
//    "Redis commands per append" is total_commands_processed over the window / appends (the
//    commands a Lua script runs count too); "bytes sent to Redis" is total_net_input_bytes / appends
//    (from every connection: the server's few probes are noise).
// 3. Memory. MEM_DAGS DAGs get MEM_EVENTS node_state events each; `MEMORY USAGE key SAMPLES 0`
//    summed over every key of a DAG, and the change in INFO used_memory over the fill, per DAG
//    (that one also moves with anything else using the same Redis).
// 4. Cold snapshot. A DAG of COLD_NODES nodes (one node_state each) and COLD_EDGES edges is built
//    by a process that then exits; fresh server processes that never saw it time `GET
//    /api/dags/:id` (to the last byte, from this process). "its first request" includes the
//    process's own warm-up (JIT, first route); "unseen DAG" follows a request for a small DAG, so it
//    isolates loading the DAG. The in-memory row is the process that built it, for comparison.

import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { ClientCommands, ClientStats } from './redis-clients.js'
import { BUCKETS_PER_MS, Child, killChildren, now, sleep, withTimeout } from './redis-ipc.js'
import type { AppendReport, InstanceCommands, InstanceOptions } from './redis-server.js'

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const QUICK = process.env.QUICK === '1'

function setting (name: string, full: number, quick: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return QUICK ? quick : full
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`)
  return value
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const SCENARIOS = new Set((process.env.SCENARIOS ?? '1,2,3,4').split(',').map((s) => s.trim()))
const PROFILE = process.env.PROFILE === '1'
const HISTORY = Math.floor(setting('HISTORY', 1000, 1000))
// Several rates (RATE=200,50) run one after the other; the lower one shows the machine not saturated.
const RATES = (process.env.RATE ?? (QUICK ? '200' : '200,50')).split(',').map((raw) => {
  const rate = Number(raw)
  if (!Number.isFinite(rate) || rate <= 0) throw new Error(`RATE must be positive numbers separated by commas, got ${JSON.stringify(process.env.RATE)}`)
  return rate
})
const DURATION_S = setting('DURATION_S', 10, 3)
const WARMUP_S = setting('WARMUP_S', 1, 0.5)
const CLIENTS = Math.floor(setting('CLIENTS', 1000, 200))
const SERVERS = Math.floor(setting('SERVERS', 3, 3))
const CLIENT_PROCS = Math.floor(setting('CLIENT_PROCS', 2, 2))
const IN_FLIGHT = Math.floor(setting('IN_FLIGHT', 256, 256))
const FLOOD_S = setting('FLOOD_S', 5, 2)
const FLOOD_DAGS = Math.floor(setting('FLOOD_DAGS', 100, 100))
const MEM_DAGS = Math.floor(setting('MEM_DAGS', 50, 10))
const MEM_EVENTS = Math.floor(setting('MEM_EVENTS', 1200, 1100))
const COLD_NODES = Math.floor(setting('COLD_NODES', 10_000, 2000))
const COLD_EDGES = Math.floor(setting('COLD_EDGES', 5000, 1000))
const COLD_RUNS = Math.floor(setting('COLD_RUNS', 5, 2))
const DEADLINE_S = setting('DEADLINE_S', 1200, 300)

const INSTANCE_FILE = new URL('./redis-server.ts', import.meta.url)
const CLIENTS_FILE = new URL('./redis-clients.ts', import.meta.url)
const REDIS_BACKPLANE_FILE = new URL('../lib/backplane/redis/index.ts', import.meta.url)
// How long to wait for the last deliveries once the engine has finished, and for no progress at all.
const DRAIN_TIMEOUT_MS = 20_000
const DRAIN_STALL_MS = 3000

type Backplane = InstanceOptions['backplane']

// ---------------------------------------------------------------------------------------------
// Redis: the connection this process uses to inspect and clean up
// ---------------------------------------------------------------------------------------------

const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null })
redis.on('error', () => {}) // reported by the command that fails

async function info (section: string): Promise<Record<string, string>> {
  const text = await redis.info(section)
  const fields: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1)
  }
  return fields
}

/** Redis CPU time (ms), commands processed and bytes received so far. */
async function redisCounters (): Promise<{ cpuMs: number; commands: number; inputBytes: number }> {
  const [cpu, stats] = await Promise.all([info('cpu'), info('stats')])
  return {
    cpuMs: (Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys)) * 1000,
    commands: Number(stats.total_commands_processed),
    inputBytes: Number(stats.total_net_input_bytes)
  }
}

async function scanKeys (prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  // Bounded: a prefix of this benchmark never holds more than a few thousand keys.
  for (let round = 0; round < 100_000; round++) {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
    if (cursor === '0') break
  }
  return keys
}

/** Deletes every key under `prefix`; resolves with how many there were. */
async function deleteKeys (prefix: string): Promise<number> {
  const keys = await scanKeys(prefix)
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500))
  return keys.length
}

/**
 * CPU time (ms) the whole machine has spent busy, over every core: set against the processes of a
 * run, it shows what else was running (this machine may be shared).
 */
function machineCpuMs (): number {
  return cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0)
}

// ---------------------------------------------------------------------------------------------
// One run: the processes of one measurement and its key prefix, released together
// ---------------------------------------------------------------------------------------------

let runCount = 0
const activeRuns = new Set<Run>()

class Run {
  readonly prefix = `bench-${process.pid}-${Date.now()}-${++runCount}`
  readonly instances: Array<Child<InstanceCommands>> = []
  readonly clients: Array<Child<ClientCommands>> = []
  readonly backplane: Backplane

  constructor (backplane: Backplane) {
    this.backplane = backplane
    activeRuns.add(this)
  }

  /** Starts one plugin instance in its own process; resolves with it and its port if it listens. */
  async instance (name: string, listen: boolean, profiler?: Profiler): Promise<{ child: Child<InstanceCommands>; port: number }> {
    const child = await Child.start<InstanceCommands>(name, INSTANCE_FILE, profiler?.execArgv ?? [])
    profiler?.track(child.process.pid, name)
    this.instances.push(child)
    const { port } = await child.call('start', { backplane: this.backplane, redisUrl: REDIS_URL, keyPrefix: this.prefix, historySize: HISTORY, listen })
    return { child, port: port ?? 0 }
  }

  async clientProcesses (count: number): Promise<Array<Child<ClientCommands>>> {
    const started = await Promise.all(Array.from({ length: count }, (_, i) => Child.start<ClientCommands>(`clients-${i}`, CLIENTS_FILE)))
    this.clients.push(...started)
    return started
  }

  /** Opens `urls` spread over the client processes (round robin); throws unless all of them connect. */
  async connect (urls: string[]): Promise<void> {
    const results = await Promise.all(this.clients.map((child, p) => child.call('connect', {
      urls: urls.filter((_, i) => i % this.clients.length === p),
      concurrency: 25,
      timeoutMs: 30_000
    }, 180_000)))
    const connected = results.reduce((sum, r) => sum + r.connected, 0)
    if (connected !== urls.length) throw new Error(`only ${connected} of ${urls.length} clients connected: ${results.find((r) => r.firstError !== undefined)?.firstError}`)
  }

  async cpu (): Promise<{ instances: number[]; clients: number; redis: number; machine: number }> {
    const [instances, clients, counters] = await Promise.all([
      Promise.all(this.instances.map((child) => child.call('cpu', undefined))),
      Promise.all(this.clients.map((child) => child.call('cpu', undefined))),
      redisCounters()
    ])
    return { instances, clients: clients.reduce((a, b) => a + b, 0), redis: counters.cpuMs, machine: machineCpuMs() }
  }

  /** Stops the clients, then the instances (so none writes again), then deletes the keys. */
  async close (): Promise<void> {
    await Promise.allSettled(this.clients.map((child) => child.stop()))
    await Promise.allSettled(this.instances.map((child) => child.stop()))
    if (this.backplane === 'redis') await deleteKeys(this.prefix)
    activeRuns.delete(this)
  }
}

/** Runs `body` with a fresh Run and always closes it. */
async function withRun<T> (backplane: Backplane, body: (run: Run) => Promise<T>): Promise<T> {
  const run = new Run(backplane)
  try {
    return await body(run)
  } finally {
    await run.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Client statistics
// ---------------------------------------------------------------------------------------------

type Totals = Omit<ClientStats, 'histogram'> & { histogram: Map<number, number> }

async function collect (clients: Array<Child<ClientCommands>>): Promise<Totals> {
  const all = await Promise.all(clients.map((child) => child.call('stats', undefined)))
  const totals: Totals = { sockets: 0, open: 0, events: 0, measured: 0, gaps: 0, stale: 0, resyncs: 0, errors: 0, closes: {}, histogram: new Map(), cpuMs: 0 }
  for (const stats of all) {
    for (const field of ['sockets', 'open', 'events', 'measured', 'gaps', 'stale', 'resyncs', 'errors', 'cpuMs'] as const) totals[field] += stats[field]
    for (const [code, count] of Object.entries(stats.closes)) totals.closes[code] = (totals.closes[code] ?? 0) + count
    for (const [bucket, count] of stats.histogram) totals.histogram.set(bucket, (totals.histogram.get(bucket) ?? 0) + count)
  }
  return totals
}

/** What should not happen: resyncs, replayed or duplicated events, unexpected frames, sockets closed. */
function anomalies (totals: Totals): string {
  const found = [
    totals.resyncs > 0 ? `${totals.resyncs} resync_required` : '',
    totals.stale > 0 ? `${totals.stale} stale` : '',
    totals.errors > 0 ? `${totals.errors} unexpected frames` : '',
    totals.open < totals.sockets ? `${totals.sockets - totals.open} closed (${Object.entries(totals.closes).map(([code, n]) => `${code}×${n}`).join(', ')})` : ''
  ].filter((text) => text !== '')
  return found.length === 0 ? 'none' : found.join('; ')
}

/** Waits until the clients have `expected` of `field`, or nothing arrives for a while, or a deadline. */
async function drain (clients: Array<Child<ClientCommands>>, field: 'events' | 'measured', expected: number): Promise<Totals> {
  const deadline = now() + DRAIN_TIMEOUT_MS
  let totals = await collect(clients)
  let seen = totals[field]
  let progressAt = now()
  while (totals[field] < expected && now() < deadline && now() - progressAt < DRAIN_STALL_MS) {
    await sleep(250)
    totals = await collect(clients)
    if (totals[field] !== seen) {
      seen = totals[field]
      progressAt = now()
    }
  }
  return totals
}

function percentile (histogram: Map<number, number>, fraction: number): number | undefined {
  const buckets = [...histogram.keys()].sort((a, b) => a - b)
  const total = [...histogram.values()].reduce((a, b) => a + b, 0)
  if (total === 0) return undefined
  const rank = Math.max(1, Math.ceil(fraction * total))
  let seen = 0
  for (const bucket of buckets) {
    seen += histogram.get(bucket) ?? 0
    if (seen >= rank) return bucket / BUCKETS_PER_MS
  }
  return (buckets.at(-1) ?? 0) / BUCKETS_PER_MS
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

const int = (n: number) => Math.round(n).toLocaleString('en')
const ms = (n: number | undefined) => (n === undefined ? '–' : n < 10 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${int(n)} ms`)
const cores = (cpu: number, wall: number) => (cpu / wall).toFixed(2)
const bytes = (n: number) => (n < 10 * 1024 ? `${int(n)} B` : n < 10 * 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`)

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Prints a Markdown table; columns whose header starts with '>' are right-aligned. */
function printTable (headers: string[], rows: string[][]): void {
  console.log(`| ${headers.map((h) => h.replace(/^>/, '')).join(' | ')} |`)
  console.log(`|${headers.map((h) => (h.startsWith('>') ? '---:' : '---')).join('|')}|`)
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
  console.log()
}

const summary: string[] = []
const streamUrl = (port: number, dagId: string) => `ws://127.0.0.1:${port}/api/dags/${dagId}/stream`

// ---------------------------------------------------------------------------------------------
// CPU profiles (PROFILE=1): --cpu-prof on chosen instances, top self time within a window
// ---------------------------------------------------------------------------------------------

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

/** The system's monotonic clock in µs: what V8 stamps profile samples with, and what process.hrtime reads. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

class Profiler {
  readonly dir: string
  readonly title: string
  readonly #names = new Map<number, string>()
  #window: [number, number] = [0, Number.POSITIVE_INFINITY]

  private constructor (dir: string, title: string) {
    this.dir = dir
    this.title = title
  }

  static async create (title: string): Promise<Profiler> {
    return new Profiler(await mkdtemp(join(tmpdir(), 'dag-stream-prof-')), title)
  }

  get execArgv (): string[] {
    return ['--cpu-prof', `--cpu-prof-dir=${this.dir}`]
  }

  track (pid: number | undefined, name: string): void {
    if (pid !== undefined) this.#names.set(pid, name)
  }

  start (): void { this.#window = [monotonicUs(), Number.POSITIVE_INFINITY] }
  stop (): void { this.#window = [this.#window[0], monotonicUs()] }

  /** Prints the top 10 self-time functions of each profiled process (written when it exited), then deletes the files. */
  async print (): Promise<void> {
    const [from, to] = this.#window
    for (const file of (await readdir(this.dir)).filter((name) => name.endsWith('.cpuprofile')).sort()) {
      // CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile; thread 0 is the main thread (tsx's loader
      // runs in a worker of its own, which is not what we measure).
      const [, , , pid, thread] = file.split('.')
      if (thread !== '0') continue
      const profile = JSON.parse(await readFile(join(this.dir, file), 'utf8')) as CpuProfile
      const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
      const self = new Map<string, number>()
      let busy = 0
      let at = profile.startTime
      profile.samples.forEach((id, i) => {
        const delta = profile.timeDeltas[i] ?? 0
        at += delta
        const frame = frames.get(id)
        if (at < from || at > to || frame === undefined || frame.functionName === '(idle)') return
        // tsx's transpiled files report line 1 for everything: the file alone says enough there.
        const line = frame.lineNumber > 0 ? `:${frame.lineNumber + 1}` : ''
        const where = frame.url === '' ? '' : ` ${frame.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '')}${line}`
        const label = `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where}`
        self.set(label, (self.get(label) ?? 0) + delta / 1000)
        busy += delta / 1000
      })
      console.log(`CPU profile of ${this.#names.get(Number(pid)) ?? `process ${pid}`} (${this.title}): ${int(busy)} ms busy; top 10 self time\n`)
      printTable(['function (file:line)', '>self', '>% of busy'],
        [...self].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([label, value]) => [label, ms(value), `${((100 * value) / busy).toFixed(1)}%`]))
    }
    await rm(this.dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Added latency at a fixed rate
// ---------------------------------------------------------------------------------------------

interface LatencyResult {
  report: AppendReport & { measured: number; maxLagMs: number; achievedPerSecond: number }
  totals: Totals
  wallMs: number
  cpu: { engine?: number; servers: number; clients: number; redis: number; machine: number }
}

async function latencyRun (backplane: Backplane, perSecond: number, profiler?: Profiler): Promise<LatencyResult> {
  return await withRun(backplane, async (run) => {
    const dagId = 'latency'
    const servers = backplane === 'redis'
      ? await Promise.all(Array.from({ length: SERVERS }, (_, i) => run.instance(`server-${i}`, true, i === 0 ? profiler : undefined)))
      : [await run.instance('server+engine', true, profiler)]
    const engine = backplane === 'redis' ? (await run.instance('engine', false, profiler)).child : (servers[0] as { child: Child<InstanceCommands> }).child
    // The DAG exists before the dashboards open it, as when they follow a running DAG.
    await engine.call('fill', { dagIds: [dagId], events: 1, inFlight: 1 })
    await run.clientProcesses(CLIENT_PROCS)
    await run.connect(Array.from({ length: CLIENTS }, (_, i) => streamUrl((servers[i % servers.length] as { port: number }).port, dagId)))
    await sleep(500)
    await Promise.all(run.clients.map((child) => child.call('reset', undefined)))
    const before = await run.cpu()
    const began = now()
    profiler?.start()
    const report = await engine.call('rate', { dagId, perSecond, warmupMs: WARMUP_S * 1000, durationMs: DURATION_S * 1000 }, (WARMUP_S + DURATION_S) * 2000 + 60_000)
    const totals = await drain(run.clients, 'measured', report.measured * CLIENTS)
    profiler?.stop()
    const wallMs = now() - began
    const after = await run.cpu()
    const instanceCpu = after.instances.map((cpu, i) => cpu - (before.instances[i] ?? 0))
    return {
      report,
      totals,
      wallMs,
      cpu: {
        engine: backplane === 'redis' ? instanceCpu.at(-1) : undefined,
        servers: instanceCpu.slice(0, servers.length).reduce((a, b) => a + b, 0),
        clients: after.clients - before.clients,
        redis: after.redis - before.redis,
        machine: after.machine - before.machine
      }
    }
  })
}

async function scenarioLatency (redisReady: boolean): Promise<void> {
  console.log(`## 1. Added latency: broadcast → client receive, ${RATES.join(' and ')} events/s for ${DURATION_S} s (after ${WARMUP_S} s of warm-up), one DAG, ${int(CLIENTS)} clients in ${CLIENT_PROCS} processes\n`)
  const rows: string[][] = []
  const cpuRows: string[][] = []
  const profiler = PROFILE && redisReady ? await Profiler.create(`redis, ${int(CLIENTS)} clients at ${RATES[0]} events/s, rate window and drain`) : undefined
  for (const [r, perSecond] of RATES.entries()) {
    for (const backplane of (redisReady ? ['redis', 'memory'] : ['memory']) as Backplane[]) {
      const { report, totals, wallMs, cpu } = await latencyRun(backplane, perSecond, backplane === 'redis' && r === 0 ? profiler : undefined)
      const topology = backplane === 'redis' ? `${SERVERS} servers + 1 engine` : '1 (server + engine)'
      const expected = report.measured * CLIENTS
      const p = (f: number) => ms(percentile(totals.histogram, f))
      const appended = new Map(report.appendHistogram)
      rows.push([backplane, topology, `${perSecond}`, report.achievedPerSecond.toFixed(0), ms(report.maxLagMs), `${int(totals.measured)} / ${int(expected)}`, p(0.5), p(0.9), p(0.99), p(0.999), p(1), `${ms(percentile(appended, 0.5))} / ${ms(percentile(appended, 0.99))}`, `${totals.gaps}`, anomalies(totals), `${report.failed}`])
      const ours = (cpu.engine ?? 0) + cpu.servers + cpu.clients + cpu.redis
      cpuRows.push([backplane, `${perSecond}`, cpu.engine === undefined ? '(in server)' : cores(cpu.engine, wallMs), cores(cpu.servers, wallMs), cores(cpu.clients, wallMs), cores(cpu.redis, wallMs), cores(cpu.machine, wallMs), cores(Math.max(0, cpu.machine - ours), wallMs)])
      summary.push(`latency (${backplane}, ${int(CLIENTS)} clients, ${perSecond}/s asked, ${report.achievedPerSecond.toFixed(0)}/s sent): p50 ${p(0.5)}, p99 ${p(0.99)}, max ${p(1)}; ${int(totals.measured)} of ${int(expected)} deliveries, ${totals.gaps} gaps`)
    }
  }
  printTable(['backplane', 'processes', '>events/s asked', '>events/s sent', '>engine behind schedule (max)', '>deliveries (got / expected)', '>p50', '>p90', '>p99', '>p99.9', '>max', '>broadcast() resolves p50 / p99', '>seq gaps', 'other anomalies', '>failed broadcasts'], rows)
  console.log('"events/s sent" below the rate asked means the engine could not keep its schedule (its process was too busy): each event is stamped when it is actually sent, so its lateness is not in the latency columns.\n')
  console.log(`CPU during the window (cores busy, of ${cpus().length}; the window includes the drain; "others" is the machine minus this benchmark's processes):\n`)
  printTable(['backplane', '>events/s asked', '>engine', '>servers', '>clients', '>redis', '>whole machine', '>others'], cpuRows)
  await profiler?.print()
}

// ---------------------------------------------------------------------------------------------
// 2. Sustained throughput
// ---------------------------------------------------------------------------------------------

async function throughputRun (backplane: Backplane, dags: number, profiler?: Profiler): Promise<string[]> {
  return await withRun(backplane, async (run) => {
    const dagIds = Array.from({ length: dags }, (_, i) => `flood-${i}`)
    const server = await run.instance(backplane === 'redis' ? 'server' : 'server+engine', true, profiler)
    const engine = backplane === 'redis' ? (await run.instance('engine', false, profiler)).child : server.child
    await engine.call('fill', { dagIds, events: 1, inFlight: IN_FLIGHT })
    await run.clientProcesses(1)
    await run.connect(dagIds.map((dagId) => streamUrl(server.port, dagId)))
    await sleep(300)
    await Promise.all(run.clients.map((child) => child.call('reset', undefined)))
    const before = await run.cpu()
    const countersBefore = await redisCounters()
    profiler?.start()
    const report = await engine.call('flood', { dagIds, inFlight: IN_FLIGHT, durationMs: FLOOD_S * 1000 }, FLOOD_S * 1000 + 60_000)
    profiler?.stop()
    const countersAfter = await redisCounters()
    const commands = countersAfter.commands - countersBefore.commands
    const inputBytes = countersAfter.inputBytes - countersBefore.inputBytes
    const after = await run.cpu()
    const totals = await drain(run.clients, 'events', report.completed)
    const seconds = report.elapsedMs / 1000
    const rate = report.completed / seconds
    const instanceCpu = after.instances.map((cpu, i) => cpu - (before.instances[i] ?? 0))
    const engineCpu = backplane === 'redis' ? cores(instanceCpu[1] ?? 0, report.elapsedMs) : '(in server)'
    const redisCpu = after.redis - before.redis
    const others = (after.machine - before.machine) - instanceCpu.reduce((a, b) => a + b, 0) - (after.clients - before.clients) - redisCpu
    summary.push(`throughput (${backplane}, ${dags} DAG${dags === 1 ? '' : 's'}): ${int(rate)} appends/s; a subscriber got ${int(totals.events)} of ${int(report.completed)}`)
    return [
      backplane,
      `${dags}`,
      `${IN_FLIGHT}`,
      int(report.completed),
      int(rate),
      `${report.failed}${report.firstError === undefined ? '' : ` (${report.firstError.slice(0, 60)})`}`,
      `${int(totals.events)} / ${int(report.completed)}`,
      `${totals.gaps}`,
      anomalies(totals),
      `${ms(percentile(new Map(report.appendHistogram), 0.5))} / ${ms(percentile(new Map(report.appendHistogram), 0.99))}`,
      `${ms(percentile(totals.histogram, 0.5))} / ${ms(percentile(totals.histogram, 0.99))}`,
      backplane === 'redis' ? (commands / Math.max(1, report.completed)).toFixed(1) : '–',
      backplane === 'redis' ? int(inputBytes / Math.max(1, report.completed)) : '–',
      engineCpu,
      cores(instanceCpu[0] ?? 0, report.elapsedMs),
      cores(redisCpu, report.elapsedMs),
      cores(Math.max(0, others), report.elapsedMs)
    ]
  })
}

async function scenarioThroughput (redisReady: boolean): Promise<void> {
  console.log(`## 2. Sustained throughput: the engine broadcasts for ${FLOOD_S} s with ${IN_FLIGHT} promises in flight; one client per DAG on one server\n`)
  const rows: string[][] = []
  const profiler = PROFILE && redisReady ? await Profiler.create(`redis, ${FLOOD_DAGS} DAGs, during the ${FLOOD_S} s flood`) : undefined
  for (const backplane of (redisReady ? ['redis', 'memory'] : ['memory']) as Backplane[]) {
    for (const dags of [1, FLOOD_DAGS]) rows.push(await throughputRun(backplane, dags, backplane === 'redis' && dags === FLOOD_DAGS ? profiler : undefined))
  }
  printTable(['backplane', '>DAGs', '>in flight', '>appends', '>appends/s', '>failed', '>client got / appended', '>seq gaps', 'other anomalies', '>broadcast() resolves p50 / p99', '>delivery latency p50 / p99', '>Redis commands per append (incl. inside scripts)', '>bytes sent to Redis per append', '>engine CPU', '>server CPU', '>redis CPU', '>others CPU'], rows)
  console.log('CPU in cores busy over the window; "others" is the whole machine minus this benchmark\'s processes (the client included).\n')
  await profiler?.print()
}

// ---------------------------------------------------------------------------------------------
// 3. Redis memory per DAG
// ---------------------------------------------------------------------------------------------

async function scenarioMemory (): Promise<void> {
  console.log(`## 3. Redis memory per DAG: ${MEM_DAGS} DAGs × ${int(MEM_EVENTS)} node_state events (20 nodes each, small metrics), historySize ${HISTORY}\n`)
  await withRun('redis', async (run) => {
    const dagIds = Array.from({ length: MEM_DAGS }, (_, i) => `mem-${i}`)
    const { child: engine } = await run.instance('engine', false)
    const usedBefore = Number((await info('memory')).used_memory)
    const report = await engine.call('fill', { dagIds, events: MEM_EVENTS, inFlight: IN_FLIGHT }, 600_000)
    if (report.failed > 0) throw new Error(`${report.failed} appends failed: ${report.firstError}`)
    // Anything the backplane writes after the append resolves (a checkpoint) has landed by now.
    await sleep(1000)
    const usedAfter = Number((await info('memory')).used_memory)
    const groups = new Map<string, { type: string; keys: number; bytes: number; length: number }>()
    for (const key of await scanKeys(run.prefix)) {
      const [usage, type] = await Promise.all([redis.memory('USAGE', key, 'SAMPLES', 0), redis.type(key)])
      const length = type === 'stream' ? await redis.xlen(key) : type === 'hash' ? await redis.hlen(key) : type === 'zset' ? await redis.zcard(key) : type === 'string' ? await redis.strlen(key) : 0
      const group = key.slice(run.prefix.length + 1).replace(/^\{[^}]*\}/, '{dagId}')
      const entry = groups.get(group) ?? { type, keys: 0, bytes: 0, length: 0 }
      entry.keys++
      entry.bytes += Number(usage ?? 0)
      entry.length += length
      groups.set(group, entry)
    }
    const perDag = [...groups].filter(([group]) => group.startsWith('{dagId}')).reduce((sum, [, entry]) => sum + entry.bytes, 0) / MEM_DAGS
    const lengthUnit: Record<string, string> = { stream: 'entries (XLEN)', hash: 'fields', zset: 'members', string: 'bytes (STRLEN)' }
    printTable(['key', 'type', '>keys', '>MEMORY USAGE per key (avg)', '>length per key (avg)'],
      [...groups].sort().map(([group, entry]) => [`${'<prefix>:'}${group}`, entry.type, `${entry.keys}`, bytes(entry.bytes / entry.keys), `${int(entry.length / entry.keys)} ${lengthUnit[entry.type] ?? ''}`]))
    printTable(['>DAGs', '>events per DAG', '>MEMORY USAGE per DAG (sum of its keys)', '>INFO used_memory delta per DAG', '>appends/s while filling'],
      [[`${MEM_DAGS}`, int(MEM_EVENTS), bytes(perDag), bytes((usedAfter - usedBefore) / MEM_DAGS), int(report.completed / (report.elapsedMs / 1000))]])
    summary.push(`memory (historySize ${HISTORY}, ${int(MEM_EVENTS)} events/DAG): ${bytes(perDag)} per DAG by MEMORY USAGE, ${bytes((usedAfter - usedBefore) / MEM_DAGS)} by used_memory delta`)
  })
}

// ---------------------------------------------------------------------------------------------
// 4. A cold instance serving a large snapshot
// ---------------------------------------------------------------------------------------------

interface Fetched { ms: number; status: number; body: Buffer }

function get (url: string): Promise<Fetched> {
  const began = now()
  return withTimeout(new Promise<Fetched>((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ ms: now() - began, status: response.statusCode ?? 0, body: Buffer.concat(chunks) }))
      response.on('error', reject)
    })
    request.on('error', reject)
  }), 60_000, `GET ${url} took more than 60 s`)
}

/** Fetches the big snapshot and checks it is the DAG that was built, whole. */
async function getSnapshot (port: number, expectedSeq: number): Promise<Fetched> {
  const fetched = await get(`http://127.0.0.1:${port}/api/dags/big`)
  if (fetched.status !== 200) throw new Error(`GET /api/dags/big answered ${fetched.status}: ${fetched.body.toString().slice(0, 200)}`)
  const snapshot = JSON.parse(fetched.body.toString()) as { seq: number, nodes: unknown[], edges: unknown[] }
  if (snapshot.seq !== expectedSeq || snapshot.nodes.length !== COLD_NODES || snapshot.edges.length !== COLD_EDGES) {
    throw new Error(`snapshot is not the DAG built: seq ${snapshot.seq} (expected ${expectedSeq}), ${snapshot.nodes.length} nodes (${COLD_NODES}), ${snapshot.edges.length} edges (${COLD_EDGES})`)
  }
  return fetched
}

const REPEATS = 5

async function buildDags (engine: Child<InstanceCommands>): Promise<number> {
  const big = await engine.call('build', { dagId: 'big', nodes: COLD_NODES, edges: COLD_EDGES, inFlight: IN_FLIGHT }, 600_000)
  const small = await engine.call('build', { dagId: 'small', nodes: 10, edges: 9, inFlight: IN_FLIGHT })
  if (big.failed + small.failed > 0) throw new Error(`building the DAGs failed: ${big.firstError ?? small.firstError}`)
  return big.lastSeq.big ?? 0
}

async function scenarioCold (redisReady: boolean): Promise<void> {
  console.log(`## 4. Cold snapshot: GET /api/dags/:id of a DAG of ${int(COLD_NODES)} nodes and ${int(COLD_EDGES)} edges (${int(COLD_NODES + COLD_EDGES)} events, historySize ${HISTORY})\n`)
  // This process's own first HTTP request pays for warming its client code: not the server's cost.
  const local = http.createServer((_, response) => response.end('ok'))
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve))
  await get(`http://127.0.0.1:${(local.address() as { port: number }).port}/`)
  local.close()

  const rows: string[][] = []
  if (redisReady) {
    await withRun('redis', async (run) => {
      const { child: builder } = await run.instance('builder', false)
      const seq = await buildDags(builder)
      await builder.stop()
      const first: number[] = []
      const unseen: number[] = []
      const repeat: number[] = []
      const boot: number[] = []
      let size = 0
      for (let i = 0; i < COLD_RUNS * 2; i++) {
        const began = now()
        const { child, port } = await run.instance(`cold-${i}`, true)
        boot.push(now() - began)
        // Odd runs warm the process up on a small DAG first; even runs ask for the big one first.
        if (i % 2 === 1) await get(`http://127.0.0.1:${port}/api/dags/small`)
        const fetched = await getSnapshot(port, seq)
        size = fetched.body.length
        const times = i % 2 === 1 ? unseen : first
        times.push(fetched.ms)
        for (let r = 0; r < REPEATS; r++) repeat.push((await getSnapshot(port, seq)).ms)
        await child.stop()
      }
      const range = (values: number[]) => `${ms(median(values))} (${ms(Math.min(...values))} – ${ms(Math.max(...values))})`
      rows.push(['redis', `fresh process, its first request (${COLD_RUNS} processes)`, range(first), bytes(size)])
      rows.push(['redis', `fresh process, unseen DAG after a small request (${COLD_RUNS} processes)`, range(unseen), bytes(size)])
      rows.push(['redis', `same processes, later requests (${repeat.length})`, range(repeat), bytes(size)])
      summary.push(`cold snapshot (redis, ${int(COLD_NODES)} nodes): first request ${ms(median(first))}, unseen DAG in a warm process ${ms(median(unseen))}, later ${ms(median(repeat))}; process boot ${ms(median(boot))}`)
      console.log(`A fresh server process takes ${ms(median(boot))} (median) from fork to listening, not counted below.\n`)
    })
  }
  await withRun('memory', async (run) => {
    const { child, port } = await run.instance('server+engine', true)
    const seq = await buildDags(child)
    const firstFetch = await getSnapshot(port, seq)
    const repeat: number[] = []
    for (let r = 0; r < REPEATS * COLD_RUNS; r++) repeat.push((await getSnapshot(port, seq)).ms)
    rows.push(['memory', 'the process that built it, its first request', ms(firstFetch.ms), bytes(firstFetch.body.length)])
    rows.push(['memory', `same process, later requests (${repeat.length})`, `${ms(median(repeat))} (${ms(Math.min(...repeat))} – ${ms(Math.max(...repeat))})`, bytes(firstFetch.body.length)])
    summary.push(`snapshot (memory, ${int(COLD_NODES)} nodes): first ${ms(firstFetch.ms)}, later ${ms(median(repeat))}`)
  })
  printTable(['backplane', 'request', '>time to last byte: median (min – max)', '>body'], rows)
}

// ---------------------------------------------------------------------------------------------
// Main: bounded in time, and nothing left behind whatever happens
// ---------------------------------------------------------------------------------------------

let aborting = false

async function abort (reason: unknown): Promise<never> {
  if (!aborting) {
    aborting = true
    console.error('\nbench:redis failed:', reason instanceof Error ? reason.stack ?? reason.message : reason)
    killChildren()
    for (const run of activeRuns) {
      if (run.backplane === 'redis') await withTimeout(deleteKeys(run.prefix), 5000, 'cleanup timed out').catch(() => undefined)
    }
  }
  process.exit(1)
}

process.on('exit', killChildren)
process.on('SIGINT', () => { void abort(new Error('interrupted')) })
process.on('SIGTERM', () => { void abort(new Error('terminated')) })
setTimeout(() => { void abort(new Error(`still running after DEADLINE_S=${DEADLINE_S} s`)) }, DEADLINE_S * 1000).unref()

async function main (): Promise<void> {
  const began = now()
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    throw new Error(`Redis is not reachable at ${REDIS_URL} (${error instanceof Error ? error.message : error}); start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`)
  }
  const redisReady = existsSync(REDIS_BACKPLANE_FILE)
  const server = await info('server')
  const load = () => loadavg().map((n) => n.toFixed(2)).join(' ')
  console.log(`fastify-dag-stream: Redis backplane vs in-memory — node ${process.version}, Redis ${server.redis_version}, ${cpus().length} cores, load average ${load()}, ${QUICK ? 'QUICK run' : 'full run'}, scenarios ${[...SCENARIOS].join(',')}\n`)
  if (!redisReady) console.log('lib/backplane/redis/index.ts does not exist yet: only the in-memory rows run.\n')

  if (SCENARIOS.has('1')) await scenarioLatency(redisReady)
  if (SCENARIOS.has('2')) await scenarioThroughput(redisReady)
  if (SCENARIOS.has('3') && redisReady) await scenarioMemory()
  if (SCENARIOS.has('4')) await scenarioCold(redisReady)

  console.log('## Summary\n')
  for (const line of summary) console.log(`- ${line}`)
  console.log(`\nfinished in ${((now() - began) / 1000).toFixed(0)} s; load average now ${load()}`)
}

main().then(async () => {
  redis.disconnect()
  process.exit(0)
}, abort)
