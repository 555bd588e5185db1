// Dashboards for bench/redis.ts, in their own process: many WebSocket clients that parse every frame,
// check that `seq` has no gaps, and record how long each event took from the engine's
// `metrics.sent_at` to its arrival here. The parent drives it with the commands below.

import WebSocket from 'ws'
import { BUCKETS_PER_MS, cpuMs, now, serve, withTimeout } from './redis-ipc.js'

export interface ConnectArgs {
  /** One entry per socket: the stream URL it opens. */
  urls: string[]
  /** Upgrades in flight at once (a burst of 1,000 SYNs would overflow the listen backlog). */
  concurrency: number
  timeoutMs: number
}

export interface ClientStats {
  sockets: number
  open: number
  /** DAG events received since the last reset (live, in order or not). */
  events: number
  /** Events that carried a (non warm-up) `sent_at`: the latency samples. */
  measured: number
  /** Events whose seq was not the previous one + 1 on that socket. */
  gaps: number
  /** Events at or below a seq the socket had already seen (replayed or duplicated). */
  stale: number
  resyncs: number
  errors: number
  closes: Record<string, number>
  /** [bucket, count] with bucket = round(latency ms × BUCKETS_PER_MS). */
  histogram: Array<[number, number]>
  cpuMs: number
}

interface Socket {
  ws: WebSocket
  last?: number
  open: boolean
}

const sockets: Socket[] = []
let counters = fresh()

function fresh () {
  return { events: 0, measured: 0, gaps: 0, stale: 0, resyncs: 0, errors: 0, closes: {} as Record<string, number>, histogram: new Map<number, number>() }
}

interface Frame {
  type?: string
  seq?: number
  epoch?: string
  metrics?: { sent_at?: number; warmup?: number }
}

function open (url: string): Promise<void> {
  const socket: Socket = { ws: new WebSocket(url), open: false }
  sockets.push(socket)
  socket.ws.on('message', (data: Buffer) => {
    // Stamped on arrival: what a dashboard would see, including any wait in this event loop.
    const arrived = now()
    const frame = JSON.parse(data.toString()) as Frame
    switch (frame.type) {
      case 'hello':
        socket.last = frame.seq
        return
      case 'resync_required':
        counters.resyncs++
        return
      case 'ack':
        return
    }
    if (typeof frame.seq !== 'number' || typeof frame.epoch !== 'string') {
      counters.errors++
      return
    }
    if (socket.last !== undefined && frame.seq <= socket.last) {
      counters.stale++
      return
    }
    if (socket.last !== undefined && frame.seq !== socket.last + 1) counters.gaps++
    socket.last = frame.seq
    counters.events++
    const sentAt = frame.metrics?.sent_at
    if (typeof sentAt === 'number' && frame.metrics?.warmup === undefined) {
      counters.measured++
      const bucket = Math.round((arrived - sentAt) * BUCKETS_PER_MS)
      counters.histogram.set(bucket, (counters.histogram.get(bucket) ?? 0) + 1)
    }
  })
  socket.ws.on('close', (code) => {
    socket.open = false
    counters.closes[code] = (counters.closes[code] ?? 0) + 1
  })
  return new Promise((resolve, reject) => {
    socket.ws.once('error', reject)
    // Connected means the hello has arrived: the socket is in its room and gets every new event.
    socket.ws.once('message', () => {
      socket.open = true
      resolve()
    })
  })
}

async function connect ({ urls, concurrency, timeoutMs }: ConnectArgs): Promise<{ connected: number; failed: number; firstError?: string }> {
  let index = 0
  let connected = 0
  let failed = 0
  let firstError: string | undefined
  const worker = async () => {
    while (index < urls.length) {
      const url = urls[index++] as string
      try {
        await withTimeout(open(url), timeoutMs, `no hello from ${url} within ${timeoutMs} ms`)
        connected++
      } catch (error) {
        failed++
        firstError ??= error instanceof Error ? error.message : String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
  return firstError === undefined ? { connected, failed } : { connected, failed, firstError }
}

function stats (): ClientStats {
  const { histogram, ...rest } = counters
  return {
    sockets: sockets.length,
    open: sockets.filter((socket) => socket.open).length,
    ...rest,
    histogram: [...histogram],
    cpuMs: cpuMs()
  }
}

async function close (): Promise<void> {
  const closed = sockets.map((socket) => new Promise<void>((resolve) => {
    if (socket.ws.readyState === WebSocket.CLOSED) return resolve()
    socket.ws.once('close', () => resolve())
    socket.ws.terminate()
  }))
  await withTimeout(Promise.all(closed), 5000, 'sockets did not close').catch(() => undefined)
  sockets.length = 0
}

const commands = {
  connect,
  stats,
  reset: () => { counters = fresh() },
  cpu: () => cpuMs(),
  close
}
export type ClientCommands = typeof commands

serve(commands, close)
