// Presence in a storm: a change that names more than 50 viewers (the flush of a join storm, a mass
// leave) reaches each socket as a new picture, never as a delta that lists them all. Every frame stays
// bounded, and each socket ends with the right picture: the exact count, no ghost at a gate.

import t from 'tap'
import type { PresenceDeltaFrame, PresenceFrame, PresenceViewer } from '../schemas/index.js'
import type { FastifyBaseLogger } from 'fastify'
import { MemoryBackplane } from '../lib/index.js'
import type { BackplaneProvider, PresenceChange, PresenceListener, PresenceStore } from '../lib/backplane/types.js'
import { PICTURE_LIMIT, Presence } from '../lib/presence.js'
import { build, TestClient } from './helpers.js'
import { gate, until } from './client-helpers.js'
import { assertBounded, assertValid, deltaWhere, isRight, picture, presenceFrames, shownBy, upserts } from './presence-helpers.js'

/** The memory backplane, kept at hand: its presence store plays another instance that writes a change. */
function capturedBackplane () {
  const captured = { backplane: undefined as MemoryBackplane | undefined }
  const provider: BackplaneProvider = { kind: 'memory', create: (settings) => (captured.backplane = new MemoryBackplane(settings)) }
  return { captured, provider }
}

/** `count` viewers of another instance (numbered from `from`), none at a gate. */
function strangers (count: number, from = 0): PresenceViewer[] {
  return Array.from({ length: count }, (_, index) => ({ id: `stranger-${from + index}`, gate: null }))
}

/** The next `presence` frame `client` reads (deltas before it are skipped). */
async function nextPicture (client: TestClient): Promise<PresenceFrame> {
  for (;;) {
    const frame = await client.next()
    if (frame.type === 'presence') return frame
  }
}

interface Socket {
  client: TestClient
  self: string
}

async function join (url: string): Promise<Socket> {
  const client = await TestClient.open(url)
  return { client, self: (await picture(client)).self }
}

/** Waits until every socket's client shows the right picture of `truth` (a timeout fails the test). */
async function allRight (sockets: Socket[], truth: Map<string, PresenceViewer>, what: string): Promise<void> {
  await until(() => sockets.every(({ client, self }) => isRight(shownBy(client), self, truth)), what)
}

t.test('a join storm in one flush: every frame bounded, every socket ends right, and a gate closed inside it is gone', async (t) => {
  // A long interval, so the storm's joins and the reviewer closing the gate are written as one change
  // (split over two flushes, the larger part would still name more than 50 and come as a picture).
  const server = await build(t, { presence: true, presenceFlushMs: 2000 })
  const url = server.url('/api/dags/d/stream')
  const watcher = await join(url)
  const reviewer = await join(url)
  reviewer.client.send({ type: 'gate_viewing', node_id: 'review' })
  await deltaWhere(watcher.client, upserts(reviewer.self, 'review'))

  const storm = await Promise.all(Array.from({ length: 120 }, async () => await join(url)))
  reviewer.client.send({ type: 'gate_viewing', node_id: null })
  const everyone = [watcher, reviewer, ...storm]
  const truth = new Map(everyone.map(({ self }) => [self, { id: self, gate: null }]))
  await allRight(everyone, truth, 'every socket shows 122 viewers, nobody at the gate')
  t.ok(presenceFrames(watcher.client).filter((frame) => frame.type === 'presence').length > 1, 'the storm came to the watcher as a picture')
  const lastPictures = everyone.map(({ client }) => presenceFrames(client).filter((frame) => frame.type === 'presence').at(-1))
  t.ok(lastPictures.every((frame) => frame?.viewers.length === PICTURE_LIMIT), 'each socket\'s last picture lists 50 of them')
  assertBounded(t, everyone.map(({ client }) => client), [...truth.values(), { id: reviewer.self, gate: 'review' }])
  assertValid(t, everyone.map(({ client }) => client))

  // The storm leaves as it came: one change of 120 removals.
  for (const { client } of storm) client.close()
  const stayed = new Map([watcher, reviewer].map(({ self }) => [self, { id: self, gate: null }]))
  await allRight([watcher, reviewer], stayed, 'the two who stayed see each other only')
  assertBounded(t, [watcher.client, reviewer.client], [...truth.values(), { id: reviewer.self, gate: 'review' }])
  watcher.client.close()
  reviewer.client.close()
})

