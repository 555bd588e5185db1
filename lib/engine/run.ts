// A run handle: what engine code holds to drive one DAG (`app.dagStream.run(dagId)`).
//
// Its outbox keeps the engine's events in order and sends them pipelined: each goes to the backplane
// at once, without waiting for the previous one's round trip (one connection keeps call order). When
// the backplane is unreachable, events wait, in order and bounded (`engineOutboxSize`; past it they
// are coalesced into the run's picture), and a probe sends the oldest alone until one gets through;
// then the rest follow. Nothing reaches engine code as an error: `flushed()` says when all is stored.
//
// The handle keeps the run's state as it sent it (the reducer over its own events), which gives the
// picture it sends again when the log started over (a new epoch: Redis lost its data) and when its
// lease renewal finds the DAG gone. The lease (renewed every quarter of `engineLeaseMs`) is how other
// instances tell a live engine from a dead one (lib/engine/runs.ts reports lapsed ones as stalled).

import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type {
  ClientEvent,
  DAGEvent,
  Decision,
  GatePresentation,
  GraphEdge,
  GraphNode,
  HumanDecisionEvent,
  SequencedEvent
} from '../../schemas/events.js'
import { MAX_IDENTIFIER_LENGTH } from '../../schemas/events.js'
import type { Backplane } from '../backplane/types.js'
import { BackplaneUnavailableError, ClosedError } from '../errors.js'
import { applyEvent, createState, isFinished, MAX_REPORTED_ERRORS, statusAfter } from '../shared/reducer.js'
import { resolvedEvent } from '../commands/commands.js'
import { pictureOf } from './picture.js'

/** What `gate()` resolves with: the decision a human took, exactly once. */
export interface GateDecision {
  gate_id: string
  decision: Decision
  feedback?: string
  /** The structured answer, already checked against the gate's `response_schema`. */
  value?: unknown
  /** What the plugin's `describeSender(request)` returned for the human who decided. */
  sender?: unknown
}

export interface GateOptions {
  /** Aborting it withdraws the gate (dashboards see it go) and rejects the promise with its reason. */
  signal?: AbortSignal
  /** The gate's id, unique among the DAG's open gates (e.g. LangGraph's interrupt id). @default `<nodeId>~<random>` */
  gateId?: string
}

/** pause_execution, resume_execution or cancel_execution. */
export type ControlEvent = Exclude<ClientEvent, HumanDecisionEvent>

/** Receives pause / resume / cancel of one run. Throw to refuse (the sender gets `handler_failed`). */
export type ControlHandler = (event: ControlEvent, context: { dagId: string; sender: unknown }) => void | Promise<void>

/** What a run handle needs from the plugin. */
export interface RunDeps {
  backplane: Backplane
  /** Checks an engine event (throws InvalidEventError naming the field) and returns it as it will be stored. */
  validate(dagId: string, event: DAGEvent): DAGEvent
  /** Appends checked events, in order, in as few steps as the backplane allows (metrics included). */
  appendMany(dagId: string, events: readonly DAGEvent[]): Promise<SequencedEvent[]>
  leaseMs: number
  outboxSize: number
  log: FastifyBaseLogger
  /** Called once the run is final and everything is stored: the registry forgets the handle. */
  finished(handle: RunHandle): void
}

interface Outgoing {
  /** Undefined: the run's picture, made when it is sent (the outbox overflowed and coalesced). */
  event: DAGEvent | undefined
  /** The count of engine events this one completes: `flushed()` waits on it. */
  mark: number
  /** Already in the handle's state (sent once before, or part of a picture). */
  applied: boolean
  /** While in flight: how its append ended, once it did. */
  outcome?: 'stored' | 'failed'
}

interface OpenGate {
  nodeId: string
  resolve(decision: GateDecision): void
  reject(reason: unknown): void
  /** Forgets the abort listeners. */
  dispose(): void
}

/** Backoff of the probe while the backplane is unreachable. */
const PROBE_MIN_MS = 50
const PROBE_MAX_MS = 1000

