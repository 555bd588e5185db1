// The client process: every dashboard of a run, for any target, with one measurement. Each socket
// checks that `seq` has no gap and records how long each event took from the server's
// `metrics.sent_at` to here. The orchestrator drives it over IPC (bench/redis-ipc.ts); the snapshot
// readers (plain HTTP) and the connect/disconnect churn run here too.

import { Agent, request as httpRequest } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { io, type Socket as SocketIoSocket } from 'socket.io-client'
import WebSocket from 'ws'
import { runLimited } from './limit.js'
import { cpuMs, now, serve, withTimeout } from './redis-ipc.js'
import { record, type Histogram } from './stats.js'
import { streamUrl, type TargetName } from './targets/index.js'

interface Frame {
  type?: string
  seq?: number
  metrics?: { sent_at?: number }
}

interface Stream {
  /** The last seq this socket got (from its hello, then from events). */
  last?: number
  open: boolean
  close (): void
}

/** What one measured window saw, over every socket. */
export interface WindowStats {
  elapsedMs: number
  /** DAG events received in the window. */
  events: number
  /** Events whose seq was not the previous one + 1 on that socket. */
  gaps: number
  /** Frames that were neither a hello nor an event with a seq. */
  unexpected: number
  histogram: Array<[number, number]>
  open: number
  /** Why sockets closed (ws close codes, socket.io disconnect reasons), since connect. */
  closes: Record<string, number>
  /** This process's CPU time in the window. */
  cpuMs: number
}

const streams: Stream[] = []
const closes: Record<string, number> = {}
/** Events received since `zeroFlow`: the engine's flow control and the burst's "all arrived". */
let delivered = 0
let waiter: { target: number; resolve: () => void } | undefined
let window = freshWindow()

function freshWindow () {
  return { began: now(), cpuBegan: cpuMs(), events: 0, gaps: 0, unexpected: 0, histogram: new Map() as Histogram }
}

// Stamped after parsing: socket.io parses a frame before it hands the event over, so every target is
// stamped at the same point of the client's work.
function receive (stream: Stream, frame: Frame, arrived: number): void {
  if (typeof frame.seq !== 'number' || frame.type === 'hello') {
    if (frame.type === 'hello') stream.last = frame.seq
    else window.unexpected++
    return
  }
  if (stream.last !== undefined && frame.seq !== stream.last + 1) window.gaps++
  stream.last = frame.seq
  window.events++
  delivered++
  const sentAt = frame.metrics?.sent_at
  if (typeof sentAt === 'number') record(window.histogram, arrived - sentAt)
  if (waiter !== undefined && delivered >= waiter.target) {
    waiter.resolve()
    waiter = undefined
  }
}

function closed (stream: Stream, why: string | number): void {
  stream.open = false
  closes[why] = (closes[why] ?? 0) + 1
}

/** Opens a socket; resolves once the server's hello has arrived (the socket is in its room). */
function openWs (url: string): Promise<Stream> {
  const ws = new WebSocket(url)
  const stream: Stream = { open: false, close: () => ws.terminate() }
  return new Promise((resolve, reject) => {
    // Kept for the socket's life: ws throws an 'error' nobody listens to. Before the hello it fails the
    // connect; after it, the close that follows is what counts.
    ws.on('error', reject)
    ws.on('close', (code) => closed(stream, code))
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame
      receive(stream, frame, now())
      if (!stream.open && frame.type === 'hello') {
        stream.open = true
        resolve(stream)
      }
    })
  })
}

function openSocketIo (url: string, dagId: string): Promise<Stream> {
  // forceNew: socket.io-client otherwise multiplexes every socket to one origin over one connection.
  const socket: SocketIoSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, query: { dag: dagId } })
  const stream: Stream = { open: false, close: () => socket.disconnect() }
  return new Promise((resolve, reject) => {
    socket.once('connect_error', reject)
    socket.on('disconnect', (reason) => closed(stream, reason))
    socket.on('dag', (frame: Frame) => receive(stream, frame, now()))
    socket.once('hello', (frame: Frame) => {
      receive(stream, frame, now())
      stream.open = true
      resolve(stream)
    })
  })
}

export interface ConnectArgs {
  target: TargetName
  port: number
  /** One entry per socket: the DAG it follows. */
  dagIds: string[]
  concurrency: number
  timeoutMs: number
}

async function connect ({ target, port, dagIds, concurrency, timeoutMs }: ConnectArgs): Promise<{ connected: number; failed: number; firstError?: string }> {
  const result = await runLimited(dagIds.length, concurrency, async (i) => {
    const dagId = dagIds[i] as string
    const url = streamUrl(target, port, dagId)
    const opening = target === 'socketio' ? openSocketIo(url, dagId) : openWs(url)
    streams.push(await withTimeout(opening, timeoutMs, `no hello from ${url} within ${timeoutMs} ms`))
  })
  return { connected: dagIds.length - result.failed, ...result }
}

function stats (): WindowStats {
  return {
    elapsedMs: now() - window.began,
    events: window.events,
    gaps: window.gaps,
    unexpected: window.unexpected,
    histogram: [...window.histogram],
    open: streams.filter((stream) => stream.open).length,
    closes,
    cpuMs: cpuMs() - window.cpuBegan
  }
}

