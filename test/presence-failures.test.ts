// Presence when things go wrong: a store that fails, a delta that arrives while a socket is still
// reading the picture, a Redis subscriber that is down, and an unreadable message on a presence channel.

import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { PresenceDeltaFrame, PresenceFrame, PresenceViewer } from '../schemas/index.js'
import type { PresenceChange, PresenceListener, PresenceStore } from '../lib/backplane/types.js'
import { RedisPresence, presenceKeys } from '../lib/backplane/redis/presence.js'
import { Presence, type PresenceMember } from '../lib/presence.js'
import { gate } from './client-helpers.js'
import { cleanupPrefix, REDIS_URL, uniquePrefix } from './redis-helpers.js'

function recordingLog () {
  const lines: Array<{ level: string; message: string }> = []
  const record = (level: string) => (_details: unknown, message: string) => lines.push({ level, message })
  return { lines, log: { warn: record('warn'), error: record('error') } as unknown as FastifyBaseLogger }
}

function member (id: string, log: FastifyBaseLogger) {
  const frames: Array<PresenceFrame | PresenceDeltaFrame> = []
  const joined: PresenceMember = { id, dagId: 'd', log, sendPresence: (frame) => frames.push(JSON.parse(frame.toString()) as PresenceFrame | PresenceDeltaFrame) }
  return { frames, member: joined }
}

/** A store in the test's hands: what list answers and when, whether update fails, and its watchers. */
function controlledStore () {
  const store = {
    listeners: [] as PresenceListener[],
    list: async (): Promise<PresenceViewer[]> => [],
    update: async (_dagId: string, _change: PresenceChange): Promise<void> => {},
    watch: async (_dagId: string, listener: PresenceListener) => {
      store.listeners.push(listener)
      return () => {}
    }
  }
  return store as typeof store & PresenceStore
}

t.test('a delta that arrives while a socket reads the picture follows the picture', async (t) => {
  const { log } = recordingLog()
  const store = controlledStore()
  const listed = gate()
  store.list = async () => {
    await listed.opened
    return [{ id: 'other', gate: null }]
  }
  const presence = new Presence({ store, flushMs: 60_000, log })
  const { frames, member: joining } = member('me', log)
  const joined = presence.join(joining, undefined)
  await new Promise((resolve) => setImmediate(resolve))
  store.listeners[0]?.('d', { upserted: [{ id: 'other', gate: 'review' }], removed: [] }, 2, [{ id: 'me', gate: null }, { id: 'other', gate: 'review' }])
  t.same(frames, [], 'nothing before the picture')
  listed.open()
  await joined
  t.same(frames.map((frame) => frame.type), ['presence', 'presence_delta'])
  t.same((frames[1] as PresenceDeltaFrame).upserted, [{ id: 'other', gate: 'review' }])
  await presence.close()
})

t.test('a store that fails: the stream goes on without the picture, and a failed write is logged', async (t) => {
  const { lines, log } = recordingLog()
  const store = controlledStore()
  store.list = async () => {
    throw new Error('Redis is down')
  }
  store.update = async () => {
    throw new Error('Redis is down')
  }
  const presence = new Presence({ store, flushMs: 60_000, log })
  const { frames, member: joining } = member('me', log)
  await presence.join(joining, undefined)
  t.same(frames, [], 'no picture')
  store.listeners[0]?.('d', { upserted: [{ id: 'other', gate: null }], removed: [] }, 2, [{ id: 'me', gate: null }, { id: 'other', gate: null }])
  t.same(frames.map((frame) => frame.type), ['presence_delta'], 'deltas still reach it')
  presence.viewGate(joining, null) // unchanged: nothing to write
  presence.leave(joining)
  presence.leave(joining) // twice: nothing more
  await presence.close()
  t.same(lines, [
    { level: 'warn', message: 'fastify-dag-stream: could not read who watches the DAG' },
    { level: 'warn', message: 'fastify-dag-stream: could not write presence' }
  ])
})

