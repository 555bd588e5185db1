// `npm run bench:queue-growth`: what one hostile view-only socket costs the server's heap. The socket
// sends human decisions at 95 a second (under the rate limit of 100), each with 16 KiB of feedback and
// each refused, to a server whose `authorize` takes 30 ms (a database lookup): before the bound on
// waiting client events (`maxQueuedEvents`), the refusals queued faster than they ran and the heap grew
// by about 1 MB a second. The script prints the heap (after a full GC) at the start, every 10 s, and
// at the end, and exits 1 if the end is more than 5 MB above the start.
//
// Run with the GC exposed (the npm script does): `node --expose-gc --import tsx bench/queue-growth.ts`.
// Server and socket share this process: the figure is the heap of both, and the client's part is a few
// frames.

import Fastify from 'fastify'
import WebSocket from 'ws'
import dagStream from '../lib/index.js'
import { parseOptions } from './options.js'
import { bytes, printTable } from './stats.js'

const USAGE = `Usage: npm run bench:queue-growth -- [options]

Options (full / --quick):
  --seconds N      how long the socket sends (60 / 10)
  --rate N         decisions per second (95 / 95)
  --authorize MS   how long each authorize takes (30 / 30)
  --quick          a smoke run
  -h, --help       this text`

const FEEDBACK = 'x'.repeat(16_384)
const ALLOWED_GROWTH = 5 * 1024 * 1024

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error('Run with --expose-gc: node --expose-gc --import tsx bench/queue-growth.ts')
  process.exit(2)
}

function heap (): number {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

const { numbers } = parseOptions(USAGE, {
  numbers: { seconds: { full: 60, quick: 10 }, rate: { full: 95, quick: 95 }, authorize: { full: 30, quick: 30 } }
})

const app = Fastify({ logger: false })
await app.register(dagStream, {
  authorize: async (_request, _dagId, action) => {
    await new Promise((resolve) => setTimeout(resolve, numbers.authorize))
    return action === 'view'
  }
})
await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = app.server.address() as { port: number }
await app.dagStream.broadcast('run', { type: 'execution_status', status: 'running' })

const socket = new WebSocket(`ws://127.0.0.1:${port}/api/dags/run/stream`)
const answers = new Map<string, number>()
socket.on('message', (data) => {
  const frame = JSON.parse(data.toString()) as { type: string; code?: string }
  const key = frame.type === 'error' ? `error ${frame.code ?? ''}` : frame.type
  answers.set(key, (answers.get(key) ?? 0) + 1)
})
let closeCode: number | undefined
socket.on('close', (code) => {
  closeCode = code
})
await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))

const start = heap()
const rows: string[][] = [['0 s', bytes(start), '']]
let sent = 0
// At most one per 5 ms tick, and never more than `rate` in any second (the server's rate limit, 100 a
// second, would close the socket): `rate` a second on average, though a GC of this script delays a tick.
const sentAt: number[] = []
const sender = setInterval(() => {
  const now = Date.now()
  while (sentAt.length > 0 && (sentAt[0] as number) <= now - 1000) sentAt.shift()
  if (sentAt.length >= numbers.rate) return
  sentAt.push(now)
  socket.send(JSON.stringify({ type: 'human_decision', id: `d${sent++}`, node_id: 'gate', decision: 'approve', feedback: FEEDBACK }))
}, 5)
for (let elapsed = 0; elapsed < numbers.seconds;) {
  const step = Math.min(10, numbers.seconds - elapsed)
  await new Promise((resolve) => setTimeout(resolve, step * 1000))
  elapsed += step
  const now = heap()
  rows.push([`${elapsed} s`, bytes(now), `${now >= start ? '+' : '-'}${bytes(Math.abs(now - start))}`])
}
clearInterval(sender)
const end = heap()
const closedEarly = closeCode
socket.close()
await app.close()

printTable(['after', 'heap used', 'vs start'], rows)
if (closedEarly !== undefined) console.log(`\nthe server closed the socket early (${closedEarly}): the figures do not measure the queue`)
console.log(`\nsent ${sent} decisions; answers: ${[...answers].map(([kind, count]) => `${kind} ${count}`).join(', ')}`)
const growth = end - start
console.log(`heap at the end: ${growth >= 0 ? '+' : '-'}${bytes(Math.abs(growth))} vs the start (allowed: +${bytes(ALLOWED_GROWTH)})`)
process.exit(growth > ALLOWED_GROWTH || closedEarly !== undefined ? 1 : 0)
