// Presence on one instance (memory backplane), over real sockets: the picture after hello, deltas for
// joins, gates and leaves, coalescing, identities from `identify`, and refusals.

import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import type { PresenceViewer } from '../../schemas/index.js'
import dagStream from '../../lib/index.js'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'
import { deltaWhere, picture, removes, upserts } from '../support/presence-helpers.js'
import { until } from '../support/wait.js'

const identify = (request: FastifyRequest) => {
  const { user } = request.query as { user?: string }
  return user === undefined ? undefined : { id: user, name: user.toUpperCase() }
}

t.test('viewers see each other join, open and close a gate, and leave', async (t) => {
  const server = await build(t, { presence: true, identify, presenceFlushMs: 20 })
  const ada = await TestClient.open(server.url('/api/dags/d/stream?user=ada'))
  const first = await picture(ada)
  t.same(first.viewers, [{ id: first.self, identity: { id: 'ada', name: 'ADA' }, gate: null }], 'a viewer counts itself at once')

  const anonymous = await TestClient.open(server.url('/api/dags/d/stream'))
  const second = await picture(anonymous)
  t.same(
    new Set(second.viewers.map((viewer: PresenceViewer) => viewer.identity?.id ?? viewer.id)),
    new Set(['ada', second.self]),
    'the picture holds everyone, the anonymous viewer without identity'
  )
  await deltaWhere(ada, upserts(second.self))

  anonymous.send({ type: 'gate_viewing', node_id: 'review' })
  t.same((await deltaWhere(ada, upserts(second.self, 'review'))).upserted, [{ id: second.self, gate: 'review' }])
  anonymous.send({ type: 'gate_viewing', node_id: null })
  await deltaWhere(ada, upserts(second.self, null))

  anonymous.close()
  const left = await deltaWhere(ada, removes(second.self))
  t.same(left, { type: 'presence_delta', upserted: [], removed: [second.self], count: 1 })
  t.equal(server.app.dagStream.connections('d'), 1)
})

t.test('a page that flips its gate 50 times in a burst costs the others a delta or two, ending on the last', async (t) => {
  const server = await build(t, { presence: true, presenceFlushMs: 500 })
  const watcher = await TestClient.open(server.url('/api/dags/d/stream'))
  await picture(watcher)
  const flipper = await TestClient.open(server.url('/api/dags/d/stream'))
  const { self } = await picture(flipper)
  for (let flip = 0; flip < 50; flip++) flipper.send({ type: 'gate_viewing', node_id: `g${flip}` })
  await deltaWhere(watcher, upserts(self, 'g49'))
  const deltas = watcher.received.filter((frame) => frame.type === 'presence_delta')
  t.ok(deltas.length <= 3, `${deltas.length} deltas (the join, and the burst coalesced)`)
})

t.test('presence frames carry no seq and are not replayed', async (t) => {
  const server = await build(t, { presence: true, presenceFlushMs: 10 })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  const one = await TestClient.open(server.url('/api/dags/d/stream'))
  const { self } = await picture(one)
  t.notOk('seq' in (one.received[1] as object))
  one.send({ type: 'gate_viewing', node_id: 'a' })
  await deltaWhere(one, upserts(self, 'a'))
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed' })
  t.match(await one.next(), { type: 'node_state', seq: 2 }, 'the log did not grow')
  const resumed = await TestClient.open(server.url(`/api/dags/d/stream?since=1&epoch=${(one.received[0] as { epoch: string }).epoch}`))
  await resumed.waitFor(3)
  t.match(resumed.received.map((frame) => frame.type), ['hello', 'node_state', 'presence'], 'a resume replays events, then the picture')
})

t.test('a malformed gate_viewing is refused with a message that names the field', async (t) => {
  const server = await build(t, { presence: true })
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  await picture(client)
  client.send({ type: 'gate_viewing', node_id: 'not an id!' })
  t.match(await client.next(), { type: 'error', code: 'invalid_message', message: /gate_viewing: "node_id"/ })
  client.send({ type: 'gate_viewing' })
  t.match(await client.next(), { type: 'error', code: 'invalid_message', message: 'gate_viewing: "node_id" is required' })
})

