// How the plugin's routes answer a failure on the server's side: `authorize`'s own error text (which
// may name a database and its password) never reaches the client, on any route, and is logged once;
// and an expected 503 while Redis is away is not logged as an error with a stack, request after request.

import { Writable } from 'node:stream'
import t from 'tap'
import { redisBackplane } from '../../lib/backplane/redis/index.js'
import { build, upgradeRefusal } from '../support/helpers.js'
import { startRedis, uniquePrefix } from '../support/redis-helpers.js'
import { until } from '../support/client-helpers.js'

interface LogLine { level: number; msg: string; err?: { message: string; stack?: string } }

/** A logger whose lines the test can read. */
function capturedLog () {
  const lines: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as LogLine)
      done()
    }
  })
  return { lines, logger: { level: 'debug', stream } }
}

const SECRET = 'S3CRET-PW'

t.test('authorize\'s error text reaches no client: one generic 500 on every route, the details in the log', async (t) => {
  const log = capturedLog()
  const { app, url, http } = await build(t, {
    authorize: () => {
      throw new Error(`connect ECONNREFUSED postgres://app:${SECRET}@db.internal:5432`)
    }
  }, undefined, { logger: log.logger })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const generic = { statusCode: 500, code: 'FST_DAG_STREAM_INTERNAL_ERROR', error: 'Internal Server Error', message: 'fastify-dag-stream: the request failed on the server (its log has the details)' }

  const answers: Array<[string, number, unknown]> = []
  const upgrade = await upgradeRefusal(url('/api/dags/d/stream'))
  answers.push(['the stream upgrade', upgrade.status, upgrade.body])
  for (const [what, path] of [['the event stream', '/api/dags/d/events'], ['the snapshot', '/api/dags/d'], ['the list', '/api/dags']] as const) {
    const response = await fetch(`${http}${path}`)
    answers.push([what, response.status, await response.json()])
  }
  const listUpgrade = await upgradeRefusal(url('/api/dags'))
  answers.push(['the live list upgrade', listUpgrade.status, listUpgrade.body])
  for (const [what, status, body] of answers) {
    t.equal(status, 500, what)
    t.same(body, generic, what)
    t.notOk(JSON.stringify(body).includes(SECRET), `${what}: no secret in the answer`)
  }
  const posted = await fetch(`${http}/api/dags/d/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"pause_execution","id":"p"}' })
  t.notOk((await posted.text()).includes(SECRET), 'the commands route: generic as before')

  const failures = log.lines.filter((line) => line.err?.message.includes(SECRET))
  t.ok(failures.length >= answers.length, 'each failure is in the log, with its message')
  t.ok(failures.every((line) => line.level === 50), 'at error level')
})

t.test('while Redis is away, refused snapshots and upgrades are not logged as errors; the loss is, once', async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix('route-errors')
  const log = capturedLog()
  const { app, url, http } = await build(t, { backplane: redisBackplane({ url: redis.url, keyPrefix: prefix }) }, undefined, { logger: log.logger })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  await redis.stop()
  await until(async () => (await fetch(`${http}/api/dags/d`)).status === 503, 'the snapshot to be refused')

  const before = log.lines.length
  for (let index = 0; index < 5; index++) {
    const snapshot = await fetch(`${http}/api/dags/d`)
    t.equal(snapshot.status, 503)
    t.match(await snapshot.json(), { statusCode: 503, code: 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE' })
    t.equal((await upgradeRefusal(url('/api/dags/d/stream'))).status, 503)
    t.equal((await fetch(`${http}/api/dags`)).status, 503)
  }
  const during = log.lines.slice(before)
  t.same(during.filter((line) => line.level >= 40).map((line) => line.msg), [], 'no warning or error per refused request')
  t.notOk(during.some((line) => line.err?.stack !== undefined), 'and no stack')
  const lost = log.lines.filter((line) => line.msg.startsWith('fastify-dag-stream: lost the connection to Redis')) as Array<LogLine & { connection: string }>
  t.ok(lost.length > 0, 'the loss is logged')
  t.equal(new Set(lost.map((line) => line.connection)).size, lost.length, 'once per connection to Redis')
})
