// Guarantee 3, "deltas, not state": what one broadcast costs the plugin for a small and a huge DAG.
// No sockets: validate, number, reduce, keep history and serialize, timed in a process of its own
// (forked by bench/run.ts, so the heap it builds does not weigh on anything else).

import Fastify from 'fastify'
import { performance } from 'node:perf_hooks'
import dagStream from '../lib/index.js'
import { serve } from './redis-ipc.js'

/** µs per broadcast of `events` node_state events to a DAG of `nodes` nodes. */
async function cost ({ nodes, events }: { nodes: number; events: number }): Promise<number> {
  const app = Fastify()
  await app.register(dagStream)
  await app.ready()
  try {
    for (let i = 0; i < nodes; i++) void app.dagStream.broadcast('big', { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: `n${i}` } } })
    const began = performance.now()
    // A stride through the nodes, so a large DAG is touched all over rather than in cache-friendly order.
    for (let i = 0; i < events; i++) void app.dagStream.broadcast('big', { type: 'node_state', node_id: `n${(i * 7919) % nodes}`, status: 'running' })
    return ((performance.now() - began) * 1000) / events
  } finally {
    await app.close()
  }
}

const commands = { cost }
export type DagSizeCommands = typeof commands

serve(commands, async () => {})
