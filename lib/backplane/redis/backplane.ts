// The Redis backplane: every instance (and every engine worker) shares each DAG's log through Redis.
//
//   append    one Lua script numbers the event, appends it to the DAG's stream (entry id = seq),
//             trims, sets the retention TTLs and publishes it, so one DAG has one order whoever
//             appends; the checkpoint (a snapshot) is refreshed every historySize/2 events.
//   follow    an instance subscribes to the channels of the DAGs its sockets watch; a Follower per DAG
//             puts pub/sub and the log together into one gapless, ordered feed.
//   snapshot  the checkpoint plus the entries after it, folded with lib/shared/reducer.ts: the same state on
//             every instance, including one that never saw the DAG.
//   gates     records in a hash, changed by compare-and-set with the rules of lib/commands/gates.ts.
//   commands  forwarded to the instance that appended last (the engine's), see bus.ts.

import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import type { ClientEvent, DAGEvent, ExecutionStatus, SequencedEvent } from '../../../schemas/events.js'
import type { DAGListChangeFrame } from '../../../schemas/list.js'
import type { DAGSnapshot, DAGSummary } from '../../../schemas/snapshot.js'
import { BackplaneUnavailableError, ClosedError } from '../../errors.js'
import { encodePhase, gateWriteFor } from '../../commands/gates.js'
import { applyEvent, createState, fromSnapshot, isFinished, statusAfter, toSnapshot, type DAGState } from '../../shared/reducer.js'
import { withDeadline } from '../deadline.js'
import { planReplay, replayOf } from '../replay.js'
import type {
  Backplane,
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
import { CommandBus } from './bus.js'
import { Follower } from './follower.js'
import { ListIndex } from './list-index.js'
import { ConnectionHealth, connected } from './health.js'
import { decodeGate, encodeGate, parseEntry, parseListMessage, seqOf } from './codecs.js'
import { RedisPresence } from './presence.js'
import { dagKeys, instanceChannel, leasesKey, listChannel, type DAGKeys } from './keys.js'
import { appendScript, scripts, type ScriptName } from './scripts.js'

export type RedisClient = Redis | Cluster

export interface RedisConnections {
  /** Runs commands and scripts. */
  commands: RedisClient
  /** In subscriber mode: DAG channels and this instance's channel. Always created by the backplane. */
  subscriber: RedisClient
  /** Whether the backplane created `commands` (and so closes it). */
  ownsCommands: boolean
}

export interface RedisBackplaneConfig {
  keyPrefix: string
  /** How often followed DAGs are checked against the log, and the subscriber connection pinged. */
  probeMs: number
  /** How long the viewers of an instance outlive its last presence heartbeat (see presence.ts). */
  presenceTtlMs: number
}

type ScriptCall = (...args: Array<string | number>) => Promise<unknown>
/** What the append script returns for events it stored (see scripts.ts). */
type AppendReply = [first: number, epoch: string, checkpointSeq: number, skipped: number, status: ExecutionStatus]
/** [id, [field, value]] as XRANGE returns it. */
type StreamEntry = [Buffer, Buffer[]]

/** Events per append script call: a larger batch is split, so no call holds Redis for long. */
const MAX_EVENTS_PER_APPEND = 200
/** Lapsed leases taken per call: the rest wait for the next round. */
const MAX_LAPSED_PER_CALL = 100

interface FollowedDAG {
  dagId: string
  follower: Follower
  /** Resolves once subscribed and started. */
  started: Promise<void>
}

interface DAGRead {
  epoch: string
  seq: number
  state: DAGState
}

export class RedisBackplane implements Backplane {
  readonly #settings: BackplaneSettings
  readonly #config: RedisBackplaneConfig
  readonly #connections: RedisConnections
  /** This instance, as the driver of the DAGs it appends to and as the address of its commands. */
  readonly #id = randomUUID()
  readonly #followed = new Map<string, FollowedDAG>()
  readonly presence: RedisPresence
  readonly #checkpoints = new Map<string, Promise<void>>()
  readonly #listWatchers = new Set<ListChangeListener>()
  /** Resolves once the subscriber listens to the list channel; set while there are list watchers. */
  #listSubscribed: Promise<void> = Promise.resolve()
  readonly #bus: CommandBus
  readonly #checkpointEvery: number
  /** The run list's index (list-index.ts). */
  readonly #index: ListIndex
  #probe?: NodeJS.Timeout
  /** Whether a probe reconciled the list index since this instance started. */
  #reconciled = false
  #closed = false
  /** Watches the connections for losses and recoveries (health.ts). */
  readonly #health: ConnectionHealth

  constructor (settings: BackplaneSettings, config: RedisBackplaneConfig, connections: RedisConnections) {
    this.#settings = settings
    this.#config = config
    this.#connections = connections
    this.#checkpointEvery = Math.max(1, Math.floor(settings.historySize / 2))
    this.#index = new ListIndex(connections.commands, config.keyPrefix, settings)
    for (const [name, definition] of Object.entries(scripts)) connections.commands.defineCommand(name, definition)
    this.#bus = new CommandBus({
      self: this.#id,
      timeoutMs: settings.commandTimeoutMs,
      execute: settings.execute,
      receiveStreamMessage: settings.receiveStreamMessage,
      publish: async (to, message) => {
        const listeners = await connections.commands.publish(instanceChannel(config.keyPrefix, to), message)
        // On a Cluster, PUBLISH counts only the listeners of the node that took it.
        return 'nodes' in connections.commands ? undefined : listeners
      },
      onError: (error, what, dagId) => settings.log.error({ err: error, dagId }, `fastify-dag-stream: ${what}`)
    })
    this.presence = new RedisPresence({
      commands: connections.commands,
      subscriber: connections.subscriber,
      keyPrefix: config.keyPrefix,
      instanceId: this.#id,
      ttlMs: config.presenceTtlMs,
      log: settings.log
    })
    connections.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel, message))
    this.#health = new ConnectionHealth(connections, settings.log, {
      watching: () => !this.#closed && this.#probe !== undefined,
      resubscribe: () => this.#resubscribe(),
      followed: () => this.#followed.size
    })
  }

  async ready (): Promise<void> {
    try {
      // Its own connection first: it fails at once when Redis cannot be reached.
      await connected(this.#connections.subscriber)
      await connected(this.#connections.commands)
      await this.#connections.subscriber.subscribe(instanceChannel(this.#config.keyPrefix, this.#id))
      await this.presence.start()
    } catch (error) {
      throw new BackplaneUnavailableError(`cannot reach Redis: ${(error as Error).message}`)
    }
    this.#probe = setInterval(() => this.#runProbe(), this.#config.probeMs)
  }

  /** Both connections: a new stream needs the subscriber to follow its DAG. */
  isAvailable (): boolean {
    return this.#commandsReady() && this.#connections.subscriber.status === 'ready'
  }

  append (dagId: string, event: DAGEvent): Promise<SequencedEvent> {
    return this.#append(dagId, [event], this.#id).then(([seq, epoch]) => ({ ...event, seq, epoch: epoch as string }) as SequencedEvent)
  }

  appendMany (dagId: string, events: readonly DAGEvent[]): Promise<SequencedEvent[]> {
    return this.#appendChunks(dagId, events, this.#id).then(({ stored }) => stored as SequencedEvent[])
  }

  appendProduced (dagId: string, events: readonly DAGEvent[], stamp: ProducerStamp): Promise<ProducedAppend> {
    return this.#appendChunks(dagId, events, stamp.drive ? this.#id : '', stamp)
  }

  async drive (dagId: string): Promise<void> {
    await this.#redis('drive', () => this.#script('dagStreamDrive')(this.#keys(dagId).meta, this.#id, this.#settings.maxIdleMs))
  }

  /**
   * One script call per chunk, written at once, one after the other: in order, and no script call
   * holds Redis for long. A producer's chunk carries its own first number; a gap stops the rest.
   */
  #appendChunks (dagId: string, events: readonly DAGEvent[], driver: string, stamp?: ProducerStamp): Promise<ProducedAppend> {
    const calls: Array<Promise<ProducedAppend>> = []
    for (let start = 0; start < events.length; start += MAX_EVENTS_PER_APPEND) {
      const chunk = events.slice(start, start + MAX_EVENTS_PER_APPEND)
      const producer = stamp === undefined ? undefined : { ...stamp, first: stamp.first + start }
      calls.push(this.#append(dagId, chunk, driver, producer).then((reply): ProducedAppend => {
        if (reply[0] === -1) return { stored: [], gap: reply[1] as number }
        const [first, epoch, , skipped] = reply as AppendReply
        return { stored: chunk.map((event, index) => (index < skipped ? undefined : { ...event, seq: first + index - skipped, epoch }) as SequencedEvent) }
      }))
    }
    return Promise.all(calls).then((chunks) => {
      const stored: ProducedAppend['stored'] = []
      for (const chunk of chunks) {
        stored.push(...chunk.stored)
        if (chunk.gap !== undefined) return { stored, gap: chunk.gap }
      }
      return { stored }
    })
  }

  /**
   * Appends `events` in one script call (with a producer: those it has not stored yet); resolves with
   * the first one's seq, the epoch, the checkpoint's seq, how many were skipped and the DAG's status
   * after them, or [-1, the number expected] for a producer's gap.
   */
  #append (dagId: string, events: readonly DAGEvent[], driver: string, stamp?: ProducerStamp): Promise<AppendReply | [-1, number]> {
    const keys = this.#keys(dagId)
    const now = Date.now()
    const args: Array<string | number> = [
      keys.meta, keys.log, keys.checkpoint, keys.gates,
      randomUUID(),
      driver,
      now,
      this.#settings.historySize,
      this.#settings.maxIdleMs,
      keys.channel,
      listChannel(this.#config.keyPrefix),
      dagId,
      stamp?.producer ?? '',
      stamp?.first ?? 0
    ]
    for (const event of events) {
      const status = statusAfter(event)
      const gate = gateWriteFor(event)
      args.push(
        JSON.stringify(event),
        status ?? '',
        status === undefined ? '' : this.#ttlFor(status),
        gate?.gateId ?? '',
        gate === undefined ? '' : encodePhase(gate),
        gate?.clearClaim === true ? '1' : '0'
      )
    }
    // `#redis` calls the operation before its first await, so the script is written at once: one
    // connection carries commands in the order they are written, and that keeps one process's
    // appends for a DAG in call order, awaited or not.
    // EVAL, not EVALSHA: after the script cache is lost (SCRIPT FLUSH, a restart or a failover), a
    // client retries each NOSCRIPT on its own, after calls written since, and call order would break.
    // The body is a kilobyte on a connection that is there anyway; the read-only scripts go by SHA.
    const appended = this.#redis('append', () => this.#connections.commands.eval(
      appendScript.lua, appendScript.numberOfKeys, ...args
    ) as Promise<AppendReply | [-1, number]>)
    return appended.then((result) => {
      const [first, epoch, checkpointSeq, skipped, status] = result as AppendReply
      // (A producer's refusal, -1, and a batch stored already, 0, stored nothing.)
      if (first <= 0) return result
      const last = first + events.length - skipped - 1
      // The list index is in another slot than the DAG (keys.ts): written once the append says what it
      // did, not awaited, and before the caller resumes, so that its next command on this connection
      // (a page of the list, say) comes after it.
      if (this.#commandsReady()) {
        this.#index.touch(dagId, { epoch, seq: last, status }, now).catch((error: unknown) => {
          this.#settings.log.warn({ err: error, dagId }, 'fastify-dag-stream: could not update the DAG list index')
        })
      }
      if (last - checkpointSeq >= this.#checkpointEvery) this.#checkpoint(dagId)
      return result
    })
  }

  async snapshot (dagId: string): Promise<DAGSnapshot | undefined> {
    const read = await this.#readState(dagId)
    return read && toSnapshot(dagId, read.epoch, read.seq, read.state)
  }

  async status (dagId: string): Promise<LogHead | undefined> {
    const meta = this.#keys(dagId).meta
    const [epoch, seq, status] = await this.#redis('status', () => this.#connections.commands.hmget(meta, 'epoch', 'seq', 'status'))
    if (epoch === null || epoch === undefined) return undefined
    return { epoch, seq: Number(seq), status: status as ExecutionStatus }
  }

  async replay (dagId: string, since?: { epoch: string; seq: number }): Promise<Replay> {
    const keys = this.#keys(dagId)
    const read = await this.#redis('replay', () => this.#script('dagStreamReadAfterBuffer')(
      keys.meta, keys.log, since?.epoch ?? '', since?.seq ?? 0, this.#settings.historySize
    ) as Promise<[Buffer, number, number, StreamEntry[]] | null>)
    if (read === null) return replayOf(planReplay(undefined, since), '', 0, () => [])
    // One script read the head and the entries: they agree.
    const [epochBuffer, seq, oldestKept, stream] = read
    const epoch = epochBuffer.toString()
    const entries = () => stream.map(([id, fields]): LogEntry => ({ epoch, seq: seqOf(id), frame: fields[1] as Buffer }))
    return replayOf(planReplay({ epoch, seq, oldestKept }, since), epoch, seq, entries)
  }

  async list (query: DAGListPageQuery): Promise<{ dags: DAGSummary[]; total: number }> {
    return this.#redis('list', () => this.#index.page(query))
  }

  async subscribe (dagId: string, listener: LogListener): Promise<() => void> {
    this.#requireAvailable()
    const channel = this.#keys(dagId).channel
    let followed = this.#followed.get(channel)
    if (followed === undefined) {
      const follower = new Follower(
        (since) => this.replay(dagId, since),
        (error) => this.#settings.log.warn({ err: error, dagId }, 'fastify-dag-stream: could not fill a gap in the log yet')
      )
      const created: FollowedDAG = (followed = { dagId, follower, started: this.#follow(dagId, channel, follower) })
      this.#followed.set(channel, created)
      // A failed start must not stay behind for the next socket of this DAG to wait on. (Nothing else
      // can have replaced the entry yet: this runs first, right after the failure.)
      created.started.catch(() => this.#followed.delete(channel))
    }
    const { follower, started } = followed
    follower.listeners.add(listener)
    try {
      await started
    } catch (error) {
      follower.listeners.delete(listener)
      throw error
    }
    return () => {
      follower.listeners.delete(listener)
      if (follower.listeners.size > 0 || this.#followed.get(channel) !== followed) return
      this.#followed.delete(channel)
      // A subscriber that is down (or closed) has no subscription left to drop; on reconnect only
      // followed channels are subscribed again.
      if (this.#connections.subscriber.status === 'ready') this.#connections.subscriber.unsubscribe(channel).catch(ignoreFailure)
    }
  }

  async watchList (listener: ListChangeListener): Promise<() => void> {
    this.#requireAvailable()
    const channel = listChannel(this.#config.keyPrefix)
    if (this.#listWatchers.size === 0) {
      this.#listSubscribed = this.#redis('subscribe', () => this.#connections.subscriber.subscribe(channel)).then(() => {})
    }
    this.#listWatchers.add(listener)
    try {
      await this.#listSubscribed
    } catch (error) {
      this.#listWatchers.delete(listener)
      throw error
    }
    return () => {
      if (!this.#listWatchers.delete(listener) || this.#listWatchers.size > 0) return
      if (this.#connections.subscriber.status === 'ready') this.#connections.subscriber.unsubscribe(channel).catch(ignoreFailure)
    }
  }

  async updateGate<Result> (dagId: string, gateId: string, transition: GateTransition<Result>): Promise<Result | undefined> {
    const keys = this.#keys(dagId)
    // Compare-and-set until nothing changed the gate (or replaced the DAG's log) between the read and
    // the write. Each retry means another write went through, so the loop always makes progress; the
    // next read sees the DAG as it now is (gone: undefined).
    for (;;) {
      const read = await this.#redis('gate', () => this.#script('dagStreamReadGate')(keys.meta, keys.gates, gateId) as Promise<string[] | null>)
      if (read === null) return undefined
      const [epoch, seq, status, phase, claim] = read as [string, string, ExecutionStatus, string, string]
      const { result, next } = transition(decodeGate(phase, claim), { epoch, seq: Number(seq), status })
      const [nextPhase, nextClaim] = encodeGate(next)
      if (nextPhase === phase && nextClaim === claim) return result
      const written = await this.#redis('gate', () =>
        this.#script('dagStreamCompareAndSetGate')(keys.meta, keys.gates, gateId, epoch, phase, claim, nextPhase, nextClaim)
      )
      if (written === 1) return result
    }
  }

  async dispatch (dagId: string, event: ClientEvent, sender: CommandSender): Promise<CommandOutcome> {
    const meta = this.#keys(dagId).meta
    const driver = await this.#redis('dispatch', () => this.#connections.commands.hget(meta, 'driver'))
    if (driver === this.#id) return withDeadline(this.#settings.execute(dagId, event, sender), this.#settings.commandTimeoutMs)
    if (driver === null) return { ok: false, code: 'dag_not_found', message: `DAG "${dagId}" has no execution` }
    return this.#bus.send(driver, dagId, event, sender)
  }

  get instanceId (): string {
    return this.#id
  }

  async renewLease (dagId: string, expiresAt: number): Promise<LogHead | undefined> {
    // Two commands, not a script: the leases span DAGs and the meta is in the DAG's slot. A lease for a
    // DAG that is gone lapses unreported (takeLapsedLeases' caller finds no DAG), and the handle that
    // renews it learns here that the DAG is gone, and sends its picture again.
    const leases = leasesKey(this.#config.keyPrefix)
    await this.#redis('lease', () => this.#connections.commands.zadd(leases, expiresAt, dagId))
    return this.status(dagId)
  }

  async releaseLease (dagId: string): Promise<void> {
    await this.#redis('lease', () => this.#connections.commands.zrem(leasesKey(this.#config.keyPrefix), dagId))
  }

  async takeLapsedLeases (now: number): Promise<string[]> {
    return this.#redis('lease', () => this.#script('dagStreamTakeLapsedLeases')(leasesKey(this.#config.keyPrefix), now, MAX_LAPSED_PER_CALL) as Promise<string[]>)
  }

  async sendToInstance (instanceId: string, message: StreamMessage): Promise<CommandOutcome> {
    if (instanceId === this.#id) return this.#settings.receiveStreamMessage(message)
    return this.#bus.sendToStream(instanceId, message)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#probe)
    this.#bus.close()
    this.#followed.clear()
    this.#listWatchers.clear()
    // A checkpoint being written finishes first, so a clean shutdown leaves no half-done work behind.
    await Promise.allSettled(this.#checkpoints.values())
    await this.presence.close()
    this.#connections.subscriber.disconnect()
    if (this.#connections.ownsCommands) this.#connections.commands.disconnect()
  }

  // -------------------------------------------------------------------------------------------
  // Following DAGs
  // -------------------------------------------------------------------------------------------

  /** Subscribe first, then read the head: whatever is published in between is held, not lost. */
  async #follow (dagId: string, channel: string, follower: Follower): Promise<void> {
    await this.#redis('subscribe', () => this.#connections.subscriber.subscribe(channel))
    const head = await this.status(dagId)
    follower.start(head ?? { epoch: '', seq: 0 })
  }

  #onMessage (channel: Buffer, message: Buffer): void {
    const name = channel.toString()
    const followed = this.#followed.get(name)
    if (followed !== undefined) {
      followed.follower.receive(parseEntry(message))
      return
    }
    if (this.presence.receive(name, message)) return
    if (name === listChannel(this.#config.keyPrefix)) {
      const change = parseListMessage(message.toString())
      if (change !== undefined) this.#onListChange(change)
    } else if (name === instanceChannel(this.#config.keyPrefix, this.#id)) this.#bus.receive(message.toString())
  }

  #onListChange (change: DAGListChangeFrame): void {
    for (const watcher of this.#listWatchers) watcher(change)
  }

  /**
   * Every `probeMs`: a DAG whose head in Redis is past what its follower delivered missed a message
   * (pub/sub is at most once) and catches up; and the subscriber connection must answer a PING, since a
   * failover can leave a connection open but deaf.
   */
  #runProbe (): void {
    // Ids of DAGs whose keys expired go here, so the index stays as large as the set of live DAGs.
    // The first probe reconciles the whole index once, whether or not lists are watched: it lists the
    // DAGs an older version listed, which had no status sets, under their status (see list-index.ts).
    const reconcile = this.#listWatchers.size > 0 || !this.#reconciled
    this.#index.pruneIdle()
      .then(async () => {
        if (!reconcile) return
        await this.#index.reconcile()
        this.#reconciled = true
      })
      .catch(ignoreFailure)
    this.#health.pingSubscriber(this.#config.probeMs)
    for (const { dagId, follower } of this.#followed.values()) {
      this.status(dagId).then(
        (head) => {
          const { epoch, seq } = follower.position
          if (head !== undefined && (head.epoch !== epoch || head.seq > seq)) follower.recover()
        },
        () => {} // unreachable Redis is reported by the connection events
      )
    }
  }

  /**
   * The subscriber resubscribes here rather than through ioredis's autoResubscribe: the channels must
   * be confirmed before the followers read the log, or what is published in between would be lost.
   */
  async #resubscribe (): Promise<void> {
    const channels = [instanceChannel(this.#config.keyPrefix, this.#id), ...this.#followed.keys(), ...this.presence.channels()]
    if (this.#listWatchers.size > 0) channels.push(listChannel(this.#config.keyPrefix))
    await this.#connections.subscriber.subscribe(...channels)
    for (const { follower } of this.#followed.values()) follower.recover()
    // The list channel has no sequence to fill a gap from: the lists read their page again.
    for (const watcher of this.#listWatchers) watcher({ type: 'list_gap' })
    // Presence deltas are not logged either: the watched DAGs are read again and diffed.
    void this.presence.recover()
  }

  // -------------------------------------------------------------------------------------------
  // State and checkpoints
  // -------------------------------------------------------------------------------------------

  /** The checkpoint plus the entries after it, through the reducer. */
  async #readState (dagId: string): Promise<DAGRead | undefined> {
    const keys = this.#keys(dagId)
    const read = await this.#redis('snapshot', () => this.#script('dagStreamReadState')(keys.meta, keys.log, keys.checkpoint) as Promise<
      [string, string, string, string | null, Array<[string, string[]]>] | null
    >)
    if (read === null) return undefined
    const [epoch, head, checkpointSeq, checkpoint, entries] = read
    const seq = Number(head)
    const from = Number(checkpointSeq)
    if ((from > 0 && checkpoint === null) || from + entries.length !== seq) {
      throw new Error(`fastify-dag-stream: the log of DAG "${dagId}" does not line up with its checkpoint (${from} + ${entries.length} ≠ ${seq})`)
    }
    const state = checkpoint === null ? createState() : fromSnapshot(JSON.parse(checkpoint) as DAGSnapshot)
    for (const [, fields] of entries) applyEvent(state, JSON.parse(fields[1] as string) as DAGEvent)
    return { epoch, seq, state }
  }

  /** Stores the state at the head as the DAG's checkpoint, once at a time per DAG. Failures only log. */
  #checkpoint (dagId: string): void {
    if (this.#checkpoints.has(dagId)) return
    const written = (async () => {
      const read = await this.#readState(dagId)
      /* c8 ignore next -- the DAG evicted between an append and the checkpoint it asked for: a race of microseconds */
      if (read === undefined) return
      const keys = this.#keys(dagId)
      const snapshot = JSON.stringify(toSnapshot(dagId, read.epoch, read.seq, read.state))
      await this.#script('dagStreamCheckpoint')(keys.meta, keys.log, keys.checkpoint, read.epoch, read.seq, snapshot, this.#settings.historySize)
    })()
      .catch((error: unknown) => this.#settings.log.warn({ err: error, dagId }, 'fastify-dag-stream: could not write a checkpoint; the next append tries again'))
      .finally(() => this.#checkpoints.delete(dagId))
    this.#checkpoints.set(dagId, written)
  }

  // -------------------------------------------------------------------------------------------
  // Small helpers
  // -------------------------------------------------------------------------------------------

  #keys (dagId: string): DAGKeys {
    return dagKeys(this.#config.keyPrefix, dagId)
  }

  #script (name: ScriptName | `${ScriptName}Buffer`): ScriptCall {
    const commands = this.#connections.commands as unknown as Record<string, ScriptCall>
    return (...args) => (commands[name] as ScriptCall).call(commands, ...args)
  }

  #ttlFor (status: ExecutionStatus): number {
    return isFinished(status) ? this.#settings.retainFinishedMs : this.#settings.maxIdleMs
  }

  /** Runs `operation` on Redis; any failure of it is the backplane being unavailable, named by `what`. */
  async #redis<T> (what: string, operation: () => Promise<T>): Promise<T> {
    this.#requireAvailable()
    try {
      return await operation()
    } catch (error) {
      throw new BackplaneUnavailableError(`${what}: ${(error as Error).message}`)
    }
  }

  #commandsReady (): boolean {
    return !this.#closed && this.#connections.commands.status === 'ready'
  }

  /** What every command needs: an open backplane and its command connection. */
  #requireAvailable (): void {
    if (this.#closed) throw new ClosedError()
    if (!this.#commandsReady()) throw new BackplaneUnavailableError('Redis is not connected')
  }
}

/** For what may fail with nothing to do about it (the outage itself is logged by the connection events). */
function ignoreFailure (): void {}