t.test('Redis presence: a subscriber that is down fails watch, and the next watch tries again', async (t) => {
  const prefix = uniquePrefix('presence-down')
  cleanupPrefix(t, prefix)
  const { log } = recordingLog()
  const commands = new Redis(REDIS_URL)
  const down = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false })
  t.teardown(() => {
    commands.disconnect()
    down.disconnect()
  })
  const presence = new RedisPresence({ commands, subscriber: down, keyPrefix: prefix, instanceId: 'i1', ttlMs: 60_000, log })
  await t.rejects(presence.watch('d', () => {}))
  t.same(presence.channels(), [], 'the failed watch left nothing behind')
  // The failed command woke the lazy connection up: once it is ready, watching works.
  if (down.status !== 'ready') await new Promise((resolve) => down.once('ready', resolve))
  const stop = await presence.watch('d', () => {})
  const channel = presenceKeys(prefix, 'd').channel
  t.same(presence.channels(), [channel])
  const other = await presence.watch('d', () => {})
  stop()
  t.same(presence.channels(), [channel], 'watched while a watcher is left')
  other()
  t.same(presence.channels(), [], 'the last one stops watching')
  const again = await presence.watch('d', () => {})
  other() // a stale stop: it must not end the new watch
  t.same(presence.channels(), [channel])
  again()
  await presence.close()
})

t.test('Redis presence: an unreadable message on a presence channel is logged and skipped', async (t) => {
  const prefix = uniquePrefix('presence-garbage')
  cleanupPrefix(t, prefix)
  const { lines, log } = recordingLog()
  const commands = new Redis(REDIS_URL)
  const subscriber = new Redis(REDIS_URL)
  t.teardown(() => {
    commands.disconnect()
    subscriber.disconnect()
  })
  const presence = new RedisPresence({ commands, subscriber, keyPrefix: prefix, instanceId: 'i1', ttlMs: 60_000, log })
  subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => presence.receive(channel.toString(), message))
  const changes: unknown[] = []
  await presence.watch('d', (_dagId, change) => changes.push(change))
  await commands.publish(presenceKeys(prefix, 'd').channel, 'not json')
  await presence.update('d', { upserted: [{ id: 'v', gate: null }], removed: [] })
  while (changes.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(changes, [{ upserted: [{ id: 'v', gate: null }], removed: [] }], 'the next message is applied')
  t.same(lines, [{ level: 'error', message: 'fastify-dag-stream: unreadable presence message' }])
  t.notOk(presence.receive('another channel', Buffer.from('{}')), 'not a presence channel')
  await presence.close()
})

t.test('Redis presence: the fields of an instance that is not alive are dropped on read', async (t) => {
  const prefix = uniquePrefix('presence-ghost')
  cleanupPrefix(t, prefix)
  const { log } = recordingLog()
  const commands = new Redis(REDIS_URL)
  const subscriber = new Redis(REDIS_URL)
  t.teardown(() => {
    commands.disconnect()
    subscriber.disconnect()
  })
  // Never started: it writes its viewer but never says it is alive, like an instance whose key expired.
  const ghost = new RedisPresence({ commands, subscriber, keyPrefix: prefix, instanceId: 'ghost', ttlMs: 60_000, log })
  await ghost.update('d', { upserted: [{ id: 'boo', gate: 'review' }], removed: [] })
  const live = new RedisPresence({ commands, subscriber, keyPrefix: prefix, instanceId: 'live', ttlMs: 60_000, log })
  await live.start()
  await live.update('d', { upserted: [{ id: 'me', gate: null }], removed: [] })
  t.same(await live.list('d'), [{ id: 'me', gate: null }])
  const { hash } = presenceKeys(prefix, 'd')
  while (await commands.hexists(hash, 'boo') === 1) await new Promise((resolve) => setTimeout(resolve, 5))
  t.pass('the ghost\'s field is deleted')
  await live.close()
  t.equal(await commands.exists(`${prefix}:presence-alive:live`), 0, 'a closed instance is no longer alive')
})

t.test('memory presence: a change nobody watches, and a DAG whose last viewer left', async (t) => {
  const { MemoryPresence } = await import('../lib/backplane/memory-presence.js')
  const presence = new MemoryPresence()
  await presence.update('d', { upserted: [{ id: 'a', gate: null }], removed: [] })
  t.same(await presence.list('d'), [{ id: 'a', gate: null }])
  await presence.update('d', { upserted: [], removed: ['a'] })
  t.same(await presence.list('d'), [])
})

t.test('a flush with nothing left to write writes nothing', async (t) => {
  const { log } = recordingLog()
  const store = controlledStore()
  const writes: unknown[] = []
  store.update = async (_dagId, change) => {
    writes.push(change)
  }
  const presence = new Presence({ store, flushMs: 1, log })
  const { member: joining } = member('me', log)
  await presence.join(joining, { id: 'ada' })
  while (writes.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await presence.close()
  t.same(writes, [{ upserted: [{ id: 'me', identity: { id: 'ada' }, gate: null }], removed: [] }], 'the join, once')
})
