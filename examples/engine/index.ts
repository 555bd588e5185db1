// The simulated execution engine: starts runs and routes dashboard events to them. It talks to the
// plugin only through its public API (`broadcast`, `onClientEvent`), like a real engine would.
//
// With the Redis backplane, several processes each run an engine. A run lives in the process that
// started it, and only that process broadcasts to it; the plugin carries every command for a run to
// the process that last broadcast to it, so a click on any instance reaches the right engine.

import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { EventRefusedError } from '../../lib/index.js'
import { Outbox } from './outbox.js'
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
  /** Every run's outbox until it has sent its last event (a finished run's may still be retrying). */
  const outboxes = new Set<Outbox>()
  let started = 0

  app.dagStream.onClientEvent((event, { dagId, sender }) => {
    // The plugin brings a run's commands here only if this process drives it; a run it does not
    // know has just ended. Throwing refuses the command: the user sees the message, nothing breaks.
    const run = runs.get(dagId)
    if (run === undefined) throw new EventRefusedError(`Run "${dagId}" is not in progress on this server`)
    run.handle(event, instanceOf(sender))
  })

  const engine: Engine = {
    startRun () {
      started++
      // The time it started, then a random part: ids stay unique, and sort by time, across processes
      // that share one Redis (a counter per process had every instance list its own run-001).
      const id = `run-${runStamp(new Date())}-${randomBytes(3).toString('hex')}`
      const random = createRandom(options.seed === undefined ? undefined : options.seed + started)
      const outbox: Outbox = new Outbox({
        send: (event) => app.dagStream.broadcast(id, event),
        onStall: () => run.hold(),
        onFlow: () => run.release(),
        picture: () => run.picture(),
        log: app.log.child({ dagId: id })
      })
      outboxes.add(outbox)
      const run = new Run({
        id,
        random,
        speed,
        budget,
        concurrency,
        broadcast: (event) => outbox.push(event),
        streamOutput: (nodeId) => app.dagStream.streamOutput(id, nodeId),
        onFinished: () => {
          runs.delete(id)
          void outbox.drained().then(() => outboxes.delete(outbox))
        }
      })
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
      await Promise.race([Promise.all([...outboxes].map((outbox) => outbox.drained())), grace])
      clearTimeout(timer)
      for (const outbox of outboxes) outbox.close()
      outboxes.clear()
    }
  }
  // Runs before the plugin's own onClose (Fastify runs them last registered first), so the
  // backplane still takes the runs' last events.
  app.addHook('onClose', () => engine.close())
  return engine
}

/** Which server the user clicked on: what the example's `describeSender` returns. */
function instanceOf (sender: unknown): string | undefined {
  const instance = (sender as { instance?: unknown } | undefined)?.instance
  return typeof instance === 'string' ? instance : undefined
}

/** 20261207-201407: the UTC date and time, readable and sortable. */
function runStamp (at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return `${at.getUTCFullYear()}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())}-${two(at.getUTCHours())}${two(at.getUTCMinutes())}${two(at.getUTCSeconds())}`
}
