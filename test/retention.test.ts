import t from 'tap'
import { build, TestClient } from './helpers.js'

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a finished DAG stays readable for retainFinishedMs, then is evicted', async (t) => {
  const { app, http } = await build(t, { retainFinishedMs: 500 })
  for (const [dag, status] of [['done', 'completed'], ['stopped', 'cancelled'], ['broken', 'failed']] as const) {
    await app.dagStream.broadcast(dag, { type: 'node_state', node_id: 'a', status: 'running' })
    await app.dagStream.broadcast(dag, { type: 'execution_status', status })
  }
  await app.dagStream.broadcast('live', { type: 'node_state', node_id: 'a', status: 'running' })
  t.equal((await fetch(`${http}/api/dags/done`)).status, 200, 'readable right after it finished')
  await settle(1000)
  for (const dag of ['done', 'stopped', 'broken']) t.equal((await fetch(`${http}/api/dags/${dag}`)).status, 404, `${dag} evicted`)
  t.equal((await fetch(`${http}/api/dags/live`)).status, 200, 'a running DAG is kept')
})

t.test('activity after finishing postpones eviction; a restart of the run cancels it', async (t) => {
  const { app } = await build(t, { retainFinishedMs: 1000 })
  await app.dagStream.broadcast('d', { type: 'execution_complete', results: 1 })
  await settle(600)
  await app.dagStream.broadcast('d', { type: 'error', message: 'late report' })
  await settle(600)
  t.ok(await app.dagStream.snapshot('d'), 'the late event restarted the retention period')
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  await settle(1500)
  t.ok(await app.dagStream.snapshot('d'), 'running again: not evicted')
})

t.test('viewers of an evicted DAG stay connected and follow a new run under the same id', async (t) => {
  const { app, url } = await build(t, { retainFinishedMs: 30 })
  await app.dagStream.broadcast('d', { type: 'execution_complete', results: 1 })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  await settle(100)
  t.equal(app.dagStream.connections('d'), 1)
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.match(await client.next(), { type: 'resync_required', reason: 'epoch_changed' })
  t.match(await client.next(), { seq: 1 })
  client.close()
})
