// The in-memory backplane: one process, logs lost on restart (which the epoch tells clients).

import { randomUUID } from 'node:crypto'
import type { DAGEvent, SequencedEvent } from '../../schemas/events.js'
import type { DAGSnapshot, DAGSummary } from '../../schemas/snapshot.js'
import { ClosedError } from '../errors.js'
import { GateBook } from '../gates.js'
import { applyEvent, createState, isFinished, toSnapshot, type DAGState } from '../reducer.js'
import { RingBuffer } from '../ring-buffer.js'
import type { Backplane, DagStatus, LogEntry, LogListener, Replay } from './types.js'

export interface MemoryBackplaneOptions {
  /** Events kept per DAG for resume. */
  historySize: number
  /** How long a finished DAG stays readable before it is evicted. */
  retainFinishedMs: number
}

interface DagLog {
  epoch: string
  seq: number
  state: DAGState
  history: RingBuffer<LogEntry>
  gates: GateBook
  updatedAt: number
  evictionTimer?: NodeJS.Timeout
}

export class MemoryBackplane implements Backplane {
  readonly #logs = new Map<string, DagLog>()
  readonly #listeners = new Map<string, Set<LogListener>>()
  readonly #options: MemoryBackplaneOptions
  #closed = false

  constructor (options: MemoryBackplaneOptions) {
    this.#options = options
  }

  async append (dagId: string, event: DAGEvent): Promise<SequencedEvent> {
    return this.#appendNow(dagId, event)
  }

  /**
   * The synchronous core of `append`. Everything from numbering to fan-out happens in one tick, so
   * two broadcasts can never interleave and a snapshot taken between them is exact.
   */
  #appendNow (dagId: string, event: DAGEvent): SequencedEvent {
    if (this.#closed) throw new ClosedError()
    const log = this.#logs.get(dagId) ?? this.#create(dagId)
    log.seq += 1
    log.updatedAt = Date.now()
    applyEvent(log.state, event)
    if (event.type === 'human_gate_waiting') log.gates.reopen(event.node_id)
    if (event.type === 'human_gate_resolved') log.gates.resolvedByEngine(event.node_id)
    this.#scheduleEviction(dagId, log)

    const sequenced = { ...event, seq: log.seq, epoch: log.epoch } as SequencedEvent
    const entry: LogEntry = { epoch: log.epoch, seq: log.seq, frame: Buffer.from(JSON.stringify(sequenced)) }
    log.history.push(entry)
    for (const listener of this.#listeners.get(dagId) ?? []) listener(entry)
    return sequenced
  }

  async snapshot (dagId: string): Promise<DAGSnapshot | undefined> {
    const log = this.#logs.get(dagId)
    return log && toSnapshot(dagId, log.epoch, log.seq, log.state)
  }

  async status (dagId: string): Promise<DagStatus | undefined> {
    const log = this.#logs.get(dagId)
    return log && { epoch: log.epoch, seq: log.seq, status: log.state.status }
  }

  async replay (dagId: string, since?: { epoch: string; seq: number }): Promise<Replay> {
    const log = this.#logs.get(dagId)
    const epoch = log?.epoch ?? ''
    const seq = log?.seq ?? 0
    if (since === undefined) return { recovered: false, epoch, seq }
    if (log === undefined || since.epoch !== log.epoch) {
      // A client that saw nothing yet has nothing to lose: it can follow any log from its start.
      if (since.seq === 0 && seq === 0) return { recovered: true, epoch, seq, entries: [] }
      return { recovered: false, epoch, seq, reason: 'epoch_changed' }
    }
    if (since.seq > log.seq) return { recovered: false, epoch, seq, reason: 'ahead_of_log' }
    const oldestKept = log.seq - log.history.length + 1
    if (since.seq + 1 < oldestKept) return { recovered: false, epoch, seq, reason: 'history_exceeded' }
    return { recovered: true, epoch, seq, entries: log.history.slice(since.seq + 1 - oldestKept) }
  }

  async list (limit: number, offset: number): Promise<{ dags: DAGSummary[]; total: number }> {
    const dags: DAGSummary[] = []
    let index = 0
    for (const [dagId, log] of this.#logs) {
      if (index++ < offset) continue
      if (dags.length === limit) break
      dags.push({
        dag_id: dagId,
        epoch: log.epoch,
        seq: log.seq,
        status: log.state.status,
        updated_at: new Date(log.updatedAt).toISOString()
      })
    }
    return { dags, total: this.#logs.size }
  }

  subscribe (dagId: string, listener: LogListener): () => void {
    let listeners = this.#listeners.get(dagId)
    if (listeners === undefined) this.#listeners.set(dagId, (listeners = new Set()))
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && this.#listeners.get(dagId) === listeners) this.#listeners.delete(dagId)
    }
  }

  async claimGate (dagId: string, nodeId: string, key: string): ReturnType<Backplane['claimGate']> {
    const log = this.#logs.get(dagId)
    if (log === undefined) return { kind: 'refused', code: 'dag_not_found' }
    return log.gates.claim(nodeId, key, log.state.gates.has(nodeId))
  }

  async settleGate (dagId: string, nodeId: string, key: string, accepted: boolean): Promise<void> {
    this.#logs.get(dagId)?.gates.settle(nodeId, key, accepted)
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const log of this.#logs.values()) clearTimeout(log.evictionTimer)
    this.#logs.clear()
    this.#listeners.clear()
  }

  #create (dagId: string): DagLog {
    const log: DagLog = {
      epoch: randomUUID(),
      seq: 0,
      state: createState(),
      history: new RingBuffer(this.#options.historySize),
      gates: new GateBook(),
      updatedAt: Date.now()
    }
    this.#logs.set(dagId, log)
    return log
  }

  #scheduleEviction (dagId: string, log: DagLog): void {
    clearTimeout(log.evictionTimer)
    log.evictionTimer = undefined
    if (!isFinished(log.state.status)) return
    // Finished runs stay readable for a while (late dashboards, post-mortems), then go, so memory does
    // not grow with the number of runs a server has ever seen. Not unref'd: close() clears it, and a
    // leak should show as a process that does not exit rather than hide.
    log.evictionTimer = setTimeout(() => {
      if (this.#logs.get(dagId) === log) this.#logs.delete(dagId)
    }, this.#options.retainFinishedMs)
  }
}
