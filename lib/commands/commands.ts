// What happens when a dashboard sends a client event. Two halves, which may run on two instances:
//   - `run`, where the event arrived: authorization for its action, the checks that need no engine,
//     the gate claim for human decisions, then `dispatch` through the backplane, and one answer
//     (ack or error) for the sender;
//   - `execute`, on the instance that drives the DAG: the engine's `onClientEvent` handlers, and for a
//     decision the rest of the gate's life (begin, settle, `human_gate_resolved`).

import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AckFrame, ClientEvent, DAGEvent, ErrorCode, ErrorFrame, HumanDecisionEvent, PostedGateViewingEvent } from '../../schemas/events.js'
import type { Backplane, CommandOutcome, CommandSender } from '../backplane/types.js'
import { BackplaneUnavailableError, EventRefusedError } from '../errors.js'
import { errorFrame, idOf } from '../stream/frames.js'
import { beginGate, claimGate, claimProgress, releaseGate, renewGate, settleGate, type ClaimProgress } from './gates.js'
import { gateIdOf, isFinished } from '../shared/reducer.js'
import { isUnauthenticated, type Action, type CheckAccess } from '../options.js'
import { instanceOf } from '../stream/stream-keys.js'

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

export interface CommandDeps {
  /** A getter: the backplane is created with `execute`, so it exists only after these commands. */
  backplane: () => Backplane
  /** `authorize`, normalised (an expired grant throws a 401). */
  authorize: CheckAccess
  describeSender: (request: FastifyRequest) => unknown
  handlers: ReadonlySet<ClientEventHandler>
  /** The run handles of this process (lib/engine/): the gates they opened and their control handlers. */
  runs: EngineRuns
  broadcast: (dagId: string, event: DAGEvent) => Promise<unknown>
  /** How long a gate's claim holds before it lapses (its instance may have died). */
  leaseMs: number
  log: FastifyBaseLogger
}

type Reply = AckFrame | ErrorFrame | undefined

