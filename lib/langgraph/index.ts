// fastify-dag-stream/langgraph: a LangGraph.js graph shown live, its interrupts decided by humans.
//
// Its own entry (the main one never loads @langchain/*, an optional peer dependency). One call runs a
// compiled graph on a run handle (lib/engine/run.ts):
//   - the structure: `getGraphAsync({ xray: true })` as one `set_graph`; a subgraph's nodes (`sub:a`)
//     get the subgraph as their `parent` (a group); each `Send` task is a node of its own, child of
//     the node it runs (`worker.1`, `worker.2` …);
//   - node starts, ends, failures and re-runs from the `tasks` stream mode: a task id seen again (a
//     resume re-runs the interrupted step) is the same attempt, another task of the node is the next;
//   - LLM tokens from the `messages` stream mode, through `streamOutput` (coalesced);
//   - every `interrupt()` is a gate of its own: `gate_id` = the interrupt's id, its value the payload.
//     The first decision resumes the graph with `Command({ resume: { [id]: { decision, value, feedback } } })`;
//     the other gates stay open (LangGraph keeps their ids), gates whose interrupt went are withdrawn;
//   - cancel aborts the graph and settles its nodes (execution_status cancelled);
//   - pause cannot stop LangGraph inside a step: the graph is stopped at the end of the step running
//     (its tasks finish; a task of the next step that had already begun is run again on resume), and
//     resume continues from the checkpoint;
//   - with no input, the run is picked up from the graph's checkpointer (after a server restart): the
//     interrupts it waits at are gates again, with the same ids.

import { Command } from '@langchain/langgraph'
import type { GatePresentation, GraphEdge, GraphNode } from '../../schemas/events.js'
import { ClosedError } from '../errors.js'
import type { GateDecision, RunHandle } from '../engine/run.js'
import type { OutputWriter } from '../engine/output.js'

/** What the adapter uses of a compiled LangGraph graph (`StateGraph.compile({ checkpointer })`). */
export interface LangGraphLike {
  stream(input: unknown, options: Record<string, unknown>): Promise<AsyncIterable<unknown>>
  getState(config: Record<string, unknown>, options?: { subgraphs?: boolean }): Promise<StateSnapshotLike>
  getGraphAsync(config: Record<string, unknown>): Promise<{ nodes: Record<string, { id: string; name: string }>; edges: Array<{ source: string; target: string }> }>
}

/** LangGraph 1.x gives every interrupt an id (its types leave it optional, for 0.x). */
interface InterruptLike { id?: string; value?: unknown }
interface TaskLike { id: string; name: string; interrupts: InterruptLike[]; state?: unknown }
export interface StateSnapshotLike { values: unknown; next: string[]; tasks: TaskLike[] }

/** What the adapter needs of `app.dagStream`. */
export interface DAGStreamLike {
  run(dagId: string): RunHandle
  streamOutput(dagId: string, nodeId: string): OutputWriter
}

export interface LangGraphRunOptions {
  /** The DAG the run is shown as. */
  dagId: string
  /** The checkpointer's thread. @default dagId */
  threadId?: string
  /** More of LangGraph's config (recursionLimit, configurable …). */
  config?: Record<string, unknown>
  /** What the human sees for an interrupt. @default its value's `title` or `question`, the value as payload */
  presentation?: (value: unknown, nodeId: string) => GatePresentation
}

/** What `interrupt()` returns in the graph once a human decided. */
export interface InterruptAnswer {
  decision: GateDecision['decision']
  value?: unknown
  feedback?: string
}

const START = '__start__'
const END = '__end__'

/**
 * Runs `graph` on the run `options.dagId` until it ends, waiting at its interrupts for humans; resolves
 * with the graph's final values (undefined when cancelled). With `input` undefined, picks the thread up
 * from the checkpointer where it stopped (its open interrupts become gates again).
 * @example
 * import { runGraph } from 'fastify-dag-stream/langgraph'
 * const graph = builder.compile({ checkpointer })
 * await runGraph(app.dagStream, graph, { topic: 'tides' }, { dagId: 'run-42' })
 */
export async function runGraph (dagStream: DAGStreamLike, graph: LangGraphLike, input: unknown, options: LangGraphRunOptions): Promise<unknown> {
  return new GraphRun(dagStream, graph, options).run(input)
}

