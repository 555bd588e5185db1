// `authorize` may say when the credentials expire: `{ allowed: true, expiresAt }`. A stream ends with
// 4401 at that moment, not at the next heartbeat; a re-check moves the moment; everywhere authorize is
// asked (upgrade, REST, commands, heartbeat) the answer means the same.

import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { CloseCode, type AuthorizeResult } from '../../lib/index.js'
import type { DAGList } from '../../schemas/index.js'
import { build, TestClient, upgradeRefusal } from '../support/helpers.js'
import { tick, until } from '../support/wait.js'

const stream = '/api/dags/d/stream'
const HOUR = 60 * 60_000

/** A server whose authorize answers what `answer` says, counting its calls per action. */
async function serverAnswering (t: Test, answer: (action: string) => AuthorizeResult, heartbeatMs = HOUR, serverOptions = {}) {
  const calls: string[] = []
  const server = await build(t, {
    heartbeatMs,
    authorize: (_request, _dagId, action) => {
      calls.push(action)
      return answer(action)
    }
  }, undefined, serverOptions)
  server.app.dagStream.onClientEvent(() => {})
  await server.app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  return { ...server, calls }
}

t.test('a stream closes with 4401 at expiresAt, without waiting for a heartbeat', async (t) => {
  for (const form of ['Date', 'ms'] as const) {
    let expiresAt: number | undefined
    const { app, url } = await serverAnswering(t, () => {
      expiresAt ??= Date.now() + 500
      return { allowed: true, expiresAt: form === 'Date' ? new Date(expiresAt) : expiresAt }
    })
    const client = await TestClient.open(url(stream))
    t.same(await client.closed, { code: CloseCode.UNAUTHORIZED, reason: 'credentials expired' }, `${form}: closed when they expire`)
    t.match(client.received, [{ type: 'hello' }], `${form}: the stream was served until then`)
    t.ok(Date.now() >= (expiresAt as number), `${form}: not before`)
    t.equal(app.dagStream.connections(), 0)
  }
})

t.test('a re-check that answers a later expiresAt moves the moment; one without expiresAt removes it', async (t) => {
  // Taken at the upgrade's check, not before the server starts: on a busy machine that can take 300 ms. A second
  // off, so that heartbeats every 50 ms re-check before it even when the machine is loaded.
  let firstExpiry = 0
  let checks = 0
  const { app, url } = await serverAnswering(t, () => {
    checks++
    if (checks === 1) {
      firstExpiry = Date.now() + 1000
      return { allowed: true, expiresAt: firstExpiry }
    }
    return checks % 2 === 0 ? { allowed: true, expiresAt: Date.now() + HOUR } : true
  }, 50)
  const client = await TestClient.open(url(stream))
  await client.next()
  await until(() => Date.now() > firstExpiry + 200 && checks >= 4, 'the first moment long past, re-checked meanwhile')
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await client.next(), { type: 'execution_status', seq: 2 }, 'still open after the first expiresAt')
  client.close()
})

t.test('a moment further off than a timer can wait does not close the stream at once', async (t) => {
  let checks = 0
  const { app, url } = await serverAnswering(t, () => {
    checks++
    return { allowed: true, expiresAt: new Date(Date.now() + 30 * 24 * HOUR) }
  }, 50)
  const client = await TestClient.open(url(stream))
  await client.next()
  await until(() => checks >= 3, 'two re-checks')
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await client.next(), { type: 'execution_status', seq: 2 }, 'open: setTimeout would have fired at once past 24.8 days')
  client.close()
})

t.test('a re-check that finds the credentials expired or the permission gone closes the stream', async (t) => {
  let later: AuthorizeResult = { allowed: true, expiresAt: Date.now() - 1 }
  let checks = 0
  const { url } = await serverAnswering(t, () => (++checks === 1 ? true : later), 50)
  const expired = await TestClient.open(url(stream))
  await expired.next()
  t.same(await expired.closed, { code: CloseCode.UNAUTHORIZED, reason: 'credentials expired' })

  later = { allowed: false, expiresAt: Date.now() + HOUR }
  checks = 0
  const refused = await TestClient.open(url(stream))
  await refused.next()
  t.same(await refused.closed, { code: CloseCode.FORBIDDEN, reason: 'no longer allowed to view this DAG' })
})

