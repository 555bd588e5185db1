// The command feeds of engines that talk HTTP (lib/http/engine-api.ts): one per DAG on this instance.
//
// Holding a feed makes its instance the DAG's driver: the client events of dashboards are dispatched
// here (backplane `drive`), and go down the feed as `event: command` messages. The engine answers
// each by POST, through any instance: the answer carries the feed's key, whose first part names this
// instance (the keys of lib/stream/stream-keys.ts), and the backplane's `sendToInstance` brings it
// here. A command's outcome is the engine's answer, as an `onClientEvent` handler's would be: the
// gate rules, the gate book and `human_gate_resolved` are the plugin's (lib/commands/commands.ts).
//
// A feed also holds the engine lease of lib/engine/runs.ts while it is open: a feed that drops stops
// renewing it, and the run shows `stalled` within `engineLeaseMs`.

import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { ClientEvent, DAGEvent, SequencedEvent } from '../../schemas/events.js'
import type { EngineAnswer, EngineCommand, EngineFeedOpened } from '../../schemas/engine.js'
import type { Backplane, CommandOutcome } from '../backplane/types.js'
import { BackplaneUnavailableError } from '../errors.js'
import { isFinished } from '../shared/reducer.js'
import { expiryTimer } from '../access/authorize.js'

/** Commands waiting for an engine's answer on one feed, at most: past it, a command is refused at once. */
const MAX_PENDING = 1000

/** What lib/commands/commands.ts asks of the engine of a DAG whose feed is held here. */
export interface RemoteEngine {
  /** Sends the command down the feed; resolves with the engine's answer, or engine_unavailable if the feed ends first. */
  ask(event: ClientEvent, sender: unknown): Promise<CommandOutcome>
}

export interface FeedsDeps {
  backplane: Backplane
  /** A new feed key: `<instance>.<secret>`. */
  createKey(): string
  append(dagId: string, event: DAGEvent): Promise<SequencedEvent>
  leaseMs: number
  heartbeatMs: number
  log: FastifyBaseLogger
}

interface Feed {
  dagId: string
  key: string
  response: ServerResponse
  pending: Map<string, (outcome: CommandOutcome) => void>
  timer: NodeJS.Timeout
  ticks: number
  expiry: NodeJS.Timeout | undefined
}

export class EngineFeeds {
  readonly #deps: FeedsDeps
  readonly #byDAG = new Map<string, Feed>()
  readonly #byKey = new Map<string, Feed>()

  constructor (deps: FeedsDeps) {
    this.#deps = deps
  }

