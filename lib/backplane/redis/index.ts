// `fastify-dag-stream/redis`: the backplane that lets N instances and engine workers share every DAG.
//
//   import { redisBackplane } from 'fastify-dag-stream/redis'
//   await app.register(dagStream, { backplane: redisBackplane({ url: 'redis://127.0.0.1:6379' }) })

import { Redis } from 'ioredis'
import { InvalidOptionError } from '../../errors.js'
import { OptionChecks, showValue } from '../../shared/option-checks.js'
import type { BackplaneProvider } from '../types.js'
import { RedisBackplane, type RedisClient, type RedisConnections } from './backplane.js'

export const DEFAULT_KEY_PREFIX = 'dag-stream'
/** Often enough that a deaf subscriber or a lost message is noticed within seconds; one HMGET per followed DAG. */
export const DEFAULT_PROBE_MS = 5_000
/** How long the viewers of an instance that died without a word still show: its heartbeat is every third of it. */
export const DEFAULT_PRESENCE_TTL_MS = 15_000

export interface RedisBackplaneOptions {
  /** Where Redis is, e.g. `redis://127.0.0.1:6379` or `rediss://user:pass@host:6380/0`. Give this or `client`. */
  url?: string
  /**
   * An ioredis `Redis` or `Cluster` of the application. The backplane runs its commands on it, opens its
   * own subscriber connection with `duplicate()`, and closes only that one.
   * Tip: create it with `enableOfflineQueue: false`, so broadcasts fail at once while Redis is down.
   */
  client?: RedisClient
  /** Prefix of every key and channel, so several apps can share one Redis. No `{` or `}`. @default 'dag-stream' */
  keyPrefix?: string
  /** How often followed DAGs are checked for missed messages and the subscriber pinged. @default 5000 */
  probeMs?: number
  /** How long the viewers of an instance that died (SIGKILL, a lost pod) still show to the others. @default 15000 */
  presenceTtlMs?: number
}

/**
 * The Redis backplane, for the plugin's `backplane` option. The plugin's `historySize`,
 * `retainFinishedMs`, `maxIdleMs` and `commandTimeoutMs` apply to it.
 * @example app.register(dagStream, { backplane: redisBackplane({ url: process.env.REDIS_URL }) })
 */
export function redisBackplane (options: RedisBackplaneOptions): BackplaneProvider {
  const config = resolveRedisOptions(options)
  return {
    kind: 'redis',
    create: (settings) => new RedisBackplane(settings, config, connect(config))
  }
}

const check: OptionChecks = new OptionChecks('redisBackplane() ', (message) => new InvalidOptionError(message))

interface ResolvedRedisOptions {
  url?: string
  client?: RedisClient
  keyPrefix: string
  probeMs: number
  presenceTtlMs: number
}

function resolveRedisOptions (options: RedisBackplaneOptions): ResolvedRedisOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`redisBackplane() takes { url } or { client }, got ${showValue(options)}`)
  }
  const { url, client, keyPrefix = DEFAULT_KEY_PREFIX } = options
  if ((url === undefined) === (client === undefined)) {
    throw new InvalidOptionError('redisBackplane() takes exactly one of "url" (redis://host:port) and "client" (an ioredis Redis or Cluster)')
  }
  if (url !== undefined && (typeof url !== 'string' || !URL.canParse(url) || !/^rediss?:$/.test(new URL(url).protocol))) {
    check.reject('url', 'look like redis://host:6379 or rediss://host:6380', url)
  }
  if (client !== undefined && typeof (client as Partial<RedisClient> | null)?.duplicate !== 'function') {
    throw new InvalidOptionError('redisBackplane() "client" must be an ioredis Redis or Cluster instance')
  }
  if (typeof keyPrefix !== 'string' || !/^[^{}\s]{1,64}$/.test(keyPrefix)) {
    // A brace would move the hash tag that keeps a DAG's keys in one Cluster slot.
    check.reject('keyPrefix', 'be 1-64 characters without spaces, "{" or "}"', keyPrefix)
  }
  const probeMs = check.integer('probeMs', options.probeMs, DEFAULT_PROBE_MS)
  const presenceTtlMs = check.integer('presenceTtlMs', options.presenceTtlMs, DEFAULT_PRESENCE_TTL_MS, 3, 'be an integer of at least 3 (ms)')
  return client === undefined ? { url, keyPrefix, probeMs, presenceTtlMs } : { client, keyPrefix, probeMs, presenceTtlMs }
}

/**
 * Connections the backplane opens itself fail fast while Redis is down (no offline queue, no retry of
 * a command: an append that may or may not have run must not run twice) and reconnect by themselves.
 */
const OWN_CONNECTION = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: false
} as const

function connect (config: ResolvedRedisOptions): RedisConnections {
  if (config.client !== undefined) {
    return { commands: config.client, subscriber: duplicate(config.client), ownsCommands: false }
  }
  const commands = new Redis(config.url as string, OWN_CONNECTION)
  return { commands, subscriber: commands.duplicate(), ownsCommands: true }
}

function duplicate (client: RedisClient): RedisClient {
  return 'nodes' in client ? client.duplicate(undefined, { redisOptions: OWN_CONNECTION, lazyConnect: true }) : client.duplicate(OWN_CONNECTION)
}

export { RedisBackplane } from './backplane.js'
export type { RedisClient } from './backplane.js'
