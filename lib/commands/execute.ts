// The engine's half of a client event, on the instance that drives the DAG (the backplane brings it
// here from wherever it arrived, lib/commands/receive.ts): the engine's `onClientEvent` handlers, and
// for a decision the rest of the gate's life (begin, settle, `human_gate_resolved`). A gate a run
// handle of this process waits for (lib/engine/) is the handle's: the decision goes to it instead.

import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { ClientEvent, DAGEvent, HumanDecisionEvent } from '../../schemas/events.js'
import type { Backplane, CommandOutcome, CommandSender } from '../backplane/types.js'
import { BackplaneUnavailableError, EventRefusedError } from '../errors.js'
import { gateIdOf } from '../shared/reducer.js'
import { beginGate, renewGate, settleGate } from './gates.js'

/** What an `onClientEvent` handler learns about the event besides its content. */
export interface ClientEventContext {
  dagId: string
  /**
   * The upgrade request of the sender's socket (headers, cookies, what your hooks set on it) when the
   * event arrived on this instance; undefined when another instance forwarded it here.
   */
  request: FastifyRequest | undefined
  /** What the plugin's `describeSender(request)` returned for the sender, on whichever instance it arrived. */
  sender: unknown
}

/**
 * Receives client events. Resolve to accept the event (the sender gets `ack`); throw or reject to
 * refuse it (the sender gets `error {code:'handler_failed'}`; a human gate stays open).
 * A human decision always carries an `id`: the client's idempotency key, or one made up for it.
 */
export type ClientEventHandler = (event: ClientEvent, context: ClientEventContext) => void | Promise<void>

/** What the run handles of this process take from the commands (lib/engine/runs.ts implements it). */
export interface EngineRuns {
  /**
   * The handle that opened the gate `gateId` of `dagId` here and waits for it, if any: the decision goes
   * to it, through `accept` once it is recorded in the gate book, rather than to `onClientEvent`.
   */
  gateOwner(dagId: string, gateId: string): GateOwner | undefined
  /** Runs the `onControl` handlers of the handle of `dagId`; false when it has none. */
  control(dagId: string, event: Exclude<ClientEvent, HumanDecisionEvent>, sender: unknown): Promise<boolean>
  /**
   * The engine of `dagId` whose HTTP command feed is held here (lib/engine/feeds.ts), if any: its answer
   * takes the place of the `onClientEvent` handlers'.
   */
  remote?(dagId: string): { ask(event: ClientEvent, sender: unknown): Promise<CommandOutcome> } | undefined
}

export interface GateOwner {
  accept(decision: HumanDecisionEvent, sender: unknown): Promise<void>
}

export interface ExecutingDeps {
  backplane: Backplane
  handlers: ReadonlySet<ClientEventHandler>
  /** The run handles of this process: the gates they opened and their control handlers. */
  runs: EngineRuns
  broadcast: (dagId: string, event: DAGEvent) => Promise<unknown>
  /** How long a gate's claim holds before it lapses (its instance may have died). */
  leaseMs: number
  log: FastifyBaseLogger
}

/** How many leases a sender waits for an engine that keeps renewing its claim (5 min by default). */
export const CLAIM_FOLLOW_LEASES = 30
/** Backoff between attempts to record an accepted decision while the backplane is unavailable. */
const RECORD_RETRY_MIN_MS = 50
const RECORD_RETRY_MAX_MS = 2000

