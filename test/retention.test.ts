import t from 'tap'
import { until } from './support/wait.js'
import { build, TestClient } from './support/helpers.js'

type App = Awaited<ReturnType<typeof build>>['app']

function evicted (app: App, dagId: string): Promise<void> {
  return until(async () => (await app.dagStream.snapshot(dagId)) === undefined, `"${dagId}" to be evicted`)
}

t.test('a finished DAG stays readable for retainFinishedMs, then is evicted', async (t) => {
  const { app, http } = await build(t, { retainFinishedMs: 500 })
  for (const [dag, status] of [['done', 'completed'], ['stopped', 'cancelled'], ['broken', 'failed']] as const) {
    await app.dagStream.broadcast(dag, { type: 'node_state', node_id: 'a', status: 'running' })
    await app.dagStream.broadcast(dag, { type: 'execution_status', status })
  }
  await app.dagStream.broadcast('live', { type: 'node_state', node_id: 'a', status: 'running' })
  t.equal((await fetch(`${http}/api/dags/done`)).status, 200, 'readable right after it finished')
  for (const dag of ['done', 'stopped', 'broken']) {
    await evicted(app, dag)
    t.equal((await fetch(`${http}/api/dags/${dag}`)).status, 404, `${dag} evicted`)
  }
  t.equal((await fetch(`${http}/api/dags/live`)).status, 200, 'a running DAG is kept')
})

t.test('activity after finishing postpones eviction; a restart of the run cancels it', async (t) => {
  const { app } = await build(t, { retainFinishedMs: 1000 })
  // "control" finishes with "d" and hears nothing more: its eviction marks the end of d's first period.
  await app.dagStream.broadcast('d', { type: 'execution_complete', results: 1 })
  await app.dagStream.broadcast('control', { type: 'execution_complete', results: 1 })
  // Partway through the period (the time is the point here), a late event.
  await new Promise((resolve) => setTimeout(resolve, 600))
  await app.dagStream.broadcast('d', { type: 'error', message: 'late report' })
  await evicted(app, 'control')
  t.ok(await app.dagStream.snapshot('d'), 'the late event restarted the retention period')
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  await app.dagStream.broadcast('control', { type: 'execution_complete', results: 2 })
  await evicted(app, 'control')
  t.ok(await app.dagStream.snapshot('d'), 'running again: not evicted when a finished run would be')
})

t.test('viewers of an evicted DAG stay connected and follow a new run under the same id', async (t) => {
  // Long enough for the viewer to join before the eviction, which the test waits for anyway.
  const { app, url } = await build(t, { retainFinishedMs: 300 })
  await app.dagStream.broadcast('d', { type: 'execution_complete', results: 1 })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  t.match(await client.next(), { type: 'hello', seq: 1 }, 'joined the finished run')
  await evicted(app, 'd')
  t.equal(app.dagStream.connections('d'), 1)
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.match(await client.next(), { type: 'resync_required', reason: 'epoch_changed' })
  t.match(await client.next(), { seq: 1 })
  client.close()
})
