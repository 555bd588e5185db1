// Presence on Redis: the viewers of every instance, and instances that die without a word.
//
//   {prefix}:{dagId}:presence           hash: viewer id → {"i": instance id, "v": viewer}
//   {prefix}:{dagId}:presence-changes   pub/sub: {"i": instance id, "c": change} for every write
//   {prefix}:presence-alive:<instance>  string with a TTL, refreshed by its instance every ttl/3
//
// A viewer counts while its instance's liveness key exists. An instance that is SIGKILLed stops
// refreshing it; once it expires, every other instance drops that instance's viewers from what it
// reports (its next heartbeat tells its sockets, and deletes the stale fields). The hash itself
// expires when no live instance has viewers in it any more.

import type { FastifyBaseLogger } from 'fastify'
import type { PresenceViewer } from '../../../schemas/events.js'
import { isEmptyChange, type PresenceChange } from '../../shared/presence-change.js'
import type { PresenceListener, PresenceStore, PresenceWatch } from '../types.js'
import type { RedisClient } from './backplane.js'

export interface RedisPresenceOptions {
  commands: RedisClient
  subscriber: RedisClient
  keyPrefix: string
  /** This backplane instance. */
  instanceId: string
  /** How long the viewers of an instance outlive its last heartbeat. */
  ttlMs: number
  log: FastifyBaseLogger
}

/** One viewer as stored, with the instance whose socket it is. */
interface Entry {
  i: string
  v: PresenceViewer
}

interface Message {
  i: string
  c: PresenceChange
}

interface WatchedDAG {
  dagId: string
  listeners: Set<PresenceListener>
  /**
   * The DAG's viewers as this instance knows them, with their instance: what a dead instance takes
   * away, and what the pictures of sockets joining here are built from (read once, when the watch starts).
   */
  known: Map<string, Entry>
  started: Promise<void>
}

export function presenceKeys (keyPrefix: string, dagId: string) {
  const tagged = `${keyPrefix}:{${dagId}}`
  return { hash: `${tagged}:presence`, channel: `${tagged}:presence-changes` }
}

export class RedisPresence implements PresenceStore {
  readonly #options: RedisPresenceOptions
  /** By channel. */
  readonly #watched = new Map<string, WatchedDAG>()
  /** The DAGs where this instance has viewers: their hash must not expire. */
  readonly #own = new Map<string, Set<string>>()
  readonly #aliveKey: string
  #heartbeat: NodeJS.Timeout | undefined

  constructor (options: RedisPresenceOptions) {
    this.#options = options
    this.#aliveKey = `${options.keyPrefix}:presence-alive:${options.instanceId}`
  }

