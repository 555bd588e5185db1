// What a benchmark leaves in a shared Redis: its keys, all under the prefix it chose, deleted when it ends.

import { Redis } from 'ioredis'

/** Deletes every key under `prefix` (SCAN in pages, so a large Redis is not blocked). */
export async function deleteKeysUnder (url: string, prefix: string): Promise<void> {
  const redis = new Redis(url)
  try {
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
