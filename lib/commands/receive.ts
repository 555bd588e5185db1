// The receiving half of a client event, on the instance where it arrived: authorization for its
// action, the checks that need no engine, the gate claim for human decisions, then `dispatch` through
// the backplane (to wherever the engine's half runs, lib/commands/execute.ts), and one answer (ack or
// error) for the sender.

import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AckFrame, ClientEvent, ErrorCode, ErrorFrame, HumanDecisionEvent, PostedGateViewingEvent } from '../../schemas/events.js'
import { askAuthorize, type Action, type CheckAccess } from '../access/authorize.js'
import type { Backplane, CommandOutcome, CommandSender } from '../backplane/types.js'
import { BackplaneUnavailableError } from '../errors.js'
import { assertNever, gateIdOf, isFinished } from '../shared/reducer.js'
import { errorFrame, idOf } from '../stream/frames.js'
import { instanceOf } from '../stream/stream-keys.js'
import { CLAIM_FOLLOW_LEASES } from './execute.js'
import { claimGate, claimProgress, releaseGate, type ClaimProgress } from './gates.js'

/** What the sender of a client event is answered: nothing for an event without an id that went well. */
export type Reply = AckFrame | ErrorFrame | undefined

export interface ReceivingDeps {
  backplane: Backplane
  /** `authorize`, normalised (an expired grant throws a 401). */
  authorize: CheckAccess
  describeSender: (request: FastifyRequest) => unknown
  /** How long a gate's claim holds before it lapses (its instance may have died). */
  leaseMs: number
  /**
   * Decisions on their way, by DAG and key: a decision re-sent while its first copy is still with the
   * engine (a reconnect mid-flight) waits for that copy's answer instead of being refused or run twice.
   */
  inFlight: Map<string, Promise<Reply>>
}

/** The socket a client event arrived on. */
export interface CommandSource {
  dagId: string
  /** Its upgrade request. */
  request: FastifyRequest
  /** Its connection id, which its log lines carry. */
  id: string
  /** Its logger: every line carries the DAG and the connection id. */
  log: FastifyBaseLogger
}

/** How often a decision waiting on a copy of itself (or on a slow engine) looks at the gate's claim. */
const CLAIM_POLL_MS = 50

function engineStillDeciding (nodeId: string): CommandOutcome {
  return {
    ok: false,
    code: 'engine_unavailable',
    message: `The engine is still deciding the gate of "${nodeId}": its outcome will show as human_gate_resolved`
  }
}

const actionOf: Record<ClientEvent['type'], Action> = {
  human_decision: 'decide',
  pause_execution: 'control',
  resume_execution: 'control',
  cancel_execution: 'control'
}

/**
 * What the sender of `event` on this instance is answered. An event stream's `gate_viewing` (by POST)
 * is no command: it goes to the stream it names, and is answered only when refused.
 */
export async function receiveCommand (deps: ReceivingDeps, event: ClientEvent | PostedGateViewingEvent, from: CommandSource): Promise<Reply> {
  try {
    return event.type === 'gate_viewing' ? await relayGateViewing(deps, event, from) : await receive(deps, event, from)
  } catch (error) {
    if (!(error instanceof BackplaneUnavailableError)) throw error
    // Redis is down: the event did not take effect, and the socket stays open to send it again.
    from.log.warn({ err: error }, 'fastify-dag-stream: a client event met an unavailable backplane')
    return answer(idOf(event)).error('engine_unavailable', 'The backplane is unavailable: nothing was done, try again shortly')
  }
}

async function receive (deps: ReceivingDeps, event: ClientEvent, from: CommandSource): Promise<Reply> {
  const { dagId, request } = from
  const reply = answer(event.id)
  const refusal = await authorizationRefusal(deps, from, actionOf[event.type])
  if (refusal !== undefined) return reply.error(refusal.code, refusal.message)
  const sender: CommandSender = { info: deps.describeSender(request), request, connectionId: from.id }

  if (event.type !== 'human_decision') {
    const head = await deps.backplane.status(dagId)
    if (head === undefined) return reply.error('dag_not_found', `DAG "${dagId}" has no execution`)
    if (isFinished(head.status)) return reply.error('execution_finished', `The execution is already ${head.status}`)
    if (head.status === 'stalled') return reply.outcome(engineStalled(dagId))
    return reply.outcome(await deps.backplane.dispatch(dagId, event, sender))
  }

  // Without an id a decision cannot be deduplicated, but the first-decision-wins rule still applies.
  const key = event.id ?? randomUUID()
  const flightKey = `${dagId}\u0000${key}`
  const running = deps.inFlight.get(flightKey)
  if (running !== undefined) return running
  const decided = decide(deps, event, key, dagId, sender).finally(() => deps.inFlight.delete(flightKey))
  deps.inFlight.set(flightKey, decided)
  return decided
}

/**
 * Hands a POSTed `gate_viewing` to the instance that holds the event stream of its key. The POST's
 * sender must be allowed to view the DAG, as the stream's reader was; the key proves it is that reader.
 */