t.test('a re-check that answers after the client left sets no timer', async (t) => {
  let answer!: (result: AuthorizeResult) => void
  let checks = 0
  const { app, url } = await serverAnswering(t, () => {
    if (++checks === 1) return true
    // The answer waits until the test gives it, after the client has gone.
    return new Promise<AuthorizeResult>((resolve) => { answer = resolve }) as unknown as AuthorizeResult
  }, 50)
  const client = await TestClient.open(url(stream))
  await client.next()
  await until(() => answer !== undefined, 'a re-check in flight')
  client.close()
  await client.closed
  await until(() => app.dagStream.connections() === 0, 'the server saw the client go')
  const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
  const before = timers()
  answer({ allowed: true, expiresAt: Date.now() + HOUR })
  await tick()
  t.equal(timers(), before, 'no timer for a socket that is gone (it would keep the process alive for an hour)')
})

t.test('expiresAt already past: 401 before the upgrade, on REST routes, and for commands', async (t) => {
  let expiresAt = Date.now() - 1000
  const { app, url, http } = await serverAnswering(t, (action) => (action === 'view' ? { allowed: true, expiresAt } : { allowed: true, expiresAt: Date.now() - 1 }))
  const refused = await upgradeRefusal(url(stream))
  t.same(refused, {
    status: 401,
    headers: refused.headers,
    body: { statusCode: 401, code: 'FST_DAG_STREAM_CREDENTIALS_EXPIRED', error: 'Unauthorized', message: 'Credentials expired' }
  })
  t.equal(app.dagStream.connections(), 0, 'no socket was opened')
  t.equal((await fetch(`${http}/api/dags/d`)).status, 401)
  t.equal((await fetch(`${http}/api/dags`)).status, 401)

  expiresAt = Date.now() + HOUR
  const client = await TestClient.open(url(stream))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.next(), { type: 'error', code: 'unauthorized', message: 'Authentication required', id: 'p' }, 'a command with expired credentials')
  client.close()
})

t.test('the object form works everywhere authorize is asked', async (t) => {
  const allowed: Record<string, boolean> = { list: true, view: true, control: true, decide: false }
  const { app, url, http } = await serverAnswering(t, (action) => ({ allowed: allowed[action] as boolean, expiresAt: Date.now() + HOUR }))
  await app.dagStream.broadcast('e', { type: 'execution_status', status: 'running' })
  t.equal((await fetch(`${http}/api/dags/d`)).status, 200)
  t.same(((await (await fetch(`${http}/api/dags`)).json()) as DAGList).dags.length, 2)
  const client = await TestClient.open(url(stream))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.next(), { type: 'ack', id: 'p' })
  client.send({ type: 'human_decision', id: 'h', node_id: 'n', decision: 'approve' })
  t.same(await client.next(), { type: 'error', code: 'forbidden', message: 'Not allowed to decide DAG "d"', id: 'h' })

  allowed.view = false
  t.equal((await fetch(`${http}/api/dags/d`)).status, 403, '{ allowed: false } is a refusal, though an object is truthy')
  t.same(((await (await fetch(`${http}/api/dags`)).json()) as DAGList).dags, [])
  client.close()
})

t.test('an answer of another shape is a bug in the application: the log says what was wrong, the client gets a generic 500', async (t) => {
  let result: unknown
  const logged: string[] = []
  const logStream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString())
      done()
    }
  })
  const { app, url, http } = await serverAnswering(t, () => result as AuthorizeResult, HOUR, { logger: { level: 'error', stream: logStream } })
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /must return a boolean or \{ allowed: boolean, expiresAt\?: Date \| number \}, got undefined/],
    ['yes', /got \\"yes\\"/],
    [{ allowed: 'yes' }, /got \{\\"allowed\\":\\"yes\\"\}/],
    [{ allowed: true, expiresAt: '2030-01-01' }, /expiresAt must be a valid Date or a number of ms/],
    [{ allowed: true, expiresAt: new Date('not a date') }, /expiresAt: Invalid Date \}: expiresAt must be a valid Date/],
    [{ allowed: true, expiresAt: Math.floor(Date.now() / 1000) + 60 }, /that is seconds, not milliseconds \(a JWT's exp \* 1000\)/]
  ]
  for (const [answer, message] of cases) {
    result = answer
    logged.length = 0
    const response = await fetch(`${http}/api/dags/d`)
    t.equal(response.status, 500, JSON.stringify(answer))
    t.match(await response.json(), { code: 'FST_DAG_STREAM_INTERNAL_ERROR' })
    t.match(logged.join(''), /FST_DAG_STREAM_INVALID_AUTHORIZE_RESULT/)
    t.match(logged.join(''), message)
  }
  t.equal((await upgradeRefusal(url(stream))).status, 500, 'the upgrade is refused too')
  t.equal(app.dagStream.connections(), 0)
})
