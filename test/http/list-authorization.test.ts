// Who may see the DAG list is settled before anything is read: `authorize(request, undefined, 'list')`.
// A caller who may not list gets 401/403 from the page and from the live list's upgrade, learns no
// `total`, costs no read of the backplane and holds no slot; the live list asks again at every heartbeat.

import t from 'tap'
import { CloseCode, MemoryBackplane, UnauthorizedError, memoryBackplane, type Action, type BackplaneProvider } from '../../lib/index.js'
import { indexKey } from '../../lib/backplane/redis/keys.js'
import { redisBackplane } from '../../lib/backplane/redis/index.js'
import { build, TestClient, upgradeRefusal } from '../support/helpers.js'
import { cleanupPrefix, commandsNaming, REDIS_URL, uniquePrefix } from '../support/redis-helpers.js'

/** The memory backplane, counting the list's reads. */
function countingBackplane (): { provider: BackplaneProvider; reads: () => number } {
  let reads = 0
  class Counting extends MemoryBackplane {
    override async list (query: Parameters<MemoryBackplane['list']>[0]) {
      reads++
      return super.list(query)
    }
  }
  return { provider: { kind: 'counting', create: (settings) => new Counting(settings) }, reads: () => reads }
}

t.test('an anonymous caller is refused before any read: no page, no total, no live list', async (t) => {
  const { provider, reads } = countingBackplane()
  const asked: Array<[string | undefined, Action]> = []
  const { app, url, http } = await build(t, {
    backplane: provider,
    authorize: (request, dagId, action) => {
      asked.push([dagId, action])
      if (request.headers.authorization === undefined) throw new UnauthorizedError()
      return request.headers.authorization !== 'Bearer no-list' || action !== 'list'
    }
  })
  for (let index = 0; index < 5; index++) await app.dagStream.broadcast(`d${index}`, { type: 'execution_status', status: 'failed' })

  for (const query of ['offset=1000000', 'status=failed&offset=5', 'limit=1000', 'status=cancelled']) {
    const response = await fetch(`${http}/api/dags?${query}`)
    t.equal(response.status, 401, query)
    t.notOk('total' in (await response.json() as object), `${query}: no total`)
    t.equal((await upgradeRefusal(url(`/api/dags?${query}`))).status, 401, `${query}: the live list`)
  }
  const noList = { authorization: 'Bearer no-list' }
  const forbidden = await fetch(`${http}/api/dags`, { headers: noList })
  t.equal(forbidden.status, 403)
  t.match(await forbidden.json(), { code: 'FST_DAG_STREAM_LIST_FORBIDDEN', message: 'Not allowed to list DAGs' })
  t.equal((await upgradeRefusal(url('/api/dags'), noList)).status, 403)
  t.equal(reads(), 0, 'the backplane was never read')
  t.ok(asked.every(([dagId, action]) => dagId === undefined && action === 'list'), 'only the list was asked about')

  const allowed = await fetch(`${http}/api/dags?status=failed`, { headers: { authorization: 'Bearer yes' } })
  t.match(await allowed.json(), { total: 5 }, 'a caller who may list gets the page')
  t.equal(reads(), 1)
  t.equal(app.dagStream.connections(), 0)
})

t.test('the live list asks authorize(…, \'list\') again at every heartbeat: a revoked right ends it with 4503', async (t) => {
  let mayList = true
  let expired = false
  const { app, url } = await build(t, {
    heartbeatMs: 50,
    backplane: memoryBackplane,
    authorize: (_request, _dagId, action) => {
      if (action === 'list' && expired) throw new UnauthorizedError()
      return action !== 'list' || mayList
    }
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const revoked = await TestClient.open(url('/api/dags'))
  t.match(await revoked.next(), { type: 'dag_list', total: 1 })
  mayList = false
  t.match(await revoked.closed, { code: CloseCode.FORBIDDEN, reason: 'no longer allowed to list DAGs' })

  mayList = true
  const expiring = await TestClient.open(url('/api/dags'))
  await expiring.next()
  expired = true
  t.match(await expiring.closed, { code: CloseCode.UNAUTHORIZED })
})

t.test('an expiresAt from authorize(…, \'list\') closes the live list at that moment', async (t) => {
  const { url } = await build(t, {
    authorize: (_request, _dagId, action) => action === 'list' ? { allowed: true, expiresAt: Date.now() + 300 } : true
  })
  const client = await TestClient.open(url('/api/dags'))
  await client.next()
  const opened = Date.now()
  t.match(await client.closed, { code: CloseCode.UNAUTHORIZED, reason: 'credentials expired' })
  t.ok(Date.now() - opened < 2000)
})

t.test('on Redis, a caller who may not list costs no command at all', async (t) => {
  const prefix = uniquePrefix('list-authorization')
  cleanupPrefix(t, prefix)
  const { app, url, http } = await build(t, {
    backplane: redisBackplane({ url: REDIS_URL, keyPrefix: prefix }),
    authorize: (request) => {
      if (request.headers.authorization === undefined) throw new UnauthorizedError()
      return true
    }
  })
  for (let index = 0; index < 20; index++) await app.dagStream.broadcast(`d${index}`, { type: 'execution_status', status: 'failed' })
  const index = indexKey(prefix)
  const { commands, caughtUp } = await commandsNaming(t, index)
  for (const query of ['offset=1000000', 'status=failed&offset=5', 'limit=1000']) {
    t.equal((await fetch(`${http}/api/dags?${query}`)).status, 401, query)
    t.equal((await upgradeRefusal(url(`/api/dags?${query}`))).status, 401, `${query}: the live list`)
  }
  await caughtUp()
  t.same(commands.filter(({ args }) => args[0]?.toLowerCase() !== 'exists'), [], 'the list index was never read')
  const allowed = await fetch(`${http}/api/dags?status=failed&offset=5`, { headers: { authorization: 'Bearer yes' } })
  t.match(await allowed.json(), { total: 20 })
  await caughtUp()
  // (A page reads the index, or its status sets, in a script that names every key of the list.)
  t.ok(commands.some(({ args }) => /^(z(rev)?range|eval(sha)?)$/i.test(args[0] ?? '')), 'an allowed caller\'s page reads it (so the probe would have seen a read)')
})
