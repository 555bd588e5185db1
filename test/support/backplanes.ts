// The backplanes the contract suites run against, through the Backplane interface alone: memory, and
// Redis (real Redis at 127.0.0.1:6379, under a key prefix of the test's own).

import type { Test } from 'tap'
import { redisBackplane } from '../../lib/backplane/redis/index.js'
import { memoryBackplane, type Backplane, type BackplaneProvider, type BackplaneSettings } from '../../lib/index.js'
import { silentLogger } from './logger.js'
import { cleanupPrefix, REDIS_URL, uniquePrefix } from './redis-helpers.js'

/**
 * A kind of backplane. `store(t)` gives a provider whose backplanes share one store, as the instances
 * of one deployment do (memory: one process, so every instance is the same backplane). `probeMs`: how
 * often the Redis backplane reconciles its list index (and probes its followers).
 */
export interface BackplaneKind {
  name: string
  store(t: Test, probeMs?: number): BackplaneProvider
}

export const BACKPLANE_KINDS: readonly BackplaneKind[] = [
  {
    name: 'memory',
    store: () => {
      let shared: Backplane | undefined
      return { kind: 'memory', create: (settings) => (shared ??= memoryBackplane.create(settings)) }
    }
  },
  {
    name: 'redis',
    store: (t, probeMs) => {
      const keyPrefix = uniquePrefix('contract')
      cleanupPrefix(t, keyPrefix)
      return redisBackplane({ url: REDIS_URL, keyPrefix, probeMs })
    }
  }
]

/** A backplane of `provider`, ready, closed when the test ends; `execute` answers dispatched client events. */
export async function openBackplane (t: Test, provider: BackplaneProvider, settings: Partial<BackplaneSettings> = {}): Promise<Backplane> {
  const backplane = provider.create({
    historySize: 100,
    retainFinishedMs: 60_000,
    maxIdleMs: 60_000,
    commandTimeoutMs: 2000,
    execute: async () => ({ ok: true }),
    receiveStreamMessage: () => ({ ok: true }),
    log: silentLogger,
    ...settings
  })
  t.teardown(() => backplane.close())
  await backplane.ready()
  return backplane
}
