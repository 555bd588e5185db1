// Presence when things go wrong: a store that fails, changes that arrive while the watch a socket waits
// for still reads, a Redis subscriber that is down, and an unreadable message on a presence channel.

import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import type { PresenceDeltaFrame, PresenceFrame, PresenceViewer } from '../../schemas/index.js'
import type { PresenceStore } from '../../lib/backplane/types.js'
import { MemoryPresence } from '../../lib/backplane/memory/presence.js'
import { RedisPresence, presenceKeys } from '../../lib/backplane/redis/presence.js'
import { PICTURE_LIMIT, Presence, type PresenceMember } from '../../lib/stream/presence.js'
import { HeldPresence } from '../support/presence-helpers.js'
import { recordingLogger } from '../support/logger.js'
import { cleanupPrefix, REDIS_URL, uniquePrefix } from '../support/redis-helpers.js'
import { until } from '../support/wait.js'

function member (id: string, log: FastifyBaseLogger) {
  const frames: Array<PresenceFrame | PresenceDeltaFrame> = []
  const joined: PresenceMember = { id, dagId: 'd', log, sendPresence: (frame) => frames.push(JSON.parse(frame.toString()) as PresenceFrame | PresenceDeltaFrame) }
  return { frames, member: joined }
}

/** `count` viewers of another instance, none at a gate. */
function strangers (count: number): PresenceViewer[] {
  return Array.from({ length: count }, (_, index) => ({ id: `stranger-${index}`, gate: null }))
}

t.test('changes while the DAG\'s watch starts are in the picture, nothing comes before it, and the next change follows it', async (t) => {
  const { log } = recordingLogger()
  const store = new HeldPresence()
  const presence = new Presence({ store, flushMs: 60_000, log })
  const { frames, member: joining } = member('me', log)
  const joined = presence.join(joining, undefined)
  // From another instance while the watch's read is out: a delta's worth, then a picture's.
  await store.update('d', { upserted: [{ id: 'other', gate: 'review' }], removed: [] })
  await store.update('d', { upserted: strangers(PICTURE_LIMIT + 1), removed: [] })
  t.same(frames, [], 'nothing before the picture')
  store.started.open()
  await joined
  t.same(frames.map((frame) => [frame.type, frame.count]), [['presence', PICTURE_LIMIT + 3]], 'one picture, which counts them all and itself')
  t.same((frames[0] as PresenceFrame).viewers.slice(0, 2), [{ id: 'me', gate: null }, { id: 'other', gate: 'review' }], 'itself, then the one at the gate')
  await store.update('d', { upserted: [], removed: ['other'] })
  t.match(frames.slice(1), [{ type: 'presence_delta', upserted: [], removed: ['other'] }])
  await presence.close()
})

t.test('a watch that fails: the stream goes on without the picture, the next socket starts it again, and a failed write is logged', async (t) => {
  const { lines, log } = recordingLogger()
  const memory = new MemoryPresence()
  let down = true // for the first watch only
  const store: PresenceStore = {
    update: async () => {
      throw new Error('Redis is down')
    },
    watch: async (dagId, listener) => {
      if (down) {
        down = false
        throw new Error('Redis is down')
      }
      return await memory.watch(dagId, listener)
    }
  }
  const presence = new Presence({ store, flushMs: 60_000, log })
  const first = member('first', log)
  await presence.join(first.member, undefined)
  t.same(first.frames, [], 'no picture')
  const second = member('second', log)
  await presence.join(second.member, undefined)
  t.same(second.frames, [{ type: 'presence', self: 'second', viewers: [{ id: 'second', gate: null }, { id: 'first', gate: null }], count: 2 }])
  await memory.update('d', { upserted: [{ id: 'other', gate: null }], removed: [] })
  t.same(first.frames.map((frame) => frame.type), ['presence_delta'], 'deltas reach the socket without a picture too')
  presence.viewGate(first.member, null) // unchanged: nothing to write
  presence.leave(first.member)
  presence.leave(first.member) // twice: nothing more
  await presence.close()
  t.same(lines, [
    { level: 'warn', message: 'fastify-dag-stream: could not read who watches the DAG' },
    { level: 'warn', message: 'fastify-dag-stream: could not write presence' }
  ])
})

t.test('Redis presence: a subscriber that is down fails watch, and the next watch tries again', async (t) => {
  const prefix = uniquePrefix('presence-down')
  cleanupPrefix(t, prefix)
  const { log } = recordingLogger()
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
  const first = await presence.watch('d', () => {})
  const channel = presenceKeys(prefix, 'd').channel
  t.same(presence.channels(), [channel])
  const other = await presence.watch('d', () => {})
  first.stop()
  t.same(presence.channels(), [channel], 'watched while a watcher is left')
  other.stop()
  t.same(presence.channels(), [], 'the last one stops watching')
  const again = await presence.watch('d', () => {})
  other.stop() // a stale stop: it must not end the new watch
  t.same(presence.channels(), [channel])
  again.stop()
  await presence.close()
})

t.test('Redis presence: an unreadable message on a presence channel is logged and skipped', async (t) => {
  const prefix = uniquePrefix('presence-garbage')
  cleanupPrefix(t, prefix)
  const { lines, log } = recordingLogger()
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
  await until(() => changes.length > 0, 'the change after the unreadable message')
  t.same(changes, [{ upserted: [{ id: 'v', gate: null }], removed: [] }], 'the next message is applied')
  t.same(lines, [{ level: 'error', message: 'fastify-dag-stream: unreadable presence message' }])
  t.notOk(presence.receive('another channel', Buffer.from('{}')), 'not a presence channel')
  await presence.close()
})

t.test('Redis presence: the fields of an instance that is not alive are dropped when a watch reads', async (t) => {
  const prefix = uniquePrefix('presence-ghost')
  cleanupPrefix(t, prefix)
  const { log } = recordingLogger()
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
  const watch = await live.watch('d', () => {})
  t.same([...watch.viewers()], [{ id: 'me', gate: null }])
  const { hash } = presenceKeys(prefix, 'd')
  await until(async () => await commands.hexists(hash, 'boo') === 0, 'the ghost\'s field to be deleted')
  t.pass('the ghost\'s field is deleted')
  watch.stop()
  await live.close()
  t.equal(await commands.exists(`${prefix}:presence-alive:live`), 0, 'a closed instance is no longer alive')
})

t.test('a flush with nothing left to write writes nothing', async (t) => {
  const { log } = recordingLogger()
  const memory = new MemoryPresence()
  const writes: unknown[] = []
  const store: PresenceStore = {
    update: async (dagId, change) => {
      writes.push(change)
      await memory.update(dagId, change)
    },
    watch: (dagId, listener) => memory.watch(dagId, listener)
  }
  const presence = new Presence({ store, flushMs: 1, log })
  const { member: joining } = member('me', log)
  await presence.join(joining, { id: 'ada' })
  await until(() => writes.length > 0, 'the flush of the join')
  await presence.close()
  t.same(writes, [{ upserted: [{ id: 'me', identity: { id: 'ada' }, gate: null }], removed: [] }], 'the join, once')
})
