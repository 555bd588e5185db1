// The live run list: `GET {prefix}` upgraded to a WebSocket sends the page, then a frame per change a
// run list shows, filtered per socket by status and by `authorize`.

import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { UnauthorizedError, memoryBackplane, type BackplaneProvider } from '../../lib/index.js'
import type { DAGEvent, ListServerFrame, ServerMessage } from '../../schemas/index.js'
import { build, TestClient, upgradeRefusal } from '../support/helpers.js'
import { Redis } from 'ioredis'
import { redisBackplane } from '../../lib/backplane/redis/index.js'
import { buildInstance, cleanupPrefix, clientIds, REDIS_URL, startRedis, uniquePrefix } from '../support/redis-helpers.js'

const running: DAGEvent = { type: 'node_state', node_id: 'step', status: 'running' }
const paused: DAGEvent = { type: 'execution_status', status: 'paused' }
const resumed: DAGEvent = { type: 'execution_status', status: 'running' }
const complete: DAGEvent = { type: 'execution_complete', results: null }

/** The next list frame of `client`, in order. */
async function nextFrame (client: TestClient): Promise<ListServerFrame> {
  return (await client.next()) as unknown as ListServerFrame
}

/** What a frame says in one line: `dag_list a,b`, `created a running`, `evicted a`. */
function describe (frame: ListServerFrame | ServerMessage): string {
  const list = frame as ListServerFrame
  switch (list.type) {
    case 'dag_list': return `dag_list ${list.dags.map((dag) => dag.dag_id).join(',')} total=${list.total}`
    case 'dag_changed': return `${list.change} ${list.dag.dag_id} ${list.previous_status ?? '-'}>${list.dag.status}` + (list.dag.open_gates > 0 ? ` gates=${list.dag.open_gates}` : '')
    case 'dag_evicted': return `evicted ${list.dag_id}`
  }
}

t.test('the page, then one frame per creation and status change, never one per node event', async (t) => {
  const { app, url } = await build(t)
  await app.dagStream.broadcast('old', running)
  await app.dagStream.broadcast('older', running)
  const client = await TestClient.open(url('/api/dags?limit=1'))
  const page = await nextFrame(client)
  t.match(page, { type: 'dag_list', limit: 1, offset: 0, order: 'newest', total: 2 })
  t.equal(page.type === 'dag_list' && page.dags.length, 1, 'one page of two (either: both may have the same millisecond)')

  const first = await app.dagStream.broadcast('busy', running)
  for (let n = 0; n < 500; n++) void app.dagStream.broadcast('busy', { type: 'node_state', node_id: `n${n}`, status: 'running' })
  await app.dagStream.broadcast('busy', paused)
  await app.dagStream.broadcast('busy', resumed)
  const done = await app.dagStream.broadcast('busy', complete)
  const frames = [await nextFrame(client), await nextFrame(client), await nextFrame(client), await nextFrame(client)]
  t.same(frames.map(describe), ['created busy ->running', 'status_changed busy running>paused', 'status_changed busy paused>running', 'finished busy running>completed'])
  t.match(frames[0], { dag: { dag_id: 'busy', epoch: first.epoch, seq: 1 } })
  t.match(frames[3], { dag: { seq: done.seq, status: 'completed' } })
  // A marker after the burst: nothing else came in between.
  await app.dagStream.broadcast('marker', running)
  t.equal(describe(await nextFrame(client)), 'created marker ->running')
  t.equal(client.received.length, 6)
})

