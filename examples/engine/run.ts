// One simulated execution: it walks the pipeline's graph, runs ready steps on a few workers, reports
// every change through its run handle (`app.dagStream.run(id)`), and obeys the dashboard (pause,
// resume, cancel through `onControl`; the review through an awaited `gate()`). It keeps its own view
// of the graph, as a real engine would; the plugin's state is only what the events describe. The
// handle keeps the events in order through a Redis outage and sends the run's picture again when the
// log started over, so the run needs no outbox of its own.

import { ClosedError, EventRefusedError, isFinished, type ControlEvent, type DAGEvent, type Decision, type ExecutionStatus, type GateDecision, type GraphEdge, type GraphNode, type NodeMetrics, type NodeStatus, type OutputWriter, type RunHandle } from '../../lib/index.js'
import { Clock } from './clock.js'
import { MODELS, PLANNED_STEP, REVISION_STEP, STEPS, gatePresentation, generatedText, pickTopic, type StepContext, type StepSpec } from './pipeline.js'
import type { Random } from './random.js'

export interface RunOptions {
  id: string
  /** This run's handle: every event goes through it. */
  handle: RunHandle
  /** Streams the text a step generates to this run's dashboards (`app.dagStream.streamOutput`). */
  streamOutput: (nodeId: string) => OutputWriter
  random: Random
  /** How many times faster than real time. */
  speed: number
  /** Dollars the run may spend; past it the run fails. */
  budget: number
  /** Steps that may run at the same time; the others wait as `queued`. */
  concurrency: number
  /** Called once when the run reached a final status. */
  onFinished: () => void
}

/** How a step ended, as far as the steps after it care. */
type Outcome = 'completed' | 'skipped' | 'rejected'

interface Step {
  spec: StepSpec
  status: NodeStatus
  attempts: number
  outcome?: Outcome
  output?: unknown
}

/** How long a human decision takes to "sink in", and how long a failed step waits before its retry. */
const DECISION_DELAY_MS = 400
const RETRY_BACKOFF_MS = 1500

export class Run {
  readonly id: string
  readonly #options: RunOptions
  readonly #clock: Clock
  readonly #context: StepContext
  readonly #steps = new Map<string, Step>()
  readonly #parents = new Map<string, Set<string>>()
  readonly #children = new Map<string, Set<string>>()
  readonly #queue: string[] = []
  #status: ExecutionStatus = 'running'
  #busy = 0
  #spent = 0
  #tokens = 0
  #decision: Decision | undefined

  constructor (options: RunOptions) {
    this.id = options.id
    this.#options = options
    this.#clock = new Clock(options.speed)
    this.#context = { topic: pickTopic(options.random) }
  }

  get status (): ExecutionStatus {
    return this.#status
  }

