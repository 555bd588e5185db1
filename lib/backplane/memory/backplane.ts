// The in-memory backplane: one process, logs lost on restart (which the epoch tells clients).

import { randomUUID } from 'node:crypto'
import type { ClientEvent, DAGEvent, SequencedEvent } from '../../../schemas/events.js'
import type { DAGListChangeFrame } from '../../../schemas/list.js'
import type { DAGSnapshot, DAGSummary } from '../../../schemas/snapshot.js'
import { ClosedError } from '../../errors.js'
import { ownedJson } from '../../stream/frames.js'
import { applyGateWrite, gateWriteFor, type GateRecord } from '../../commands/gates.js'
import { applyEvent, createState, isFinished, toSnapshot, type DAGState } from '../../shared/reducer.js'
import { RingBuffer } from './ring-buffer.js'
import { instanceGone, withDeadline } from '../deadline.js'
import { listChange, openGatesOf, type ListedState } from '../list-changes.js'
import { MemoryPresence } from './presence.js'
import { planReplay, replayOf } from '../replay.js'
import type {
  Backplane,
  BackplaneProvider,
  BackplaneSettings,
  CommandOutcome,
  CommandSender,
  DAGListPageQuery,
  LogHead,
  GateTransition,
  ListChangeListener,
  LogEntry,
  LogListener,
  ProducedAppend,
  ProducerStamp,
  Replay,
  StreamMessage
} from '../types.js'

/** setTimeout's longest delay; a later expiry is reached in several steps. */
const MAX_TIMER_DELAY = 2 ** 31 - 1

interface DAGLog {
  epoch: string
  seq: number
  state: DAGState
  history: RingBuffer<LogEntry>
  gates: Map<string, GateRecord>
  /** How many of `gates` are in phase `waiting`: kept with every write, so a summary costs no scan. */
  waitingGates: number
  /** The last number of each producer of the HTTP engine API; forgotten with the log. */
  producers: Map<string, number>
  updatedAt: number
  expiry?: { at: number; timer: NodeJS.Timeout }
}

/** The default backplane, as a `backplane` option value. */
export const memoryBackplane: BackplaneProvider = {
  kind: 'memory',
  create: (settings) => new MemoryBackplane(settings)
}

export class MemoryBackplane implements Backplane {
  readonly presence = new MemoryPresence()
  // One process, one instance: the id still changes with each process, so a key from before a restart
  // is told apart from the streams of now.
  readonly instanceId = randomUUID()
  readonly #logs = new Map<string, DAGLog>()
  readonly #listeners = new Map<string, Set<LogListener>>()
  readonly #listWatchers = new Set<ListChangeListener>()
  /** Engine leases: DAG id → when it lapses. */
  readonly #leases = new Map<string, number>()
  readonly #settings: BackplaneSettings
  #closed = false

  constructor (settings: BackplaneSettings) {
    this.#settings = settings
  }

  async ready (): Promise<void> {}

  isAvailable (): boolean {
    return !this.#closed
  }

  async append (dagId: string, event: DAGEvent): Promise<SequencedEvent> {
    return this.#appendNow(dagId, event)
  }

