// `npm run bench:churn`: does the plugin give back what a connection takes? 100,000 dashboards
// connect, get their hello and go (a clean close, a reset, or a resume that replays history first),
// a few at a time from a separate client process, while an engine keeps broadcasting to their DAGs.
// The server's heap and RSS are read at a baseline, during the churn and after it (after a GC); the
// script exits 1 if the heap after is more than --max-growth MiB above the baseline.

import { parseOptions } from './options.js'
import { checkOpenFiles, guard, startClients, startServer, waitUntil } from './processes.js'
import { now, sleep } from './redis-ipc.js'
import type { MemorySample } from './server.js'
import { bytes, int, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:churn -- [options]

Options (full / --quick):
  --cycles N        connect/disconnect cycles (100000 / 5000)
  --concurrency N   cycles in flight at once (50)
  --dags N          DAGs the sockets spread over (10)
  --rate N          events/s the engine broadcasts to those DAGs meanwhile (100)
  --max-growth MiB  exit 1 if heap after GC exceeds the baseline by more than this (20)
  --deadline S      give up (exit 1) after this long (900 / 180)
  --quick           a smoke run of a few seconds
  -h, --help        this text`

// Cycles run before the baseline is read: lazily created pools, caches and compiled code are not a leak.
const WARMUP_CYCLES = 2000
const SAMPLE_EVERY_MS = 1000
const CYCLE_TIMEOUT_MS = 10_000

function options () {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      cycles: { full: 100_000, quick: 5000 },
      concurrency: { full: 50, quick: 50 },
      dags: { full: 10, quick: 10 },
      rate: { full: 100, quick: 100 },
      'max-growth': { full: 20, quick: 20 },
      deadline: { full: 900, quick: 180 }
    }
  })
  return { ...numbers, maxGrowthMiB: numbers['max-growth'], deadlineS: numbers.deadline }
}

async function main (): Promise<number> {
  const settings = options()
  guard(settings.deadlineS)
  checkOpenFiles(settings.concurrency)
  const [server, clients] = await Promise.all([startServer('server'), startClients('clients')])
  try {
    await server.call('start', { target: 'plugin' })
    const { port } = await server.call('listen', { port: 0 })
    const dagIds = Array.from({ length: settings.dags }, (_, d) => `churn-${d}`)
    // The engine runs throughout, so sockets join while events are being delivered (the hand-off from
    // replay to live), and leave rooms that are busy.
    await server.call('startLoad', { dagIds, rate: settings.rate })
    const churn = (cycles: number) => clients.call('churn', { port, dagIds, cycles, concurrency: settings.concurrency, timeoutMs: CYCLE_TIMEOUT_MS }, settings.deadlineS * 1000)
    const idle = async () => waitUntil(async () => (await server.call('connections', undefined)) === 0, 30_000, 'the server still had connections')

    await churn(WARMUP_CYCLES)
    await idle()
    const baseline = await server.call('memory', { gc: true })

    const began = now()
    const running = churn(settings.cycles)
    let peak: MemorySample = { ...baseline }
    const samples: Array<{ at: number; done: number; memory: MemorySample }> = []
    let finished = false
    void running.finally(() => { finished = true })
    while (!finished) {
      await Promise.race([running, sleep(SAMPLE_EVERY_MS)])
      const [memory, progress] = await Promise.all([server.call('memory', { gc: false }), clients.call('churnProgress', undefined)])
      samples.push({ at: now() - began, done: progress.done, memory })
      peak = { rss: Math.max(peak.rss, memory.rss), heapUsed: Math.max(peak.heapUsed, memory.heapUsed), external: Math.max(peak.external, memory.external) }
      console.error(`  ${int(progress.done)} cycles, heap ${bytes(memory.heapUsed)}, RSS ${bytes(memory.rss)}`)
    }
    const report = await running
    const elapsedS = (now() - began) / 1000
    await idle()
    await server.call('stopLoad', undefined)
    const after = await server.call('memory', { gc: true })
    const middle = samples[Math.floor(samples.length / 2)]

    const done = report.done
    console.log(`# Connection churn: fastify-dag-stream\n\n${int(done)} connect/disconnect cycles (of ${int(settings.cycles)}; ${int(report.failed)} failed${report.firstError === undefined ? '' : `, first: ${report.firstError}`}) in ${elapsedS.toFixed(1)} s ` +
      `(${int(done / elapsedS)}/s), ${settings.concurrency} at a time over ${settings.dags} DAGs receiving ${settings.rate} events/s; ` +
      `a third each close cleanly, reset, or resume with a replay; baseline after ${int(WARMUP_CYCLES)} warm-up cycles.\n`)
    const row = (name: string, sample: MemorySample | undefined) => [name, bytes(sample?.heapUsed ?? Number.NaN), bytes(sample?.rss ?? Number.NaN), bytes(sample?.external ?? Number.NaN)]
    printTable(['server', '>heap used', '>RSS', '>external'], [
      row('baseline (after GC)', baseline),
      row(`during (at ${int(middle?.done ?? 0)} cycles, no GC)`, middle?.memory),
      row('during (peak, no GC)', peak),
      row('after (after GC)', after)
    ])
    const growth = after.heapUsed - baseline.heapUsed
    const allowed = settings.maxGrowthMiB * 1024 * 1024
    const ok = growth <= allowed && report.failed === 0
    console.log(`Heap after GC − baseline: ${bytes(growth)} (allowed: ${bytes(allowed)}); RSS: ${bytes(after.rss - baseline.rss)}. ${ok ? 'OK' : 'FAILED'}`)
    return ok ? 0 : 1
  } finally {
    await clients.stop()
    await server.stop()
  }
}

process.exitCode = await main()