class GraphRun {
  readonly #dagStream: DAGStreamLike
  readonly #graph: LangGraphLike
  readonly #options: LangGraphRunOptions
  readonly #run: RunHandle
  readonly #config: Record<string, unknown>
  /** task id → node id, and the attempts each node has had (by task id). */
  readonly #taskNodes = new Map<string, string>()
  readonly #attempts = new Map<string, Set<string>>()
  readonly #pushed = new Map<string, number>()
  /** The Send tasks running per node they run (the group): the group runs while one of them does. */
  readonly #groupRunning = new Map<string, Set<string>>()
  /** Send task id → its group. */
  readonly #groupOf = new Map<string, string>()
  readonly #writers = new Map<string, OutputWriter>()
  readonly #running = new Set<string>()
  readonly #gates = new Map<string, { promise: Promise<GateDecision>; abort: AbortController; nodeId: string }>()
  #paused = false
  #resumed: (() => void) | undefined
  #stepAbort: AbortController | undefined

  constructor (dagStream: DAGStreamLike, graph: LangGraphLike, options: LangGraphRunOptions) {
    this.#dagStream = dagStream
    this.#graph = graph
    this.#options = options
    this.#run = dagStream.run(options.dagId)
    const configurable = (options.config?.configurable ?? {}) as Record<string, unknown>
    this.#config = { ...options.config, configurable: { ...configurable, thread_id: options.threadId ?? options.dagId } }
  }

  async run (input: unknown): Promise<unknown> {
    const run = this.#run
    // A cancel while paused ends the wait for a resume.
    run.signal.addEventListener('abort', () => this.#resumed?.(), { once: true })
    const stopControls = run.onControl((event) => {
      if (event.type === 'pause_execution') this.#pause()
      else if (event.type === 'resume_execution') this.#resume()
    })
    const ended = (): void => {
      stopControls()
      for (const gate of this.#gates.values()) gate.abort.abort(new Error('the run ended'))
    }
    return this.#drive(input).then((values) => {
      ended()
      return values
    }, async (error: unknown) => {
      ended()
      // The app closed: the thread stays in the checkpointer, to be picked up (input undefined).
      if (!(error instanceof ClosedError)) {
        run.fail(String(error))
        await run.flushed()
      }
      throw error
    })
  }

  /** Streams, waits at the interrupts, resumes, until the graph ends (or is cancelled). */
  async #drive (input: unknown): Promise<unknown> {
    const run = this.#run
    run.setGraph(await this.#structure())
    let next: unknown = input === undefined ? null : input
    if (input !== undefined) run.send({ type: 'execution_status', status: 'running' })
    for (let pickUp = input === undefined; ; pickUp = false) {
      if (!pickUp) {
        // Paused: nothing runs until a resume (a decision taken meanwhile waits with it).
        if (this.#paused) await new Promise<void>((resolve) => { this.#resumed = resolve })
        if (run.signal.aborted) return this.#cancelled()
        await this.#stream(next)
      }
      if (run.signal.aborted) return this.#cancelled()
      if (this.#paused) {
        // Stopped at a step's end: the next pass goes on from the checkpoint, once resumed.
        next = null
        continue
      }
      const state = await this.#graph.getState(this.#config, { subgraphs: true })
      const interrupts = this.#pending(state.tasks)
      if (interrupts.length === 0 && state.next.length === 0) {
        run.complete(state.values)
        await run.flushed()
        return state.values
      }
      const answers = await this.#decide(interrupts)
      if (answers === undefined) return this.#cancelled()
      next = new Command({ resume: answers })
    }
  }

  /** The graph as one `set_graph`: subgraphs are groups, the parents of their nodes. */
  async #structure (): Promise<{ nodes: GraphNode[]; edges: GraphEdge[] }> {
    const drawn = await this.#graph.getGraphAsync({ ...this.#config, xray: true })
    const nodes = new Map<string, GraphNode>()
    const add = (id: string): void => {
      if (nodes.has(id)) return
      const cut = id.lastIndexOf(':')
      const node: GraphNode = { id, label: id.slice(cut + 1) }
      if (cut > 0) {
        node.parent = id.slice(0, cut)
        add(node.parent)
      }
      nodes.set(id, node)
    }
    for (const { id } of Object.values(drawn.nodes)) if (!isBoundary(id)) add(id)
    // A subgraph's own start and end stand for the subgraph: an edge into `sub:__start__` goes to `sub`.
    // Edges between a subgraph and its own nodes say no more than `parent` does.
    const endpoint = (id: string) => (isBoundary(id) ? id.slice(0, Math.max(0, id.lastIndexOf(':'))) : id)
    const edges = new Map<string, GraphEdge>()
    for (const { source, target } of drawn.edges) {
      const from = endpoint(source)
      const to = endpoint(target)
      if (from === '' || to === '' || from.startsWith(`${to}:`) || to.startsWith(`${from}:`) || from === to) continue
      edges.set(`${from}>${to}`, { from, to })
    }
    return { nodes: [...nodes.values()], edges: [...edges.values()] }
  }