/** The engine's half of a client event that `dispatch` brought to the instance that drives `dagId`. */
export async function executeCommand (deps: ExecutingDeps, dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome> {
  if (event.type !== 'human_decision') return control(deps, event, dagId, sender)
  const backplane = deps.backplane
  const key = event.id as string // `decide` always sends one
  const gateId = gateIdOf(event)
  const began = await backplane.updateGate(dagId, gateId, beginGate(key, Date.now(), deps.leaseMs))
  if (began !== true) {
    return { ok: false, code: 'gate_already_decided', message: `The decision for "${event.node_id}" arrived after its claim lapsed` }
  }
  // The claim is renewed for as long as this instance works on it: while the handlers run, and while
  // an accepted decision waits for the backplane to record it.
  const renewal = setInterval(() => {
    backplane.updateGate(dagId, gateId, renewGate(key, Date.now(), deps.leaseMs)).catch((error: unknown) => {
      deps.log.warn({ err: error, dagId, connectionId: sender.connectionId }, 'fastify-dag-stream: could not renew a gate claim')
    })
  }, deps.leaseMs / 3)
  // A handler that never returns must not keep the process alive after app.close().
  renewal.unref()
  try {
    // A gate a run handle waits for is the handle's: its engine code awaits `gate()`, not onClientEvent.
    const owner = deps.runs.gateOwner(dagId, gateId)
    if (owner !== undefined) return await recordAcceptance(deps, dagId, event, key, owner, sender)
    const outcome = await engineOutcome(deps, event, dagId, sender)
    if (outcome.ok) return await recordAcceptance(deps, dagId, event, key)
    // Refused: the gate stays open. Should this write fail, the claim lapses by itself, to the same effect.
    await backplane.updateGate(dagId, gateId, settleGate(key, false)).catch((error: unknown) => {
      deps.log.warn({ err: error, dagId }, 'fastify-dag-stream: could not release a refused decision\'s claim; it lapses')
    })
    return outcome
  } finally {
    clearInterval(renewal)
  }
}

/**
 * The engine took the decision, so it must show: in the gate book (a copy of it is acked, a rival
 * refused) and in the log (every dashboard sees the gate resolved). A backplane that fails meanwhile
 * is retried for as long as a sender waits for a claim; only then is the failure the sender's answer.
 * A run handle that owns the gate (`owner`) gets the decision once the gate book holds it (so exactly
 * once), and sends `human_gate_resolved` itself, in order with its other events.
 */
async function recordAcceptance (
  deps: ExecutingDeps,
  dagId: string,
  decision: HumanDecisionEvent,
  key: string,
  owner?: GateOwner,
  sender?: CommandSender
): Promise<CommandOutcome> {
  const nodeId = decision.node_id
  const giveUpAt = Date.now() + CLAIM_FOLLOW_LEASES * deps.leaseMs
  try {
    await untilRecorded(deps, dagId, giveUpAt, () => deps.backplane.updateGate(dagId, gateIdOf(decision), settleGate(key, true)))
    if (owner !== undefined) await owner.accept(decision, sender?.info)
    else await untilRecorded(deps, dagId, giveUpAt, () => deps.broadcast(dagId, resolvedEvent(decision)))
    return { ok: true }
  } catch (error) {
    deps.log.error({ err: error, dagId, nodeId }, 'fastify-dag-stream: the engine accepted a decision that could not be recorded')
    return {
      ok: false,
      code: 'engine_unavailable',
      message: `The engine accepted the decision for "${nodeId}", but it could not be recorded: dashboards may not show it`
    }
  }
}

/** Runs `write` until it succeeds; an unavailable backplane is retried (with backoff) until `giveUpAt`. */
async function untilRecorded (deps: ExecutingDeps, dagId: string, giveUpAt: number, write: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await write()
      return
    } catch (error) {
      if (!(error instanceof BackplaneUnavailableError) || Date.now() >= giveUpAt) throw error
      if (attempt === 0) deps.log.warn({ err: error, dagId }, 'fastify-dag-stream: recording an accepted decision failed; retrying')
      const delay = Math.min(RECORD_RETRY_MAX_MS, RECORD_RETRY_MIN_MS * 2 ** attempt, Math.max(0, giveUpAt - Date.now()))
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}

/** pause / resume / cancel: the run handle's `onControl` handlers, then the `onClientEvent` handlers. */
async function control (deps: ExecutingDeps, event: Exclude<ClientEvent, HumanDecisionEvent>, dagId: string, sender: CommandSender): Promise<CommandOutcome> {
  const remote = deps.runs.remote?.(dagId)
  if (remote !== undefined) return remote.ask(event, sender.info)
  let handled: boolean
  try {
    handled = await deps.runs.control(dagId, event, sender.info)
  } catch (error) {
    return refusedByEngine(deps, error, dagId, sender, event)
  }
  if (handled && deps.handlers.size === 0) return { ok: true }
  return callHandlers(deps, event, dagId, sender)
}

/** What the engine says of an event: the one whose command feed is held here, else the `onClientEvent` handlers. */
function engineOutcome (deps: ExecutingDeps, event: ClientEvent, dagId: string, sender: CommandSender): Promise<CommandOutcome> {
  const remote = deps.runs.remote?.(dagId)
  return remote === undefined ? callHandlers(deps, event, dagId, sender) : remote.ask(event, sender.info)
}

async function callHandlers (deps: ExecutingDeps, event: ClientEvent, dagId: string, sender: CommandSender): Promise<CommandOutcome> {
  if (deps.handlers.size === 0) {
    return { ok: false, code: 'not_handled', message: 'No engine is listening for client events on this server' }
  }
  const context: ClientEventContext = { dagId, request: sender.request, sender: sender.info }
  try {
    // Sequential, in registration order: a handler may rely on an earlier one having run.
    for (const handler of deps.handlers) await handler(event, context)
    return { ok: true }
  } catch (error) {
    return refusedByEngine(deps, error, dagId, sender, event)
  }
}

function refusedByEngine (deps: ExecutingDeps, error: unknown, dagId: string, sender: CommandSender, event: ClientEvent): CommandOutcome {
  deps.log.warn({ err: error, dagId, connectionId: sender.connectionId, event }, 'fastify-dag-stream: a client event handler refused an event')
  // The engine's own message reaches the user only when the engine marked it safe to show.
  const message = error instanceof EventRefusedError ? error.message : 'The engine refused this event'
  return { ok: false, code: 'handler_failed', message }
}

/** The `human_gate_resolved` that records an accepted decision. */
export function resolvedEvent (decision: HumanDecisionEvent): DAGEvent {
  const resolved: DAGEvent = { type: 'human_gate_resolved', node_id: decision.node_id, decision: decision.decision }
  if (decision.gate_id !== undefined) resolved.gate_id = decision.gate_id
  if (decision.feedback !== undefined) resolved.feedback = decision.feedback
  if (decision.value !== undefined) resolved.value = decision.value
  return resolved
}
