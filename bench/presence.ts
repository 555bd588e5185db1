// `npm run bench:presence`: what presence costs each socket in a join storm. 2,000 dashboards open a
// stream to one DAG within one flush interval (a deploy that reconnects everyone), wait until each
// has heard of all of them, then half of them leave at once. The script counts, per socket, the bytes
// of the presence frames it received, and the largest frame: a change forwarded whole would send
// every viewer to every socket (O(N) per socket, O(N²) in all); bounded, each socket gets O(1).
//
// Server and sockets share this process: the figures are bytes, not time, and do not depend on how
// the CPU is shared.

import Fastify from 'fastify'
import WebSocket from 'ws'
import dagStream from '../lib/index.js'
import { parseOptions } from './options.js'
import { checkOpenFiles, guard, waitUntil } from './processes.js'
import { now } from './redis-ipc.js'
import { bytes, int, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:presence -- [options]

Options (full / --quick):
  --sockets N      dashboards in the storm (2000 / 300)
  --flush MS       presenceFlushMs: long enough for the storm to join within one interval (5000 / 2000)
  --deadline S     give up (exit 1) after this long (300 / 60)
  --quick          a smoke run of a few seconds
  -h, --help       this text`

const CONNECT_CONCURRENCY = 100
const SETTLE_TIMEOUT_MS = 120_000

function options () {
  const { numbers } = parseOptions(USAGE, {
    numbers: {
      sockets: { full: 2000, quick: 300 },
      flush: { full: 5000, quick: 2000 },
      deadline: { full: 300, quick: 60 }
    }
  })
  return { sockets: numbers.sockets, flushMs: numbers.flush, deadlineS: numbers.deadline }
}

/** One dashboard: the presence bytes it received since the last reset, and what it last heard. */
class Dashboard {
  readonly socket: WebSocket
  presenceBytes = 0
  largestFrame = 0
  largestListing = 0
  count = 0

  constructor (url: string) {
    this.socket = new WebSocket(url)
    this.socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; count?: number; viewers?: unknown[]; upserted?: unknown[]; removed?: unknown[] }
      if (frame.type !== 'presence' && frame.type !== 'presence_delta') return
      this.presenceBytes += data.length
      this.largestFrame = Math.max(this.largestFrame, data.length)
      const listed = (frame.viewers?.length ?? 0) + (frame.upserted?.length ?? 0) + (frame.removed?.length ?? 0)
      this.largestListing = Math.max(this.largestListing, listed)
      this.count = frame.count ?? this.count
    })
  }

  async opened (): Promise<void> {
    await new Promise((resolve, reject) => {
      this.socket.once('open', resolve)
      this.socket.once('error', reject)
    })
  }

  reset (): void {
    this.presenceBytes = 0
    this.largestFrame = 0
    this.largestListing = 0
  }
}

async function openAll (url: string, total: number): Promise<Dashboard[]> {
  const dashboards: Dashboard[] = []
  let next = 0
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, async () => {
    while (next < total) {
      next++
      const dashboard = new Dashboard(url)
      dashboards.push(dashboard)
      await dashboard.opened()
    }
  }))
  return dashboards
}

function row (phase: string, dashboards: Dashboard[], elapsedMs: number): string[] {
  const total = dashboards.reduce((sum, dashboard) => sum + dashboard.presenceBytes, 0)
  const largest = Math.max(...dashboards.map((dashboard) => dashboard.largestFrame))
  const listing = Math.max(...dashboards.map((dashboard) => dashboard.largestListing))
  return [phase, int(dashboards.length), bytes(total / dashboards.length), bytes(largest), int(listing), bytes(total), `${int(elapsedMs)} ms`]
}

async function main (): Promise<void> {
  const settings = options()
  guard(settings.deadlineS)
  // Both ends of every socket are in this process.
  checkOpenFiles(2 * settings.sockets)
  const app = Fastify({ logger: false })
  await app.register(dagStream, { presence: true, presenceFlushMs: settings.flushMs, maxConnectionsPerIp: settings.sockets + 1, maxConnections: settings.sockets + 1 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const url = `ws://127.0.0.1:${port}/api/dags/storm/stream`

  const joinBegan = now()
  const dashboards = await openAll(url, settings.sockets)
  await waitUntil(async () => dashboards.every((dashboard) => dashboard.count === settings.sockets), SETTLE_TIMEOUT_MS, 'every socket did not hear of all the others')
  const joined = row('join storm', dashboards, now() - joinBegan)

  const half = Math.floor(settings.sockets / 2)
  const staying = dashboards.slice(0, half)
  for (const dashboard of staying) dashboard.reset()
  const leaveBegan = now()
  for (const dashboard of dashboards.slice(half)) dashboard.socket.close()
  await waitUntil(async () => staying.every((dashboard) => dashboard.count === half), SETTLE_TIMEOUT_MS, 'those who stayed did not see the others leave')
  const left = row('half leave at once (those who stay)', staying, now() - leaveBegan)

  for (const dashboard of staying) dashboard.socket.close()
  await app.close()
  console.log(`\n${int(settings.sockets)} sockets on one DAG, presenceFlushMs ${settings.flushMs}\n`)
  printTable(['phase', '>sockets', '>presence bytes per socket', '>largest frame', '>most viewers in a frame', '>presence bytes in all', '>until settled'], [joined, left])
}

await main()