  /** One pass of the graph, as far as it goes (its end, an interrupt, a pause, a cancel). */
  async #stream (input: unknown): Promise<void> {
    const abort = new AbortController()
    this.#stepAbort = abort
    const signal = AbortSignal.any([abort.signal, this.#run.signal])
    try {
      const stream = await this.#graph.stream(input, { ...this.#config, streamMode: ['tasks', 'messages'], subgraphs: true, signal })
      for await (const chunk of stream) this.#onChunk(chunk as [string[], string, unknown])
    } catch (error) {
      // Stopped on purpose (pause, cancel): what ran is in the checkpoint.
      if (!signal.aborted) throw error
    } finally {
      this.#stepAbort = undefined
      for (const taskId of this.#running) this.#endOutput(taskId)
      this.#running.clear()
    }
  }

  #onChunk ([namespace, mode, data]: [string[], string, unknown]): void {
    if (mode === 'messages') {
      const [message, metadata] = data as [{ content?: unknown }, { langgraph_checkpoint_ns?: string }]
      // The namespace ends with the task's `name:id`.
      const taskId = String(metadata.langgraph_checkpoint_ns).split('|').at(-1)?.split(':')[1] as string
      const nodeId = this.#taskNodes.get(taskId)
      const text = textOf(message.content)
      /* c8 ignore next -- a chunk without text (a tool call's), or of a model called outside any node */
      if (nodeId === undefined || text === '') return
      let writer = this.#writers.get(taskId)
      if (writer === undefined) {
        writer = this.#dagStream.streamOutput(this.#options.dagId, nodeId)
        this.#writers.set(taskId, writer)
      }
      writer.write(text)
      return
    }
    // A task's start has its triggers; its result, its error and interrupts.
    const task = data as { id: string; name: string; triggers?: string[]; error: unknown; interrupts: InterruptLike[] }
    if (task.triggers !== undefined) this.#started(namespace, task.id, task.name, task.triggers)
    else this.#ended(task.id, task.error, task.interrupts)
  }

  #started (namespace: string[], taskId: string, name: string, triggers: string[]): void {
    let nodeId = this.#taskNodes.get(taskId)
    if (nodeId === undefined) {
      const base = [...namespace.map((part) => part.split(':')[0]), name].join(':')
      nodeId = base
      if (triggers.includes('__pregel_push')) {
        // A Send: a node of its own, in the group of the node it runs.
        const count = (this.#pushed.get(base) ?? 0) + 1
        this.#pushed.set(base, count)
        nodeId = `${base}.${count}`
        this.#run.send({ type: 'dag_mutated', mutation: { op: 'add_node', node: { id: nodeId, label: `${name} ${count}`, parent: base } } })
        this.#groupOf.set(taskId, base)
      }
      this.#taskNodes.set(taskId, nodeId)
    }
    const group = this.#groupOf.get(taskId)
    if (group !== undefined) {
      const members = this.#groupRunning.get(group) ?? new Set<string>()
      if (members.size === 0) this.#run.send({ type: 'node_state', node_id: group, status: 'running' })
      members.add(taskId)
      this.#groupRunning.set(group, members)
    }
    const attempts = this.#attempts.get(nodeId) ?? new Set<string>()
    attempts.add(taskId)
    this.#attempts.set(nodeId, attempts)
    this.#running.add(taskId)
    this.#run.send({ type: 'node_state', node_id: nodeId, status: 'running', attempt: attempts.size })
  }

  #ended (taskId: string, error: unknown, interrupts: InterruptLike[]): void {
    // A result follows its task's start in the same stream.
    const nodeId = this.#taskNodes.get(taskId) as string
    this.#running.delete(taskId)
    this.#endOutput(taskId)
    // An interrupted task waits: its gate says so (after the pass, once every interrupt is known).
    if (interrupts.length === 0) {
      this.#run.send({ type: 'node_state', node_id: nodeId, status: error === null ? 'completed' : 'failed' })
    }
    const group = this.#groupOf.get(taskId)
    const members = group === undefined ? undefined : this.#groupRunning.get(group)
    members?.delete(taskId)
    if (members?.size === 0) this.#run.send({ type: 'node_state', node_id: group as string, status: 'completed' })
    this.#stopIfPaused()
  }

  /** Paused, with the step's tasks done: the graph stops here (its checkpoint is the step's end). */
  #stopIfPaused (): void {
    if (this.#paused && this.#running.size === 0) this.#stepAbort?.abort(new Error('paused'))
  }

