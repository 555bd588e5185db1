// What happens when a dashboard sends a client event: authorization for its action, the gate rules
// for human decisions, then the engine's handlers, and one answer (ack or error) for the sender.

import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AckFrame, ClientEvent, DAGEvent, ErrorCode, ErrorFrame, HumanDecisionEvent } from '../schemas/events.js'
import type { Backplane } from './backplane/types.js'
import { EventRefusedError } from './errors.js'
import { isFinished } from './reducer.js'
import type { Action, Authorize } from './options.js'

/** What an `onClientEvent` handler learns about the event besides its content. */
export interface ClientEventContext {
  dagId: string
  /** The upgrade request of the sender's socket: its headers, cookies and anything your hooks set on it. */
  request: FastifyRequest
}

/**
 * Receives client events. Resolve to accept the event (the sender gets `ack`); throw or reject to
 * refuse it (the sender gets `error {code:'handler_failed'}`; a human gate stays open).
 */
export type ClientEventHandler = (event: ClientEvent, context: ClientEventContext) => void | Promise<void>

export interface CommandDeps {
  backplane: Backplane
  authorize: Authorize
  handlers: ReadonlySet<ClientEventHandler>
  broadcast: (dagId: string, event: DAGEvent) => Promise<unknown>
  log: FastifyBaseLogger
}

type Reply = AckFrame | ErrorFrame | undefined

const actionOf: Record<ClientEvent['type'], Action> = {
  human_decision: 'decide',
  pause_execution: 'control',
  resume_execution: 'control',
  cancel_execution: 'control'
}

export function createCommandRunner (deps: CommandDeps) {
  // A decision re-sent while its first copy is still with the engine (a reconnect mid-flight) waits for
  // that copy's answer instead of being refused or run twice.
  const inFlight = new Map<string, Promise<Reply>>()

  return async function runCommand (event: ClientEvent, { dagId, request }: ClientEventContext): Promise<Reply> {
    const reply = answer(event.id)
    const refusal = await authorizationRefusal(request, dagId, actionOf[event.type])
    if (refusal !== undefined) return reply.error(refusal.code, refusal.message)

    if (event.type !== 'human_decision') {
      const status = await deps.backplane.status(dagId)
      if (status === undefined) return reply.error('dag_not_found', `DAG "${dagId}" has no execution`)
      if (isFinished(status.status)) return reply.error('execution_finished', `The execution is already ${status.status}`)
      const failure = await callHandlers(event, dagId, request)
      return failure === undefined ? reply.ack() : reply.error(failure.code, failure.message)
    }

    // Without an id a decision cannot be deduplicated, but the first-decision-wins rule still applies.
    const key = event.id ?? randomUUID()
    const flightKey = `${dagId}\u0000${key}`
    const running = inFlight.get(flightKey)
    if (running !== undefined) return running
    const decided = decide(event, key, { dagId, request }).finally(() => inFlight.delete(flightKey))
    inFlight.set(flightKey, decided)
    return decided
  }

  async function decide (decision: HumanDecisionEvent, key: string, context: ClientEventContext): Promise<Reply> {
    const { dagId, request } = context
    const reply = answer(decision.id)
    const claim = await deps.backplane.claimGate(dagId, decision.node_id, key)
    switch (claim.kind) {
      case 'duplicate':
        return reply.ack()
      case 'in_flight': // claimed under this key on another instance, still running there
        return reply.error('gate_already_decided', `The gate of "${decision.node_id}" is being decided`)
      case 'refused':
        return reply.error(claim.code, refusalMessage(claim.code, dagId, decision.node_id))
      case 'claimed':
        break
    }
    const failure = await callHandlers(decision, dagId, request)
    await deps.backplane.settleGate(dagId, decision.node_id, key, failure === undefined)
    if (failure !== undefined) return reply.error(failure.code, failure.message)
    const resolved: DAGEvent = { type: 'human_gate_resolved', node_id: decision.node_id, decision: decision.decision }
    if (decision.feedback !== undefined) resolved.feedback = decision.feedback
    await deps.broadcast(dagId, resolved)
    return reply.ack()
  }

  async function authorizationRefusal (request: FastifyRequest, dagId: string, action: Action) {
    try {
      if (await deps.authorize(request, dagId, action)) return undefined
      return { code: 'forbidden' as const, message: `Not allowed to ${action} DAG "${dagId}"` }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 401) {
        return { code: 'unauthorized' as const, message: 'Authentication required' }
      }
      deps.log.error({ err: error, dagId, action }, 'fastify-dag-stream: authorize threw')
      return { code: 'forbidden' as const, message: `Could not authorize ${action} on DAG "${dagId}"` }
    }
  }

  async function callHandlers (event: ClientEvent, dagId: string, request: FastifyRequest) {
    if (deps.handlers.size === 0) {
      return { code: 'not_handled' as const, message: 'No engine is listening for client events on this server' }
    }
    try {
      // Sequential, in registration order: a handler may rely on an earlier one having run.
      for (const handler of deps.handlers) await handler(event, { dagId, request })
      return undefined
    } catch (error) {
      deps.log.warn({ err: error, dagId, event }, 'fastify-dag-stream: a client event handler refused an event')
      // The engine's own message reaches the user only when the engine marked it safe to show.
      const message = error instanceof EventRefusedError ? error.message : 'The engine refused this event'
      return { code: 'handler_failed' as const, message }
    }
  }
}

function answer (id: string | undefined) {
  return {
    ack: (): Reply => (id === undefined ? undefined : { type: 'ack', id }),
    error: (code: ErrorCode, message: string): Reply => {
      const frame: ErrorFrame = { type: 'error', code, message }
      if (id !== undefined) frame.id = id
      return frame
    }
  }
}

function refusalMessage (code: 'gate_not_waiting' | 'gate_already_decided' | 'dag_not_found', dagId: string, nodeId: string): string {
  switch (code) {
    case 'gate_not_waiting':
      return `Node "${nodeId}" is not waiting for a decision`
    case 'gate_already_decided':
      return `The gate of "${nodeId}" was already decided`
    case 'dag_not_found':
      return `DAG "${dagId}" has no execution`
  }
}
