import t from 'tap'
import { CloseCode, UnauthorizedError, type Action } from '../../lib/index.js'
import type { DAGList } from '../../schemas/index.js'
import { tick, until } from '../support/wait.js'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'

// Tokens per user, and what each may do: 'viewer' may only look, 'admin' may do everything.
const tokens: Record<string, { user: string; actions: Action[]; dags: string[] }> = {
  'token-viewer': { user: 'viewer', actions: ['list', 'view'], dags: ['d'] },
  'token-admin': { user: 'admin', actions: ['list', 'view', 'decide', 'control'], dags: ['d', 'e'] }
}

function authorizeWith () {
  const calls: Array<[string | undefined, string]> = []
  const authorize = async (request: { headers: Record<string, unknown> }, dagId: string | undefined, action: Action) => {
    calls.push([dagId, action])
    const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '')
    const grant = tokens[token]
    if (grant === undefined) throw new UnauthorizedError()
    return (dagId === undefined || grant.dags.includes(dagId)) && grant.actions.includes(action)
  }
  return { authorize, calls }
}

const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

t.test('the upgrade is refused with 401 or 403 before the 101, and the handler never runs', async (t) => {
  const { authorize } = authorizeWith()
  const { app, url } = await build(t, { authorize })
  t.equal(await upgradeStatus(url('/api/dags/d/stream')), 401, 'no token')
  t.equal(await upgradeStatus(url('/api/dags/e/stream'), as('token-viewer').headers), 403, 'not this DAG')
  t.equal(app.dagStream.connections(), 0)
  const client = await TestClient.open(url('/api/dags/d/stream'), as('token-viewer'))
  t.match(await client.next(), { type: 'hello' })
  t.equal(app.dagStream.connections('d'), 1)
  client.close()
})

t.test('REST routes ask authorize too; the list shows only what may be viewed', async (t) => {
  const { authorize } = authorizeWith()
  const { app, http } = await build(t, { authorize })
  for (const dag of ['d', 'e', 'f']) await app.dagStream.broadcast(dag, { type: 'execution_status', status: 'running' })
  t.equal((await fetch(`${http}/api/dags/d`)).status, 401)
  const forbidden = await fetch(`${http}/api/dags/e`, as('token-viewer'))
  t.equal(forbidden.status, 403)
  t.match(await forbidden.json(), { code: 'FST_DAG_STREAM_FORBIDDEN', message: 'Not allowed to view DAG "e"' })
  t.equal((await fetch(`${http}/api/dags/d`, as('token-viewer'))).status, 200)
  const list = (await (await fetch(`${http}/api/dags`, as('token-viewer'))).json()) as DAGList
  t.same(list.dags.map((dag) => dag.dag_id), ['d'])
  t.equal((await fetch(`${http}/api/dags`)).status, 401)
})

t.test('every client command is authorized for its own action', async (t) => {
  const { authorize, calls } = authorizeWith()
  const { app, url } = await build(t, { authorize })
  app.dagStream.onClientEvent(() => {})
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'ok?' } })
  const viewer = await TestClient.open(url('/api/dags/d/stream'), as('token-viewer'))
  await viewer.next()
  viewer.send({ type: 'human_decision', id: 'v1', node_id: 'g', decision: 'approve' })
  t.same(await viewer.next(), { type: 'error', code: 'forbidden', message: 'Not allowed to decide DAG "d"', id: 'v1' })
  viewer.send({ type: 'cancel_execution', id: 'v2' })
  t.same(await viewer.next(), { type: 'error', code: 'forbidden', message: 'Not allowed to control DAG "d"', id: 'v2' })
  t.same((await app.dagStream.snapshot('d'))?.gates.length, 1, 'the refused decision changed nothing')

  const admin = await TestClient.open(url('/api/dags/d/stream'), as('token-admin'))
  await admin.next()
  admin.send({ type: 'human_decision', id: 'a1', node_id: 'g', decision: 'approve' })
  await admin.waitFor(3)
  t.same(admin.received[2], { type: 'ack', id: 'a1' })
  t.ok(calls.some(([dag, action]) => dag === 'd' && action === 'decide'))
  viewer.close()
  admin.close()
})

t.test('a token that expires while connected: commands get unauthorized, the heartbeat closes 4401', async (t) => {
  // The token expires for the command first, and for viewing once the command was answered: the
  // heartbeat re-checks every 50 ms, and its close must not overtake the answer.
  const expiredFor = new Set<Action>()
  const { authorize } = authorizeWith()
  const { app, url } = await build(t, {
    heartbeatMs: 50,
    authorize: async (request, dagId, action) => {
      if (expiredFor.has(action)) throw new UnauthorizedError()
      return await authorize(request, dagId, action)
    }
  })
  app.dagStream.onClientEvent(() => {})
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'), as('token-admin'))
  await client.next()
  expiredFor.add('control')
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.next(), { type: 'error', code: 'unauthorized', message: 'Authentication required', id: 'p' })
  expiredFor.add('view')
  t.same(await client.closed, { code: CloseCode.UNAUTHORIZED, reason: 'credentials expired' })
})

t.test('a permission revoked while connected closes the stream with 4503 at the next heartbeat', async (t) => {
  let allowed = true
  const { url } = await build(t, { authorize: () => allowed, heartbeatMs: 50 })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  allowed = false
  t.same(await client.closed, { code: CloseCode.FORBIDDEN, reason: 'no longer allowed to view this DAG' })
})

t.test('an authorize that throws something unexpected refuses, and says so in the log only', async (t) => {
  // The policy service fails for the command first; the heartbeat's re-check meets the failure only
  // once the command was answered, so that the close cannot overtake the answer.
  let phase: 'connect' | 'command' | 'later' = 'connect'
  const { url, app } = await build(t, {
    heartbeatMs: 50,
    authorize: (_request, _dagId, action) => {
      if (phase === 'connect' || (phase === 'command' && action === 'view')) return true
      throw new Error('policy service down')
    }
  })
  app.dagStream.onClientEvent(() => {})
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  phase = 'command'
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.next(), { type: 'error', code: 'forbidden', message: 'Could not authorize control on DAG "d"', id: 'p' })
  phase = 'later'
  t.same(await client.closed, { code: CloseCode.FORBIDDEN, reason: 'authorization failed' })
})

t.test('a re-check that answers after the client left changes nothing', async (t) => {
  let answer!: (allowed: boolean) => void
  let phase = 'connect'
  const { app, url } = await build(t, {
    heartbeatMs: 50,
    authorize: () => (phase === 'connect' ? true : new Promise<boolean>((resolve) => { answer = resolve }))
  })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  phase = 'slow'
  await until(() => answer !== undefined, 'a heartbeat to ask authorize again')
  client.close()
  await client.closed
  await until(() => app.dagStream.connections('d') === 0, 'the server to see the client leave')
  answer(false)
  // The re-check goes on in promise callbacks only: one turn of the event loop runs them all.
  await tick()
  t.equal(app.dagStream.connections(), 0)
})