  #endOutput (taskId: string): void {
    const writer = this.#writers.get(taskId)
    this.#writers.delete(taskId)
    writer?.end().catch(() => {})
  }

  /**
   * The interrupts the thread waits at, each with the node that raised it. Which ones wait: the top
   * level's tasks say (a subgraph's own state may still list one that was resumed); which node raised
   * each: the deepest subgraph that lists it.
   */
  #pending (tasks: TaskLike[]): Array<{ id: string; value: unknown; nodeId: string }> {
    // Every interrupt the top level lists is found where it was raised (a subgraph's, or the task's own).
    const raisedBy = new Map(this.#interrupts(tasks, '').map(({ id, nodeId }) => [id, nodeId]))
    return tasks.flatMap((task) => task.interrupts.map(({ id, value }) => ({ id: id as string, value, nodeId: raisedBy.get(id as string) as string })))
  }

  #interrupts (tasks: TaskLike[], prefix: string): Array<{ id: string; value: unknown; nodeId: string }> {
    const found: Array<{ id: string; value: unknown; nodeId: string }> = []
    for (const task of tasks) {
      const inner = task.state as StateSnapshotLike | undefined
      const nested = Array.isArray(inner?.tasks) ? this.#interrupts(inner.tasks, `${prefix}${task.name}:`) : []
      if (nested.length > 0) {
        found.push(...nested)
        continue
      }
      const nodeId = this.#taskNodes.get(task.id) ?? `${prefix}${task.name}`
      for (const { id, value } of task.interrupts) found.push({ id: id as string, value, nodeId })
    }
    return found
  }

  /**
   * Opens a gate per new interrupt, withdraws those whose interrupt went, and waits for the first
   * decision: the answers of all that are decided by then resume the graph. Undefined: cancelled.
   */
  async #decide (interrupts: Array<{ id: string; value: unknown; nodeId: string }>): Promise<Record<string, InterruptAnswer> | undefined> {
    const current = new Set(interrupts.map(({ id }) => id))
    /* c8 ignore next 6 -- an interrupt that went without a decision here: another process resumed the thread */
    for (const [id, gate] of this.#gates) {
      if (!current.has(id)) {
        gate.abort.abort(new Error('the interrupt went'))
        this.#gates.delete(id)
      }
    }
    for (const { id, value, nodeId } of interrupts) {
      if (this.#gates.has(id)) continue
      const abort = new AbortController()
      const presentation = this.#options.presentation?.(value, nodeId) ?? defaultPresentation(value, nodeId)
      const promise = this.#run.gate(nodeId, presentation, { gateId: id, signal: abort.signal })
      promise.catch(() => {})
      this.#gates.set(id, { promise, abort, nodeId })
    }
    try {
      await Promise.race([...this.#gates.values()].map(({ promise }) => promise))
    } catch (error) {
      if (this.#run.signal.aborted) return undefined // cancelled
      throw error // the app closed
    }
    const answers: Record<string, InterruptAnswer> = {}
    for (const [id, gate] of this.#gates) {
      const decided = await Promise.race([gate.promise, Promise.resolve(undefined)])
      if (decided === undefined) continue
      const answer: InterruptAnswer = { decision: decided.decision }
      if (decided.value !== undefined) answer.value = decided.value
      if (decided.feedback !== undefined) answer.feedback = decided.feedback
      answers[id] = answer
      this.#gates.delete(id)
      // The node runs again with the answer: it shows so before the graph's next pass.
      this.#run.send({ type: 'node_state', node_id: gate.nodeId, status: 'running' })
    }
    return answers
  }

  #pause (): void {
    if (this.#paused) return
    this.#paused = true
    this.#run.send({ type: 'execution_status', status: 'paused' })
    this.#stopIfPaused()
  }

  #resume (): void {
    if (!this.#paused) return
    this.#paused = false
    this.#run.send({ type: 'execution_status', status: 'running' })
    this.#resumed?.()
    this.#resumed = undefined
  }

  async #cancelled (): Promise<undefined> {
    this.#run.send({ type: 'execution_status', status: 'cancelled' })
    await this.#run.flushed()
    return undefined
  }
}

/** A graph's (or a subgraph's: `sub:__start__`) start or end: no node of the DAG. */
function isBoundary (id: string): boolean {
  return [START, END].includes(id.slice(id.lastIndexOf(':') + 1))
}

function defaultPresentation (value: unknown, nodeId: string): GatePresentation {
  const fields = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
  const title = [fields.title, fields.question].find((candidate): candidate is string => typeof candidate === 'string' && candidate !== '')
  const presentation: GatePresentation = { title: title ?? `${nodeId} waits for a decision`, payload: value }
  if (Array.isArray(fields.decisions)) presentation.decisions = fields.decisions as GatePresentation['decisions']
  return presentation
}

/** The text of a message chunk: a string, or the text parts of a list of content blocks. */
function textOf (content: unknown): string {
  if (typeof content === 'string') return content
  /* c8 ignore start -- content blocks (Anthropic's, say): the fake chat models stream strings */
  if (!Array.isArray(content)) return ''
  return content.map((part) => (typeof part === 'object' && part !== null && typeof part.text === 'string' ? part.text : '')).join('')
}
/* c8 ignore stop */
