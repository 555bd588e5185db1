// `npm run bench:storm`: a reconnect storm. 5,000 dashboards (the project's own DAGStreamClient,
// default backoff) follow 100 DAGs on one server process; the process is killed (SIGKILL: a crash or
// an OOM kill, no goodbye) and a new one takes its port. The new server stamps every stream request
// it receives: the distribution of those arrivals shows whether the jitter spreads the wave and the
// floor keeps it off the first milliseconds after the restart, and the dashboards report when each
// was open again. Exits 1 unless every dashboard resumed.
//
// The new process is started (Fastify ready, plugin registered) before the old one is killed and only
// binds the port afterwards, as a supervisor's standby or a rolling deploy would: the figures are
// then about the clients' schedule, not about how long `node` takes to boot.

import { parseOptions } from './options.js'
import { checkOpenFiles, guard, startServer, waitUntil } from './processes.js'
import { Child, now } from './redis-ipc.js'
import type { StormClientCommands } from './storm-clients.js'
import { DASH, int, ms, percentile, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:storm -- [options]

Options (full / --quick):
  --clients N      dashboards (5000 / 500)
  --dags N         DAGs they follow (100 / 10)
  --bucket MS      width of the arrival histogram's buckets (100)
  --deadline S     give up (exit 1) after this long (300 / 120)
  --quick          a smoke run of a few seconds
  -h, --help       this text

5,000 dashboards are 5,000 open files in the server and in the client process: \`ulimit -n\` must be above
5,200 in the shell that runs this (the script checks it).`

const CONNECT_CONCURRENCY = 100
const SEED_EVENTS = 3
const RESUME_TIMEOUT_MS = 120_000

function options () {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      clients: { full: 5000, quick: 500 },
      dags: { full: 100, quick: 10 },
      bucket: { full: 100, quick: 100 },
      deadline: { full: 300, quick: 120 }
    }
  })
  return { ...numbers, bucketMs: numbers.bucket, deadlineS: numbers.deadline }
}

