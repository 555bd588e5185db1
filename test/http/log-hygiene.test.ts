// What the plugin leaves in the application's log: no credential from a query string, a cookie or an
// Authorization header, and on every line it writes about a stream, the DAG and the connection's id.

import Fastify from 'fastify'
import t from 'tap'
import dagStream, { BackplaneUnavailableError, CloseCode, EventRefusedError, MemoryBackplane, UnauthorizedError, type Replay } from '../../lib/index.js'
import { withoutQueryValues } from '../../lib/http/log.js'
import { logLines } from '../support/logger.js'
import { TestClient, upgradeStatus } from '../support/helpers.js'

const SECRET = 'SECRET'

/** The memory backplane, except for two DAGs: one whose log cannot be read, one whose store is down. */
class PartlyBrokenBackplane extends MemoryBackplane {
  override async replay (dagId: string, since?: { epoch: string; seq: number }): Promise<Replay> {
    if (dagId === 'unreadable') throw new Error('the log is corrupt')
    return super.replay(dagId, since)
  }

  override async status (dagId: string) {
    if (dagId === 'down') throw new BackplaneUnavailableError('Redis is not connected')
    return super.status(dagId)
  }
}

t.test('no credential reaches the log; every plugin line names its DAG and connection', async (t) => {
  const { raw: lines, stream: logStream } = logLines()
  let recheckFails = false
  const app = Fastify({ logger: { level: 'trace', stream: logStream } })
  await app.register(dagStream, {
    heartbeatMs: 100,
    backplane: { kind: 'partly-broken', create: (settings) => new PartlyBrokenBackplane(settings) },
    authorize: (request, dagId, action) => {
      const token = (request.query as { token?: string }).token
      if (token === undefined) throw new UnauthorizedError()
      if (dagId === 'forbidden') return false
      if (action === 'decide') throw new Error('the user service is down')
      if (action === 'view' && recheckFails && dagId === 'recheck') throw new Error('the user service is down')
      return action !== 'control' || dagId !== 'read-only'
    }
  })
  app.dagStream.onClientEvent(() => {
    throw new EventRefusedError('not now')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address() as { port: number }
  const credentials = {
    headers: { cookie: `session=${SECRET}-cookie`, authorization: `Bearer ${SECRET}-header` }
  }
  const url = (dagId: string, query = '') => `ws://127.0.0.1:${address.port}/api/dags/${dagId}/stream?token=${SECRET}-query${query}`

  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const first = await app.dagStream.broadcast('read-only', { type: 'execution_status', status: 'running' })
  await app.dagStream.broadcast('down', { type: 'execution_status', status: 'running' })

  // A command the engine refuses, and a decision whose authorization fails.
  const client = await TestClient.open(url('d', `&since=1&epoch=${first.epoch}`), credentials)
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.match(await client.next(), { type: 'error', code: 'handler_failed', id: 'p' })
  client.send({ type: 'human_decision', id: 'h', node_id: 'g', decision: 'approve' })
  t.match(await client.next(), { type: 'error', code: 'forbidden', id: 'h' })
  // Refused authorization: for an action, and at the upgrade (with and without credentials).
  const readOnly = await TestClient.open(url('read-only'), credentials)
  await readOnly.next()
  readOnly.send({ type: 'cancel_execution', id: 'c' })
  t.match(await readOnly.next(), { type: 'error', code: 'forbidden', id: 'c' })
  t.equal(await upgradeStatus(url('forbidden'), credentials.headers), 403)
  t.equal(await upgradeStatus(url('d').replace(/\?.*/, `?t=${SECRET}-anonymous`), credentials.headers), 401)
  t.equal((await fetch(`http://127.0.0.1:${address.port}/api/dags/d?token=${SECRET}-rest`, credentials)).status, 200)
  // A stream whose log cannot be read, a command that meets a backplane outage, a re-check that fails.
  const unreadable = await TestClient.open(url('unreadable'), credentials)
  t.equal((await unreadable.closed).code, CloseCode.INTERNAL_ERROR)
  const down = await TestClient.open(url('down'), credentials)
  await down.next()
  down.send({ type: 'resume_execution', id: 'r' })
  t.match(await down.next(), { type: 'error', code: 'engine_unavailable', id: 'r' })
  const recheck = await TestClient.open(url('recheck'), credentials)
  await recheck.next()
  recheckFails = true
  t.equal((await recheck.closed).code, CloseCode.FORBIDDEN)
  for (const each of [client, readOnly, down]) each.close()
  await app.close()

  const log = lines.join('\n')
  t.notOk(log.includes(SECRET), 'no token, cookie or Authorization value anywhere in the log')
  const entries = lines.map((line) => JSON.parse(line) as { msg?: string; dagId?: unknown; connectionId?: unknown; req?: { url: string } })
  t.ok(entries.some((entry) => entry.req?.url === '/api/dags/d/stream?token=[redacted]&since=[redacted]&epoch=[redacted]'), 'the keys stay')
  t.ok(entries.some((entry) => entry.req?.url === '/api/dags/d?token=[redacted]'), 'REST routes too')

  const plugin = entries.filter((entry) => entry.msg?.startsWith('fastify-dag-stream'))
  t.same([...new Set(plugin.map((entry) => entry.msg))].sort(), [
    'fastify-dag-stream: a client event handler refused an event',
    'fastify-dag-stream: a client event met an unavailable backplane',
    'fastify-dag-stream: authorize threw',
    'fastify-dag-stream: could not start the stream'
  ], 'the lines this test provokes')
  t.equal(plugin.filter((entry) => entry.msg === 'fastify-dag-stream: authorize threw').length, 2, 'for a command and at a heartbeat re-check')
  for (const entry of plugin) {
    t.match(entry, { dagId: String, connectionId: /^[\w-]{8}$/ }, String(entry.msg))
  }
  const ofClient = plugin.filter((entry) => entry.dagId === 'd')
  t.equal(ofClient.length, 2)
  t.equal(ofClient[0]?.connectionId, ofClient[1]?.connectionId, 'one socket, one id: where its event arrived and where the engine refused it')
})

t.test('query values are redacted, keys kept', async (t) => {
  t.equal(withoutQueryValues('/api/dags/d/stream'), '/api/dags/d/stream')
  t.equal(withoutQueryValues('/a?token=x&since=3'), '/a?token=[redacted]&since=[redacted]')
  t.equal(withoutQueryValues('/a?secret&b=='), '/a?[redacted]&b=[redacted]')
  t.equal(withoutQueryValues('/a?'), '/a?[redacted]')
})