t.test('each frame is authorized for its socket; a status filter sends what leaves it, once', async (t) => {
  const { app, url } = await build(t, {
    authorize: async (request, dagId) => {
      const user = (request.query as { user?: string }).user
      return user === 'admin' || dagId === undefined || dagId.startsWith('public')
    }
  })
  await app.dagStream.broadcast('public-old', running)
  await app.dagStream.broadcast('secret-old', running)
  const guest = await TestClient.open(url('/api/dags?status=running&user=guest'))
  const admin = await TestClient.open(url('/api/dags?status=running&user=admin'))
  t.equal(describe(await nextFrame(guest)), 'dag_list public-old total=2', 'total counts before authorization, as GET does')
  const adminPage = await nextFrame(admin)
  t.same(adminPage.type === 'dag_list' && adminPage.dags.map((dag) => dag.dag_id).sort(), ['public-old', 'secret-old'])

  await app.dagStream.broadcast('secret-new', running)
  await app.dagStream.broadcast('public-old', paused) // leaves the filter
  await app.dagStream.broadcast('public-old', paused) // no change
  await app.dagStream.broadcast('public-old', complete) // neither before nor after in the filter
  await app.dagStream.broadcast('public-new', running)
  t.same([await nextFrame(guest), await nextFrame(guest)].map(describe), ['status_changed public-old running>paused', 'created public-new ->running'])
  t.same([await nextFrame(admin), await nextFrame(admin), await nextFrame(admin)].map(describe), [
    'created secret-new ->running',
    'status_changed public-old running>paused',
    'created public-new ->running'
  ])
})

t.test('an eviction goes to the sockets that were told about the DAG', async (t) => {
  const { app, url } = await build(t, {
    retainFinishedMs: 200,
    authorize: async (request, dagId) => dagId === undefined || dagId.startsWith('shown') || (request.query as { user?: string }).user === 'admin'
  })
  const guest = await TestClient.open(url('/api/dags'))
  const admin = await TestClient.open(url('/api/dags?user=admin'))
  await nextFrame(guest)
  await nextFrame(admin)
  await app.dagStream.broadcast('hidden', complete)
  await app.dagStream.broadcast('shown', complete)
  t.same([await nextFrame(guest), await nextFrame(guest)].map(describe), ['created shown ->completed', 'evicted shown'])
  const adminFrames = [await nextFrame(admin), await nextFrame(admin), await nextFrame(admin), await nextFrame(admin)].map(describe)
  t.same(adminFrames.slice(0, 2), ['created hidden ->completed', 'created shown ->completed'])
  t.same(adminFrames.slice(2).sort(), ['evicted hidden', 'evicted shown'])
  await app.dagStream.broadcast('shown-marker', running)
  t.equal(describe(await nextFrame(guest)), 'created shown-marker ->running') // the marker: the guest never heard of `hidden`, before or after
  t.equal(guest.received.length, 4)
})

t.test('changes made while the page is read are sent after it, none lost', async (t) => {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const { app, url } = await build(t, {
    authorize: async (_request, dagId) => {
      if (dagId === 'slow') await gate
      return true
    }
  })
  await app.dagStream.broadcast('slow', running)
  const client = await TestClient.open(url('/api/dags'))
  await app.dagStream.broadcast('during', running)
  release()
  t.same([await nextFrame(client), await nextFrame(client)].map(describe), ['dag_list slow total=1', 'created during ->running'])
})

/**
 * A gate opened after the list socket's page, decided by a dashboard on `viewer`'s stream (the engine,
 * `engine`, resolves it), and another one withdrawn: each change of `open_gates` reaches the list at
 * once, and a list filtered to another status hears none of it.
 */
