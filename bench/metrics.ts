// What the metrics cost: per frame (a connection handing an event to its socket) and per broadcast,
// with metrics off (the default) and on (prom-client), in CPU time so that other work on the machine
// moves the figures less than it would move wall-clock time.
//
//   npm run bench:metrics
//   SOCKETS=2000 EVENTS=2000 ROUNDS=7 npm run bench:metrics
//
// The per-frame figure is the connection's whole work for one frame on a socket whose send costs
// nothing (a real socket's send costs far more); the difference between the rows is the metrics'.

import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyRequest } from 'fastify'
import { Registry } from 'prom-client'
import type { WebSocket } from 'ws'
import { Connection } from '../lib/stream/connection.js'
import dagStream, { type LogEntry } from '../lib/index.js'
import { createMetrics, noMetrics, type Metrics } from '../lib/metrics/metrics.js'

const SOCKETS = Number(process.env.SOCKETS ?? 1000)
const EVENTS = Number(process.env.EVENTS ?? 1000)
const BROADCASTS = Number(process.env.BROADCASTS ?? 100_000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)

/** The parts of a ws socket a Connection uses; sending costs nothing, so the connection's own work shows. */
function idleSocket () {
  const socket = { OPEN: 1, readyState: 1, bufferedAmount: 0, on: () => socket, send () {}, close () {}, ping () {}, terminate () {} }
  return socket as unknown as WebSocket
}

const request = { log: { child: () => request.log } } as unknown as FastifyRequest

/** CPU nanoseconds per frame for SOCKETS connections each handed EVENTS entries. */
function perFrame (metrics: Metrics): number {
  const connections = Array.from({ length: SOCKETS }, () => {
    const connection = new Connection(idleSocket(), request, 'bench', {
      maxPayload: 65_536,
      maxBufferedBytes: 1 << 30,
      rateLimit: false,
      maxQueuedEvents: 16,
      metrics,
      onClose () {},
      runCommand: async () => undefined
    })
    connection.start({ recovered: false, epoch: '', seq: 0 })
    return connection
  })
  const entries: LogEntry[] = Array.from({ length: EVENTS }, (_, index) => ({
    epoch: 'e',
    seq: index + 1,
    frame: Buffer.from(JSON.stringify({ type: 'node_state', node_id: `n${index % 500}`, status: 'running', seq: index + 1, epoch: 'e' }))
  }))
  const began = process.cpuUsage()
  for (const entry of entries) for (const connection of connections) connection.deliver(entry)
  const used = process.cpuUsage(began)
  return ((used.user + used.system) * 1000) / (SOCKETS * EVENTS)
}

/** CPU microseconds per broadcast to a DAG nobody watches: validate, number, reduce, store, and the metrics. */
async function perBroadcast (metrics: boolean): Promise<number> {
  const app = Fastify()
  await app.register(dagStream, { metrics: metrics ? { registry: new Registry(), route: false } : false })
  await app.ready()
  const began = process.cpuUsage()
  let last: Promise<unknown> = Promise.resolve()
  for (let i = 0; i < BROADCASTS; i++) last = app.dagStream.broadcast('bench', { type: 'node_state', node_id: `n${i % 500}`, status: 'running' })
  await last
  const used = process.cpuUsage(began)
  await app.close()
  return (used.user + used.system) / BROADCASTS
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

// Each mode runs in a process of its own: in one process the connections' call to `frameSent` would
// see both implementations and cost more than it does in an app, which only ever has one.
const mode = process.argv[2]
if (mode === 'off' || mode === 'prom-client') {
  const metrics = mode === 'off'
    ? noMetrics
    : await createMetrics({ registry: new Registry(), route: false, prefix: 'bench_' }, { connections: () => 0, rooms: () => 0, listConnections: () => 0 })
  // Three of each, the first runs being the JIT's as much as the plugin's.
  const frame = median([perFrame(metrics), perFrame(metrics), perFrame(metrics), perFrame(metrics)].slice(1))
  const broadcast = median([await perBroadcast(mode !== 'off'), await perBroadcast(mode !== 'off'), await perBroadcast(mode !== 'off'), await perBroadcast(mode !== 'off')].slice(1))
  console.log(JSON.stringify({ frame, broadcast }))
} else {
  const modes = ['off', 'prom-client']
  const results = new Map<string, Array<{ frame: number; broadcast: number }>>()
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so neither mode always runs while the machine is in one state.
    for (const each of round % 2 === 0 ? modes : [...modes].reverse()) {
      const output = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), each], { env: process.env })
      results.set(each, [...(results.get(each) ?? []), JSON.parse(output.toString()) as { frame: number; broadcast: number }])
    }
  }
  console.log(`metrics cost — node ${process.version}, ${SOCKETS} sockets × ${EVENTS} events and ${BROADCASTS} broadcasts, median of ${ROUNDS} processes (CPU time)\n`)
  console.log('| metrics | per frame | per broadcast |')
  console.log('|---|---:|---:|')
  for (const each of modes) {
    const runs = results.get(each) ?? []
    console.log(`| ${each} | ${median(runs.map((run) => run.frame)).toFixed(1)} ns | ${median(runs.map((run) => run.broadcast)).toFixed(2)} µs |`)
  }
}