export class RunHandle {
  readonly dagId: string
  readonly #deps: RunDeps
  readonly #controller = new AbortController()
  /** The run as this handle sent it. */
  readonly #state = createState({ inPlace: true })
  readonly #queue: Outgoing[] = []
  /** Sent, not yet settled in order: from #inFlightHead on (an index, so taking one off costs nothing). */
  #inFlight: Outgoing[] = []
  #inFlightHead = 0
  /** Sent, failed for an outage: they go first once nothing is in flight, in their order. */
  readonly #retry: Outgoing[] = []
  readonly #gates = new Map<string, OpenGate>()
  readonly #controls = new Set<ControlHandler>()
  readonly #flushWaiters: Array<{ mark: number; resolve(): void }> = []
  /** Issued in this tick: appended together at its end, in one step (Redis: one script call per 200). */
  #batch: Outgoing[] = []
  /**
   * idle: nothing sent yet (or the run finished); starting: the lease is being taken; open: events go at
   * once; blocked: the backplane is unreachable; probing: the oldest waiting event went alone.
   */
  #phase: 'idle' | 'starting' | 'open' | 'blocked' | 'probing' | 'closed' = 'idle'
  #epoch: string | undefined
  #marked = 0
  #stored = 0
  #probeDelay = PROBE_MIN_MS
  #probeTimer: NodeJS.Timeout | undefined
  #leaseTimer: NodeJS.Timeout | undefined
  /** The outbox overflowed: the picture (this item, first in the queue) replaces what was coalesced. */
  #coalesced: Outgoing | undefined

  constructor (dagId: string, deps: RunDeps) {
    this.dagId = dagId
    this.#deps = deps
  }

  /** Aborted when a dashboard cancels the run (after the `onControl` handlers ran). */
  get signal (): AbortSignal {
    return this.#controller.signal
  }

  /**
   * Sends an event of this run: checked now (throws InvalidEventError naming the field when it is
   * malformed), then stored in call order, pipelined. Never throws or rejects for a backplane outage.
   * @example run.send({ type: 'node_state', node_id: 'plan', status: 'running' })
   */
  send (event: DAGEvent): void {
    const checked = this.#deps.validate(this.dagId, event)
    this.#enqueue(checked)
  }

  /**
   * The whole structure as one event (`set_graph`), replacing the graph: nodes not listed go; listed
   * ones keep their status and output.
   * @example run.setGraph({ nodes: [{ id: 'plan' }, { id: 'write', parent: 'team' }], edges: [{ from: 'plan', to: 'write' }] })
   */
  setGraph ({ nodes, edges }: { nodes: GraphNode[]; edges: GraphEdge[] }): void {
    this.send({ type: 'dag_mutated', mutation: { op: 'set_graph', nodes, edges } })
  }