/** Resolves once `target` events have arrived since `zeroFlow` (the burst waits for its last one). */
function waitFor ({ target, timeoutMs }: { target: number; timeoutMs: number }): Promise<void> {
  if (delivered >= target) return Promise.resolve()
  return withTimeout(new Promise<void>((resolve) => { waiter = { target, resolve } }), timeoutMs, `only ${delivered} of ${target} events arrived within ${timeoutMs} ms`)
}

async function closeAll (): Promise<void> {
  for (const stream of streams) stream.close()
  streams.length = 0
}

// ---------------------------------------------------------------------------------------------
// Snapshot readers: `readers` GETs at once, `rounds` times, over keep-alive connections
// ---------------------------------------------------------------------------------------------

export interface ReadArgs {
  url: string
  readers: number
  rounds: number
  gzip: boolean
}

export interface ReadReport {
  /** Each request, from sending it to its last byte. */
  requestMs: number[]
  /** Each round, from its first request sent to its last byte. */
  roundMs: number[]
  /** Bytes of the body as it travelled (compressed, when it was). */
  bodyBytes: number
  contentEncoding: string
  /** Nodes in the first response, decoded: proof that what was timed is the whole snapshot. */
  nodes: number
}

async function read ({ url, readers, rounds, gzip }: ReadArgs): Promise<ReadReport> {
  const agent = new Agent({ keepAlive: true, maxSockets: readers })
  const report: ReadReport = { requestMs: [], roundMs: [], bodyBytes: 0, contentEncoding: 'identity', nodes: 0 }
  const get = () => new Promise<Buffer>((resolve, reject) => {
    const began = now()
    const req = httpRequest(url, { agent, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        report.requestMs.push(now() - began)
        report.contentEncoding = String(response.headers['content-encoding'] ?? 'identity')
        if (response.statusCode !== 200) reject(new Error(`GET ${url} answered ${response.statusCode}`))
        else resolve(Buffer.concat(chunks))
      })
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
  let first: Buffer | undefined
  try {
    for (let round = 0; round < rounds; round++) {
      const began = now()
      const bodies = await Promise.all(Array.from({ length: readers }, get))
      report.roundMs.push(now() - began)
      first ??= bodies[0]
    }
  } finally {
    agent.destroy()
  }
  if (first !== undefined) {
    report.bodyBytes = first.length
    const decoded = report.contentEncoding === 'gzip' ? gunzipSync(first) : first
    report.nodes = (JSON.parse(decoded.toString()) as { nodes: unknown[] }).nodes.length
  }
  return report
}

// ---------------------------------------------------------------------------------------------
// Churn: sockets that connect, get their hello, and go, `concurrency` at a time. Three kinds in
// turn, so every way out of the server is taken: a clean close, a reset (the process or the network
// died), and a resume (`?since=`) that replays history before a clean close.
// ---------------------------------------------------------------------------------------------

export interface ChurnArgs {
  port: number
  dagIds: string[]
  cycles: number
  concurrency: number
  timeoutMs: number
}

/** The current churn's progress, read while it runs. */
const churnState = { done: 0, failed: 0, firstError: undefined as string | undefined }
/** The last hello per DAG: where a resuming socket asks to start from. */
const positions = new Map<string, { epoch: string; seq: number }>()

function cycle (url: string, dagId: string, kind: number): Promise<void> {
  const ws = new WebSocket(url)
  return new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.once('message', (data: Buffer) => {
      const hello = JSON.parse(data.toString()) as { type: string; epoch: string; seq: number }
      if (hello.type !== 'hello') return reject(new Error(`expected hello, got ${hello.type}`))
      positions.set(dagId, { epoch: hello.epoch, seq: hello.seq })
      if (kind === 1) {
        ws.terminate()
        resolve()
        return
      }
      ws.once('close', () => resolve())
      ws.close(1000)
    })
  })
}

async function churn ({ port, dagIds, cycles, concurrency, timeoutMs }: ChurnArgs): Promise<typeof churnState> {
  Object.assign(churnState, { done: 0, failed: 0, firstError: undefined })
  const result = await runLimited(cycles, concurrency, async (i) => {
    const dagId = dagIds[i % dagIds.length] as string
    const kind = i % 3
    let url = streamUrl('plugin', port, dagId)
    const position = positions.get(dagId)
    if (kind === 2 && position !== undefined) url += `?since=${Math.max(0, position.seq - 10)}&epoch=${position.epoch}`
    await withTimeout(cycle(url, dagId, kind), timeoutMs, `cycle ${i} did not end within ${timeoutMs} ms`)
    churnState.done++
  })
  churnState.failed = result.failed
  churnState.firstError = result.firstError
  return { ...churnState }
}

const commands = {
  connect,
  reset: () => { window = freshWindow() },
  stats,
  zeroFlow: () => { delivered = 0 },
  delivered: () => delivered,
  waitFor,
  read,
  churn,
  churnProgress: () => ({ ...churnState }),
  close: closeAll,
  cpu: () => cpuMs()
}
export type ClientCommands = typeof commands

serve(commands, closeAll)