  start (): void {
    this.#emit({ type: 'execution_status', status: 'running' })
    // The whole structure in one event.
    const nodes: GraphNode[] = []
    const edges: GraphEdge[] = []
    for (const spec of STEPS) {
      this.#steps.set(spec.id, { spec, status: 'pending', attempts: 0 })
      nodes.push(nodeOf(spec))
      for (const parent of spec.after) {
        setOf(this.#parents, spec.id).add(parent)
        setOf(this.#children, parent).add(spec.id)
        edges.push({ from: parent, to: spec.id })
      }
    }
    this.#options.handle.setGraph({ nodes, edges })
    this.#reportCost()
    for (const id of this.#steps.keys()) this.#tryStart(id)
  }

  /** Applies a dashboard's pause / resume / cancel, or throws EventRefusedError with a message for the user. */
  control (event: ControlEvent): void {
    switch (event.type) {
      case 'pause_execution':
        if (this.#status !== 'running') throw new EventRefusedError(`The run is ${this.#status}, it cannot be paused`)
        this.#status = 'paused'
        this.#clock.pause('paused')
        this.#emit({ type: 'execution_status', status: 'paused' })
        return
      case 'resume_execution':
        if (this.#status !== 'paused') throw new EventRefusedError(`The run is ${this.#status}, not paused`)
        this.#status = 'running'
        this.#emit({ type: 'execution_status', status: 'running' })
        this.#clock.resume('paused')
        this.#pump()
        return
      case 'cancel_execution':
        this.#end('cancelled')
        return
      default: {
        const unhandled: never = event
        throw new EventRefusedError(`Unsupported event ${JSON.stringify(unhandled)}`)
      }
    }
  }

  /**
   * The process is going away, and the run's work with it: report the run as failed, with `reason`,
   * rather than leave other servers' dashboards showing it running forever.
   */
  abandon (reason: string): void {
    if (this.#finished) return
    this.#emit({ type: 'error', message: reason })
    this.#end('failed')
  }

  get #finished (): boolean {
    return isFinished(this.#status)
  }

  // -------------------------------------------------------------------------------------------
  // The graph
  // -------------------------------------------------------------------------------------------

  /** A step the run adds while in flight. */
  #addStep (spec: StepSpec, before: string[] = []): void {
    this.#steps.set(spec.id, { spec, status: 'pending', attempts: 0 })
    this.#emit({ type: 'dag_mutated', mutation: { op: 'add_node', node: nodeOf(spec) } })
    for (const parent of spec.after) this.#link(parent, spec.id)
    for (const child of before) this.#link(spec.id, child)
  }

  #link (from: string, to: string): void {
    setOf(this.#parents, to).add(from)
    setOf(this.#children, from).add(to)
    this.#emit({ type: 'dag_mutated', mutation: { op: 'add_edge', from, to } })
  }

  #unlink (from: string, to: string): void {
    this.#parents.get(to)?.delete(from)
    this.#children.get(from)?.delete(to)
    this.#emit({ type: 'dag_mutated', mutation: { op: 'remove_edge', from, to } })
  }

  /** Queues a pending step once every step before it has ended; skips it if one of them was skipped. */
  #tryStart (id: string): void {
    const step = this.#steps.get(id)
    if (step === undefined || step.status !== 'pending') return
    const parents = [...(this.#parents.get(id) ?? [])].map((parent) => this.#steps.get(parent))
    if (parents.some((parent) => parent?.outcome === undefined)) return
    if (!step.spec.always && parents.some((parent) => parent?.outcome !== 'completed')) {
      this.#finish(id, 'skipped', 'skipped')
    } else if (step.spec.kind === 'human') {
      this.#openGate(step)
    } else {
      this.#enqueue(step)
    }
  }

  #enqueue (step: Step): void {
    this.#setStatus(step, 'queued')
    this.#queue.push(step.spec.id)
    this.#pump()
  }

  /** Starts queued steps while workers are free; a paused run starts nothing. */
  #pump (): void {
    while (this.#status === 'running' && this.#busy < this.#options.concurrency && this.#queue.length > 0) {
      const step = this.#steps.get(this.#queue.shift() as string) as Step
      void this.#execute(step)
    }
  }

  async #execute (step: Step): Promise<void> {
    const { spec } = step
    const random = this.#options.random
    this.#busy++
    step.attempts++
    // A retry is a new attempt: dashboards clear what the failed one showed.
    this.#setStatus(step, 'running', undefined, undefined, step.attempts)
    this.#flow(spec.id, true)
    const latency = random.int(...spec.durationMs)
    // Never resolves if the run is cancelled meanwhile: the clock drops what it was holding.
    await this.#work(spec, latency)
    this.#busy--
    this.#flow(spec.id, false)

    if (step.attempts <= (spec.failures ?? 0)) {
      const message = `${spec.label}: 429 Too Many Requests from the model provider (attempt ${step.attempts}); retrying`
      this.#setStatus(step, 'failed', { error: message }, { attempts: step.attempts, latency_ms: latency })
      this.#emit({ type: 'error', node_id: spec.id, message })
      this.#clock.after(RETRY_BACKOFF_MS, () => this.#enqueue(step))
      this.#pump()
      return
    }

    const tokens = spec.tokens === undefined ? 0 : random.int(...spec.tokens)
    const cost = spec.model === undefined ? 0 : round((tokens / 1000) * MODELS[spec.model])
    const metrics: NodeMetrics = { latency_ms: latency, cost, attempts: step.attempts }
    if (spec.tokens !== undefined) metrics.tokens = tokens
    step.output = spec.output(random, this.#context)
    this.#setStatus(step, 'completed', step.output, metrics)
    if (cost > 0) this.#spend(tokens, cost)
    if (this.#status === 'failed') return
    this.#finish(spec.id, 'completed')
  }

  /** A step's time at work: an LLM step writes its text meanwhile, a word at a time, as a model streams tokens. */
  async #work (spec: StepSpec, latency: number): Promise<void> {
    const text = generatedText(spec, this.#context)
    if (text === undefined) return this.#clock.sleep(latency)
    const output = this.#options.streamOutput(spec.id)
    const words = text.split(' ')
    for (const [index, word] of words.entries()) {
      await this.#clock.sleep(latency / words.length)
      try {
        output.write(index === 0 ? word : ` ${word}`)
      } catch (error) {
        // The server is shutting down (its sockets close before the engine's onClose stops the run's clock).
        if (error instanceof ClosedError) return
        throw error
      }
    }
    // Sent before the step's node_state, whose output replaces it; a failure is logged by the plugin.
    output.end().catch(() => {})
  }

  /** Marks a step as ended and lets the steps after it start. */
  #finish (id: string, outcome: Outcome, status?: NodeStatus): void {
    const step = this.#steps.get(id) as Step
    step.outcome = outcome
    if (status !== undefined) this.#setStatus(step, status)
    // The planner decides, once it has planned, that one more source is worth searching.
    if (id === PLANNED_STEP.after[0]) this.#addStep(PLANNED_STEP, PLANNED_STEP.before)
    for (const child of this.#children.get(id) ?? []) this.#tryStart(child)
    this.#pump()
    if ([...this.#steps.values()].every((each) => each.outcome !== undefined)) this.#end('completed')
  }

  // -------------------------------------------------------------------------------------------
  // The human gate
  // -------------------------------------------------------------------------------------------

  /** Waits for the review: the plugin resolves it once, whichever server the reviewer clicked on. */
  #openGate (step: Step): void {
    step.status = 'waiting_human'
    const { handle } = this.#options
    const draft = this.#steps.get('draft')?.output
    handle.gate(step.spec.id, gatePresentation(this.#context, draft), { signal: handle.signal, gateId: step.spec.id }).then(
      (decided) => this.#decide(step, decided),
      () => {
        // Withdrawn: the run was cancelled or ended meanwhile, and its end said so.
      }
    )
  }

  #decide (step: Step, { decision, feedback, sender }: GateDecision): void {
    const nodeId = step.spec.id
    const receivedBy = instanceOf(sender)
    // The plugin announced the decision (human_gate_resolved); the run acts on it a moment later, so
    // the dashboard sees cause before effect.
    step.status = 'running'
    this.#decision = decision
    this.#clock.after(DECISION_DELAY_MS, () => {
      const output: Record<string, unknown> = { decision }
      if (feedback !== undefined) output.feedback = feedback
      if (receivedBy !== undefined) output.received_by = receivedBy
      step.output = output
      this.#setStatus(step, 'completed', output)
      if (decision === 'modify') {
        this.#context.feedback = feedback
        // The revision goes between the review and what followed it, instead of beside them.
        for (const child of REVISION_STEP.before) this.#unlink(nodeId, child)
        this.#addStep(REVISION_STEP, REVISION_STEP.before)
      }
      this.#finish(nodeId, decision === 'reject' ? 'rejected' : 'completed')
    })
  }

  // -------------------------------------------------------------------------------------------
  // Reporting
  // -------------------------------------------------------------------------------------------

  #setStatus (step: Step, status: NodeStatus, output?: unknown, metrics?: NodeMetrics, attempt?: number): void {
    step.status = status
    const event: DAGEvent = { type: 'node_state', node_id: step.spec.id, status }
    if (output !== undefined) event.output = output
    if (metrics !== undefined) event.metrics = metrics
    if (attempt !== undefined) event.attempt = attempt
    this.#emit(event)
  }

  /** Switches the edges into a step on while it works on what they carry, and off afterwards. */
  #flow (id: string, active: boolean): void {
    for (const parent of this.#parents.get(id) ?? []) this.#emit({ type: 'edge_active', from: parent, to: id, active })
  }

  #spend (tokens: number, cost: number): void {
    this.#tokens += tokens
    this.#spent = round(this.#spent + cost)
    this.#reportCost()
    if (this.#spent > this.#options.budget) {
      this.#emit({ type: 'error', message: `Budget of $${this.#options.budget.toFixed(2)} exhausted ($${this.#spent.toFixed(2)} spent)` })
      this.#end('failed')
    }
  }

  #reportCost (): void {
    const { budget } = this.#options
    this.#emit({ type: 'cost_update', spent: this.#spent, budget, remaining: round(budget - this.#spent) })
  }

  #end (status: 'completed' | 'cancelled' | 'failed'): void {
    if (this.#finished) return
    this.#status = status
    this.#clock.stop()
    for (const step of this.#steps.values()) {
      if (step.outcome !== undefined) continue
      if (step.status === 'running') this.#flow(step.spec.id, false)
      // Dashboards need no node_state: a cancelled or failed run settles its unfinished nodes itself.
      step.status = 'cancelled'
    }
    if (status === 'completed') {
      const publish = this.#steps.get('publish')
      this.#options.handle.complete({
        topic: this.#context.topic,
        decision: this.#decision ?? null,
        published: publish?.outcome === 'completed' ? publish.output : null,
        tokens: this.#tokens,
        spent: this.#spent
      })
    } else {
      this.#emit({ type: 'execution_status', status })
    }
    this.#options.onFinished()
  }

  #emit (event: DAGEvent): void {
    this.#options.handle.send(event)
  }
}

function nodeOf (spec: StepSpec): GraphNode {
  const data: Record<string, unknown> = { kind: spec.kind }
  if (spec.model !== undefined) data.model = spec.model
  const node: GraphNode = { id: spec.id, label: spec.label, data }
  if (spec.parent !== undefined) node.parent = spec.parent
  return node
}

/** Which server the user clicked on: what the example's `describeSender` returns. */
function instanceOf (sender: unknown): string | undefined {
  const instance = (sender as { instance?: unknown } | undefined)?.instance
  return typeof instance === 'string' ? instance : undefined
}

function setOf (map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key)
  if (set === undefined) map.set(key, (set = new Set()))
  return set
}

/** Cents are too coarse for per-step costs and floats drift: keep six decimals. */
function round (dollars: number): number {
  return Math.round(dollars * 1e6) / 1e6
}