/** What the run handles of this process take from the commands (lib/engine/runs.ts implements it). */
export interface EngineRuns {
  /**
   * The handle that opened the gate `gateId` of `dagId` here and waits for it, if any: the decision goes
   * to it, through `accept` once it is recorded in the gate book, rather than to `onClientEvent`.
   */
  gateOwner(dagId: string, gateId: string): { accept(decision: HumanDecisionEvent, sender: unknown): Promise<void> } | undefined
  /** Runs the `onControl` handlers of the handle of `dagId`; false when it has none. */
  control(dagId: string, event: Exclude<ClientEvent, HumanDecisionEvent>, sender: unknown): Promise<boolean>
  /**
   * The engine of `dagId` whose HTTP command feed is held here (lib/engine/feeds.ts), if any: its answer
   * takes the place of the `onClientEvent` handlers'.
   */
  remote?(dagId: string): { ask(event: ClientEvent, sender: unknown): Promise<CommandOutcome> } | undefined
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
/** How many leases a sender waits for an engine that keeps renewing its claim (5 min by default). */
const CLAIM_FOLLOW_LEASES = 30
/** Backoff between attempts to record an accepted decision while the backplane is unavailable. */
const RECORD_RETRY_MIN_MS = 50
const RECORD_RETRY_MAX_MS = 2000

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

export function createCommands (deps: CommandDeps) {
  // A decision re-sent while its first copy is still with the engine (a reconnect mid-flight) waits for
  // that copy's answer instead of being refused or run twice.
  const inFlight = new Map<string, Promise<Reply>>()

  /**
   * The receiving half: what the sender of `event` on this instance is answered. An event stream's
   * `gate_viewing` (by POST) is no command: it goes to the stream it names, and is answered only when refused.
   */
  async function run (event: ClientEvent | PostedGateViewingEvent, from: CommandSource): Promise<Reply> {
    try {
      return event.type === 'gate_viewing' ? await relayGateViewing(event, from) : await receive(event, from)
    } catch (error) {
      if (!(error instanceof BackplaneUnavailableError)) throw error
      // Redis is down: the event did not take effect, and the socket stays open to send it again.
      from.log.warn({ err: error }, 'fastify-dag-stream: a client event met an unavailable backplane')
      return answer(idOf(event)).error('engine_unavailable', 'The backplane is unavailable: nothing was done, try again shortly')
    }
  }

  async function receive (event: ClientEvent, from: CommandSource): Promise<Reply> {
    const { dagId, request } = from
    const reply = answer(event.id)
    const refusal = await authorizationRefusal(from, actionOf[event.type])
    if (refusal !== undefined) return reply.error(refusal.code, refusal.message)
    const sender: CommandSender = { info: deps.describeSender(request), request, connectionId: from.id }

    if (event.type !== 'human_decision') {
      const status = await deps.backplane().status(dagId)
      if (status === undefined) return reply.error('dag_not_found', `DAG "${dagId}" has no execution`)
      if (isFinished(status.status)) return reply.error('execution_finished', `The execution is already ${status.status}`)
      if (status.status === 'stalled') return reply.outcome(engineStalled(dagId))
      return reply.outcome(await deps.backplane().dispatch(dagId, event, sender))
    }

    // Without an id a decision cannot be deduplicated, but the first-decision-wins rule still applies.
    const key = event.id ?? randomUUID()
    const flightKey = `${dagId}\u0000${key}`
    const running = inFlight.get(flightKey)
    if (running !== undefined) return running
    const decided = decide(event, key, dagId, sender).finally(() => inFlight.delete(flightKey))
    inFlight.set(flightKey, decided)
    return decided
  }

  /**
   * Hands a POSTed `gate_viewing` to the instance that holds the event stream of its key. The POST's
   * sender must be allowed to view the DAG, as the stream's reader was; the key proves it is that reader.
   */
  async function relayGateViewing ({ stream_key: streamKey, node_id: nodeId }: PostedGateViewingEvent, from: CommandSource): Promise<Reply> {
    const reply = answer(undefined)
    const refusal = await authorizationRefusal(from, 'view')
    if (refusal !== undefined) return reply.error(refusal.code, refusal.message)
    const message = { dagId: from.dagId, streamKey, message: { type: 'gate_viewing' as const, node_id: nodeId } }
    return reply.outcome(await deps.backplane().sendToInstance(instanceOf(streamKey), message))
  }

  async function decide (decision: HumanDecisionEvent, key: string, dagId: string, sender: CommandSender): Promise<Reply> {
    const reply = answer(decision.id)
    const backplane = deps.backplane()
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
          const progress = await claimSettled(dagId, gateId, key)
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
            const progress = await claimSettled(dagId, gateId, key)
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
  async function claimSettled (dagId: string, gateId: string, key: string): Promise<ClaimProgress | undefined> {
    const giveUpAt = Date.now() + CLAIM_FOLLOW_LEASES * deps.leaseMs
    for (;;) {
      // Undefined when the DAG itself went: as good as gone for the callers.
      const progress = await deps.backplane().updateGate(dagId, gateId, claimProgress(key, Date.now()))
      if (progress !== 'pending' || Date.now() >= giveUpAt) return progress
      await new Promise((resolve) => setTimeout(resolve, CLAIM_POLL_MS))
    }
  }

  /** The engine's half, on the instance that drives `dagId`. */
  async function execute (dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome> {
    if (event.type !== 'human_decision') return control(event, dagId, sender)
    const backplane = deps.backplane()
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
      if (owner !== undefined) return await recordAcceptance(dagId, event, key, owner, sender)
      const outcome = await engineOutcome(event, dagId, sender)
      if (outcome.ok) return await recordAcceptance(dagId, event, key)
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
    dagId: string,
    decision: HumanDecisionEvent,
    key: string,
    owner?: ReturnType<EngineRuns['gateOwner']>,
    sender?: CommandSender
  ): Promise<CommandOutcome> {
    const nodeId = decision.node_id
    const giveUpAt = Date.now() + CLAIM_FOLLOW_LEASES * deps.leaseMs
    try {
      await untilRecorded(dagId, giveUpAt, () => deps.backplane().updateGate(dagId, gateIdOf(decision), settleGate(key, true)))
      if (owner !== undefined) await owner.accept(decision, sender?.info)
      else await untilRecorded(dagId, giveUpAt, () => deps.broadcast(dagId, resolvedEvent(decision)))
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
  async function untilRecorded (dagId: string, giveUpAt: number, write: () => Promise<unknown>): Promise<void> {
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

  async function authorizationRefusal ({ request, dagId, log }: CommandSource, action: Action) {
    try {
      if ((await deps.authorize(request, dagId, action)).allowed) return undefined
      return { code: 'forbidden' as const, message: `Not allowed to ${action} DAG "${dagId}"` }
    } catch (error) {
      if (isUnauthenticated(error)) {
        return { code: 'unauthorized' as const, message: 'Authentication required' }
      }
      log.error({ err: error, action }, 'fastify-dag-stream: authorize threw')
      return { code: 'forbidden' as const, message: `Could not authorize ${action} on DAG "${dagId}"` }
    }
  }

  /** pause / resume / cancel: the run handle's `onControl` handlers, then the `onClientEvent` handlers. */
  async function control (event: Exclude<ClientEvent, HumanDecisionEvent>, dagId: string, sender: CommandSender): Promise<CommandOutcome> {
    const remote = deps.runs.remote?.(dagId)
    if (remote !== undefined) return remote.ask(event, sender.info)
    let handled: boolean
    try {
      handled = await deps.runs.control(dagId, event, sender.info)
    } catch (error) {
      return refusedByEngine(error, dagId, sender, event)
    }
    if (handled && deps.handlers.size === 0) return { ok: true }
    return callHandlers(event, dagId, sender)
  }

  /** What the engine says of an event: the one whose command feed is held here, else the `onClientEvent` handlers. */
  function engineOutcome (event: ClientEvent, dagId: string, sender: CommandSender): Promise<CommandOutcome> {
    const remote = deps.runs.remote?.(dagId)
    return remote === undefined ? callHandlers(event, dagId, sender) : remote.ask(event, sender.info)
  }

  async function callHandlers (event: ClientEvent, dagId: string, sender: CommandSender): Promise<CommandOutcome> {
    if (deps.handlers.size === 0) {
      return { ok: false, code: 'not_handled', message: 'No engine is listening for client events on this server' }
    }
    const context: ClientEventContext = { dagId, request: sender.request, sender: sender.info }
    try {
      // Sequential, in registration order: a handler may rely on an earlier one having run.
      for (const handler of deps.handlers) await handler(event, context)
      return { ok: true }
    } catch (error) {
      return refusedByEngine(error, dagId, sender, event)
    }
  }

  function refusedByEngine (error: unknown, dagId: string, sender: CommandSender, event: ClientEvent): CommandOutcome {
    deps.log.warn({ err: error, dagId, connectionId: sender.connectionId, event }, 'fastify-dag-stream: a client event handler refused an event')
    // The engine's own message reaches the user only when the engine marked it safe to show.
    const message = error instanceof EventRefusedError ? error.message : 'The engine refused this event'
    return { ok: false, code: 'handler_failed', message }
  }

  return { run, execute }
}

function answer (id: string | undefined) {
  const reply = {
    ack: (): Reply => (id === undefined ? undefined : { type: 'ack', id }),
    error: (code: ErrorCode, message: string, path?: string): Reply => errorFrame(code, message, id, path),
    outcome: (outcome: CommandOutcome): Reply => (outcome.ok ? reply.ack() : reply.error(outcome.code, outcome.message, outcome.path))
  }
  return reply
}

/** The `human_gate_resolved` that records an accepted decision. */
export function resolvedEvent (decision: HumanDecisionEvent): DAGEvent {
  const resolved: DAGEvent = { type: 'human_gate_resolved', node_id: decision.node_id, decision: decision.decision }
  if (decision.gate_id !== undefined) resolved.gate_id = decision.gate_id
  if (decision.feedback !== undefined) resolved.feedback = decision.feedback
  if (decision.value !== undefined) resolved.value = decision.value
  return resolved
}

function engineStalled (dagId: string): CommandOutcome {
  return { ok: false, code: 'engine_unavailable', message: `The engine of DAG "${dagId}" stopped (the run is stalled): nothing was done, try again once it runs` }
}

function refusalMessage (code: 'gate_not_waiting' | 'gate_already_decided', nodeId: string): string {
  return code === 'gate_not_waiting'
    ? `Node "${nodeId}" is not waiting for a decision`
    : `The gate of "${nodeId}" was already decided`
}

/** What `createCommands` returns: `run` for the routes and sockets, `execute` for the backplane. */
export type Commands = ReturnType<typeof createCommands>
