// The run handles of this process, one per DAG, and the liveness watch that every instance keeps.
//
// Commands reach the handles through here (lib/commands/commands.ts, EngineRuns): a decision for a
// gate a handle waits for, pause / resume / cancel for its run. The watch takes the leases that
// lapsed (on any instance: the backplane gives each to one taker) and reports each run stalled, so a
// dashboard tells a dead engine from a quiet one within `engineLeaseMs`.

import type { FastifyBaseLogger } from 'fastify'
import type { DAGEvent, HumanDecisionEvent, SequencedEvent } from '../../schemas/events.js'
import type { Backplane } from '../backplane/types.js'
import type { EngineRuns } from '../commands/commands.js'
import { BackplaneUnavailableError } from '../errors.js'
import { isFinished } from '../shared/reducer.js'
import { RunHandle, type ControlEvent } from './run.js'

export interface RunsDeps {
  backplane: Backplane
  validate(dagId: string, event: DAGEvent): DAGEvent
  append(dagId: string, event: DAGEvent): Promise<SequencedEvent>
  appendMany(dagId: string, events: readonly DAGEvent[]): Promise<SequencedEvent[]>
  leaseMs: number
  outboxSize: number
  log: FastifyBaseLogger
}

export class Runs implements EngineRuns {
  readonly #handles = new Map<string, RunHandle>()
  readonly #deps: RunsDeps
  readonly #watch: NodeJS.Timeout

  constructor (deps: RunsDeps) {
    this.#deps = deps
    // A lease lapses half a lease after its last renewal, and is seen here within a quarter more.
    this.#watch = setInterval(() => {
      this.#reportLapsed().catch((error: unknown) => {
        if (!(error instanceof BackplaneUnavailableError)) deps.log.error({ err: error }, 'fastify-dag-stream: the engine liveness watch failed')
      })
    }, Math.max(1, Math.floor(deps.leaseMs / 4)))
    this.#watch.unref()
  }

  /** The handle of `dagId` in this process, created on first use. */
  run (dagId: string): RunHandle {
    let handle = this.#handles.get(dagId)
    if (handle === undefined) {
      // Checked here so that a bad id throws at `run()`, naming it, not at the first send.
      this.#deps.validate(dagId, { type: 'execution_status', status: 'running' })
      handle = new RunHandle(dagId, {
        ...this.#deps,
        finished: (done) => {
          if (this.#handles.get(dagId) === done) this.#handles.delete(dagId)
        }
      })
      this.#handles.set(dagId, handle)
    }
    return handle
  }

  gateOwner (dagId: string, gateId: string) {
    const handle = this.#handles.get(dagId)
    if (handle === undefined || !handle.owns(gateId)) return undefined
    return {
      accept: async (decision: HumanDecisionEvent, sender: unknown): Promise<void> => handle.accept(decision, sender)
    }
  }

  async control (dagId: string, event: ControlEvent, sender: unknown): Promise<boolean> {
    const handle = this.#handles.get(dagId)
    return handle === undefined ? false : handle.control(event, sender)
  }

  close (): void {
    clearInterval(this.#watch)
    for (const handle of this.#handles.values()) handle.close()
    this.#handles.clear()
  }

  async #reportLapsed (): Promise<void> {
    const { backplane } = this.#deps
    for (const dagId of await backplane.takeLapsedLeases(Date.now())) {
      // A live handle of this process renews it again (it could not reach the backplane meanwhile).
      if (this.#handles.has(dagId)) continue
      const status = await backplane.status(dagId)
      // Gone, finished, or already reported: nothing to say.
      if (status === undefined || isFinished(status.status) || status.status === 'stalled') continue
      this.#deps.log.warn({ dagId }, 'fastify-dag-stream: the engine of a run stopped renewing its lease: the run is stalled')
      await this.#deps.append(dagId, { type: 'execution_status', status: 'stalled' })
    }
  }
}
