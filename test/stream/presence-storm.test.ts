// Presence in a storm: a change that names more than 50 viewers (the flush of a join storm, a mass
// leave) reaches each socket as a new picture, never as a delta that lists them all. Every frame stays
// bounded, and each socket ends with the right picture: the exact count, no ghost at a gate. The
// sockets of a join storm get their pictures from one watch of the store, not one read each.

import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import type { PresenceFrame, PresenceViewer } from '../../schemas/index.js'
import { MemoryBackplane } from '../../lib/index.js'
import type { BackplaneProvider, BackplaneSettings } from '../../lib/backplane/types.js'
import { MemoryPresence } from '../../lib/backplane/memory/presence.js'
import { PICTURE_LIMIT, Presence, type PresenceMember } from '../../lib/stream/presence.js'
import { build, TestClient } from '../support/helpers.js'
import { silentLogger } from '../support/logger.js'
import { until } from '../support/wait.js'
import { assertBounded, assertValid, deltaWhere, HeldPresenceBackplane, isRight, picture, presenceFrames, shownBy, upserts } from '../support/presence-helpers.js'

/** A memory backplane, kept at hand: its presence store plays another instance, or counts the watches. */
function capturedBackplane<Kept extends MemoryBackplane> (create: (settings: BackplaneSettings) => Kept) {
  const captured = { backplane: undefined as Kept | undefined }
  const provider: BackplaneProvider = { kind: 'memory', create: (settings) => (captured.backplane = create(settings)) }
  return { captured, provider }
}

/** `count` viewers of another instance (numbered from `from`), none at a gate. */
function strangers (count: number, from = 0): PresenceViewer[] {
  return Array.from({ length: count }, (_, index) => ({ id: `stranger-${from + index}`, gate: null }))
}

