import t from 'tap'
import { EventRefusedError } from '../../lib/index.js'
import type { ClientEvent } from '../../schemas/index.js'
import { until } from '../support/wait.js'
import { build, TestClient } from '../support/helpers.js'

t.test('pause, resume and cancel reach the engine with the DAG id and the upgrade request', async (t) => {
  const { app, url } = await build(t)
  const seen: Array<{ event: ClientEvent; dagId: string; user: unknown }> = []
  app.dagStream.onClientEvent((event, { dagId, request }) => {
    seen.push({ event, dagId, user: request?.headers['x-user'] })
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'), { headers: { 'x-user': 'ada' } })
  await client.next()
  for (const type of ['pause_execution', 'resume_execution', 'cancel_execution'] as const) {
    client.send({ type, id: type })
    t.same(await client.next(), { type: 'ack', id: type })
  }
  t.same(seen.map(({ event, dagId, user }) => [event.type, dagId, user]), [
    ['pause_execution', 'd', 'ada'],
    ['resume_execution', 'd', 'ada'],
    ['cancel_execution', 'd', 'ada']
  ])
  client.close()
})

t.test('handlers run in order; unsubscribing stops delivery; with none left the event is not handled', async (t) => {
  const { app, url } = await build(t)
  const order: string[] = []
  const offFirst = app.dagStream.onClientEvent(() => { order.push('first') })
  const offSecond = app.dagStream.onClientEvent(async () => { order.push('second') })
  t.throws(() => app.dagStream.onClientEvent('nope' as never), TypeError)
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'pause_execution', id: '1' })
  await client.next()
  t.same(order, ['first', 'second'])
  offFirst()
  offSecond()
  offSecond()
  client.send({ type: 'pause_execution', id: '2' })
  t.same(await client.next(), { type: 'error', code: 'not_handled', message: 'No engine is listening for client events on this server', id: '2' })
  client.close()
})

t.test('the engine refuses: EventRefusedError shows its message, other errors stay private', async (t) => {
  const { app, url } = await build(t)
  app.dagStream.onClientEvent((event) => {
    if (event.type === 'pause_execution') throw new EventRefusedError('Nothing to pause: the run is waiting for a human')
    throw new Error('connection string postgres://secret')
  })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.next(), { type: 'error', code: 'handler_failed', message: 'Nothing to pause: the run is waiting for a human', id: 'p' })
  client.send({ type: 'cancel_execution', id: 'c' })
  t.same(await client.next(), { type: 'error', code: 'handler_failed', message: 'The engine refused this event', id: 'c' })
  client.send({ type: 'resume_execution' })
  t.same(await client.next(), { type: 'error', code: 'handler_failed', message: 'The engine refused this event' }, 'no id, no id in the answer')
  client.close()
})

t.test('commands for an unknown or finished DAG are refused before the engine', async (t) => {
  const { app, url } = await build(t)
  const seen: ClientEvent[] = []
  app.dagStream.onClientEvent((event) => { seen.push(event) })
  const ghost = await TestClient.open(url('/api/dags/ghost/stream'))
  await ghost.next()
  ghost.send({ type: 'cancel_execution', id: 'c' })
  t.same(await ghost.next(), { type: 'error', code: 'dag_not_found', message: 'DAG "ghost" has no execution', id: 'c' })
  await app.dagStream.broadcast('done', { type: 'execution_complete', results: {} })
  const done = await TestClient.open(url('/api/dags/done/stream'))
  await done.next()
  done.send({ type: 'pause_execution', id: 'p' })
  t.same(await done.next(), { type: 'error', code: 'execution_finished', message: 'The execution is already completed', id: 'p' })
  t.same(seen, [])
  ghost.close()
  done.close()
})

t.test('one socket\'s events reach the engine in the order sent, even when an earlier one takes longer', async (t) => {
  const { app, url } = await build(t)
  const seen: string[] = []
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  app.dagStream.onClientEvent(async (event) => {
    seen.push(`${event.type} start`)
    if (event.type === 'human_decision') await held
    seen.push(`${event.type} end`)
  })
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Go?' } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'human_decision', id: 'k', node_id: 'g', decision: 'approve' })
  client.send({ type: 'pause_execution', id: 'p' })
  // A frame the server refuses as it reads it: once its answer is back, the server has read the pause.
  client.send('not json')
  t.match(await client.next(), { type: 'error', code: 'invalid_json' })
  await until(() => seen.length > 0, 'the decision to reach the engine')
  t.same(seen, ['human_decision start'], 'the pause waits while the decision is with the engine')
  release()
  t.match((await client.waitFor(5)).slice(2).map((frame) => frame.type), ['human_gate_resolved', 'ack', 'ack'])
  t.same(seen, ['human_decision start', 'human_decision end', 'pause_execution start', 'pause_execution end'])
  client.close()
})
