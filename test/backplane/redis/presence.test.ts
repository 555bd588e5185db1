// Presence across instances on Redis: the union of every instance's viewers, gates seen from another
// instance, a clean shutdown that takes its viewers along, a SIGKILLed instance whose viewers
// expire, a storm of viewers from a third instance that comes and goes as pictures, and a join storm
// on two instances that reads the hash once per DAG on each.

import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import { Redis } from 'ioredis'
import type { PresenceViewer } from '../../../schemas/index.js'
import { TestClient } from '../../support/helpers.js'
import { until } from '../../support/wait.js'
import { assertBounded, deltaWhere, isRight, picture, presenceFrames, removes, shownBy, upserts } from '../../support/presence-helpers.js'
import { presenceKeys } from '../../../lib/backplane/redis/presence.js'
import { PresenceTracker } from '../../../lib/client/presence.js'
import { buildInstance, cleanupPrefix, clientIds, REDIS_URL, spawnInstance, startRedis, uniquePrefix } from '../../support/redis-helpers.js'

const identify = (request: { query: unknown }) => {
  const { user } = request.query as { user?: string }
  return user === undefined ? undefined : { id: user, name: user }
}

const names = (viewers: readonly PresenceViewer[]) => viewers.map((viewer) => viewer.identity?.id).sort()

t.test('two instances: each viewer sees the union, and gates and leaves cross over', async (t) => {
  const prefix = uniquePrefix('presence')
  cleanupPrefix(t, prefix)
  const one = await buildInstance(t, { prefix, presence: true, identify, presenceFlushMs: 20 })
  const two = await buildInstance(t, { prefix, presence: true, identify, presenceFlushMs: 20 })
  const ada = await TestClient.open(one.url('/api/dags/d/stream?user=ada'))
  const { self: adaId } = await picture(ada)
  // Ada's join reaches Redis within a flush; a client that joins on the other instance after that
  // sees her in its picture, or in a delta right after it.
  const bob = await TestClient.open(two.url('/api/dags/d/stream?user=bob'))
  const bobPicture = await picture(bob)
  if (!bobPicture.viewers.some((viewer) => viewer.id === adaId)) await deltaWhere(bob, upserts(adaId))
  t.same(names(bobPicture.viewers.filter((viewer) => viewer.id === bobPicture.self)), ['bob'])
  const bobSeen = await deltaWhere(ada, upserts(bobPicture.self))
  t.same(names(bobSeen.upserted), ['bob'], 'the other instance\'s viewer, with its identity')

  bob.send({ type: 'gate_viewing', node_id: 'review' })
  await deltaWhere(ada, upserts(bobPicture.self, 'review'))
  ada.send({ type: 'gate_viewing', node_id: 'review' })
  await deltaWhere(bob, upserts(adaId, 'review'))

  bob.close()
  await deltaWhere(ada, removes(bobPicture.self))
})

t.test('an instance that closes takes its viewers along at once, whatever its flush interval', async (t) => {
  const prefix = uniquePrefix('presence-close')
  cleanupPrefix(t, prefix)
  const one = await buildInstance(t, { prefix, presence: true, presenceFlushMs: 10 })
  const two = await buildInstance(t, { prefix, presence: true, presenceFlushMs: 10 })
  const watcher = await TestClient.open(one.url('/api/dags/d/stream'))
  await picture(watcher)
  const leaving = await TestClient.open(two.url('/api/dags/d/stream'))
  const { self } = await picture(leaving)
  await deltaWhere(watcher, upserts(self))
  await two.app.close()
  await deltaWhere(watcher, removes(self))
})

t.test('an instance SIGKILLed: its viewers and their gates expire for the others', async (t) => {
  const prefix = uniquePrefix('presence-kill')
  cleanupPrefix(t, prefix)
  const doomed = await spawnInstance(t, { url: REDIS_URL, keyPrefix: prefix, listen: true, presenceTtlMs: 300 })
  const survivor = await buildInstance(t, { prefix, presence: true, identify, presenceTtlMs: 300, presenceFlushMs: 10 })
  const watcher = await TestClient.open(survivor.url('/api/dags/d/stream?user=watcher'))
  await picture(watcher)
  const victim = await TestClient.open(doomed.url('/api/dags/d/stream?user=victim'))
  const { self } = await picture(victim)
  victim.send({ type: 'gate_viewing', node_id: 'review' })
  const seen = await deltaWhere(watcher, upserts(self, 'review'))
  t.same(names(seen.upserted), ['victim'])

  await doomed.kill()
  t.same(await deltaWhere(watcher, removes(self)), { type: 'presence_delta', upserted: [], removed: [self], count: 1 })
  // A viewer who joins now does not see the dead instance's viewer either.
  const late = await TestClient.open(survivor.url('/api/dags/d/stream?user=late'))
  t.same(names((await picture(late)).viewers), ['late', 'watcher'])
})