  async appendProduced (dagId: string, events: readonly DAGEvent[], { producer, first }: ProducerStamp): Promise<ProducedAppend> {
    const last = this.#logs.get(dagId)?.producers.get(producer)
    if (last !== undefined && first > last + 1) return { stored: [], gap: last + 1 }
    const skipped = last === undefined ? 0 : last + 1 - first
    const stored = events.map((event, index) => (index < skipped ? undefined : this.#appendNow(dagId, event)))
    // Same tick as the appends: nothing can come between the events and their numbers.
    if (skipped < events.length) this.#logs.get(dagId)?.producers.set(producer, first + events.length - 1)
    return { stored }
  }

  /** One process, one instance: it drives every DAG already. */
  async drive (): Promise<void> {}

  async appendMany (dagId: string, events: readonly DAGEvent[]): Promise<SequencedEvent[]> {
    return events.map((event) => this.#appendNow(dagId, event))
  }

  /**
   * The synchronous core of `append`. Everything from numbering to fan-out happens in one tick, so
   * two broadcasts can never interleave and a snapshot taken between them is exact.
   */
  #appendNow (dagId: string, event: DAGEvent): SequencedEvent {
    if (this.#closed) throw new ClosedError()
    const existing = this.#logs.get(dagId)
    const log = existing ?? this.#create(dagId)
    const before = existing && listedState(existing)
    log.seq += 1
    log.updatedAt = Date.now()
    applyEvent(log.state, event)
    const gateWrite = gateWriteFor(event)
    if (gateWrite !== undefined) this.#storeGate(log, gateWrite.gateId, applyGateWrite(log.gates.get(gateWrite.gateId) ?? {}, gateWrite))
    this.#scheduleExpiry(dagId, log)

    const sequenced = { ...event, seq: log.seq, epoch: log.epoch } as SequencedEvent
    const entry: LogEntry = { epoch: log.epoch, seq: log.seq, frame: ownedJson(sequenced) }
    log.history.push(entry)
    for (const listener of this.#listeners.get(dagId) ?? []) listener(entry)
    const change = listChange(summaryOf(dagId, log), before)
    if (change !== undefined) this.#listChanged(change)
    return sequenced
  }

  async snapshot (dagId: string): Promise<DAGSnapshot | undefined> {
    const log = this.#logs.get(dagId)
    return log && toSnapshot(dagId, log.epoch, log.seq, log.state)
  }

  async status (dagId: string): Promise<LogHead | undefined> {
    const log = this.#logs.get(dagId)
    return log && statusOf(log)
  }

  async replay (dagId: string, since?: { epoch: string; seq: number }): Promise<Replay> {
    const log = this.#logs.get(dagId)
    const epoch = log?.epoch ?? ''
    const seq = log?.seq ?? 0
    const oldestKept = seq - (log?.history.length ?? 0) + 1
    const plan = planReplay(log && { epoch, seq, oldestKept }, since)
    return replayOf(plan, epoch, seq, (from) => log?.history.slice(from - oldestKept) ?? [])
  }

  async list ({ limit, offset, order, status }: DAGListPageQuery): Promise<{ dags: DAGSummary[]; total: number }> {
    const matching = [...this.#logs].filter(([, log]) => status === undefined || status.includes(log.state.status))
    const direction = order === 'newest' ? -1 : 1
    matching.sort(([, a], [, b]) => direction * (a.updatedAt - b.updatedAt))
    const dags = matching.slice(offset, offset + limit).map(([dagId, log]) => summaryOf(dagId, log))
    return { dags, total: matching.length }
  }

  async subscribe (dagId: string, listener: LogListener): Promise<() => void> {
    if (this.#closed) throw new ClosedError()
    let listeners = this.#listeners.get(dagId)
    if (listeners === undefined) this.#listeners.set(dagId, (listeners = new Set()))
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && this.#listeners.get(dagId) === listeners) this.#listeners.delete(dagId)
    }
  }

  async watchList (listener: ListChangeListener): Promise<() => void> {
    if (this.#closed) throw new ClosedError()
    this.#listWatchers.add(listener)
    return () => {
      this.#listWatchers.delete(listener)
    }
  }

  #listChanged (change: DAGListChangeFrame): void {
    for (const watcher of this.#listWatchers) watcher(change)
  }

  async updateGate<Result> (dagId: string, gateId: string, transition: GateTransition<Result>): Promise<Result | undefined> {
    const log = this.#logs.get(dagId)
    if (log === undefined) return undefined
    const { result, next } = transition(log.gates.get(gateId) ?? {}, statusOf(log))
    this.#storeGate(log, gateId, next)
    return result
  }

  async dispatch (dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome> {
    if (!this.#logs.has(dagId)) return { ok: false, code: 'dag_not_found', message: `DAG "${dagId}" has no execution` }
    // One process: the engine is here. The bound still applies, so a hung handler cannot hold a
    // dashboard (or a gate's claim) forever.
    return withDeadline(this.#settings.execute(dagId, event, sender), this.#settings.commandTimeoutMs)
  }

  async renewLease (dagId: string, expiresAt: number): Promise<LogHead | undefined> {
    this.#leases.set(dagId, expiresAt)
    const log = this.#logs.get(dagId)
    return log && statusOf(log)
  }

  async releaseLease (dagId: string): Promise<void> {
    this.#leases.delete(dagId)
  }

  async takeLapsedLeases (now: number): Promise<string[]> {
    const lapsed: string[] = []
    for (const [dagId, expiresAt] of this.#leases) {
      if (expiresAt > now) continue
      this.#leases.delete(dagId)
      lapsed.push(dagId)
    }
    return lapsed
  }

  async sendToInstance (instanceId: string, message: StreamMessage): Promise<CommandOutcome> {
    return instanceId === this.instanceId ? this.#settings.receiveStreamMessage(message) : instanceGone(instanceId)
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const log of this.#logs.values()) clearTimeout(log.expiry?.timer)
    this.#logs.clear()
    this.#listeners.clear()
    this.#listWatchers.clear()
    this.#leases.clear()
  }

  #create (dagId: string): DAGLog {
    const log: DAGLog = {
      epoch: randomUUID(),
      seq: 0,
      // This state lives as long as the DAG and only ever leaves as a snapshot: updated in place.
      state: createState({ inPlace: true }),
      history: new RingBuffer(this.#settings.historySize),
      gates: new Map(),
      waitingGates: 0,
      producers: new Map(),
      updatedAt: Date.now()
    }
    this.#logs.set(dagId, log)
    return log
  }

  #storeGate (log: DAGLog, gateId: string, record: GateRecord): void {
    log.waitingGates += Number(record.phase === 'waiting') - Number(log.gates.get(gateId)?.phase === 'waiting')
    if (record.phase === undefined && record.claim === undefined) log.gates.delete(gateId)
    else log.gates.set(gateId, record)
  }

  /**
   * Finished runs stay readable for `retainFinishedMs` (late dashboards, post-mortems), and runs whose
   * engine went silent for `maxIdleMs`, then go, so memory does not grow with the number of runs a
   * server has ever seen. One timer per DAG, moved only when the expiry comes closer: an event on a
   * busy DAG only writes `updatedAt`, and a timer that fires early schedules the rest.
   * Not unref'd: close() clears it, and a leak should show as a process that does not exit.
   */
  #scheduleExpiry (dagId: string, log: DAGLog): void {
    const at = this.#expiryOf(log)
    if (log.expiry !== undefined && log.expiry.at <= at) return
    clearTimeout(log.expiry?.timer)
    const timer = setTimeout(() => {
      log.expiry = undefined
      if (Date.now() >= this.#expiryOf(log)) {
        this.#logs.delete(dagId)
        this.#listChanged({ type: 'dag_evicted', dag_id: dagId })
      } else this.#scheduleExpiry(dagId, log)
    }, Math.max(0, Math.min(at - Date.now(), MAX_TIMER_DELAY)))
    log.expiry = { at, timer }
  }

  #expiryOf (log: DAGLog): number {
    return log.updatedAt + (isFinished(log.state.status) ? this.#settings.retainFinishedMs : this.#settings.maxIdleMs)
  }
}

function summaryOf (dagId: string, log: DAGLog): DAGSummary {
  return { dag_id: dagId, epoch: log.epoch, seq: log.seq, updated_at: new Date(log.updatedAt).toISOString(), ...listedState(log) }
}

function listedState (log: DAGLog): ListedState {
  return { status: log.state.status, open_gates: openGatesOf(log.state.status, log.waitingGates) }
}

function statusOf (log: DAGLog): LogHead {
  return { epoch: log.epoch, seq: log.seq, status: log.state.status }
}