async function gatesReachTheList (t: Test, viewer: { url: (path: string) => string }, engine: FastifyInstance): Promise<void> {
  engine.dagStream.onClientEvent(async (event, { dagId }) => {
    if (event.type === 'human_decision') await engine.dagStream.broadcast(dagId, { type: 'human_gate_resolved', node_id: event.node_id, decision: event.decision })
  })
  await engine.dagStream.broadcast('run', running)
  const list = await TestClient.open(viewer.url('/api/dags'))
  const pausedOnly = await TestClient.open(viewer.url('/api/dags?status=paused'))
  t.match(await nextFrame(list), { type: 'dag_list', dags: [{ dag_id: 'run', open_gates: 0 }] }, 'the page carries open_gates')
  t.equal(describe(await nextFrame(pausedOnly)), 'dag_list  total=0')

  await engine.dagStream.broadcast('run', { type: 'human_gate_waiting', node_id: 'review', presentation: { title: 'Ship?' } })
  await engine.dagStream.broadcast('run', { type: 'human_gate_waiting', node_id: 'budget', gate_id: 'budget-1', presentation: { title: 'Spend?' } })
  t.same([await nextFrame(list), await nextFrame(list)].map(describe), ['open_gates_changed run running>running gates=1', 'open_gates_changed run running>running gates=2'])

  const dashboard = await TestClient.open(viewer.url('/api/dags/run/stream'))
  await dashboard.next() // hello
  dashboard.send({ type: 'human_decision', id: 'k', node_id: 'review', decision: 'approve' })
  await dashboard.nextWhere((frame) => frame.type === 'ack', 'the ack')
  t.equal(describe(await nextFrame(list)), 'open_gates_changed run running>running gates=1', 'decided through a dashboard')
  await engine.dagStream.broadcast('run', { type: 'human_gate_withdrawn', node_id: 'budget', gate_id: 'budget-1' })
  const withdrawn = await nextFrame(list)
  t.equal(describe(withdrawn), 'open_gates_changed run running>running', 'withdrawn')
  t.match(withdrawn, { dag: { open_gates: 0 } })
  await engine.dagStream.broadcast('run', paused)
  t.equal(describe(await nextFrame(list)), 'status_changed run running>paused')
  t.equal(describe(await nextFrame(pausedOnly)), 'status_changed run running>paused', 'the filtered list heard only the status change')
  t.equal(pausedOnly.received.length, 2)
  t.equal(list.received.length, 6)
  dashboard.close()
}

t.test('a gate opened, decided or withdrawn after the page reaches the list as open_gates_changed', async (t) => {
  const server = await build(t)
  await gatesReachTheList(t, server, server.app)
})

t.test('redis: a list on one instance hears the gates of a DAG another instance drives, decided through the first', async (t) => {
  const prefix = uniquePrefix('live-list-gates')
  cleanupPrefix(t, prefix)
  const viewer = await buildInstance(t, { prefix })
  const engine = await buildInstance(t, { prefix })
  await gatesReachTheList(t, viewer, engine.app)
})

t.test('the stream\'s guards: Origin, connection limits, a backplane that is down', async (t) => {
  const { url } = await build(t, { maxConnectionsPerIp: 1 })
  const refusedOrigin = await upgradeRefusal(url('/api/dags'), { origin: 'https://evil.example' })
  t.equal(refusedOrigin.status, 403)
  await TestClient.open(url('/api/dags'))
  t.equal((await upgradeRefusal(url('/api/dags'))).status, 429)
  const other = await build(t)
  t.equal((await upgradeRefusal(other.url('/api/dags?limit=0'))).status, 400, 'the query is checked as for GET')
})

