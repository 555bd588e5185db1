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
import type { DagListChangeFrame } from '../../../schemas/list.js'
import type { DAGSnapshot, DAGSummary } from '../../../schemas/snapshot.js'
import { BackplaneUnavailableError, ClosedError } from '../../errors.js'
import { decodePhase, encodePhase, gateWriteFor, type ClaimRecord, type GateRecord } from '../../commands/gates.js'
import { applyEvent, createState, fromSnapshot, isFinished, statusAfter, toSnapshot, type DAGState } from '../../shared/reducer.js'
import { withDeadline } from '../deadline.js'
import { listChange } from '../list-changes.js'
import { planReplay, replayOf } from '../replay.js'
import type {
  Backplane,
  BackplaneSettings,
  CommandOutcome,
  CommandSender,
  DagListQuery,
  DagStatus,
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
import { RedisPresence } from './presence.js'
import { dagKeys, indexKey, instanceChannel, leasesKey, listChannel, type DagKeys } from './keys.js'
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
/** [id, [field, value]] as XRANGE returns it. */
type StreamEntry = [Buffer, Buffer[]]

/** DAG summaries read per round trip when the list is filtered by status. */
const LIST_SCAN_CHUNK = 1000
/** Events per append script call: a larger batch is split, so no call holds Redis for long. */
const MAX_EVENTS_PER_APPEND = 200
/** Lapsed leases taken per call: the rest wait for the next round. */
const MAX_LAPSED_PER_CALL = 100

interface FollowedDag {
  dagId: string
  follower: Follower
  /** Resolves once subscribed and started. */
  started: Promise<void>
}

interface DagRead {
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
  readonly #followed = new Map<string, FollowedDag>()
  readonly presence: RedisPresence
  readonly #checkpoints = new Map<string, Promise<void>>()
  readonly #listWatchers = new Set<ListChangeListener>()
  /** Resolves once the subscriber listens to the list channel; set while there are list watchers. */
  #listSubscribed: Promise<void> = Promise.resolve()
  readonly #bus: CommandBus
  readonly #checkpointEvery: number
  #probe?: NodeJS.Timeout
  #closed = false
  /** The connections that are down: a loss is logged once, and so is the recovery. */
  readonly #lost = new Set<'commands' | 'subscriber'>()

  constructor (settings: BackplaneSettings, config: RedisBackplaneConfig, connections: RedisConnections) {
    this.#settings = settings
    this.#config = config
    this.#connections = connections
    this.#checkpointEvery = Math.max(1, Math.floor(settings.historySize / 2))
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
    this.#watchConnections()
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
        const [first, epoch, , skipped] = reply as [number, string, number, number]
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
   * the first one's seq, the epoch, the checkpoint's seq and how many were skipped, or [-1, the number
   * expected] for a producer's gap.
   */
  #append (dagId: string, events: readonly DAGEvent[], driver: string, stamp?: ProducerStamp): Promise<[number, string, number, number] | [-1, number]> {
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
    ) as Promise<[number, string, number, number] | [-1, number]>)
    if (this.#commandsReady()) {
      this.#connections.commands.zadd(indexKey(this.#config.keyPrefix), now, dagId).catch((error: unknown) => {
        this.#settings.log.warn({ err: error, dagId }, 'fastify-dag-stream: could not update the DAG list index')
      })
    }
    return appended.then((result) => {
      const [first, , checkpointSeq, skipped] = result as [number, string, number, number]
      // (A producer's refusal, -1, and a batch stored already, 0, stored nothing.)
      if (first > 0 && first + events.length - skipped - 1 - checkpointSeq >= this.#checkpointEvery) this.#checkpoint(dagId)
      return result
    })
  }

  async snapshot (dagId: string): Promise<DAGSnapshot | undefined> {
    const read = await this.#readState(dagId)
    return read && toSnapshot(dagId, read.epoch, read.seq, read.state)
  }

  async status (dagId: string): Promise<DagStatus | undefined> {
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

  async list ({ limit, offset, order, status }: DagListQuery): Promise<{ dags: DAGSummary[]; total: number }> {
    const redis = this.#connections.commands
    const index = indexKey(this.#config.keyPrefix)
    // (ioredis types ZRANGE's stop as a string only.)
    const range = (start: number, stop: number) => order === 'newest' ? redis.zrevrange(index, start, stop) : redis.zrange(index, start, String(stop))
    return this.#redis('list', async () => {
      await this.#pruneIdle()
      if (status === undefined) {
        // Some ids may name nothing (finished DAGs expire sooner than the index): #present drops them
        // from the index, and the page is read again.
        for (;;) {
          const ids = await range(offset, offset + limit - 1)
          const dags = await this.#present(ids)
          if (dags.length === ids.length) return { dags, total: await redis.zcard(index) }
        }
      }
      // The index is ordered by time, not by status: a filter reads every DAG's status, so that
      // `total` is exact. One ZRANGE for a consistent order, then a round trip per chunk of DAGs.
      const ids = await range(0, -1)
      const matching: DAGSummary[] = []
      for (let start = 0; start < ids.length; start += LIST_SCAN_CHUNK) {
        const present = await this.#present(ids.slice(start, start + LIST_SCAN_CHUNK))
        matching.push(...present.filter((dag) => status.includes(dag.status)))
      }
      return { dags: matching.slice(offset, offset + limit), total: matching.length }
    })
  }

  /** The summaries of those of `ids` that still exist; the others are dropped from the index. */
  async #present (ids: string[]): Promise<DAGSummary[]> {
    const redis = this.#connections.commands
    const metas = await Promise.all(ids.map((id) => redis.hmget(this.#keys(id).meta, 'epoch', 'seq', 'status', 'updated_at')))
    const gone = ids.filter((_, index) => metas[index]?.[0] === null)
    if (gone.length > 0) await this.#dropFromIndex(gone)
    return ids.flatMap((dagId, index): DAGSummary[] => {
      const [epoch, seq, status, updatedAt] = metas[index] as [string | null, string, string, string]
      if (epoch === null) return []
      return [{ dag_id: dagId, epoch, seq: Number(seq), status: status as ExecutionStatus, updated_at: new Date(Number(updatedAt)).toISOString() }]
    })
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
      const created: FollowedDag = (followed = { dagId, follower, started: this.#follow(dagId, channel, follower) })
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

  async renewLease (dagId: string, expiresAt: number): Promise<DagStatus | undefined> {
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
    if (name === listChannel(this.#config.keyPrefix)) this.#onListMessage(message.toString())
    else if (name === instanceChannel(this.#config.keyPrefix, this.#id)) this.#bus.receive(message.toString())
  }

  /** `changed <seq> <epoch> <status> <now> <dagId> <previous>` (see the append script) or `evicted <dagId>`. */
  #onListMessage (message: string): void {
    const [kind, ...fields] = message.split(' ')
    let change: DagListChangeFrame
    if (kind === 'evicted') {
      change = { type: 'dag_evicted', dag_id: fields[0] as string }
    } else {
      const [seq, epoch, status, now, dagId, previous] = fields as [string, string, ExecutionStatus, string, string, string]
      const dag: DAGSummary = { dag_id: dagId, epoch, seq: Number(seq), status, updated_at: new Date(Number(now)).toISOString() }
      change = listChange(dag, previous === '' ? undefined : previous as ExecutionStatus)
    }
    for (const watcher of this.#listWatchers) watcher(change)
  }

  // -------------------------------------------------------------------------------------------
  // The list index. It spans DAGs, so no TTL covers it: an id stays until an instance sees that its
  // DAG is gone (its keys expired) or idle past maxIdleMs, removes it, and, being the one whose ZREM
  // took it, tells every list watcher (`evicted`). Redis says nothing when a key expires (keyspace
  // notifications are usually off), so while this instance has list watchers every probe reconciles
  // the index with the DAGs' keys: an eviction reaches the lists within probeMs.
  // -------------------------------------------------------------------------------------------

  async #pruneIdle (): Promise<void> {
    const idle = await this.#connections.commands.zrangebyscore(indexKey(this.#config.keyPrefix), '-inf', Date.now() - this.#settings.maxIdleMs)
    if (idle.length > 0) await this.#dropFromIndex(idle)
  }

  async #reconcileIndex (): Promise<void> {
    const ids = await this.#connections.commands.zrange(indexKey(this.#config.keyPrefix), 0, '-1')
    for (let start = 0; start < ids.length; start += LIST_SCAN_CHUNK) await this.#present(ids.slice(start, start + LIST_SCAN_CHUNK))
  }

  async #dropFromIndex (ids: string[]): Promise<void> {
    const redis = this.#connections.commands
    const index = indexKey(this.#config.keyPrefix)
    const removed = await Promise.all(ids.map((id) => redis.zrem(index, id)))
    const evicted = ids.filter((_, position) => removed[position] === 1)
    await Promise.all(evicted.map((id) => redis.publish(listChannel(this.#config.keyPrefix), `evicted ${id}`)))
  }

  /**
   * Every `probeMs`: a DAG whose head in Redis is past what its follower delivered missed a message
   * (pub/sub is at most once) and catches up; and the subscriber connection must answer a PING, since a
   * failover can leave a connection open but deaf.
   */
  #runProbe (): void {
    // Ids of DAGs idle past maxIdleMs go here, so the index stays as large as the set of live DAGs
    // (and those finished within maxIdleMs).
    this.#pruneIdle().then(() => this.#listWatchers.size > 0 ? this.#reconcileIndex() : undefined).catch(ignoreFailure)
    const subscriber = this.#connections.subscriber
    const deaf = setTimeout(() => {
      this.#settings.log.error('fastify-dag-stream: the Redis subscriber connection does not answer; reconnecting')
      subscriber.disconnect(true)
    }, this.#config.probeMs)
    subscriber.ping().then(() => clearTimeout(deaf), () => clearTimeout(deaf))
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

  #watchConnections (): void {
    const { commands, subscriber } = this.#connections
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel, message))
    for (const [name, connection] of [['commands', commands], ['subscriber', subscriber]] as const) {
      // Errors repeat on every reconnect attempt: the first one of an outage is enough.
      connection.on('error', (error: Error) => {
        if (!this.#lost.has(name)) this.#settings.log.error({ err: error, connection: name }, 'fastify-dag-stream: Redis error')
      })
      connection.on('close', () => {
        // Before ready() succeeded, a failed connection is ready()'s error to report.
        if (this.#closed || this.#probe === undefined || this.#lost.has(name)) return
        this.#lost.add(name)
        this.#settings.log.error({ connection: name }, 'fastify-dag-stream: lost the connection to Redis; broadcasts fail and new streams are refused until it is back')
      })
      connection.on('ready', () => {
        if (this.#closed || !this.#lost.has(name)) return
        if (name === 'commands') this.#recovered(name)
        else this.#resubscribe()
      })
    }
  }

  /**
   * The subscriber resubscribes here rather than through ioredis's autoResubscribe: the channels must
   * be confirmed before the followers read the log, or what is published in between would be lost.
   */
  #resubscribe (): void {
    const channels = [instanceChannel(this.#config.keyPrefix, this.#id), ...this.#followed.keys(), ...this.presence.channels()]
    if (this.#listWatchers.size > 0) channels.push(listChannel(this.#config.keyPrefix))
    this.#connections.subscriber.subscribe(...channels).then(
      () => {
        this.#recovered('subscriber')
        for (const { follower } of this.#followed.values()) follower.recover()
        // The list channel has no sequence to fill a gap from: the lists read their page again.
        for (const watcher of this.#listWatchers) watcher({ type: 'list_gap' })
        // Presence deltas are not logged either: the watched DAGs are read again and diffed.
        void this.presence.recover()
      },
      (error: unknown) => this.#settings.log.error({ err: error }, 'fastify-dag-stream: could not resubscribe after a reconnect')
    )
  }

  #recovered (name: 'commands' | 'subscriber'): void {
    this.#lost.delete(name)
    this.#settings.log.info({ connection: name, dags: this.#followed.size }, 'fastify-dag-stream: the connection to Redis is back; catching up')
  }

  // -------------------------------------------------------------------------------------------
  // State and checkpoints
  // -------------------------------------------------------------------------------------------

  /** The checkpoint plus the entries after it, through the reducer. */
  async #readState (dagId: string): Promise<DagRead | undefined> {
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

  #keys (dagId: string): DagKeys {
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

/** Resolves once `redis` is ready, connecting it if it was created with `lazyConnect`. */
async function connected (redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') return
  if (redis.status === 'wait') return redis.connect()
  if (redis.status === 'end') throw new Error('the application\'s Redis client is closed')
  // An application's client still connecting. The backplane's own duplicate of it connected first,
  // so this one reaches the same server: it gets ready soon, or the application closes it.
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      redis.off('end', onEnd)
      resolve()
    }
    /* c8 ignore next 4 -- the application closing its client in the millisecond it takes to connect: no test can time it */
    const onEnd = () => {
      redis.off('ready', onReady)
      reject(new Error('the application\'s Redis client was closed'))
    }
    redis.once('ready', onReady).once('end', onEnd)
  })
}

/** For what may fail with nothing to do about it (the outage itself is logged by the connection events). */
function ignoreFailure (): void {}

/** A pub/sub message: `<seq> <epoch> <frame>`; the frame stays a view of the message's bytes. */
function parseEntry (message: Buffer): LogEntry {
  const afterSeq = message.indexOf(0x20)
  const afterEpoch = message.indexOf(0x20, afterSeq + 1)
  return {
    seq: Number(message.toString('latin1', 0, afterSeq)),
    epoch: message.toString('latin1', afterSeq + 1, afterEpoch),
    frame: message.subarray(afterEpoch + 1)
  }
}

/** A stream entry id `<seq>-0`. */
function seqOf (id: Buffer): number {
  return Number.parseInt(id.toString('latin1'), 10)
}

function decodeGate (phase: string, claim: string): GateRecord {
  const record: GateRecord = {}
  decodePhase(phase, record)
  if (claim !== '') record.claim = JSON.parse(claim) as ClaimRecord
  return record
}

function encodeGate (record: GateRecord): [string, string] {
  return [encodePhase(record), record.claim === undefined ? '' : JSON.stringify(record.claim)]
}
