// Broadcast throughput and memory: fastify-dag-stream against a raw `ws` server doing the least a
// server can do (serialize once, send to every socket), measured side by side in one run.
//
//   npm run bench                      # defaults below
//   CLIENTS=200 EVENTS=50000 npm run bench
//
// Clients run in this process for both servers, so their cost is the same on each side; the figures are
// for comparison, not absolute capacity.

import Fastify from 'fastify'
import { performance } from 'node:perf_hooks'
import WebSocket, { WebSocketServer } from 'ws'
import dagStream from '../lib/index.js'
import type { DAGEvent } from '../schemas/index.js'

const CLIENTS = Number(process.env.CLIENTS ?? 100)
const EVENTS = Number(process.env.EVENTS ?? 10_000)
const ROUNDS = Number(process.env.ROUNDS ?? 3)

interface Server {
  url: string
  broadcast(event: DAGEvent): void
  close(): Promise<void>
}

async function rawWsServer (): Promise<Server> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((resolve) => wss.once('listening', resolve))
  let seq = 0
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`,
    broadcast (event) {
      const frame = Buffer.from(JSON.stringify({ ...event, seq: ++seq, epoch: 'raw' }))
      for (const client of wss.clients) client.send(frame, { binary: false })
    },
    close: () => new Promise((resolve) => {
      for (const client of wss.clients) client.terminate()
      wss.close(() => resolve())
    })
  }
}

async function pluginServer (): Promise<Server> {
  const app = Fastify()
  await app.register(dagStream, { maxBufferedBytes: 64 * 1024 * 1024 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    url: `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/api/dags/bench/stream`,
    broadcast (event) {
      void app.dagStream.broadcast('bench', event)
    },
    close: () => app.close()
  }
}

/** Connects the clients, pushes EVENTS events, and times until every client has every event. */
async function run (start: () => Promise<Server>) {
  const server = await start()
  let remaining = CLIENTS * EVENTS
  let done!: () => void
  const finished = new Promise<void>((resolve) => { done = resolve })
  const sockets = await Promise.all(
    Array.from({ length: CLIENTS }, () => new Promise<WebSocket>((resolve) => {
      const socket = new WebSocket(server.url)
      socket.on('message', (data) => {
        // Parse as a dashboard would, and count only DAG events (not the plugin's hello).
        if ((JSON.parse(data.toString()) as { seq?: number }).seq !== undefined && --remaining === 0) done()
      })
      socket.once('open', () => resolve(socket))
    }))
  )
  await new Promise((resolve) => setTimeout(resolve, 100))
  global.gc?.()
  const memoryBefore = process.memoryUsage()
  const began = performance.now()
  let peakRss = memoryBefore.rss
  for (let i = 0; i < EVENTS; i++) {
    server.broadcast({ type: 'node_state', node_id: `node-${i % 500}`, status: i % 3 === 0 ? 'completed' : 'running', metrics: { tokens: i, latency_ms: 12 } })
    if (i % 200 === 199) {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  await finished
  const elapsed = performance.now() - began
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
  for (const socket of sockets) socket.close()
  await server.close()
  return { elapsed, peakRssDelta: peakRss - memoryBefore.rss }
}

/** The cost of one broadcast for a small and a huge DAG (guarantee 3: deltas, not state). */
async function costByDagSize (nodes: number) {
  const app = Fastify()
  await app.register(dagStream)
  await app.ready()
  for (let i = 0; i < nodes; i++) void app.dagStream.broadcast('big', { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: `n${i}` } } })
  const count = 20_000
  const began = performance.now()
  // A stride through the nodes, so a large DAG is touched all over rather than in cache-friendly order.
  for (let i = 0; i < count; i++) void app.dagStream.broadcast('big', { type: 'node_state', node_id: `n${(i * 7919) % nodes}`, status: 'running' })
  const perEvent = ((performance.now() - began) * 1000) / count
  await app.close()
  return perEvent
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

console.log(`fastify-dag-stream bench — node ${process.version}, ${CLIENTS} clients × ${EVENTS} events, median of ${ROUNDS} rounds\n`)
const rows: Array<[string, () => Promise<Server>]> = [['raw ws (baseline)', rawWsServer], ['fastify-dag-stream', pluginServer]]
const times = new Map<string, number[]>()
const peaks = new Map<string, number>()
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order so neither side always runs on a warmer process.
  for (const [name, start] of round % 2 === 0 ? rows : [...rows].reverse()) {
    const { elapsed, peakRssDelta } = await run(start)
    times.set(name, [...(times.get(name) ?? []), elapsed])
    peaks.set(name, Math.max(peaks.get(name) ?? 0, peakRssDelta))
  }
}
console.log('| server | events/s | deliveries/s | time (median) | peak RSS growth |')
console.log('|---|---:|---:|---:|---:|')
for (const [name] of rows) {
  const elapsed = median(times.get(name) ?? [])
  const rate = (EVENTS / elapsed) * 1000
  console.log(`| ${name} | ${Math.round(rate).toLocaleString('en')} | ${Math.round(rate * CLIENTS).toLocaleString('en')} | ${elapsed.toFixed(0)} ms | ${mib(peaks.get(name) ?? 0)} |`)
}

console.log('\nbroadcast cost by DAG size (no clients; validate + number + reduce + history + serialize):')
await costByDagSize(10) // warm-up: the first measurement would otherwise include the JIT's work
for (const nodes of [10, 1_000, 100_000, 1_000_000]) console.log(`  ${nodes.toLocaleString('en').padStart(9)} nodes: ${(await costByDagSize(nodes)).toFixed(2)} µs/event`)
