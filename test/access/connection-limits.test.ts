// maxConnections and maxConnectionsPerIp: past them an upgrade is refused with 429 and Retry-After
// before the 101, a slot is held until the socket is gone, and the client library backs off until one frees.

import t, { type Test } from 'tap'
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP } from '../../lib/index.js'
import { build, TestClient, upgradeRefusal, upgradeStatus } from '../support/helpers.js'
import { until } from '../support/wait.js'
import { streamClient } from '../support/client-helpers.js'

const stream = '/api/dags/d/stream'

/** Opens a stream as soon as the server has a slot for it; every refusal meanwhile must be a 429. */
async function openWhenFree (t: Test, url: string, headers: Record<string, string> = {}): Promise<TestClient> {
  let opened: TestClient | undefined
  await until(async () => {
    try {
      opened = await TestClient.open(url, { headers })
      return true
    } catch (error) {
      t.equal((error as Error).message, 'HTTP 429', 'refused only for want of a slot')
      return false
    }
  }, `a free stream slot for ${url}`)
  return opened as TestClient
}

t.test('past maxConnections the upgrade is refused with 429, Retry-After and a specific error, until a stream ends', async (t) => {
  let authorized = 0
  const { app, url } = await build(t, {
    maxConnections: 2,
    authorize: () => {
      authorized++
      return true
    }
  })
  const first = await TestClient.open(url(stream))
  const second = await TestClient.open(url('/api/dags/other/stream'))
  const refused = await upgradeRefusal(url(stream))
  t.equal(refused.status, 429)
  t.equal(refused.headers['retry-after'], '5')
  t.same(refused.body, {
    statusCode: 429,
    code: 'FST_DAG_STREAM_TOO_MANY_CONNECTIONS',
    error: 'Too Many Requests',
    message: 'Too many open streams on this server (maxConnections: 2): try again later'
  })
  t.equal(authorized, 2, 'refused before authorize runs: a flood costs no authorization')
  t.equal(app.dagStream.connections(), 2)

  first.close()
  const third = await openWhenFree(t, url(stream))
  t.match(await third.next(), { type: 'hello' }, 'a slot freed by a closed stream is taken again')
  second.close()
  third.close()
})

t.test('maxConnectionsPerIp counts by connectionKey: one client at its limit leaves the others their slots', async (t) => {
  const { url } = await build(t, {
    maxConnectionsPerIp: 2,
    connectionKey: (request) => String(request.headers['x-user'])
  })
  const as = (user: string) => ({ 'x-user': user })
  const alice = [await TestClient.open(url(stream), { headers: as('alice') }), await TestClient.open(url(stream), { headers: as('alice') })]
  const refused = await upgradeRefusal(url(stream), as('alice'))
  t.equal(refused.status, 429)
  t.match(refused.body, { code: 'FST_DAG_STREAM_TOO_MANY_CONNECTIONS', message: 'Too many open streams from this client (maxConnectionsPerIp: 2): try again later' })
  t.equal(refused.headers['retry-after'], '5')
  const bob = await TestClient.open(url(stream), { headers: as('bob') })
  t.match(await bob.next(), { type: 'hello' }, 'another client is not held back')

  alice[0]?.close()
  const again = await openWhenFree(t, url(stream), as('alice'))
  t.match(await again.next(), { type: 'hello' })
  for (const client of [again, alice[1], bob]) client?.close()
})

t.test('by default the key is the client address; the defaults are documented constants', async (t) => {
  t.equal(DEFAULT_MAX_CONNECTIONS, Number.POSITIVE_INFINITY)
  t.equal(DEFAULT_MAX_CONNECTIONS_PER_IP, 1000)
  const { url } = await build(t, { maxConnectionsPerIp: 1, maxConnections: Number.POSITIVE_INFINITY })
  const client = await TestClient.open(url(stream))
  t.equal(await upgradeStatus(url('/api/dags/e/stream'), { 'x-user': 'someone else' }), 429, 'the same address, whatever the headers say')
  client.close()
})

t.test('a refused upgrade gives its slot back, whatever refused it', async (t) => {
  const { app, url } = await build(t, {
    maxConnections: 1,
    authorize: (request) => request.headers.authorization === 'good'
  })
  for (let i = 0; i < 5; i++) t.equal(await upgradeStatus(url(stream), { authorization: 'bad' }), 403)
  const client = await openWhenFree(t, url(stream), { authorization: 'good' })
  t.match(await client.next(), { type: 'hello' }, 'five refusals did not keep the only slot')
  t.equal(app.dagStream.connections(), 1)
  client.close()
})

t.test('only real upgrades take a slot: a plain GET of the route, or injectWS, does not', async (t) => {
  const { app, url, http } = await build(t, { maxConnections: 1 })
  // One keep-alive connection, several requests: none of them may hold the only slot.
  for (let i = 0; i < 3; i++) t.equal((await fetch(`${http}${stream}`)).status, 404)
  const client = await TestClient.open(url(stream))
  t.match(await client.next(), { type: 'hello' })

  const injected = await app.injectWS(stream)
  t.equal(injected.readyState, injected.OPEN, 'an in-process socket has no address to count')
  injected.terminate()
  client.close()
})

t.test('the limits count per instance', async (t) => {
  const one = await build(t, { maxConnections: 1, maxConnectionsPerIp: Number.POSITIVE_INFINITY })
  const two = await build(t, { maxConnections: 1, maxConnectionsPerIp: Number.POSITIVE_INFINITY })
  const clients = [await TestClient.open(one.url(stream)), await TestClient.open(two.url(stream))]
  t.equal(await upgradeStatus(one.url(stream)), 429)
  for (const client of clients) client.close()
})

t.test('the client backs off while the server is full, and connects once a slot frees', async (t) => {
  let upgrades = 0
  const server = await build(t, {
    maxConnections: 1,
    connectionKey: (request) => {
      upgrades++
      return request.ip
    }
  })
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'running' })
  const holder = await TestClient.open(server.url(stream))
  await holder.next()

  const client = streamClient(t, server, 'd')
  const attempts: Array<{ attempt: number; delayMs: number }> = []
  client.on('reconnecting', ({ attempt, delayMs }) => attempts.push({ attempt, delayMs }))
  await until(() => attempts.length >= 3, 'three refused attempts')
  t.same(attempts.slice(0, 3).map(({ attempt }) => attempt), [1, 2, 3], 'each refusal moves one step along the backoff schedule')
  t.ok(attempts.every(({ delayMs }) => delayMs >= 10), 'and waits before the next attempt')
  t.equal(client.status, 'reconnecting')
  t.ok(upgrades >= 4, `the server saw every attempt (${upgrades})`)

  holder.close()
  await until(() => client.status === 'open' && client.position.seq === 1, 'connected once the slot freed')
  await server.app.dagStream.broadcast('d', { type: 'node_state', node_id: 'a', status: 'completed' })
  await until(() => client.position.seq === 2, 'live')
  t.equal(client.error, undefined)
})
