import t from 'tap'
import { PROTOCOL_VERSION, type HelloFrame, type SequencedEvent } from '../../schemas/index.js'
import { until } from '../support/wait.js'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'

async function broadcastMany (app: Awaited<ReturnType<typeof build>>['app'], dagId: string, count: number) {
  for (let i = 0; i < count; i++) await app.dagStream.broadcast(dagId, { type: 'node_state', node_id: `n${i}`, status: 'running' })
}

t.test('resume inside the window replays exactly the missed events, then goes live', async (t) => {
  const { app, url } = await build(t, { historySize: 50 })
  await broadcastMany(app, 'd', 30)
  const epoch = (await app.dagStream.snapshot('d'))?.epoch as string
  const client = await TestClient.open(url(`/api/dags/d/stream?since=12&epoch=${epoch}`))
  t.same(await client.next(), { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'd', epoch, seq: 30, recovered: true })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  const frames = (await client.waitFor(20)).slice(1) as SequencedEvent[]
  t.same(frames.map((frame) => frame.seq), Array.from({ length: 19 }, (_, i) => 13 + i), 'seq 13 … 31, no gap, no repeat')
  t.ok(frames.every((frame) => frame.epoch === epoch))
  client.close()
})

t.test('resume at the head replays nothing and is recovered', async (t) => {
  const { app, url } = await build(t)
  await broadcastMany(app, 'd', 3)
  const epoch = (await app.dagStream.snapshot('d'))?.epoch as string
  const client = await TestClient.open(url(`/api/dags/d/stream?since=3&epoch=${epoch}`))
  t.match(await client.next(), { type: 'hello', seq: 3, recovered: true })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await client.next(), { type: 'execution_status', seq: 4 })
  client.close()
})

t.test('no partial replay past the window: recovered false and only live events', async (t) => {
  const { app, url } = await build(t, { historySize: 10 })
  await broadcastMany(app, 'd', 30)
  const epoch = (await app.dagStream.snapshot('d'))?.epoch as string
  // 20 is the oldest event kept; a client at 18 misses 19, which is gone.
  const client = await TestClient.open(url(`/api/dags/d/stream?since=18&epoch=${epoch}`))
  t.same(await client.next(), { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'd', epoch, seq: 30, recovered: false, reason: 'history_exceeded' })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await client.next(), { seq: 31 }, 'the next frame is live, nothing from the history')
  // History now holds 22 … 31: a client at 21 misses nothing that is gone.
  const edge = await TestClient.open(url(`/api/dags/d/stream?since=21&epoch=${epoch}`))
  t.match(await edge.next(), { recovered: true })
  t.match(await edge.next(), { seq: 22 })
  client.close()
  edge.close()
})

t.test('no replay across epochs, or from ahead of the log', async (t) => {
  const { app, url } = await build(t)
  await broadcastMany(app, 'd', 5)
  const other = await TestClient.open(url('/api/dags/d/stream?since=2&epoch=some-old-epoch'))
  t.match(await other.next(), { type: 'hello', seq: 5, recovered: false, reason: 'epoch_changed' })
  const epoch = (await app.dagStream.snapshot('d'))?.epoch as string
  const noEpoch = await TestClient.open(url('/api/dags/d/stream?since=2'))
  t.match(await noEpoch.next(), { type: 'hello', recovered: false, reason: 'epoch_changed' }, 'a position without its epoch')
  noEpoch.close()
  const ahead = await TestClient.open(url(`/api/dags/d/stream?since=9&epoch=${epoch}`))
  t.match(await ahead.next(), { type: 'hello', seq: 5, recovered: false, reason: 'ahead_of_log' })
  other.close()
  ahead.close()
})

t.test('a restarted server has a new epoch: the old position is refused', async (t) => {
  const first = await build(t)
  await broadcastMany(first.app, 'd', 5)
  const oldEpoch = (await first.app.dagStream.snapshot('d'))?.epoch as string
  await first.app.close()
  const second = await build(t)
  await broadcastMany(second.app, 'd', 7)
  const client = await TestClient.open(second.url(`/api/dags/d/stream?since=5&epoch=${oldEpoch}`))
  const hello = (await client.next()) as HelloFrame
  t.match(hello, { recovered: false, seq: 7, reason: 'epoch_changed' })
  t.not(hello.epoch, oldEpoch)
  client.close()
})

t.test('a DAG with no events yet: any viewer follows it from its first event', async (t) => {
  const { app, url } = await build(t)
  const client = await TestClient.open(url('/api/dags/new/stream?since=0&epoch='))
  t.same(await client.next(), { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'new', epoch: '', seq: 0, recovered: true })
  await app.dagStream.broadcast('new', { type: 'execution_status', status: 'running' })
  t.match(await client.next(), { seq: 1, type: 'execution_status' })
  const late = await TestClient.open(url('/api/dags/unknown/stream?since=4&epoch=x'))
  t.match(await late.next(), { recovered: false, seq: 0, epoch: '' })
  client.close()
  late.close()
})

t.test('a client that saw nothing follows a run created since from its first event, without a snapshot', async (t) => {
  const { app, url } = await build(t, { historySize: 10 })
  await broadcastMany(app, 'd', 3)
  const epoch = (await app.dagStream.snapshot('d'))?.epoch as string
  const client = await TestClient.open(url('/api/dags/d/stream?since=0&epoch='))
  t.same(await client.next(), { type: 'hello', protocol: PROTOCOL_VERSION, dag_id: 'd', epoch, seq: 3, recovered: true }, 'the empty log continues into seq 1')
  t.same([await client.next(), await client.next(), await client.next()].map((frame) => (frame as SequencedEvent).seq), [1, 2, 3])
  client.close()
  // Once seq 1 is trimmed from the history, the start is gone: the snapshot it is.
  await broadcastMany(app, 'd', 10)
  const late = await TestClient.open(url('/api/dags/d/stream?since=0&epoch='))
  t.match(await late.next(), { type: 'hello', seq: 13, recovered: false, reason: 'epoch_changed' })
  late.close()
})

t.test('a log replaced while connected is announced with resync_required', async (t) => {
  const { app, url } = await build(t, { retainFinishedMs: 20 })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  t.match(await client.next(), { type: 'hello', seq: 1 })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'completed' })
  t.match(await client.next(), { seq: 2 })
  await until(async () => (await app.dagStream.snapshot('d')) === undefined, 'the finished DAG to be evicted')
  const restarted = await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.same(await client.next(), { type: 'resync_required', epoch: restarted.epoch, seq: 0, reason: 'epoch_changed' })
  t.match(await client.next(), { seq: 1, epoch: restarted.epoch })
  client.close()
})

t.test('the query is validated before the upgrade', async (t) => {
  const { url } = await build(t)
  t.equal(await upgradeStatus(url('/api/dags/d/stream?since=-1')), 400)
  t.equal(await upgradeStatus(url('/api/dags/not%20an%20id/stream')), 400)
})
