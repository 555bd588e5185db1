// What a benchmark or a test leaves in a shared Redis: its keys, all under the prefix it chose, deleted
// when it ends (test/support/redis-helpers.ts cleanupPrefix uses this too).

import { Redis } from 'ioredis'

/** Deletes every key under `prefix` (SCAN in pages, so a large Redis is not blocked). */
export async function deleteKeysUnder (url: string, prefix: string): Promise<void> {
  // One try per command: a Redis that is down (a test that stopped it) fails the clean-up, never hangs it.
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}