async function relayGateViewing (deps: ReceivingDeps, { stream_key: streamKey, node_id: nodeId }: PostedGateViewingEvent, from: CommandSource): Promise<Reply> {
  const reply = answer(undefined)
  const refusal = await authorizationRefusal(deps, from, 'view')
  if (refusal !== undefined) return reply.error(refusal.code, refusal.message)
  const message = { dagId: from.dagId, streamKey, message: { type: 'gate_viewing' as const, node_id: nodeId } }
  return reply.outcome(await deps.backplane.sendToInstance(instanceOf(streamKey), message))
}

async function decide (deps: ReceivingDeps, decision: HumanDecisionEvent, key: string, dagId: string, sender: CommandSender): Promise<Reply> {
  const reply = answer(decision.id)
  const backplane = deps.backplane
  const nodeId = decision.node_id
  const gateId = gateIdOf(decision)
  // A copy of this decision in flight elsewhere either takes effect (its ack is this one's) or goes
  // (lapsed, refused): then this copy may claim the gate itself. Each further round follows an
  // attempt of the same decision that ended without effect, and a client re-sends only so often.
  for (;;) {
    const claim = await backplane.updateGate(dagId, gateId, claimGate(key, Date.now(), deps.leaseMs, decision))
    switch (claim?.kind) {
      case undefined:
        return reply.error('dag_not_found', `DAG "${dagId}" has no execution`)
      case 'duplicate':
        return reply.ack()
      case 'refused':
        return claim.code === 'engine_unavailable' ? reply.outcome(engineStalled(dagId)) : reply.error(claim.code, refusalMessage(claim.code, nodeId))
      case 'invalid':
        return reply.error(claim.code, claim.message, claim.path)
      case 'in_flight': {
        // The same key through another instance (a reconnect landed elsewhere mid-decision).
        const progress = await claimSettled(deps, dagId, gateId, key)
        if (progress === 'accepted') return reply.ack()
        if (progress === 'pending') return reply.outcome(engineStillDeciding(nodeId))
        continue
      }
      case 'claimed': {
        const outcome = await backplane.dispatch(dagId, { ...decision, id: key }, sender)
        if (outcome.ok || outcome.code !== 'engine_unavailable') return reply.outcome(outcome)
        // No answer in time. If the engine never began it, the claim goes and the gate stays open.
        // If it did (a slow handler renews its claim), the engine's verdict is the answer.
        try {
          await backplane.updateGate(dagId, gateId, releaseGate(key))
          const progress = await claimSettled(deps, dagId, gateId, key)
          if (progress === 'accepted') return reply.ack()
          return reply.outcome(progress === 'pending' ? engineStillDeciding(nodeId) : outcome)
        } catch (error) {
          if (!(error instanceof BackplaneUnavailableError)) throw error
          // The decision went to the engine: unlike a refusal before dispatch, it may have taken effect.
          return reply.outcome(engineStillDeciding(nodeId))
        }
      }
    }
  }
}

/**
 * Waits until the claim `key` has taken effect or is gone; a live engine renews it while it works.
 * An engine that renews for ever (a handler that never returns) is given up on after
 * `CLAIM_FOLLOW_LEASES` leases, so no waiting decision outlives reason: `pending` then.
 */
async function claimSettled (deps: ReceivingDeps, dagId: string, gateId: string, key: string): Promise<ClaimProgress | undefined> {
  const giveUpAt = Date.now() + CLAIM_FOLLOW_LEASES * deps.leaseMs
  for (;;) {
    // Undefined when the DAG itself went: as good as gone for the callers.
    const progress = await deps.backplane.updateGate(dagId, gateId, claimProgress(key, Date.now()))
    if (progress !== 'pending' || Date.now() >= giveUpAt) return progress
    await new Promise((resolve) => setTimeout(resolve, CLAIM_POLL_MS))
  }
}

async function authorizationRefusal (deps: ReceivingDeps, { request, dagId, log }: CommandSource, action: Action) {
  const outcome = await askAuthorize(deps.authorize, request, dagId, action, log)
  switch (outcome.kind) {
    case 'allowed':
      return undefined
    case 'forbidden':
      return { code: 'forbidden' as const, message: `Not allowed to ${action} DAG "${dagId}"` }
    case 'unauthenticated':
      return { code: 'unauthorized' as const, message: 'Authentication required' }
    case 'failed':
      return { code: 'forbidden' as const, message: `Could not authorize ${action} on DAG "${dagId}"` }
    /* c8 ignore next 2 -- unreachable by type: the compiler proves every outcome is handled */
    default:
      return assertNever(outcome)
  }
}

function answer (id: string | undefined) {
  const reply = {
    ack: (): Reply => (id === undefined ? undefined : { type: 'ack', id }),
    error: (code: ErrorCode, message: string, path?: string): Reply => errorFrame(code, message, id, path),
    outcome: (outcome: CommandOutcome): Reply => (outcome.ok ? reply.ack() : reply.error(outcome.code, outcome.message, outcome.path))
  }
  return reply
}

function engineStalled (dagId: string): CommandOutcome {
  return { ok: false, code: 'engine_unavailable', message: `The engine of DAG "${dagId}" stopped (the run is stalled): nothing was done, try again once it runs` }
}

function refusalMessage (code: 'gate_not_waiting' | 'gate_already_decided', nodeId: string): string {
  return code === 'gate_not_waiting'
    ? `Node "${nodeId}" is not waiting for a decision`
    : `The gate of "${nodeId}" was already decided`
}
