// `npm run bench`: this plugin, a raw `ws` loop and socket.io side by side, each server in a process
// of its own and every client in one other process, over loopback. See `--help` (below) for the
// options and bench/README.md for what each column means.
//
// Why separate processes: a server that shares its process with its clients has its figures mixed
// with theirs (the clients' parsing is most of the work). Here the server measures its own CPU time
// and memory from inside, and the client process measures delivery and latency the same way for
// every target. On one machine the two still compete for the cores; the "server cores" column
// says how busy the server was.

import { mkdirSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import type { ReadReport, WindowStats } from './client.js'
import type { Cost, DagSizeCommands } from './dag-size.js'
import { parseOptions, usageError } from './options.js'
import { checkOpenFiles, guard, pin, PROFILE_DIR, relayProgress, saveProfileWindow, separateCpus, startClients, startServer, type Server } from './processes.js'
import { Child, now, sleep } from './redis-ipc.js'
import type { Mark } from './server.js'
import { bytes, DASH, fixed, histogramPercentile, int, median, ms, percentile, printTable } from './stats.js'
import { snapshotUrl, TARGET_LABELS, TARGETS, type TargetName } from './targets/index.js'

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const SCENARIOS = ['1dag-max', '1dag-fixed', 'ndag-max', 'ndag-fixed', 'burst', 'crowd', 'snapshot', 'dag-size'] as const
type ScenarioName = (typeof SCENARIOS)[number]

const USAGE = `Usage: npm run bench -- [options]

Servers (one process each) against one client process, over loopback. Scenarios:
  1dag-max     --clients clients on 1 DAG, events as fast as they are delivered
  1dag-fixed   the same at --rate events/s
  ndag-max     --clients clients over --dags DAGs, as fast as they are delivered
  ndag-fixed   the same at --rate events/s
  burst        --burst-events events in one tick (a fan-out) to --burst-clients clients of one DAG
  crowd        --crowd-clients clients over --crowd-dags DAGs at --rate events/s (memory and delivery)
  snapshot     plugin only: GET /api/dags/:id of a --snapshot-nodes-node DAG by 1 and by
               --snapshot-readers concurrent readers, without and with Accept-Encoding: gzip
  dag-size     plugin only, no sockets: the cost of one broadcast by DAG size

Options (full run / --quick):
  --scenarios LIST       comma-separated, from the list above (default: all)
  --targets LIST         plugin,raw,socketio (default: all)
  --runs N               runs per scenario and target; the table shows medians (2 / 1)
  --clients N            clients in the 1dag and ndag scenarios (1000 / 100)
  --dags N               DAGs in the ndag scenarios (50 / 10)
  --rate N               events/s over all DAGs in the fixed-rate scenarios (1000 / 1000)
  --crowd-clients N      (5000 / 500)
  --crowd-dags N         (100 / 10)
  --burst-clients N      (20 / 20)
  --burst-events N       (100 / 100)
  --bursts N             bursts measured, after 5 not measured (50 / 10)
  --snapshot-nodes N     (10000 / 1000)
  --snapshot-readers N   the concurrent readers beside the single one (200 / 20)
  --window N             flow control: events in flight per client at most (16)
  --warmup S             seconds of load before the measured window (1 / 0.5)
  --duration S           seconds measured (5 / 1)
  --deadline S           give up (exit 1) after this long (3600 / 600)
  --shared-cpus          let the scheduler place the server and client processes (by default the
                         server runs on one CPU and its clients on another, where this process
                         may use two and \`taskset\` is there)
  --cpu-prof             profile the server processes into bench/profiles/<time>/ (one folder per
                         process); summarize with: node --import tsx bench/profile-summary.ts DIR
  --quick                a smoke run of a few seconds per scenario
  -h, --help             this text

Each socket is an open file in the server and in the client process: for --crowd-clients 5000 the
limit must be above 5,200 (\`ulimit -n\` in the shell that runs this; the script checks it).`

const parsed = parseOptions(USAGE, {
  numbers: {
    runs: { full: 2, quick: 1 },
    clients: { full: 1000, quick: 100 },
    dags: { full: 50, quick: 10 },
    rate: { full: 1000, quick: 1000 },
    'crowd-clients': { full: 5000, quick: 500 },
    'crowd-dags': { full: 100, quick: 10 },
    'burst-clients': { full: 20, quick: 20 },
    'burst-events': { full: 100, quick: 100 },
    bursts: { full: 50, quick: 10 },
    'snapshot-nodes': { full: 10_000, quick: 1000 },
    'snapshot-readers': { full: 200, quick: 20 },
    window: { full: 16, quick: 16 },
    warmup: { full: 1, quick: 0.5, integer: false },
    duration: { full: 5, quick: 1, integer: false },
    deadline: { full: 3600, quick: 600, integer: false }
  },
  strings: ['scenarios', 'targets'],
  flags: ['cpu-prof', 'shared-cpus']
})
const QUICK = parsed.quick
const { numbers } = parsed

/** A comma-separated choice among `allowed`, all of them by default; kept in the order of `allowed`. */
function listOption<T extends string> (name: 'scenarios' | 'targets', allowed: readonly T[]): T[] {
  const raw = parsed.strings[name]
  if (raw === undefined) return [...allowed]
  const chosen = raw.split(',').map((item) => item.trim()).filter((item) => item !== '')
  const unknown = chosen.filter((item) => !(allowed as readonly string[]).includes(item))
  if (unknown.length > 0 || chosen.length === 0) usageError(`--${name} takes a comma-separated list from ${allowed.join(', ')}; got ${JSON.stringify(raw)}`, USAGE)
  return allowed.filter((item) => chosen.includes(item))
}

const settings = {
  scenarios: listOption('scenarios', SCENARIOS),
  targets: listOption('targets', TARGETS),
  runs: numbers.runs,
  clients: numbers.clients,
  dags: numbers.dags,
  rate: numbers.rate,
  crowdClients: numbers['crowd-clients'],
  crowdDags: numbers['crowd-dags'],
  burstClients: numbers['burst-clients'],
  burstEvents: numbers['burst-events'],
  bursts: numbers.bursts,
  snapshotNodes: numbers['snapshot-nodes'],
  snapshotReaders: numbers['snapshot-readers'],
  window: numbers.window,
  warmupS: numbers.warmup,
  durationS: numbers.duration,
  deadlineS: numbers.deadline,
  cpuProf: parsed.flags['cpu-prof'],
  cpus: parsed.flags['shared-cpus'] ? undefined : separateCpus()
}

// Bursts not measured before the measured ones: the first include the JIT's work on the path.
const WARMUP_BURSTS = 5
const CONNECT_CONCURRENCY = 100
const CONNECT_TIMEOUT_MS = 30_000
const DAG_SIZES = QUICK ? [10, 1000, 100_000] : [10, 1000, 100_000, 1_000_000]
const DAG_SIZE_EVENTS = 20_000
/** Rounds of DAG_SIZE_EVENTS per DAG size, on different nodes; the table shows their median. */
const DAG_SIZE_ROUNDS = QUICK ? 3 : 5
const SNAPSHOT_ROUNDS: Record<'single' | 'many', number> = { single: QUICK ? 5 : 20, many: QUICK ? 2 : 5 }

// ---------------------------------------------------------------------------------------------
// One measured run of one target: a fresh server process and a fresh client process
// ---------------------------------------------------------------------------------------------

const runStamp = new Date().toISOString().replace(/[:.]/g, '-')
const profileRoot = join(PROFILE_DIR, runStamp)

type Clients = Awaited<ReturnType<typeof startClients>>
/** Called with the marks that bound the measured window (kept beside the CPU profile, if any). */
type MeasuredWindow = (from: Mark, to: Mark) => void

/** Starts the server and client processes of one run, and always stops both. */
async function withProcesses<T> (target: TargetName, label: string, body: (server: Server, clients: Clients, port: number, measured: MeasuredWindow) => Promise<T>): Promise<T> {
  let profileDir: string | undefined
  if (settings.cpuProf) {
    profileDir = join(profileRoot, label)
    mkdirSync(profileDir, { recursive: true })
  }
  const [server, clients] = await Promise.all([startServer(`server ${label}`, profileDir), startClients(`clients ${label}`)])
  try {
    if (settings.cpus !== undefined) {
      pin(server, settings.cpus.server)
      pin(clients, settings.cpus.clients)
    }
    await server.call('start', { target })
    const { port } = await server.call('listen', { port: 0 })
    return await body(server, clients, port, (from, to) => { if (profileDir !== undefined) saveProfileWindow(profileDir, from, to) })
  } finally {
    // Clients first, so the server's profile ends with its sockets closing rather than failing.
    await clients.stop()
    await server.stop()
  }
}

/** What one run of a load, burst or crowd scenario measured. NaN: not measured in this scenario. */
interface LoadResult {
  sentPerS: number
  deliveredPerS: number
  p50: number
  p99: number
  /** The server's part of p99: from the moment an event was due to its frames' write (bench/server.ts). */
  serverP99: number
  /** Server CPU time over the window / deliveries in it; for a burst, per delivery of the burst. */
  cpuUsPerDelivery: number
  /** The user-space part of cpuUsPerDelivery (load scenarios only). */
  userCpuUsPerDelivery: number
  /** Server CPU per burst (burst scenario only). */
  cpuUsPerBurst: number
  serverCores: number
  clientCores: number
  rssPerConnection: number
  heapPerConnection: number
  serverRss: number
  anomalies: string[]
}

function anomaliesOf (stats: WindowStats, clients: number): string[] {
  const found: string[] = []
  if (stats.gaps > 0) found.push(`${stats.gaps} gaps in seq`)
  if (stats.unexpected > 0) found.push(`${stats.unexpected} unexpected frames`)
  if (stats.open < clients) found.push(`${clients - stats.open} sockets closed (${Object.entries(stats.closes).map(([why, n]) => `${why}×${n}`).join(', ')})`)
  return found
}

/**
 * Connects `clients` sockets over `dags` DAGs, round robin, and measures the server's memory per idle
 * connection on the way: the marginal cost, between the first tenth of the sockets and all of them.
 * The first sockets also pay once for the whole server (code compiled on first use, a room and a log
 * per DAG, pools that grow once), which would otherwise be spread over the others.
 */
async function connectIdle (server: Server, clients: Clients, target: TargetName, port: number, count: number, dags: number) {
  const dagIds = Array.from({ length: dags }, (_, d) => `dag-${d}`)
  const socketDags = Array.from({ length: count }, (_, i) => dagIds[i % dags] as string)
  const warmUp = Math.max(dags, Math.ceil(count / 10))
  await connectSockets(clients, target, port, socketDags.slice(0, warmUp))
  const before = await server.call('memory', { gc: true })
  await connectSockets(clients, target, port, socketDags.slice(warmUp))
  const after = await server.call('memory', { gc: true })
  const measured = count - warmUp
  return {
    dagIds,
    clientsPerDag: dagIds.map((_, d) => Math.floor(count / dags) + (d < count % dags ? 1 : 0)),
    rssPerConnection: (after.rss - before.rss) / measured,
    heapPerConnection: (after.heapUsed - before.heapUsed) / measured
  }
}

async function connectSockets (clients: Clients, target: TargetName, port: number, dagIds: string[]): Promise<void> {
  const connected = await clients.call('connect', { target, port, dagIds, concurrency: CONNECT_CONCURRENCY, timeoutMs: CONNECT_TIMEOUT_MS }, 10 * 60_000)
  if (connected.failed > 0) throw new Error(`${connected.failed} of ${dagIds.length} clients could not connect to ${target}: ${connected.firstError}`)
}

async function loadRun (target: TargetName, label: string, scenario: { clients: number; dags: number; rate: number | 'max' }): Promise<LoadResult> {
  return await withProcesses(target, label, async (server, clients, port, measured) => {
    const idle = await connectIdle(server, clients, target, port, scenario.clients, scenario.dags)
    await clients.call('zeroFlow', undefined)
    await server.call('startLoad', { dagIds: idle.dagIds, rate: scenario.rate, clientsPerDag: idle.clientsPerDag, window: settings.window * scenario.clients })
    const relay = relayProgress(server, clients)
    try {
      await sleep(settings.warmupS * 1000)
      await clients.call('reset', undefined)
      const from = await server.call('mark', undefined)
      await sleep(settings.durationS * 1000)
      const to = await server.call('mark', undefined)
      const stats = await clients.call('stats', undefined)
      measured(from, to)
      const serverMs = to.at - from.at
      const serverCores = (to.cpuMs - from.cpuMs) / serverMs
      const deliveredPerMs = stats.events / stats.elapsedMs
      const { rss } = await server.call('memory', { gc: false })
      return {
        sentPerS: ((to.sent - from.sent) * 1000) / serverMs,
        deliveredPerS: deliveredPerMs * 1000,
        p50: histogramPercentile(stats.histogram, 0.5) ?? Number.NaN,
        p99: histogramPercentile(stats.histogram, 0.99) ?? Number.NaN,
        serverP99: histogramPercentile(to.written, 0.99) ?? Number.NaN,
        cpuUsPerDelivery: (serverCores / deliveredPerMs) * 1000,
        userCpuUsPerDelivery: ((to.userCpuMs - from.userCpuMs) / serverMs / deliveredPerMs) * 1000,
        cpuUsPerBurst: Number.NaN,
        serverCores,
        clientCores: stats.cpuMs / stats.elapsedMs,
        rssPerConnection: idle.rssPerConnection,
        heapPerConnection: idle.heapPerConnection,
        serverRss: rss,
        anomalies: anomaliesOf(stats, scenario.clients)
      }
    } finally {
      await relay.stop()
      await server.call('stopLoad', undefined)
    }
  })
}

async function burstRun (target: TargetName, label: string): Promise<LoadResult> {
  const { burstClients, burstEvents, bursts } = settings
  return await withProcesses(target, label, async (server, clients, port, measured) => {
    const { dagIds } = await connectIdle(server, clients, target, port, burstClients, 1)
    const dagId = dagIds[0] as string
    await clients.call('zeroFlow', undefined)
    const perBurst = burstEvents * burstClients
    const cpu: number[] = []
    let from: Mark | undefined
    for (let round = 0; round < WARMUP_BURSTS + bursts; round++) {
      if (round === WARMUP_BURSTS) {
        await clients.call('reset', undefined)
        from = await server.call('mark', undefined)
      }
      const { cpuMs } = await server.call('burst', { dagId, events: burstEvents, round })
      // The next burst starts once this one has fully arrived: each is measured on a quiet server.
      await clients.call('waitFor', { target: (round + 1) * perBurst, timeoutMs: 30_000 })
      if (round >= WARMUP_BURSTS) cpu.push(cpuMs * 1000)
    }
    const stats = await clients.call('stats', undefined)
    if (from !== undefined) measured(from, await server.call('mark', undefined))
    const cpuUsPerBurst = median(cpu)
    return {
      sentPerS: Number.NaN,
      deliveredPerS: Number.NaN,
      p50: histogramPercentile(stats.histogram, 0.5) ?? Number.NaN,
      p99: histogramPercentile(stats.histogram, 0.99) ?? Number.NaN,
      serverP99: Number.NaN,
      cpuUsPerDelivery: cpuUsPerBurst / perBurst,
      userCpuUsPerDelivery: Number.NaN,
      cpuUsPerBurst,
      serverCores: Number.NaN,
      clientCores: Number.NaN,
      rssPerConnection: Number.NaN,
      heapPerConnection: Number.NaN,
      serverRss: (await server.call('memory', { gc: false })).rss,
      anomalies: anomaliesOf(stats, burstClients)
    }
  })
}

interface SnapshotResult {
  readers: number
  gzip: boolean
  p50: number
  p99: number
  roundMs: number
  bodyBytes: number
  contentEncoding: string
  serverCpuMsPerRequest: number
  nodes: number
}

async function snapshotRun (label: string): Promise<SnapshotResult[]> {
  return await withProcesses('plugin', label, async (server, clients, port) => {
    const dagId = 'big'
    await server.call('build', { dagId, nodes: settings.snapshotNodes }, 5 * 60_000)
    // Not measured: the route's first runs include the JIT's work on it.
    await clients.call('read', { url: snapshotUrl(port, dagId), readers: 1, rounds: 3, gzip: false })
    const results: SnapshotResult[] = []
    for (const [readers, rounds] of [[1, SNAPSHOT_ROUNDS.single], [settings.snapshotReaders, SNAPSHOT_ROUNDS.many]] as const) {
      for (const gzip of [false, true]) {
        const cpuBefore = await server.call('cpu', undefined)
        const report: ReadReport = await clients.call('read', { url: snapshotUrl(port, dagId), readers, rounds, gzip }, 5 * 60_000)
        const cpuMs = (await server.call('cpu', undefined)) - cpuBefore
        results.push({
          readers,
          gzip,
          p50: percentile(report.requestMs, 0.5),
          p99: percentile(report.requestMs, 0.99),
          roundMs: median(report.roundMs),
          bodyBytes: report.bodyBytes,
          contentEncoding: report.contentEncoding,
          serverCpuMsPerRequest: cpuMs / (readers * rounds),
          nodes: report.nodes
        })
      }
    }
    return results
  })
}

/**
 * Per DAG size: µs per broadcast (the median of the rounds, and the first round), and µs per bare lookup
 * of a node record (dag-size.ts's floor).
 */
async function dagSizeRun (): Promise<Array<[number, Cost, number]>> {
  const child = await Child.start<DagSizeCommands>('dag-size', new URL('./dag-size.ts', import.meta.url), ['--expose-gc'])
  try {
    // Warm-up: the JIT's work is not the DAG's.
    const measure = { events: DAG_SIZE_EVENTS, rounds: DAG_SIZE_ROUNDS }
    await child.call('cost', { nodes: 10, ...measure })
    await child.call('lookupFloor', { nodes: 10, ...measure })
    const results: Array<[number, Cost, number]> = []
    for (const nodes of DAG_SIZES) {
      const broadcast = await child.call('cost', { nodes, ...measure }, 5 * 60_000)
      results.push([nodes, broadcast, await child.call('lookupFloor', { nodes, ...measure }, 5 * 60_000)])
    }
    return results
  } finally {
    await child.stop()
  }
}

// ---------------------------------------------------------------------------------------------
// The scenarios, their runs, and the tables
// ---------------------------------------------------------------------------------------------

interface LoadScenario {
  name: ScenarioName
  title: string
  run: (target: TargetName, label: string) => Promise<LoadResult>
}

const loadScenarios: LoadScenario[] = [
  { name: '1dag-max', title: `${int(settings.clients)} clients, 1 DAG, max rate`, run: (t, l) => loadRun(t, l, { clients: settings.clients, dags: 1, rate: 'max' }) },
  { name: '1dag-fixed', title: `${int(settings.clients)} clients, 1 DAG, ${int(settings.rate)} ev/s`, run: (t, l) => loadRun(t, l, { clients: settings.clients, dags: 1, rate: settings.rate }) },
  { name: 'ndag-max', title: `${int(settings.clients)} clients, ${int(settings.dags)} DAGs, max rate`, run: (t, l) => loadRun(t, l, { clients: settings.clients, dags: settings.dags, rate: 'max' }) },
  { name: 'ndag-fixed', title: `${int(settings.clients)} clients, ${int(settings.dags)} DAGs, ${int(settings.rate)} ev/s`, run: (t, l) => loadRun(t, l, { clients: settings.clients, dags: settings.dags, rate: settings.rate }) },
  { name: 'burst', title: `burst: ${int(settings.burstEvents)} events in one tick to ${int(settings.burstClients)} clients`, run: burstRun },
  { name: 'crowd', title: `${int(settings.crowdClients)} clients, ${int(settings.crowdDags)} DAGs, ${int(settings.rate)} ev/s`, run: (t, l) => loadRun(t, l, { clients: settings.crowdClients, dags: settings.crowdDags, rate: settings.rate }) }
]

/** The medians over runs, field by field; anomalies are kept from every run. */
function medianResult (results: LoadResult[]): LoadResult {
  const fields = ['sentPerS', 'deliveredPerS', 'p50', 'p99', 'serverP99', 'cpuUsPerDelivery', 'userCpuUsPerDelivery', 'cpuUsPerBurst', 'serverCores', 'clientCores', 'rssPerConnection', 'heapPerConnection', 'serverRss'] as const
  const merged = { anomalies: results.flatMap((result, i) => result.anomalies.map((text) => `run ${i + 1}: ${text}`)) } as LoadResult
  for (const field of fields) merged[field] = median(results.map((result) => result[field]))
  return merged
}

const ratio = (value: number, base: number | undefined) => (base === undefined || Number.isNaN(value) || Number.isNaN(base) ? DASH : `${(value / base).toFixed(2)}×`)
const kib = (n: number) => (Number.isNaN(n) ? DASH : `${(n / 1024).toFixed(1)} KiB`)

function printLoadTable (rows: Array<{ scenario: LoadScenario; target: TargetName; result: LoadResult }>): void {
  const raw = new Map(rows.filter((row) => row.target === 'raw').map((row) => [row.scenario.name, row.result]))
  printTable(
    ['scenario', 'server', '>sent ev/s', '>delivered/s', '>p50', '>p99', '>of it server', '>server CPU µs / delivery', '>of it user space', '>server cores', '>RSS / idle conn', '>heap / idle conn', '>server RSS', '>delivered vs raw', '>CPU vs raw', '>user CPU vs raw'],
    rows.map(({ scenario, target, result }) => {
      const base = raw.get(scenario.name)
      const burst = scenario.name === 'burst'
      return [
        scenario.title,
        TARGET_LABELS[target],
        int(result.sentPerS),
        int(result.deliveredPerS),
        ms(result.p50),
        ms(result.p99),
        ms(result.serverP99),
        burst ? `${fixed(result.cpuUsPerDelivery, 2)} (${int(result.cpuUsPerBurst)} µs / burst)` : fixed(result.cpuUsPerDelivery, 2),
        fixed(result.userCpuUsPerDelivery, 2),
        fixed(result.serverCores, 2),
        kib(result.rssPerConnection),
        kib(result.heapPerConnection),
        bytes(result.serverRss),
        ratio(result.deliveredPerS, base?.deliveredPerS),
        ratio(result.cpuUsPerDelivery, base?.cpuUsPerDelivery),
        ratio(result.userCpuUsPerDelivery, base?.userCpuUsPerDelivery)
      ]
    })
  )
  const anomalies = rows.filter((row) => row.result.anomalies.length > 0)
  for (const { scenario, target, result } of anomalies) console.log(`- ${scenario.title}, ${TARGET_LABELS[target]}: ${result.anomalies.join('; ')}`)
  if (anomalies.length > 0) console.log()
}

function printSnapshotTable (results: SnapshotResult[][]): void {
  const first = results[0] ?? []
  printTable(
    ['readers', 'Accept-Encoding', '>served as', '>ms / request p50', '>p99', '>all readers done', '>body bytes', '>server CPU / request'],
    first.map((shape, i) => {
      const runs = results.map((run) => run[i] as SnapshotResult)
      return [
        int(shape.readers),
        shape.gzip ? 'gzip' : DASH,
        shape.contentEncoding,
        ms(median(runs.map((run) => run.p50))),
        ms(median(runs.map((run) => run.p99))),
        ms(median(runs.map((run) => run.roundMs))),
        bytes(shape.bodyBytes),
        ms(median(runs.map((run) => run.serverCpuMsPerRequest)))
      ]
    })
  )
}

function machine (): string {
  const [one, five] = loadavg()
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average ${fixed(one ?? Number.NaN, 2)} (1 min) ${fixed(five ?? Number.NaN, 2)} (5 min)`
}

async function main (): Promise<void> {
  guard(settings.deadlineS)
  const wantsLoad = loadScenarios.filter((scenario) => settings.scenarios.includes(scenario.name))
  const largest = Math.max(0, ...wantsLoad.map((scenario) => (scenario.name === 'crowd' ? settings.crowdClients : scenario.name === 'burst' ? settings.burstClients : settings.clients)))
  checkOpenFiles(largest)
  const began = now()
  console.log(`# fastify-dag-stream benchmarks\n\nnode ${process.version}; ${machine()}; ${settings.runs} run(s) per cell, medians shown; ` +
    `measured window ${settings.durationS} s after ${settings.warmupS} s of warm-up; flow control: ${settings.window} events in flight per client; ` +
    `${settings.cpus === undefined ? 'server and clients placed by the scheduler' : `server on CPU ${settings.cpus.server}, clients on CPU ${settings.cpus.clients}`}${QUICK ? '; --quick' : ''}\n`)

  const rows: Array<{ scenario: LoadScenario; target: TargetName; result: LoadResult }> = []
  for (const scenario of wantsLoad) {
    const perTarget = new Map<TargetName, LoadResult[]>(settings.targets.map((target) => [target, []]))
    for (let run = 0; run < settings.runs; run++) {
      // Rotated each run, so that no target always goes first (or last) on a machine that warms up.
      const order = settings.targets.map((_, i) => settings.targets[(i + run) % settings.targets.length] as TargetName)
      for (const target of order) {
        const result = await scenario.run(target, `${scenario.name}-${target}-run${run + 1}`)
        perTarget.get(target)?.push(result)
        console.error(`  ${scenario.name} ${target} run ${run + 1}: ${int(result.deliveredPerS)} delivered/s, p50 ${ms(result.p50)}, p99 ${ms(result.p99)} (server ${ms(result.serverP99)}), ${fixed(result.cpuUsPerDelivery, 2)} µs CPU / delivery (${fixed(result.userCpuUsPerDelivery, 2)} user)`)
      }
    }
    for (const [target, results] of perTarget) rows.push({ scenario, target, result: medianResult(results) })
  }
  if (rows.length > 0) printLoadTable(rows)

  if (settings.scenarios.includes('snapshot')) {
    const runs: SnapshotResult[][] = []
    for (let run = 0; run < settings.runs; run++) runs.push(await snapshotRun(`snapshot-plugin-run${run + 1}`))
    const nodes = runs[0]?.[0]?.nodes ?? 0
    console.log(`Snapshot of a ${int(nodes)}-node DAG (\`GET /api/dags/:id\`, fastify-dag-stream):\n`)
    printSnapshotTable(runs)
  }

  if (settings.scenarios.includes('dag-size')) {
    console.log('Cost of one broadcast by DAG size (fastify-dag-stream, no sockets: validate, number, reduce, keep history, serialize):\n')
    printTable(
      ['>DAG nodes', `>µs / broadcast (median of ${DAG_SIZE_ROUNDS} rounds)`, '>first round, after a full GC', '>of it, at least: one lookup of a node record'],
      (await dagSizeRun()).map(([nodes, cost, floorUs]) => [int(nodes), fixed(cost.median, 2), fixed(cost.first, 2), fixed(floorUs, 2)])
    )
  }

  console.log(`Took ${int((now() - began) / 1000)} s; after it: ${machine()}.`)
  if (settings.cpuProf) console.log(`CPU profiles: ${profileRoot}/<scenario>-<target>-run<n>/ — node --import tsx bench/profile-summary.ts <folder>`)
}

await main()
