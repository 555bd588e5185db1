// The health of the backplane's two Redis connections: connecting them, noticing a loss and the
// recovery (each logged once), and the probe's check that the subscriber still answers (a failover can
// leave a connection open but deaf).

import type { FastifyBaseLogger } from 'fastify'
import type { RedisClient, RedisConnections } from './backplane.js'

export type ConnectionName = 'commands' | 'subscriber'

export interface HealthHooks {
  /** Whether a loss matters: ready() succeeded (before, a failure is its error to report) and close() was not called. */
  watching(): boolean
  /** The subscriber is back: subscribe again to what this instance follows, and catch up. */
  resubscribe(): Promise<void>
  /** How many DAGs this instance follows, for the log line of a recovery. */
  followed(): number
}

export class ConnectionHealth {
  readonly #connections: RedisConnections
  readonly #log: FastifyBaseLogger
  readonly #hooks: HealthHooks
  /** The connections that are down: a loss is logged once, and so is the recovery. */
  readonly #lost = new Set<ConnectionName>()

  constructor (connections: RedisConnections, log: FastifyBaseLogger, hooks: HealthHooks) {
    this.#connections = connections
    this.#log = log
    this.#hooks = hooks
    const { commands, subscriber } = connections
    for (const [name, connection] of [['commands', commands], ['subscriber', subscriber]] as const) {
      // Errors repeat on every reconnect attempt: the first one of an outage is enough.
      connection.on('error', (error: Error) => {
        if (!this.#lost.has(name)) log.error({ err: error, connection: name }, 'fastify-dag-stream: Redis error')
      })
      connection.on('close', () => {
        if (!hooks.watching() || this.#lost.has(name)) return
        this.#lost.add(name)
        log.error({ connection: name }, 'fastify-dag-stream: lost the connection to Redis; broadcasts fail and new streams are refused until it is back')
      })
      connection.on('ready', () => {
        if (!hooks.watching() || !this.#lost.has(name)) return
        if (name === 'commands') {
          this.#recovered(name)
          return
        }
        hooks.resubscribe().then(
          () => this.#recovered(name),
          (error: unknown) => log.error({ err: error }, 'fastify-dag-stream: could not resubscribe after a reconnect')
        )
      })
    }
  }

  /**
   * Pings the subscriber: one that does not answer within `timeoutMs` is disconnected, and ioredis
   * connects it again (then `resubscribe` follows).
   */
  pingSubscriber (timeoutMs: number): void {
    const subscriber = this.#connections.subscriber
    const deaf = setTimeout(() => {
      this.#log.error('fastify-dag-stream: the Redis subscriber connection does not answer; reconnecting')
      subscriber.disconnect(true)
    }, timeoutMs)
    subscriber.ping().then(() => clearTimeout(deaf), () => clearTimeout(deaf))
  }

  #recovered (name: ConnectionName): void {
    this.#lost.delete(name)
    this.#log.info({ connection: name, dags: this.#hooks.followed() }, 'fastify-dag-stream: the connection to Redis is back; catching up')
  }
}

/** Resolves once `redis` is ready, connecting it if it was created with `lazyConnect`. */
export async function connected (redis: RedisClient): Promise<void> {
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
