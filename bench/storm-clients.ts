// The dashboards of bench/storm.ts, in their own process: the project's own client library
// (DAGStreamClient, lib/client/), one per dashboard, with its default reconnect schedule
// (lib/client/backoff.ts). The orchestrator drives it over IPC.

import WebSocket from 'ws'
import { DAGStreamClient } from '../lib/client/index.js'
import { runLimited } from './limit.js'
import { now, serve, withTimeout } from './redis-ipc.js'

interface Dashboard {
  client: DAGStreamClient
  /** When it lost its socket after the restart mark, and when it was open again. */
  lostAt?: number
  reopenedAt?: number
  /** When its first retry was due, by its backoff schedule: the arrivals an idle machine would see. */
  firstRetryDueAt?: number
  /** Connection attempts it scheduled after the mark (1: the first retry worked). */
  attempts: number
}

const dashboards: Dashboard[] = []
let markedAt: number | undefined

function open (baseUrl: string, dagId: string): Promise<void> {
  const dashboard: Dashboard = { client: new DAGStreamClient({ baseUrl, dagId, WebSocket }), attempts: 0 }
  dashboards.push(dashboard)
  const { client } = dashboard
  client.on('status', (status) => {
    if (markedAt === undefined) return
    if (status === 'reconnecting') dashboard.lostAt ??= now()
    if (status === 'open' && dashboard.lostAt !== undefined) dashboard.reopenedAt ??= now()
  })
  client.on('reconnecting', ({ delayMs }) => {
    if (markedAt === undefined) return
    dashboard.attempts++
    dashboard.firstRetryDueAt ??= now() + delayMs
  })
  return new Promise((resolve, reject) => {
    const off = client.on('status', (status) => {
      if (status === 'open') {
        off()
        resolve()
      } else if (status === 'closed') {
        off()
        reject(client.error ?? new Error('closed before it opened'))
      }
    })
  })
}

async function connect ({ baseUrl, dagIds, concurrency, timeoutMs }: { baseUrl: string; dagIds: string[]; concurrency: number; timeoutMs: number }) {
  const result = await runLimited(dagIds.length, concurrency, (i) => withTimeout(open(baseUrl, dagIds[i] as string), timeoutMs, `dashboard ${i} did not open within ${timeoutMs} ms`))
  return { connected: dagIds.length - result.failed, ...result }
}

/** How many dashboards are open and how far their stores are (the lowest seq any of them holds). */
function progress () {
  let open = 0
  let reopened = 0
  let lowestSeq = Number.POSITIVE_INFINITY
  for (const { client, reopenedAt } of dashboards) {
    if (client.status === 'open') open++
    if (reopenedAt !== undefined) reopened++
    lowestSeq = Math.min(lowestSeq, client.position.seq)
  }
  return { dashboards: dashboards.length, open, reopened, lowestSeq }
}

/** From now on, record when each dashboard loses its socket and gets it back. */
function mark (): number {
  markedAt = now()
  return markedAt
}

/** Per dashboard (`now()` clock): when it lost its socket, when its first retry was due, when it was open again. */
function report (): Array<Omit<Dashboard, 'client'>> {
  return dashboards.map(({ client, ...times }) => times)
}

async function close (): Promise<void> {
  for (const { client } of dashboards) client.close()
  dashboards.length = 0
}

const commands = { connect, progress, mark, report, close }
export type StormClientCommands = typeof commands

serve(commands, close)
