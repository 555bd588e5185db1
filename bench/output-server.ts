// The server of bench/output.ts, in its own process so that its CPU time is its own: the plugin on the
// memory backplane, and an engine whose nodes generate tokens at a steady rate, either through
// `streamOutput` (coalesced) or one `node_output_delta` per token.

import Fastify, { type FastifyInstance } from 'fastify'
import dagStream from '../lib/index.js'
import type { OutputWriter } from '../lib/index.js'
import { cpuMs, now, serve, sleep } from './redis-ipc.js'

let app: FastifyInstance | undefined

async function start ({ outputFlushMs }: { outputFlushMs: number }): Promise<{ port: number }> {
  app = Fastify({ logger: false })
  await app.register(dagStream, { outputFlushMs })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  return { port: typeof address === 'object' && address !== null ? address.port : 0 }
}

export type OutputMode = 'coalesced' | 'every-token'

export interface GenerateArgs {
  dagId: string
  nodes: number
  tokensPerSecond: number
  seconds: number
  mode: OutputMode
}

export interface GenerateReport {
  tokens: number
  characters: number
  /** Events appended to the DAG's log while generating. */
  events: number
  elapsedMs: number
  cpuMs: number
}

/** How often the engine wakes to write the tokens that are due. */
const TICK_MS = 5

/** Every node writes `tokensPerSecond` tokens a second, for `seconds`, then ends its output. */
async function generate ({ dagId, nodes, tokensPerSecond, seconds, mode }: GenerateArgs): Promise<GenerateReport> {
  const stream = app?.dagStream
  if (stream === undefined) throw new Error('start the server first')
  const nodeIds = Array.from({ length: nodes }, (_, index) => `llm-${index}`)
  for (const nodeId of nodeIds) await stream.broadcast(dagId, { type: 'node_state', node_id: nodeId, status: 'running' })
  const seqBefore = (await stream.snapshot(dagId))?.seq ?? 0
  const writers = new Map<string, OutputWriter>(mode === 'coalesced' ? nodeIds.map((nodeId) => [nodeId, stream.streamOutput(dagId, nodeId)]) : [])
  const write = (nodeId: string, token: string) => {
    const writer = writers.get(nodeId)
    if (writer === undefined) stream.broadcast(dagId, { type: 'node_output_delta', node_id: nodeId, delta: token }).catch(() => {})
    else writer.write(token)
  }
  const perNode = Math.round(tokensPerSecond * seconds)
  let written = 0
  let characters = 0
  const cpuBefore = cpuMs()
  const startedAt = now()
  while (written < perNode) {
    // Catch up with the clock: every node has written exactly its due tokens, however late the tick.
    const due = Math.min(perNode, Math.floor(((now() - startedAt) / 1000) * tokensPerSecond))
    for (; written < due; written += 1) {
      const token = `tok${written} `
      for (const nodeId of nodeIds) write(nodeId, token)
      characters += token.length * nodes
    }
    await sleep(TICK_MS)
  }
  await Promise.all([...writers.values()].map((writer) => writer.end()))
  const elapsedMs = now() - startedAt
  const report = { tokens: perNode * nodes, characters, events: ((await stream.snapshot(dagId))?.seq ?? 0) - seqBefore, elapsedMs, cpuMs: cpuMs() - cpuBefore }
  return report
}

async function close (): Promise<void> {
  await app?.close()
}

const commands = { start, generate }
export type OutputServerCommands = typeof commands

serve(commands, close)
