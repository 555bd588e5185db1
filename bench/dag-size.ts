// Guarantee 3, "deltas, not state": what one broadcast costs the plugin for a small and a huge DAG.
// No sockets: validate, number, reduce, keep history and serialize, timed in a process of its own
// (forked by bench/run.ts, so the heap it builds does not weigh on anything else).

import Fastify from 'fastify'
import { performance } from 'node:perf_hooks'
import dagStream from '../lib/index.js'
import { serve } from './redis-ipc.js'

/** The events an engine sends in one turn of the event loop (a fan-out) before it waits for I/O. */
const BURST = 100

/** µs per broadcast of `events` node_state events to a DAG of `nodes` nodes. */
async function cost ({ nodes, events }: { nodes: number; events: number }): Promise<number> {
  const app = Fastify()
  await app.register(dagStream)
  await app.ready()
  try {
    for (let i = 0; i < nodes; i++) void app.dagStream.broadcast('big', { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: `n${i}` } } })
    // The garbage of building the DAG is collected now, or its collection would land in the
    // measured window and be billed to the broadcasts.
    await nextTurn()
    collectGarbage()
    const began = performance.now()
    // A stride through the nodes, so a large DAG is touched all over rather than in cache-friendly order.
    // In bursts with a turn in between, as an engine sends them: the broadcasts' promise reactions
    // run there (their cost is counted) instead of piling up by the thousand.
    for (let i = 0; i < events; i++) {
      void app.dagStream.broadcast('big', { type: 'node_state', node_id: `n${(i * 7919) % nodes}`, status: 'running' })
      if (i % BURST === BURST - 1) await nextTurn()
    }
    return ((performance.now() - began) * 1000) / events
  } finally {
    await app.close()
  }
}

/**
 * The floor under `cost`: µs per lookup of a node record by id in a Map of `nodes` records, and one
 * field written, with the same stride. That is the least any server keeping a DAG's state must do per
 * event, and its cost grows with the DAG for one reason only: in a large map each lookup misses the
 * CPU's caches (and its TLB), where a small one stays in them.
 */
function lookupFloor ({ nodes, events }: { nodes: number; events: number }): number {
  const records = new Map<string, { id: string; status: string }>()
  for (let i = 0; i < nodes; i++) records.set(`n${i}`, { id: `n${i}`, status: 'pending' })
  collectGarbage()
  const statuses = ['running', 'completed']
  const began = performance.now()
  for (let i = 0; i < events; i++) {
    const record = records.get(`n${(i * 7919) % nodes}`) as { status: string }
    record.status = statuses[i & 1] as string
  }
  return ((performance.now() - began) * 1000) / events
}

function nextTurn (): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function collectGarbage (): void {
  if (global.gc === undefined) throw new Error('bench/dag-size.ts needs --expose-gc')
  global.gc()
}

const commands = { cost, lookupFloor }
export type DagSizeCommands = typeof commands

serve(commands, async () => {})