  /** Says this instance is alive, and keeps saying it. */
  async start (): Promise<void> {
    await this.#markAlive()
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(1, Math.floor(this.#options.ttlMs / 3)))
  }

  async update (dagId: string, change: PresenceChange): Promise<void> {
    const { hash, channel } = presenceKeys(this.#options.keyPrefix, dagId)
    const own = this.#own.get(dagId) ?? new Set<string>()
    for (const viewer of change.upserted) own.add(viewer.id)
    for (const id of change.removed) own.delete(id)
    if (own.size === 0) this.#own.delete(dagId)
    else this.#own.set(dagId, own)
    const transaction = this.#options.commands.multi()
    for (const viewer of change.upserted) transaction.hset(hash, viewer.id, JSON.stringify({ i: this.#options.instanceId, v: viewer } satisfies Entry))
    if (change.removed.length > 0) transaction.hdel(hash, ...change.removed)
    transaction.pexpire(hash, this.#hashTtl())
    transaction.publish(channel, JSON.stringify({ i: this.#options.instanceId, c: change } satisfies Message))
    await transaction.exec()
  }

  async watch (dagId: string, listener: PresenceListener): Promise<PresenceWatch> {
    const { channel } = presenceKeys(this.#options.keyPrefix, dagId)
    let watched = this.#watched.get(channel)
    if (watched === undefined) {
      const known = new Map<string, Entry>()
      // Subscribe first, then read: what is published in between is applied on top of the read.
      const started = this.#options.subscriber.subscribe(channel).then(async () => {
        // A delta that arrived between the SUBSCRIBE reply and this read is newer than the read.
        /* c8 ignore next -- that window is a race between two Redis replies no test can time */
        for (const [id, entry] of await this.#read(dagId)) known.set(id, known.get(id) ?? entry)
      })
      const created: WatchedDAG = (watched = { dagId, listeners: new Set(), known, started })
      this.#watched.set(channel, created)
      started.catch(() => {
        if (this.#watched.get(channel) === created) this.#watched.delete(channel)
      })
    }
    const { listeners, started } = watched
    listeners.add(listener)
    try {
      await started
    } catch (error) {
      listeners.delete(listener)
      throw error
    }
    const mine = watched
    return {
      viewers: () => viewersOf(mine.known),
      stop: () => {
        listeners.delete(listener)
        if (listeners.size > 0 || this.#watched.get(channel) !== mine) return
        this.#watched.delete(channel)
        if (this.#options.subscriber.status === 'ready') this.#options.subscriber.unsubscribe(channel).catch(() => {})
      }
    }
  }

  /** A message on the subscriber connection: whether it was a presence channel's. */
  receive (channel: string, raw: Buffer): boolean {
    const watched = this.#watched.get(channel)
    if (watched === undefined) return false
    let message: Message
    try {
      message = JSON.parse(raw.toString()) as Message
    } catch (error) {
      this.#options.log.error({ err: error, channel }, 'fastify-dag-stream: unreadable presence message')
      return true
    }
    for (const viewer of message.c.upserted) watched.known.set(viewer.id, { i: message.i, v: viewer })
    for (const id of message.c.removed) watched.known.delete(id)
    this.#notify(watched, message.c)
    return true
  }

  /**
   * After the subscriber reconnected (its channels subscribed again): what was published while it
   * was away never arrives, so each watched DAG is read again and its listeners get the difference
   * between what they were told and the hash — the same delta frames as ever, ending on the truth.
   */
  async recover (): Promise<void> {
    await Promise.all([...this.#watched.values()].map(async (watched) => {
      try {
        await this.#catchUp(watched)
        /* c8 ignore start -- Redis failing again right after the subscriber came back; the next
           delta or heartbeat repairs the picture, as after a failed write */
      } catch (error) {
        this.#options.log.warn({ err: error, dagId: watched.dagId }, 'fastify-dag-stream: could not read presence again after a reconnect')
      }
      /* c8 ignore stop */
    }))
  }

  /** The channels to subscribe again after the subscriber reconnects. */
  channels (): string[] {
    return [...this.#watched.keys()]
  }

  async close (): Promise<void> {
    clearInterval(this.#heartbeat)
    this.#watched.clear()
    // Gone at once rather than at its expiry: another instance's next heartbeat drops what is left.
    await this.#options.commands.del(this.#aliveKey).catch(() => {})
  }

  #notify (watched: WatchedDAG, change: PresenceChange): void {
    for (const listener of watched.listeners) listener(watched.dagId, change, watched.known.size, viewersOf(watched.known))
  }

  #hashTtl (): number {
    return this.#options.ttlMs * 2
  }

  async #markAlive (): Promise<void> {
    await this.#options.commands.set(this.#aliveKey, '1', 'PX', this.#options.ttlMs)
  }

  /** The DAG's viewers on live instances; the fields of dead instances are deleted on the way. */
  async #read (dagId: string): Promise<Map<string, Entry>> {
    const { hash } = presenceKeys(this.#options.keyPrefix, dagId)
    const fields = await this.#options.commands.hgetall(hash)
    const entries = new Map(Object.entries(fields).map(([id, json]) => [id, JSON.parse(json) as Entry]))
    const dead = await this.#deadAmong(new Set([...entries.values()].map((entry) => entry.i)))
    const stale = [...entries].filter(([, entry]) => dead.has(entry.i)).map(([id]) => id)
    for (const id of stale) entries.delete(id)
    if (stale.length > 0) this.#options.commands.hdel(hash, ...stale).catch(() => {})
    return entries
  }

  async #deadAmong (instances: Set<string>): Promise<Set<string>> {
    const others = [...instances].filter((instance) => instance !== this.#options.instanceId)
    const alive = await Promise.all(others.map((instance) => this.#options.commands.exists(`${this.#options.keyPrefix}:presence-alive:${instance}`)))
    return new Set(others.filter((_, index) => alive[index] === 0))
  }

  /** Every ttl/3: stay alive, keep this instance's hashes, and drop the viewers of dead instances. */
  #beat (): void {
    const { commands, keyPrefix, log } = this.#options
    this.#markAlive().catch(() => {}) // an unreachable Redis is reported by the connection events
    for (const dagId of this.#own.keys()) commands.pexpire(presenceKeys(keyPrefix, dagId).hash, this.#hashTtl()).catch(() => {})
    for (const watched of this.#watched.values()) {
      this.#dropDead(watched).catch((error: unknown) => log.warn({ err: error, dagId: watched.dagId }, 'fastify-dag-stream: could not check presence'))
    }
  }

  async #catchUp (watched: WatchedDAG): Promise<void> {
    const truth = await this.#read(watched.dagId)
    const change: PresenceChange = { upserted: [], removed: [] }
    for (const [id, entry] of truth) {
      const told = watched.known.get(id)
      if (told === undefined || JSON.stringify(told.v) !== JSON.stringify(entry.v)) change.upserted.push(entry.v)
    }
    for (const id of watched.known.keys()) if (!truth.has(id)) change.removed.push(id)
    watched.known.clear()
    for (const [id, entry] of truth) watched.known.set(id, entry)
    if (!isEmptyChange(change)) this.#notify(watched, change)
  }

  async #dropDead (watched: WatchedDAG): Promise<void> {
    const dead = await this.#deadAmong(new Set([...watched.known.values()].map((entry) => entry.i)))
    const removed = [...watched.known].filter(([, entry]) => dead.has(entry.i)).map(([id]) => id)
    if (removed.length === 0) return
    for (const id of removed) watched.known.delete(id)
    this.#options.commands.hdel(presenceKeys(this.#options.keyPrefix, watched.dagId).hash, ...removed).catch(() => {})
    this.#notify(watched, { upserted: [], removed })
  }
}

function * viewersOf (known: Map<string, Entry>): Iterable<PresenceViewer> {
  for (const entry of known.values()) yield entry.v
}