t.test('a change from elsewhere: up to 50 viewers is a delta, more is a picture for each socket, ranked as at join', async (t) => {
  const { captured, provider } = capturedBackplane()
  const server = await build(t, { presence: true, presenceFlushMs: 10, backplane: provider })
  const store = (captured.backplane as MemoryBackplane).presence
  const url = server.url('/api/dags/d/stream')
  const watcher = await join(url)
  const reviewer = await join(url)
  reviewer.client.send({ type: 'gate_viewing', node_id: 'review' })
  await deltaWhere(watcher.client, upserts(reviewer.self, 'review'))
  const locals: PresenceViewer[] = [{ id: watcher.self, gate: null }, { id: reviewer.self, gate: 'review' }]

  const auditor: PresenceViewer = { id: 'auditor', gate: 'audit' }
  const fifty = [auditor, ...strangers(PICTURE_LIMIT - 1)]
  await store.update('d', { upserted: fifty, removed: [] })
  const delta = await deltaWhere(watcher.client, upserts(auditor.id, 'audit'))
  t.equal(delta.upserted.length, PICTURE_LIMIT, 'a change of 50 is still a delta')

  // 51: the auditor closes the gate, and 50 more join.
  const closed: PresenceViewer = { id: auditor.id, gate: null }
  await store.update('d', { upserted: [closed, ...strangers(PICTURE_LIMIT, PICTURE_LIMIT - 1)], removed: [] })
  const crowd = new Map([...locals, closed, ...strangers(2 * PICTURE_LIMIT - 1)].map((viewer) => [viewer.id, viewer]))
  for (const socket of [watcher, reviewer]) {
    const frame = await nextPicture(socket.client)
    t.equal(frame.self, socket.self)
    t.equal(frame.count, crowd.size, 'the exact count')
    t.equal(frame.viewers.length, PICTURE_LIMIT)
    const others = locals.filter((viewer) => viewer.id !== socket.self).map((viewer) => viewer.id)
    t.same(frame.viewers.slice(0, 2).map((viewer) => viewer.id), [socket.self, ...others], 'itself, then the other one (the reviewer first)')
    t.notOk(frame.viewers.some((viewer) => viewer.gate === 'audit'), 'the closed gate is gone')
  }
  await allRight([watcher, reviewer], crowd, `both show ${crowd.size}`)

  // An instance whose 100 viewers expire at once.
  await store.update('d', { upserted: [], removed: [...crowd.keys()].filter((id) => id !== watcher.self && id !== reviewer.self) })
  for (const socket of [watcher, reviewer]) {
    const frame = await nextPicture(socket.client)
    t.match(frame, { self: socket.self, count: 2 })
    t.same(new Set(frame.viewers.map((viewer) => viewer.id)), new Set([watcher.self, reviewer.self]))
  }
  await allRight([watcher, reviewer], new Map(locals.map((viewer) => [viewer.id, viewer])), 'both show the two of them')
  assertBounded(t, [watcher.client, reviewer.client], [...crowd.values(), auditor])
  watcher.client.close()
  reviewer.client.close()
})

t.test('a picture in place of a large change, while a socket still reads its own picture, follows it', async (t) => {
  const log = { warn: () => {} } as unknown as FastifyBaseLogger
  const listeners: PresenceListener[] = []
  const listed = gate()
  const store: PresenceStore = {
    list: async () => {
      await listed.opened
      return []
    },
    update: async (_dagId: string, _change: PresenceChange) => {},
    watch: async (_dagId: string, listener: PresenceListener) => {
      listeners.push(listener)
      return () => {}
    }
  }
  const presence = new Presence({ store, flushMs: 60_000, log })
  const frames: Array<PresenceFrame | PresenceDeltaFrame> = []
  const joined = presence.join({ id: 'me', dagId: 'd', log, sendPresence: (frame) => frames.push(JSON.parse(frame.toString()) as PresenceFrame) }, undefined)
  await new Promise((resolve) => setImmediate(resolve))
  const crowd = strangers(PICTURE_LIMIT + 1)
  listeners[0]?.('d', { upserted: crowd, removed: [] }, crowd.length, crowd)
  t.same(frames, [], 'nothing before its own picture')
  listed.open()
  await joined
  t.same(frames.map((frame) => [frame.type, frame.count]), [['presence', 1], ['presence', 52]], 'its picture, then the storm\'s, which counts it too')
  t.same((frames[1] as PresenceFrame).viewers[0], { id: 'me', gate: null })
  await presence.close()
})