async function main (): Promise<number> {
  const settings = options()
  guard(settings.deadlineS)
  checkOpenFiles(settings.clients)
  const dagIds = Array.from({ length: settings.dags }, (_, d) => `storm-${d}`)

  const old = await startServer('server (before the restart)')
  const dashboards = await Child.start<StormClientCommands>('dashboards', new URL('./storm-clients.ts', import.meta.url))
  let standby: Awaited<ReturnType<typeof startServer>> | undefined
  try {
    await old.call('start', { target: 'plugin' })
    const { port } = await old.call('listen', { port: 0 })
    const baseUrl = `http://127.0.0.1:${port}`
    const connected = await dashboards.call('connect', { baseUrl, dagIds: Array.from({ length: settings.clients }, (_, i) => dagIds[i % settings.dags] as string), concurrency: CONNECT_CONCURRENCY, timeoutMs: 30_000 }, 10 * 60_000)
    if (connected.failed > 0) throw new Error(`${connected.failed} dashboards could not connect: ${connected.firstError}`)
    // Every dashboard holds a position, so that it comes back asking to resume, as after a real crash.
    await old.call('seed', { dagIds, events: SEED_EVENTS })
    await waitUntil(async () => (await dashboards.call('progress', undefined)).lowestSeq >= SEED_EVENTS, 30_000, 'the dashboards did not get the seed events')

    standby = await startServer('server (after the restart)')
    await standby.call('start', { target: 'plugin', recordArrivals: true })

    await dashboards.call('mark', undefined)
    const killedAt = now()
    old.process.kill('SIGKILL')
    await old.exited
    const { at: listeningAt } = await standby.call('listen', { port })

    const resumeBegan = now()
    let resumed = 0
    await waitUntil(async () => {
      resumed = (await dashboards.call('progress', undefined)).reopened
      return resumed >= settings.clients
    }, RESUME_TIMEOUT_MS, `only ${resumed} of ${settings.clients} dashboards were open again`, 250).catch((error: Error) => console.error(error.message))
    const allBackAfter = now() - resumeBegan

    const arrivals = (await standby.call('arrivals', undefined)).map((at) => at - killedAt).sort((a, b) => a - b)
    const dashboardsReport = await dashboards.call('report', undefined)
    const reopened = dashboardsReport.filter((d) => d.reopenedAt !== undefined)
    const lostToOpen = reopened.map((d) => (d.reopenedAt as number) - (d.lostAt as number))
    const firstLoss = Math.min(...dashboardsReport.map((d) => d.lostAt ?? Number.POSITIVE_INFINITY)) - killedAt

    console.log(`# Reconnect storm: fastify-dag-stream\n\n${int(settings.clients)} dashboards (DAGStreamClient, default backoff: first retry after 500–1,000 ms) on ${settings.dags} DAGs; ` +
      `the server process was killed (SIGKILL) and a standby process bound the same port ${ms(listeningAt - killedAt)} later. ` +
      `Times are from the kill; the first dashboard saw its socket close at ${ms(firstLoss)}.\n`)
    // What the backoff schedule asked for, beside what the server saw: on a busy machine the two
    // differ by the time the processes waited for a core.
    const due = dashboardsReport.flatMap((d) => (d.firstRetryDueAt === undefined ? [] : [d.firstRetryDueAt - killedAt])).sort((a, b) => a - b)
    const row = (name: string, times: number[]) => [
      name,
      int(times.length),
      ms(times[0]),
      ms(percentile(times, 0.5)),
      ms(percentile(times, 0.99)),
      ms(times.at(-1)),
      int(Math.max(0, ...buckets(times, settings.bucketMs).values()))
    ]
    // The floor, seen from each client: how long after losing its socket its first retry was due.
    const delays = dashboardsReport.flatMap((d) => (d.firstRetryDueAt === undefined || d.lostAt === undefined ? [] : [d.firstRetryDueAt - d.lostAt])).sort((a, b) => a - b)
    printTable(['', '>count', '>first', '>p50', '>p99', '>last', `>most in one ${settings.bucketMs} ms bucket`], [
      row('first retry due, after the socket was lost (the backoff delay)', delays),
      row('first retry due, after the kill (the clients\' schedule)', due),
      row('stream requests at the new server, after the kill (retries included)', arrivals)
    ])
    const attempts = new Map<number, number>()
    for (const { attempts: n } of reopened) attempts.set(n, (attempts.get(n) ?? 0) + 1)
    printTable(['dashboards', '>open again', '>socket lost → open p50', '>p99', '>max', '>attempts needed'], [[
      int(settings.clients),
      int(reopened.length),
      ms(percentile(lostToOpen, 0.5)),
      ms(percentile(lostToOpen, 0.99)),
      ms(Math.max(...lostToOpen)),
      [...attempts].sort(([a], [b]) => a - b).map(([n, count]) => `${n}: ${int(count)}`).join(', ') || DASH
    ]])
    console.log(`Arrivals per ${settings.bucketMs} ms after the kill:\n`)
    const histogram = buckets(arrivals, settings.bucketMs)
    const widest = Math.max(1, ...histogram.values())
    printTable(['>from', '>arrivals', ''], [...histogram].map(([start, count]) => [`${int(start)} ms`, int(count), '█'.repeat(Math.round((40 * count) / widest))]))
    const ok = reopened.length === settings.clients
    console.log(`${ok ? 'OK' : 'FAILED'}: ${int(reopened.length)} of ${int(settings.clients)} dashboards open again, all within ${ms(allBackAfter)} of the new server listening.`)
    return ok ? 0 : 1
  } finally {
    await dashboards.stop()
    await standby?.stop()
    await old.stop()
  }
}

/** Counts per bucket of `width` ms, from 0 to the last arrival, empty buckets included. */
function buckets (sorted: number[], width: number): Map<number, number> {
  const counts = new Map<number, number>()
  const last = Math.floor((sorted.at(-1) ?? 0) / width)
  for (let b = 0; b <= last && sorted.length > 0; b++) counts.set(b * width, 0)
  for (const at of sorted) {
    const start = Math.floor(Math.max(0, at) / width) * width
    counts.set(start, (counts.get(start) ?? 0) + 1)
  }
  return counts
}

process.exitCode = await main()