/** The next `presence` frame `client` reads (deltas before it are skipped). */
function nextPicture (client: TestClient): Promise<PresenceFrame> {
  return client.nextWhere((frame): frame is PresenceFrame => frame.type === 'presence', 'a presence picture')
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

/** Two sockets of the DAG: a watcher, and a reviewer with the gate `review` open, which the watcher has seen. */
async function watcherAndReviewer (url: string): Promise<{ watcher: Socket; reviewer: Socket }> {
  const watcher = await join(url)
  const reviewer = await join(url)
  reviewer.client.send({ type: 'gate_viewing', node_id: 'review' })
  await deltaWhere(watcher.client, upserts(reviewer.self, 'review'))
  return { watcher, reviewer }
}

t.test('a join storm in one flush: every frame bounded, every socket ends right, and a gate closed inside it is gone', async (t) => {
  // A long interval, so the storm's joins and the reviewer closing the gate are written as one change
  // (split over two flushes, the larger part would still name more than 50 and come as a picture).
  const server = await build(t, { presence: true, presenceFlushMs: 2000 })
  const url = server.url('/api/dags/d/stream')
  const { watcher, reviewer } = await watcherAndReviewer(url)

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
  const { captured, provider } = capturedBackplane((settings) => new MemoryBackplane(settings))
  const server = await build(t, { presence: true, presenceFlushMs: 10, backplane: provider })
  const store = (captured.backplane as MemoryBackplane).presence
  const url = server.url('/api/dags/d/stream')
  const { watcher, reviewer } = await watcherAndReviewer(url)
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

t.test('a join storm reads the store once per DAG: sockets that join while its watch starts wait for it, and each picture is right', async (t) => {
  const { captured, provider } = capturedBackplane((settings) => new HeldPresenceBackplane(settings))
  const server = await build(t, { presence: true, presenceFlushMs: 2000, backplane: provider })
  const store = (captured.backplane as HeldPresenceBackplane).presence
  const url = server.url('/api/dags/d/stream')
  const storm = await Promise.all(Array.from({ length: 120 }, async () => await TestClient.open(url)))
  // A socket joins its DAG's presence right after its hello: each of them waits for the watch now.
  for (const client of storm) t.match(await client.next(), { type: 'hello' })
  t.equal(store.watches, 1, 'one watch started for 120 sockets')
  store.started.open()
  const firsts = await Promise.all(storm.map(async (client) => await client.next()))
  t.same(firsts.filter((frame) => frame.type !== 'presence'), [], 'the picture is the first frame after hello: nothing came before it')
  const joined = storm.map((client, index) => ({ client, frame: firsts[index] as PresenceFrame }))
  const everyone = new Map(joined.map(({ frame }) => [frame.self, { id: frame.self, gate: null }]))
  t.equal(everyone.size, storm.length, 'each socket its own self')
  for (const { frame } of joined) {
    t.equal(frame.count, storm.length, 'the exact count: every socket of the storm, written or not')
    t.equal(frame.viewers.length, PICTURE_LIMIT)
    t.same(frame.viewers[0], { id: frame.self, gate: null }, 'itself first')
    t.ok(frame.viewers.every((viewer) => isDeepStrictEqual(everyone.get(viewer.id), viewer)), 'nobody else')
  }

  // Once the watch is up: a socket that joins reads no store, nor does another DAG's socket share it.
  const late = await join(url)
  everyone.set(late.self, { id: late.self, gate: null })
  t.equal((presenceFrames(late.client)[0] as PresenceFrame).count, everyone.size)
  const elsewhere = await join(server.url('/api/dags/e/stream'))
  t.same(presenceFrames(elsewhere.client)[0], { type: 'presence', self: elsewhere.self, viewers: [{ id: elsewhere.self, gate: null }], count: 1 })
  t.equal(store.watches, 2, 'one watch per DAG')
  const sockets = [...joined.map(({ client, frame }) => ({ client, self: frame.self })), late]
  await allRight(sockets, everyone, `every socket shows ${everyone.size} viewers`)
  assertBounded(t, sockets.map(({ client }) => client), everyone.values())
  assertValid(t, sockets.map(({ client }) => client))
  for (const { client } of [...sockets, elsewhere]) client.close()
})

t.test('the pictures of joining sockets share one ranking until a change: a gate, a leave or a change from the store ranks again', async (t) => {
  const log = silentLogger
  const store = new MemoryPresence()
  // Nothing is written while the test runs: every change of this instance is pending.
  const presence = new Presence({ store, flushMs: 60_000, log })
  const pictures = new Map<string, PresenceFrame>()
  const member = (id: string): PresenceMember => ({ id, dagId: 'd', log, sendPresence: (frame) => pictures.set(id, JSON.parse(frame.toString()) as PresenceFrame) })
  const listedIn = (id: string) => pictures.get(id)?.viewers.map((viewer) => `${viewer.id}${viewer.gate === null ? '' : `@${viewer.gate}`}`)
  const ada = member('ada')
  await presence.join(ada, undefined)
  const bob = member('bob')
  await presence.join(bob, undefined)
  t.same(listedIn('bob'), ['bob', 'ada'])
  t.equal(pictures.get('bob')?.count, 2, 'counted on top of the ranking made for ada')
  presence.viewGate(ada, 'review')
  await presence.join(member('cy'), undefined)
  t.same(listedIn('cy'), ['cy', 'ada@review', 'bob'], 'a gate opened since')
  presence.leave(bob)
  await presence.join(member('di'), undefined)
  t.same(listedIn('di'), ['di', 'ada@review', 'cy'], 'a socket gone since')
  t.equal(pictures.get('di')?.count, 3)
  await store.update('d', { upserted: [{ id: 'auditor', gate: 'audit' }], removed: [] })
  await presence.join(member('ed'), undefined)
  t.same(listedIn('ed'), ['ed', 'auditor@audit', 'ada@review', 'cy', 'di'], 'a change from another instance since')
  t.equal(pictures.get('ed')?.count, 5)
  await presence.close()
})