t.test('the same close codes: 1008 for a message, 4401 for expired credentials, 4503 when authorize fails, 1001 at shutdown', async (t) => {
  let mode: 'ok' | 'expired' | 'throws' | 'soon' | 'far' = 'ok'
  const { app, url } = await build(t, {
    authorize: async (_request, _dagId, action) => {
      if (mode === 'expired') throw new UnauthorizedError('token expired')
      // The right to list was settled at the upgrade (see list-authorization.test.ts): the page's views fail.
      if (mode === 'throws' && action === 'view') throw new Error('directory down')
      if (mode === 'far') return { allowed: true, expiresAt: Date.now() + 2 ** 32 } // beyond a timer's reach
      return mode === 'soon' ? { allowed: true, expiresAt: Date.now() + 200 } : true
    }
  })
  await app.dagStream.broadcast('d', running)

  const talker = await TestClient.open(url('/api/dags'))
  await nextFrame(talker)
  talker.send({ type: 'pause_execution' })
  t.equal((await talker.closed).code, 1008)

  const expired = await TestClient.open(url('/api/dags'))
  await nextFrame(expired)
  mode = 'expired'
  await app.dagStream.broadcast('e', running)
  t.equal((await expired.closed).code, 4401)

  mode = 'throws'
  const failing = await TestClient.open(url('/api/dags'))
  t.equal((await failing.closed).code, 4503, 'authorize failing while the page is read')

  mode = 'soon'
  const expiring = await TestClient.open(url('/api/dags'))
  t.equal(describe(await nextFrame(expiring)), 'dag_list e,d total=2')
  t.equal((await expiring.closed).code, 4401, 'at expiresAt')

  mode = 'far'
  const staying = await TestClient.open(url('/api/dags'))
  await nextFrame(staying)
  await app.dagStream.broadcast('f', running)
  t.equal(describe(await nextFrame(staying)), 'created f ->running', 'credentials that end in 50 days keep the socket')
  const closing = app.close()
  t.equal((await staying.closed).code, 1001)
  await closing
})

t.test('the heartbeat terminates a list socket whose peer stopped answering', async (t) => {
  const { url } = await build(t, { heartbeatMs: 100 })
  const alive = await TestClient.open(url('/api/dags'))
  const dead = await TestClient.open(url('/api/dags'), { autoPong: false })
  t.equal((await dead.closed).code, 1006)
  t.equal(alive.socket.readyState, alive.socket.OPEN)
})

t.test('a slow reader is closed with 4000; a page that cannot be read closes with 1011', async (t) => {
  const { app, url } = await build(t, { maxBufferedBytes: 200 })
  for (let n = 0; n < 5; n++) await app.dagStream.broadcast(`a-long-enough-dag-id-${n}`, running)
  const slow = await TestClient.open(url('/api/dags'))
  t.equal((await slow.closed).code, 4000)

  const failing: BackplaneProvider = {
    kind: 'failing-list',
    create: (settings) => Object.assign(memoryBackplane.create(settings), { list: async () => { throw new Error('list failed') } })
  }
  const broken = await build(t, { backplane: failing })
  const client = await TestClient.open(broken.url('/api/dags'))
  t.equal((await client.closed).code, 1011)

  let watchFailures = 1
  const flaky: BackplaneProvider = {
    kind: 'flaky-watch',
    create: (settings) => {
      const backplane = memoryBackplane.create(settings)
      const watchList = backplane.watchList.bind(backplane)
      return Object.assign(backplane, {
        watchList: async (listener: Parameters<typeof watchList>[0]) => {
          if (watchFailures-- > 0) throw new Error('cannot watch now')
          return watchList(listener)
        }
      })
    }
  }
  const recovering = await build(t, { backplane: flaky })
  const unlucky = await TestClient.open(recovering.url('/api/dags'))
  t.equal((await unlucky.closed).code, 1011, 'the subscription failed')
  const lucky = await TestClient.open(recovering.url('/api/dags'))
  t.equal(describe(await nextFrame(lucky)), 'dag_list  total=0', 'the next socket subscribes again')
})

t.test('redis: a list on one instance hears the DAGs another drives, and their eviction', async (t) => {
  const prefix = uniquePrefix('live-list')
  cleanupPrefix(t, prefix)
  const watcher = await buildInstance(t, { prefix, probeMs: 50, retainFinishedMs: 300 })
  const engine = await buildInstance(t, { prefix, probeMs: 50, retainFinishedMs: 300 })
  await engine.app.dagStream.broadcast('before', running)
  const client = await TestClient.open(watcher.url('/api/dags'))
  t.equal(describe(await nextFrame(client)), 'dag_list before total=1')
  await engine.app.dagStream.broadcast('run', running)
  for (let n = 0; n < 100; n++) void engine.app.dagStream.broadcast('run', { type: 'node_state', node_id: `n${n}`, status: 'running' })
  await engine.app.dagStream.broadcast('run', paused)
  await engine.app.dagStream.broadcast('run', complete)
  t.same([await nextFrame(client), await nextFrame(client), await nextFrame(client)].map(describe), [
    'created run ->running',
    'status_changed run running>paused',
    'finished run paused>completed'
  ])
  t.equal(describe(await nextFrame(client)), 'evicted run', 'the expiry noticed by a probe, and told once')
  await engine.app.dagStream.broadcast('marker', running)
  t.equal(describe(await nextFrame(client)), 'created marker ->running')
  t.equal(client.received.length, 6)
})

