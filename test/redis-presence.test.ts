// Presence across instances on Redis: the union of every instance's viewers, gates seen from another
// instance, a clean shutdown that takes its viewers along, and a SIGKILLed instance whose viewers
// expire.

import t from 'tap'
import type { PresenceViewer } from '../schemas/index.js'
import { TestClient } from './helpers.js'
import { deltaWhere, picture, removes, upserts } from './presence-helpers.js'
import { buildInstance, cleanupPrefix, REDIS_URL, spawnInstance, uniquePrefix } from './redis-helpers.js'

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
  t.same(await deltaWhere(watcher, removes(self)), { type: 'presence_delta', upserted: [], removed: [self] })
  // A viewer who joins now does not see the dead instance's viewer either.
  const late = await TestClient.open(survivor.url('/api/dags/d/stream?user=late'))
  t.same(names((await picture(late)).viewers), ['late', 'watcher'])
})
