// The simulated execution engine: starts runs and routes dashboard events to them. It talks to the
// plugin only through its public API (`broadcast`, `onClientEvent`), like a real engine would.

import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { EventRefusedError } from '../../lib/index.js'
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
  /** Starts a new run and returns its DAG id. */
  startRun(): string
  /** Ids of the runs still in progress (running or paused). */
  activeRuns(): string[]
  /** Stops every run's timers without reporting: for shutdown. */
  close(): void
}

/** Call before `app.listen()`: the engine releases its timers in the app's `onClose`. */
export function createEngine (app: FastifyInstance, options: EngineOptions = {}): Engine {
  const { speed = 1, budget = 0.75, concurrency = 3 } = options
  const runs = new Map<string, Run>()
  let started = 0

  app.dagStream.onClientEvent((event, { dagId }) => {
    const run = runs.get(dagId)
    if (run === undefined) throw new EventRefusedError(`Run "${dagId}" is not in progress on this server`)
    run.handle(event)
  })

  const engine: Engine = {
    startRun () {
      started++
      const id = `run-${String(started).padStart(3, '0')}-${randomBytes(3).toString('hex')}`
      const random = createRandom(options.seed === undefined ? undefined : options.seed + started)
      const run = new Run({
        id,
        random,
        speed,
        budget,
        concurrency,
        broadcast: (event) => void app.dagStream.broadcast(id, event),
        onFinished: () => runs.delete(id)
      })
      runs.set(id, run)
      run.start()
      return id
    },
    activeRuns: () => [...runs.keys()],
    close () {
      for (const run of runs.values()) run.dispose()
      runs.clear()
    }
  }
  app.addHook('onClose', async () => engine.close())
  return engine
}