t.test('the subscriber cut: after it is back, its sockets see the viewers whose deltas were lost', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('presence-deaf')
  const one = await buildInstance(t, { prefix, url: redis.url, presence: true, identify, presenceFlushMs: 10 })
  const before = await clientIds(redis.admin, 'pubsub')
  const two = await buildInstance(t, { prefix, url: redis.url, presence: true, identify, presenceFlushMs: 10, probeMs: 200 })
  const [subscriber, ...more] = (await clientIds(redis.admin, 'pubsub')).filter((id) => !before.includes(id))
  t.same(more, [], 'the second instance has one subscriber connection')
  const watcher = await TestClient.open(two.url('/api/dags/d/stream?user=watcher'))
  const watcherPicture = await picture(watcher)
  const ada = await TestClient.open(one.url('/api/dags/d/stream?user=ada'))
  const { self: adaId } = await picture(ada)
  const seen = new Map(watcherPicture.viewers.map((viewer) => [viewer.id, viewer]))
  for (const viewer of (await deltaWhere(watcher, upserts(adaId))).upserted) seen.set(viewer.id, viewer)

  // A viewer whose delta is certainly lost: written to the hash as the first instance would, but
  // published nowhere. Then the second instance's subscriber is cut, and a viewer joins meanwhile.
  const { hash } = presenceKeys(prefix, 'd')
  const adaEntry = JSON.parse(await redis.admin.hget(hash, adaId) as string) as { i: string }
  const ghost: PresenceViewer = { id: 'ghost', identity: { id: 'ghost', name: 'ghost' }, gate: 'review' }
  await redis.admin.hset(hash, 'ghost', JSON.stringify({ i: adaEntry.i, v: ghost }))
  await redis.admin.hdel(hash, adaId) // and a leave whose delta is lost
  await redis.admin.client('KILL', 'ID', subscriber as string)
  const bob = await TestClient.open(one.url('/api/dags/d/stream?user=bob'))
  const { self: bobId } = await picture(bob)

  const deadline = Date.now() + 15_000
  while (!seen.has('ghost') || !seen.has(bobId) || seen.has(adaId)) {
    const delta = await deltaWhere(watcher, () => true, `the deltas that show ghost and bob, and not ada (seen: ${[...seen.keys()].join(', ')})`, Math.max(1, deadline - Date.now()))
    for (const viewer of delta.upserted) seen.set(viewer.id, viewer)
    for (const id of delta.removed) seen.delete(id)
  }
  t.same(seen.get('ghost'), ghost, 'the lost viewer, with its gate')
  t.same(names([...seen.values()]), ['bob', 'ghost', 'watcher'])
  ada.close()
  bob.close()
  watcher.close()
})

t.test('two instances in a storm: a change of more than 50 viewers comes as a picture on both, and so does their expiry', async (t) => {
  const prefix = uniquePrefix('presence-storm')
  cleanupPrefix(t, prefix)
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const one = await buildInstance(t, { prefix, presence: true, identify, presenceTtlMs: 300, presenceFlushMs: 1000 })
  const two = await buildInstance(t, { prefix, presence: true, identify, presenceTtlMs: 300, presenceFlushMs: 1000 })
  const ada = await TestClient.open(one.url('/api/dags/d/stream?user=ada'))
  const { self: adaId } = await picture(ada)
  const bob = await TestClient.open(two.url('/api/dags/d/stream?user=bob'))
  const { self: bobId } = await picture(bob)
  bob.send({ type: 'gate_viewing', node_id: 'review' })
  await deltaWhere(ada, upserts(bobId, 'review'))
  const locals = new Map<string, PresenceViewer>([
    [adaId, { id: adaId, identity: { id: 'ada', name: 'ada' }, gate: null }],
    [bobId, { id: bobId, identity: { id: 'bob', name: 'bob' }, gate: 'review' }]
  ])

  // A third instance, written as it would write: alive, 60 viewers in one change, one of them
  // closing the gate it had open.
  const { hash, channel } = presenceKeys(prefix, 'd')
  const aliveKey = `${prefix}:presence-alive:third`
  await redis.set(aliveKey, '1', 'PX', 60_000)
  const auditor: PresenceViewer = { id: 'auditor', gate: 'audit' }
  await redis.hset(hash, auditor.id, JSON.stringify({ i: 'third', v: auditor }))
  await redis.publish(channel, JSON.stringify({ i: 'third', c: { upserted: [auditor], removed: [] } }))
  await deltaWhere(ada, upserts(auditor.id, 'audit'))
  await deltaWhere(bob, upserts(auditor.id, 'audit'))
  const storm: PresenceViewer[] = [{ id: auditor.id, gate: null }, ...Array.from({ length: 59 }, (_, index) => ({ id: `third-${index}`, gate: null }))]
  for (const viewer of storm) await redis.hset(hash, viewer.id, JSON.stringify({ i: 'third', v: viewer }))
  await redis.publish(channel, JSON.stringify({ i: 'third', c: { upserted: storm, removed: [] } }))
  const crowd = new Map([...locals, ...storm.map((viewer): [string, PresenceViewer] => [viewer.id, viewer])])
  const sockets = [{ client: ada, self: adaId }, { client: bob, self: bobId }]
  await until(() => sockets.every(({ client, self }) => isRight(shownBy(client), self, crowd)), 'both show 62, bob at the gate, nobody at the audit')
  for (const { client } of sockets) t.equal(presenceFrames(client).filter((frame) => frame.type === 'presence').length, 2, 'the storm came as a picture')

  // The third instance dies: both instances drop its 60 viewers at their next heartbeat.
  await redis.del(aliveKey)
  await until(() => sockets.every(({ client, self }) => isRight(shownBy(client), self, locals)), 'both show ada and bob only')
  for (const { client } of sockets) t.equal(presenceFrames(client).filter((frame) => frame.type === 'presence').length, 3, 'the expiry came as a picture')
  assertBounded(t, [ada, bob], [...crowd.values(), auditor])
  ada.close()
  bob.close()
})