t.test('redis: after its subscriber reconnects, a list gets a fresh page (changes published meanwhile are lost to pub/sub)', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('live-list-gap')
  const engine = await buildInstance(t, { prefix, url: redis.url, probeMs: 200 })
  const before = await clientIds(redis.admin, 'pubsub')
  const watcher = await buildInstance(t, { prefix, url: redis.url, probeMs: 200 })
  const subscriber = (await clientIds(redis.admin, 'pubsub')).find((id) => !before.includes(id)) as string
  await engine.app.dagStream.broadcast('before', running)
  const client = await TestClient.open(watcher.url('/api/dags'))
  t.equal(describe(await nextFrame(client)), 'dag_list before total=1')

  await redis.admin.client('KILL', 'ID', subscriber)
  await engine.app.dagStream.broadcast('during', running)
  const fresh = await client.nextWhere((frame) => (frame as unknown as ListServerFrame).type === 'dag_list', 'a fresh page after the subscriber is back')
  t.match(describe(fresh), /^dag_list (during,before|before,during) total=2$/, 'the fresh page has what was published while the subscriber was away')
  await engine.app.dagStream.broadcast('after', running)
  t.equal(describe(await nextFrame(client)), 'created after ->running', 'live again')
})

t.test('redis: watchList while the subscriber connection is down fails with a clear error; unwatching then is harmless', async (t) => {
  const prefix = uniquePrefix('live-list-down')
  cleanupPrefix(t, prefix)
  const commands = new Redis(REDIS_URL, { lazyConnect: true })
  const subscriber = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResubscribe: false })
  // The backplane's subscriber is the application's client's duplicate: this one, so the test can cut it.
  commands.duplicate = () => subscriber
  t.teardown(() => commands.disconnect())
  const { app } = await build(t, { backplane: redisBackplane({ client: commands, keyPrefix: prefix }) })
  const client = await TestClient.open(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/api/dags`)
  t.equal(describe(await nextFrame(client)), 'dag_list  total=0')
  const ended = new Promise((resolve) => subscriber.once('end', resolve))
  subscriber.disconnect() // for good: no reconnect
  await ended
  client.close()
  await client.closed
  const refused = await TestClient.open(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/api/dags`).catch((error: Error) => error)
  t.match(refused, { message: 'HTTP 503' }, 'a new list is refused while the subscriber is down')

  // Below the route's guard, the backplane itself says why.
  const ownSubscriber = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, autoResubscribe: false })
  const ownCommands = new Redis(REDIS_URL, { lazyConnect: true })
  ownCommands.duplicate = () => ownSubscriber
  t.teardown(() => ownCommands.disconnect())
  const backplane = redisBackplane({ client: ownCommands, keyPrefix: prefix }).create({
    historySize: 10, retainFinishedMs: 1000, maxIdleMs: 1000, commandTimeoutMs: 1000, execute: async () => ({ ok: true }), receiveStreamMessage: () => ({ ok: true }), log: app.log
  })
  t.teardown(() => backplane.close())
  await backplane.ready()
  const ownEnded = new Promise((resolve) => ownSubscriber.once('end', resolve))
  ownSubscriber.disconnect()
  await ownEnded
  await t.rejects(backplane.watchList(() => {}), { code: 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE', message: /subscribe/ })
})