  /**
   * Serves the feed of `dagId` on `response` (headers already written) until it closes. A feed already
   * open here for the DAG is ended: the newest engine process drives (the older one is most often a
   * dead peer whose socket has not timed out yet).
   */
  async open (dagId: string, response: ServerResponse, expiresAt?: number): Promise<void> {
    const previous = this.#byDAG.get(dagId)
    if (previous !== undefined) this.#end(previous)
    const feed: Feed = {
      dagId,
      key: this.#deps.createKey(),
      response,
      pending: new Map(),
      // Every quarter lease: the lease, and a heartbeat comment when one is due.
      timer: setInterval(() => this.#tick(feed), this.#tickMs()),
      ticks: 0,
      // Credentials that end close the feed, with a last message that says so (as a stream's 4401).
      expiry: expiryTimer(expiresAt, () => {
        response.write('event: close\ndata: {"code":4401,"reason":"credentials expired"}\n\n')
        this.#end(feed)
      })
    }
    this.#byDAG.set(dagId, feed)
    this.#byKey.set(feed.key, feed)
    response.on('close', () => this.#closed(feed))
    const opened: EngineFeedOpened = { feed: feed.key, lease_ms: this.#deps.leaseMs }
    response.write(`event: feed\ndata: ${JSON.stringify(opened)}\n\n`)
    await this.#holdLease(feed)
  }

  /** The engine whose feed of `dagId` is open here, if any. */
  engine (dagId: string): RemoteEngine | undefined {
    const feed = this.#byDAG.get(dagId)
    if (feed === undefined) return undefined
    return { ask: (event, sender) => this.#ask(feed, event, sender) }
  }

  /** An engine's answer to a command of a feed of this instance (the backplane's `receiveStreamMessage`). */
  receive (dagId: string, answer: EngineAnswer): CommandOutcome {
    const feed = this.#byKey.get(answer.feed)
    const resolve = feed?.dagId === dagId ? feed.pending.get(answer.id) : undefined
    if (feed === undefined || resolve === undefined) {
      return { ok: false, code: 'stream_not_found', message: `No open command feed of DAG "${dagId}" has this key and a command "${answer.id}" waiting: it was answered, the feed ended, or the key is not one this server gave` }
    }
    feed.pending.delete(answer.id)
    resolve(answer.ok ? { ok: true } : { ok: false, code: 'handler_failed', message: answer.message ?? 'The engine refused this event' })
    return { ok: true }
  }

  /** Ends every feed (app.close()): their engines reconnect to another instance. */
  close (): void {
    for (const feed of [...this.#byDAG.values()]) this.#end(feed)
  }

  #ask (feed: Feed, event: ClientEvent, sender: unknown): Promise<CommandOutcome> {
    /* c8 ignore next 3 -- a bound against an engine that never answers: reaching it takes a thousand commands left unanswered */
    if (feed.pending.size >= MAX_PENDING) {
      return Promise.resolve({ ok: false, code: 'engine_unavailable', message: 'The engine has too many commands unanswered' })
    }
    const id = event.id ?? randomUUID()
    const command: EngineCommand = sender === undefined ? { ...event, id } : { ...event, id, sender }
    return new Promise((resolve) => {
      feed.pending.set(id, resolve)
      feed.response.write(`event: command\ndata: ${JSON.stringify(command)}\n\n`)
    })
  }

  #tickMs (): number {
    return Math.max(1, Math.floor(this.#deps.leaseMs / 4))
  }

  #tick (feed: Feed): void {
    feed.ticks += 1
    if (feed.ticks * this.#tickMs() >= this.#deps.heartbeatMs) {
      feed.ticks = 0
      feed.response.write(': heartbeat\n\n')
    }
    this.#holdLease(feed).catch(() => {})
  }

  /**
   * Renews the lease and the driver. A run left stalled (its engine's feed dropped) runs again: its
   * engine is back. Unreachable backplane: the next tick tries again.
   */
  async #holdLease (feed: Feed): Promise<void> {
    const { backplane, leaseMs } = this.#deps
    try {
      await backplane.drive(feed.dagId)
      const status = await backplane.renewLease(feed.dagId, Date.now() + Math.floor(leaseMs / 2))
      if (status?.status === 'stalled' && this.#byDAG.get(feed.dagId) === feed) {
        await this.#deps.append(feed.dagId, { type: 'execution_status', status: 'running' })
      }
    /* c8 ignore start -- Redis unreachable while a feed is open: the next tick tries again (the lease may lapse meanwhile, which is the truth); anything else is a bug, logged */
    } catch (error) {
      if (!(error instanceof BackplaneUnavailableError)) this.#deps.log.error({ err: error, dagId: feed.dagId }, 'fastify-dag-stream: an engine feed could not hold its lease')
    }
    /* c8 ignore stop */
  }

  #end (feed: Feed): void {
    this.#closed(feed)
    feed.response.end()
  }

  #closed (feed: Feed): void {
    if (this.#byKey.get(feed.key) !== feed) return
    clearInterval(feed.timer)
    clearTimeout(feed.expiry)
    this.#byKey.delete(feed.key)
    if (this.#byDAG.get(feed.dagId) === feed) this.#byDAG.delete(feed.dagId)
    for (const resolve of feed.pending.values()) {
      resolve({ ok: false, code: 'engine_unavailable', message: 'The engine\'s command feed ended before it answered: nothing was done' })
    }
    feed.pending.clear()
    // The lease is left to lapse (the run shows stalled), unless the run is over: then nobody drives it.
    this.#deps.backplane.status(feed.dagId).then((status) => {
      if (status !== undefined && isFinished(status.status)) return this.#deps.backplane.releaseLease(feed.dagId)
    }).catch(() => {})
  }
}
