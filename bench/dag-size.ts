// Guarantee 3, "deltas, not state": what one broadcast costs the plugin for a small and a huge DAG.
// No sockets: validate, number, reduce, keep history and serialize, timed in a process of its own
// (forked by bench/run.ts, so the heap it builds does not weigh on anything else).

import Fastify from 'fastify'
import { performance } from 'node:perf_hooks'
import dagStream from '../lib/index.js'
import { serve } from './redis-ipc.js'
import { median } from './stats.js'

/** The events an engine sends in one turn of the event loop (a fan-out) before it waits for I/O. */
const BURST = 100

interface Measure {
  nodes: number
  events: number
  rounds: number
}

/** µs per broadcast: the median of the rounds, and the first round alone. */
export interface Cost {
  median: number
  /**
   * The round right after the full GC that follows the DAG's build. It costs more, the more so in a
   * large DAG, and only after that GC: without it, the first round costs what the others do (and the
   * build's garbage is collected during the rounds instead). What the collection took away is paid
   * back there, not by the broadcasts of a server that has been running.
   */
  first: number
}

/**
 * µs per broadcast of a node_state event to a DAG of `nodes` nodes, over `rounds` rounds of `events`
 * broadcasts, each round on nodes the others did not touch where the DAG has enough of them (a node
 * touched again could still be in the CPU's caches).
 */
async function cost ({ nodes, events, rounds }: Measure): Promise<Cost> {
  const app = Fastify()
  await app.register(dagStream)
  await app.ready()
  try {
    for (let i = 0; i < nodes; i++) void app.dagStream.broadcast('big', { type: 'dag_mutated', mutation: { op: 'add_node', node: { id: `n${i}` } } })
    // The garbage of building the DAG is collected now, or its collection would land in the
    // measured window and be billed to the broadcasts.
    await nextTurn()
    collectGarbage()
    // In bursts with a turn in between, as an engine sends them: the broadcasts' promise reactions
    // run there (their cost is counted) instead of piling up by the thousand.
    const perRound = await timeRounds({ nodes, events, rounds }, (node, i) => {
      void app.dagStream.broadcast('big', { type: 'node_state', node_id: `n${node}`, status: 'running' })
      return i % BURST === BURST - 1 ? nextTurn() : undefined
    })
    return { median: median(perRound), first: perRound[0] as number }
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
async function lookupFloor (measure: Measure): Promise<number> {
  const records = new Map<string, { id: string; status: string }>()
  for (let i = 0; i < measure.nodes; i++) records.set(`n${i}`, { id: `n${i}`, status: 'pending' })
  collectGarbage()
  const statuses = ['running', 'completed']
  return median(await timeRounds(measure, (node, i) => {
    const record = records.get(`n${node}`) as { status: string }
    record.status = statuses[i & 1] as string
    return undefined
  }))
}

/**
 * µs per event of each of `rounds` rounds of `events` calls of `touch`. Each call gets its node, on a
 * stride through the DAG, so a large DAG is touched all over rather than in cache-friendly order, and
 * each round starts where the last one stopped. A call that returns a promise is waited for; the others
 * cost no await.
 */
async function timeRounds ({ nodes, events, rounds }: Measure, touch: (node: number, i: number) => Promise<void> | undefined): Promise<number[]> {
  const perRound: number[] = []
  for (let round = 0; round < rounds; round++) {
    const began = performance.now()
    for (let i = 0; i < events; i++) {
      const waiting = touch(((round * events + i) * 7919) % nodes, i)
      if (waiting !== undefined) await waiting
    }
    perRound.push(((performance.now() - began) * 1000) / events)
  }
  return perRound
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