t.test('a join storm on two instances: one read of the hash per DAG per instance, and every picture right', async (t) => {
  // A server of its own: its HGETALL count is this test's alone (presence is the only HGETALL caller).
  const redis = await startRedis(t)
  const hashReads = async () => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await redis.admin.info('commandstats'))?.[1] ?? 0)
  const prefix = uniquePrefix('presence-reads')
  const instances = [
    await buildInstance(t, { prefix, url: redis.url, presence: true, presenceFlushMs: 1000 }),
    await buildInstance(t, { prefix, url: redis.url, presence: true, presenceFlushMs: 1000 })
  ]
  const readsBefore = await hashReads()
  const stormSize = 60 // per DAG and instance: each instance's flush of the storm names more than 50
  const streams = instances.flatMap((instance) => ['d', 'e'].map((dagId) => ({ dagId, url: instance.url(`/api/dags/${dagId}/stream`) })))
  const storm = await Promise.all(streams.flatMap(({ dagId, url }) => Array.from({ length: stormSize }, async () => {
    const client = await TestClient.open(url)
    return { dagId, client, first: await picture(client) }
  })))
  // Each DAG's viewers: every socket of the storm on it, on either instance.
  const everyone = new Map(['d', 'e'].map((dagId) => [dagId, new Map(storm.filter((socket) => socket.dagId === dagId).map(({ first }): [string, PresenceViewer] => [first.self, { id: first.self, gate: null }]))]))
  const viewersOf = (dagId: string) => everyone.get(dagId) as Map<string, PresenceViewer>
  for (const { dagId, first } of storm) {
    const viewers = viewersOf(dagId)
    t.ok(
      first.viewers[0]?.id === first.self && first.count <= viewers.size && first.viewers.every((viewer) => isDeepStrictEqual(viewers.get(viewer.id), viewer)),
      'each picture: itself first, nobody from elsewhere, no more than there are'
    )
  }
  const sockets = storm.map(({ dagId, client, first }) => ({ dagId, client, self: first.self }))
  await until(() => sockets.every(({ dagId, client, self }) => isRight(shownBy(client), self, viewersOf(dagId))), `every socket shows the ${2 * stormSize} viewers of its DAG`)

  // Once the storm is in: a socket that joins gets the exact picture at once, from what its instance knows.
  const late = await TestClient.open(instances[0]?.url('/api/dags/d/stream') as string)
  const latePicture = await picture(late)
  viewersOf('d').set(latePicture.self, { id: latePicture.self, gate: null })
  t.ok(isRight(new PresenceTracker().receive(latePicture), latePicture.self, viewersOf('d')), `the late socket's picture alone is right, counting ${viewersOf('d').size}`)
  t.equal(await hashReads() - readsBefore, 4, `one HGETALL per DAG on each instance for ${storm.length + 1} joins`)
  assertBounded(t, [...sockets.map(({ client }) => client), late], [...viewersOf('d').values(), ...viewersOf('e').values()])
  for (const { client } of [...sockets, { client: late }]) client.close()
})