  /**
   * Opens a gate of `nodeId` and resolves when a human decides it (once, whichever instance the
   * decision reached). Several gates of one node may be open at once. Rejects with the signal's reason
   * when `signal` (or the run's own `signal`) aborts: the gate is withdrawn first.
   * @example const { decision, value } = await run.gate('review', { title: 'Publish?', decisions: ['approve', 'reject'] })
   */
  gate (nodeId: string, presentation: GatePresentation, { signal, gateId }: GateOptions = {}): Promise<GateDecision> {
    // The node id, cut so that the whole stays an Identifier, then 8 random hex digits.
    const id = gateId ?? `${nodeId.slice(0, MAX_IDENTIFIER_LENGTH - 9)}~${randomUUID().slice(0, 8)}`
    const waiting: DAGEvent = { type: 'human_gate_waiting', node_id: nodeId, gate_id: id, presentation }
    const checked = this.#deps.validate(this.dagId, waiting)
    if (this.#gates.has(id)) throw new TypeError(`gate: gateId "${id}" is already open on DAG "${this.dagId}"`)
    const signals = signal === undefined ? [this.signal] : [signal, this.signal]
    const aborted = signals.find((each) => each.aborted)
    if (aborted !== undefined) return Promise.reject(aborted.reason)
    return new Promise<GateDecision>((resolve, reject) => {
      // Called once at most: resolving or withdrawing the gate removes both listeners.
      const withdraw = (event: Event): void => {
        this.#forgetGate(id)
        this.#enqueue({ type: 'human_gate_withdrawn', node_id: nodeId, gate_id: id })
        reject((event.target as AbortSignal).reason)
      }
      const gate: OpenGate = {
        nodeId,
        resolve,
        reject,
        dispose: () => {
          for (const each of signals) each.removeEventListener('abort', withdraw)
        }
      }
      for (const each of signals) each.addEventListener('abort', withdraw, { once: true })
      this.#gates.set(id, gate)
      this.#enqueue(checked)
    })
  }

  /**
   * Receives pause / resume / cancel of this run, on whichever instance a dashboard sent them.
   * Returns the unsubscribe function.
   */
  onControl (handler: ControlHandler): () => void {
    if (typeof handler !== 'function') throw new TypeError('onControl expects a function (event, context) => void')
    this.#controls.add(handler)
    return () => {
      this.#controls.delete(handler)
    }
  }

  /** The run finished with `results` (execution_complete). */
  complete (results: unknown): void {
    this.send({ type: 'execution_complete', results })
  }

  /** The run failed: the error is reported and the run becomes failed (its unfinished nodes cancelled). */
  fail (message: string): void {
    if (typeof message !== 'string') throw new TypeError('fail: "message" must be a string')
    this.send({ type: 'error', message })
    this.send({ type: 'execution_status', status: 'failed' })
  }

  /** Resolves when every event sent so far is stored (after an outage: once the backplane is back). */
  flushed (): Promise<void> {
    const mark = this.#marked
    if (this.#stored >= mark) return Promise.resolve()
    return new Promise((resolve) => this.#flushWaiters.push({ mark, resolve }))
  }

  // ---------------------------------------------------------------------------------------------
  // The commands' side (lib/engine/runs.ts)
  // ---------------------------------------------------------------------------------------------

  /** Whether this handle waits for the gate `gateId`. */
  owns (gateId: string): boolean {
    return this.#gates.has(gateId)
  }

  /** A decision for one of this handle's gates, recorded in the gate book: resolve the gate and say so. */
  accept (decision: HumanDecisionEvent, sender: unknown): void {
    const id = decision.gate_id ?? decision.node_id
    const gate = this.#gates.get(id)
    this.#enqueue(resolvedEvent({ ...decision, gate_id: id }))
    /* c8 ignore next -- withdrawn while the decision was recorded: its promise already rejected, the decision still shows */
    if (gate === undefined) return
    this.#forgetGate(id)
    const outcome: GateDecision = { gate_id: id, decision: decision.decision }
    if (decision.feedback !== undefined) outcome.feedback = decision.feedback
    if (decision.value !== undefined) outcome.value = decision.value
    if (sender !== undefined) outcome.sender = sender
    gate.resolve(outcome)
  }

  /** Runs the `onControl` handlers; a cancel then aborts `signal`. False when there is nothing to run. */
  async control (event: ControlEvent, sender: unknown): Promise<boolean> {
    for (const handler of this.#controls) await handler(event, { dagId: this.dagId, sender })
    if (event.type === 'cancel_execution') this.#controller.abort(new Error(`DAG "${this.dagId}" was cancelled`))
    return this.#controls.size > 0 || event.type === 'cancel_execution'
  }

  /** Stops the timers and gives the lease up; open gates reject (app.close()). */
  close (): void {
    if (this.#phase === 'closed') return
    this.#phase = 'closed'
    clearTimeout(this.#probeTimer)
    clearInterval(this.#leaseTimer)
    for (const [id, gate] of [...this.#gates]) {
      this.#forgetGate(id)
      gate.reject(new ClosedError())
    }
    this.#deps.backplane.releaseLease(this.dagId).catch(() => {})
  }

  // ---------------------------------------------------------------------------------------------
  // The outbox
  // ---------------------------------------------------------------------------------------------

  /** A finished run waits for nobody: its open gates reject (the reducer closes them for dashboards). */
  #dropGates (status: string): void {
    for (const [id, gate] of [...this.#gates]) {
      this.#forgetGate(id)
      gate.reject(new Error(`DAG "${this.dagId}" is ${status}: the gate "${id}" closed undecided`))
    }
  }

  #forgetGate (id: string): void {
    this.#gates.get(id)?.dispose()
    this.#gates.delete(id)
  }

  #enqueue (event: DAGEvent): void {
    if (this.#phase === 'closed') throw new ClosedError()
    const status = statusAfter(event)
    if (status !== undefined && isFinished(status)) this.#dropGates(status)
    const item: Outgoing = { event, mark: ++this.#marked, applied: false }
    if (this.#phase === 'open') {
      this.#issue(item)
      return
    }
    if (this.#coalesced !== undefined) {
      this.#addToPicture(item)
      return
    }
    this.#queue.push(item)
    // Not while the lease is first taken (one round trip): only an unreachable backplane makes events wait long.
    if (this.#queue.length > this.#deps.outboxSize && this.#phase !== 'starting') this.#coalesce()
    if (this.#phase === 'idle') this.#start()
  }

  /**
   * The first event: take the lease first. A run left stalled by a dead engine becomes running again
   * before anything else of this engine's is stored.
   */
  #start (): void {
    this.#phase = 'starting'
    this.#renew().then((status) => {
      if (this.#phase !== 'starting') return
      if (status === 'stalled') this.#queue.unshift(this.#resumption())
      this.#leaseTimer = setInterval(() => this.#renewQuietly(), Math.max(1, Math.floor(this.#deps.leaseMs / 4)))
      this.#leaseTimer.unref()
      this.#open()
    }, () => {
      // Unreachable now: the probe tries again, and the lease is taken when the backplane is back.
      if (this.#phase === 'starting') this.#block()
    })
  }

  #resumption (): Outgoing {
    // The handle's own status, unless it has none to give (it never paused).
    const status = this.#state.status === 'paused' ? 'paused' : 'running'
    return { event: { type: 'execution_status', status }, mark: this.#marked, applied: false }
  }

  #open (): void {
    this.#phase = 'open'
    this.#probeDelay = PROBE_MIN_MS
    for (const item of this.#queue.splice(0)) this.#issue(item)
  }

  #issue (item: Outgoing): void {
    if (item.event === undefined) {
      // The picture of now, in place of everything coalesced into it.
      this.#coalesced = undefined
      for (const event of pictureOf(this.#state, { errors: false })) this.#issue({ event, mark: item.mark, applied: true })
      return
    }
    if (!item.applied) {
      applyEvent(this.#state, item.event)
      item.applied = true
    }
    item.outcome = undefined
    this.#inFlight.push(item)
    if (this.#batch.push(item) === 1) queueMicrotask(() => this.#appendBatch())
  }

  /**
   * Appends what this tick issued, in one step. Pipelined: the next tick's batch does not wait for
   * this one's answer (one connection keeps them in order).
   */
  #appendBatch (): void {
    const batch = this.#batch
    this.#batch = []
    this.#deps.appendMany(this.dagId, batch.map((item) => item.event as DAGEvent)).then(
      (sequenced) => {
        for (const item of batch) item.outcome = 'stored'
        for (const event of sequenced) this.#noteEpoch(event.epoch)
        this.#settle()
      },
      (error: unknown) => {
        // An outage: they go again. Anything else (the app closed, a bug) cannot be sent again with
        // any hope: it is logged, not silent, and counted as done.
        const unavailable = error instanceof BackplaneUnavailableError
        for (const item of batch) item.outcome = unavailable ? 'failed' : 'stored'
        if (!unavailable && this.#phase !== 'closed') {
          this.#deps.log.error({ err: error, dagId: this.dagId, events: batch.length }, 'fastify-dag-stream: a run handle could not store its events')
        }
        this.#settle()
      }
    )
  }

  /** Takes settled appends off the front, in order; failed ones go back to the queue's front, in order. */
  #settle (): void {
    let failed = false
    const inFlight = this.#inFlight
    let head = this.#inFlightHead
    while (head < inFlight.length && (inFlight[head] as Outgoing).outcome !== undefined) {
      const item = inFlight[head++] as Outgoing
      if (item.outcome === 'failed') {
        this.#retry.push(item)
        failed = true
      } else if (item.mark > this.#stored) this.#stored = item.mark
    }
    if (head === inFlight.length) {
      this.#inFlight = []
      head = 0
    } else if (head > 1024 && head * 2 > inFlight.length) {
      // A handle that never stops sending never drains: the settled part goes now and then.
      this.#inFlight = inFlight.slice(head)
      head = 0
    }
    this.#inFlightHead = head
    if (this.#inFlight.length === 0 && this.#retry.length > 0) {
      this.#queue.unshift(...this.#retry.splice(0))
      if (this.#coalesced === undefined && this.#queue.length > this.#deps.outboxSize) this.#coalesce()
    }
    if (failed && (this.#phase === 'open' || this.#phase === 'probing')) this.#block()
    else if (this.#phase === 'probing' && this.#inFlight.length === 0) this.#open()
    while (this.#flushWaiters.length > 0 && (this.#flushWaiters[0] as { mark: number }).mark <= this.#stored) {
      this.#flushWaiters.shift()?.resolve()
    }
    if (isFinished(this.#state.status) && this.#stored >= this.#marked && this.#inFlight.length === 0 && this.#gates.size === 0) {
      this.#finish()
    }
  }

  #block (): void {
    this.#phase = 'blocked'
    clearTimeout(this.#probeTimer)
    this.#probeTimer = setTimeout(() => this.#probe(), this.#probeDelay)
    this.#probeDelay = Math.min(PROBE_MAX_MS, this.#probeDelay * 2)
  }

  /** Sends the oldest waiting event alone; once one is stored, the rest follow pipelined. */
  #probe (): void {
    /* c8 ignore next 4 -- sends of before the outage still unanswered 50 ms on (a connection that hangs): wait for them */
    if (this.#inFlight.length > 0) {
      this.#block()
      return
    }
    if (this.#leaseTimer === undefined) {
      this.#start()
      return
    }
    // Blocked by failed sends, which went back to the queue: it is not empty. #settle opens the
    // outbox when this one is stored, or blocks it again.
    this.#phase = 'probing'
    this.#issue(this.#queue.shift() as Outgoing)
  }

  /**
   * Too much waiting: what is queued becomes part of the state, and one picture, made when the outbox
   * opens again, says all of it at once. Until then every event goes into the state directly.
   */
  #coalesce (): void {
    this.#deps.log.warn({ dagId: this.dagId, outboxSize: this.#deps.outboxSize }, 'fastify-dag-stream: a run handle\'s outbox is full: its events are coalesced into the run\'s picture')
    const waiting = this.#queue.splice(0)
    this.#coalesced = { event: undefined, mark: this.#marked, applied: true }
    this.#queue.push(this.#coalesced)
    for (const item of waiting) this.#addToPicture(item)
  }

  /**
   * Errors are history, not state: they stay in the queue, after the picture (the newest
   * MAX_REPORTED_ERRORS, as many as a DAG keeps). Everything else goes into the state.
   */
  #addToPicture (item: Outgoing): void {
    const picture = this.#coalesced as Outgoing
    picture.mark = Math.max(picture.mark, item.mark)
    if (item.event?.type !== 'error') {
      if (!item.applied) applyEvent(this.#state, item.event as DAGEvent)
      return
    }
    this.#queue.push({ ...item, mark: picture.mark })
    if (this.#queue.length > 1 + MAX_REPORTED_ERRORS) this.#queue.splice(1, 1)
  }

  /** Every stored event says which log it went to: a new one means the log started over without the run. */
  #noteEpoch (epoch: string): void {
    if (this.#epoch === undefined) {
      this.#epoch = epoch
      return
    }
    if (epoch === this.#epoch) return
    this.#epoch = epoch
    this.#deps.log.warn({ dagId: this.dagId }, 'fastify-dag-stream: the DAG\'s log started over: its run handle sends the run\'s picture again')
    this.#resend()
  }

  /** The picture goes before anything not yet sent. */
  #resend (): void {
    this.#sendFirst(pictureOf(this.#state, { errors: true }).map((event): Outgoing => ({ event, mark: this.#marked, applied: true })))
  }

  /** `items` before anything not yet sent: at once when the outbox is open, else first in the queue. */
  #sendFirst (items: Outgoing[]): void {
    this.#queue.unshift(...items)
    if (this.#phase === 'open') this.#open()
  }

  // ---------------------------------------------------------------------------------------------
  // The lease
  // ---------------------------------------------------------------------------------------------

  async #renew (): Promise<string | undefined> {
    const status = await this.#deps.backplane.renewLease(this.dagId, Date.now() + Math.floor(this.#deps.leaseMs / 2))
    return status?.status
  }

  #renewQuietly (): void {
    this.#renew().then((status) => {
      /* c8 ignore next -- closed or finished while the renewal was on its way */
      if (this.#phase === 'closed' || this.#phase === 'idle') return
      // Gone though this handle drives it (Redis lost its data, and nothing was sent since): the run's
      // picture makes a new log, open gates included, and dashboards resync to it. A send in flight
      // (or none stored yet) tells by its epoch instead.
      if (status === undefined && this.#epoch !== undefined && this.#inFlight.length === 0) {
        this.#epoch = undefined
        this.#deps.log.warn({ dagId: this.dagId }, 'fastify-dag-stream: the DAG\'s log is gone: its run handle sends the run\'s picture again')
        this.#resend()
      }
      // This process was taken for dead (its lease lapsed while it could not renew it): it is not.
      if (status === 'stalled') this.#sendFirst([this.#resumption()])
    }, () => {
      // Unreachable: the next renewal tries again. Lapsing meanwhile is the truth (nobody can reach us).
    })
  }

  /** The run is final and stored: no lease to hold. An event sent after all takes the lease again. */
  #finish (): void {
    clearInterval(this.#leaseTimer)
    this.#leaseTimer = undefined
    this.#phase = 'idle'
    this.#deps.backplane.releaseLease(this.dagId).catch(() => {})
    this.#deps.finished(this)
  }
}
