// The simulated execution engine: starts runs, each driven through its run handle
// (`app.dagStream.run(dagId)`), like a real engine would.
//
// With the Redis backplane, several processes each run an engine. A run lives in the process that
// started it, and only that process sends to it; the plugin carries every command and decision for a
// run to the process that drives it, so a click on any instance reaches the right engine. Should that
// process die, the run shows as stalled within the plugin's engineLeaseMs.

import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { RunHandle } from '../../lib/index.js'
import { createRandom } from './random.js'
import { Run } from './run.js'

export interface EngineOptions {
  /** How many times faster than real time runs go. @default 1 */
  speed?: number
  /** Makes every run tell the same story for the same seed (run n uses seed + n). @default random */
  seed?: number
  /** Dollars each run may spend. @default 0.75 */
  budget?: number
  /** Steps of one run that work at the same time. @default 3 */
  concurrency?: number
}

export interface Engine {
  /** Starts a new run, driven by this process, and returns its DAG id. */
  startRun(): string
  /** Ids of this process's runs still in progress (running or paused). */
  activeRuns(): string[]
  /**
   * Ends this process's runs as failed (their work dies with the process) and waits, briefly, for
   * that news to reach the backplane; then stops every timer. The app's `onClose` calls it.
   */
  close(): Promise<void>
}

/** How long shutdown waits for the last events to go out (Redis may be down). */
const SHUTDOWN_GRACE_MS = 2000

/** Call before `app.listen()`: the engine ends its runs in the app's `onClose`. */
export function createEngine (app: FastifyInstance, options: EngineOptions = {}): Engine {
  const { speed = 1, budget = 0.75, concurrency = 3 } = options
  const runs = new Map<string, Run>()
  /** Every run's handle until it has stored its last event (a finished run's may still wait for Redis). */
  const handles = new Set<RunHandle>()
  let started = 0

  const engine: Engine = {
    startRun () {
      started++
      // The time it started, then a random part: ids stay unique, and sort by time, across processes
      // that share one Redis (a counter per process had every instance list its own run-001).
      const id = `run-${runStamp(new Date())}-${randomBytes(3).toString('hex')}`
      const random = createRandom(options.seed === undefined ? undefined : options.seed + started)
      const handle = app.dagStream.run(id)
      handles.add(handle)
      const run = new Run({
        id,
        random,
        speed,
        budget,
        concurrency,
        handle,
        streamOutput: (nodeId) => app.dagStream.streamOutput(id, nodeId),
        onFinished: () => {
          runs.delete(id)
          void handle.flushed().then(() => handles.delete(handle))
        }
      })
      // Throwing (EventRefusedError) refuses the command: the user sees the message, nothing breaks.
      handle.onControl((event) => run.control(event))
      runs.set(id, run)
      run.start()
      return id
    },
    activeRuns: () => [...runs.keys()],
    async close () {
      const reason = 'The server running this run shut down; start a new run'
      for (const run of [...runs.values()]) run.abandon(reason)
      let timer: NodeJS.Timeout | undefined
      const grace = new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))
      await Promise.race([Promise.all([...handles].map((handle) => handle.flushed())), grace])
      clearTimeout(timer)
      handles.clear()
    }
  }
  // Runs before the plugin's own onClose (Fastify runs them last registered first), so the
  // backplane still takes the runs' last events.
  app.addHook('onClose', () => engine.close())
  return engine
}

/** 20261207-201407: the UTC date and time, readable and sortable. */
function runStamp (at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return `${at.getUTCFullYear()}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())}-${two(at.getUTCHours())}${two(at.getUTCMinutes())}${two(at.getUTCSeconds())}`
}