t.test('identify: a bad answer fails the upgrade (500); null means anonymous', async (t) => {
  const answers: Record<string, unknown> = {
    noid: { name: 'x' },
    huge: { id: 'x', bio: 'x'.repeat(3000) },
    cyclic: (() => {
      const value: Record<string, unknown> = { id: 'x' }
      value.self = value
      return value
    })(),
    none: null
  }
  const server = await build(t, { presence: true, identify: (request) => answers[(request.query as { user: string }).user] as never })
  t.equal(await upgradeStatus(server.url('/api/dags/d/stream?user=noid')), 500)
  t.equal(await upgradeStatus(server.url('/api/dags/d/stream?user=huge')), 500)
  t.equal(await upgradeStatus(server.url('/api/dags/d/stream?user=cyclic')), 500)
  const anonymous = await TestClient.open(server.url('/api/dags/d/stream?user=none'))
  const { viewers } = await picture(anonymous)
  t.same(viewers.map((viewer) => viewer.identity), [undefined])
})

t.test('identify and presenceFlushMs are checked at registration', async (t) => {
  await t.rejects(async () => await Fastify().register(dagStream, { identify: 'ada' as never }), { message: /"identify" must be a function/ })
  await t.rejects(async () => await Fastify().register(dagStream, { presence: 'yes' as never }), { message: /"presence" must be true/ })
  await t.rejects(async () => await Fastify().register(dagStream, { presenceFlushMs: 0 }), { message: /"presenceFlushMs" must be a positive integer/ })
})

t.test('changes not yet written are part of the picture: a socket that left within the interval is not in it', async (t) => {
  const server = await build(t, { presence: true, presenceFlushMs: 60_000 })
  const staying = await TestClient.open(server.url('/api/dags/d/stream'))
  const { self: stayingId } = await picture(staying)
  const leaving = await TestClient.open(server.url('/api/dags/d/stream'))
  await picture(leaving)
  leaving.close()
  await leaving.closed
  await until(() => server.app.dagStream.connections('d') === 1, 'the server to see the socket leave')
  const late = await TestClient.open(server.url('/api/dags/d/stream'))
  const { self, viewers } = await picture(late)
  t.same(new Set(viewers.map((viewer) => viewer.id)), new Set([stayingId, self]))
})

t.test('presence off (the default): no presence frame, and gate_viewing is accepted and ignored', async (t) => {
  const server = await build(t)
  const client = await TestClient.open(server.url('/api/dags/d/stream'))
  t.match(await client.next(), { type: 'hello' })
  client.send({ type: 'gate_viewing', node_id: 'a' })
  client.send({ type: 'pause_execution', id: 'p' })
  // The pause is answered (the DAG has no run); nothing was said about the gate.
  t.match(await client.next(), { type: 'error', code: 'dag_not_found', id: 'p' })
  t.same(client.received.filter((frame) => frame.type.startsWith('presence')), [])
})

t.test('a picture lists at most 50 viewers, itself first and those at a gate next, with the exact count', async (t) => {
  const server = await build(t, { presence: true, presenceFlushMs: 10 })
  const crowd: TestClient[] = []
  for (let index = 0; index < 60; index++) {
    const viewer = await TestClient.open(server.url('/api/dags/d/stream'))
    await picture(viewer)
    crowd.push(viewer)
  }
  // The last to join, so listed in join order it would not make the first 50.
  const reviewer = crowd[59] as TestClient
  const reviewerId = (reviewer.received[1] as { self: string }).self
  reviewer.send({ type: 'gate_viewing', node_id: 'review' })
  const first = crowd[0] as TestClient
  await deltaWhere(first, upserts(reviewerId, 'review'))

  const late = await TestClient.open(server.url('/api/dags/d/stream'))
  const latePicture = await picture(late)
  t.equal(latePicture.count, 61, 'every viewer counted')
  t.equal(latePicture.viewers.length, 50, 'but only 50 listed')
  t.equal(latePicture.viewers[0]?.id, latePicture.self, 'itself first')
  t.same(latePicture.viewers[1], { id: reviewerId, gate: 'review' }, 'then the viewer at a gate')
  t.equal(new Set(latePicture.viewers.map((viewer) => viewer.id)).size, 50, 'each once')
  t.equal((await deltaWhere(first, upserts(latePicture.self))).count, 61, 'deltas carry the count too')
  for (const viewer of [...crowd, late]) viewer.close()
})
