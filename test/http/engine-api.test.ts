// The HTTP engine API: producer batches applied once, the command feed as the run's driver, answers
// that reach the dashboard as ack / error, and the lease that shows a dropped feed as stalled. Each
// behaviour on the memory backplane (one instance) and on Redis (the engine's requests and the
// dashboard on different instances).

import t, { type Test } from 'tap'
import type { DAGStreamOptions } from '../../lib/index.js'
import { UnauthorizedError } from '../../lib/errors.js'
import { until } from '../support/client-helpers.js'
import { batch, engineApi, openFeed, postBatch, postJson } from '../support/engine-helpers.js'
import { build, TestClient } from '../support/helpers.js'
import { buildInstance, cleanupPrefix, uniquePrefix } from '../support/redis-helpers.js'

const running = (node: string) => ({ type: 'node_state', node_id: node, status: 'running' })
const gate = { type: 'human_gate_waiting', node_id: 'review', gate_id: 'g1', presentation: { title: 'Publish?', decisions: ['approve', 'reject'] } }

/** Two instances of one deployment: `engine` takes the engine's requests, `dashboard` the dashboards'. */
async function deployment (t: Test, backplane: 'memory' | 'redis', options: DAGStreamOptions = {}) {
  const all = { engineApi, ...options }
  if (backplane === 'memory') {
    const one = await build(t, all)
    return { engine: one, dashboard: one }
  }
  const prefix = uniquePrefix('engine-api')
  cleanupPrefix(t, prefix)
  return { engine: await buildInstance(t, { ...all, prefix }), dashboard: await buildInstance(t, { ...all, prefix }) }
}

for (const backplane of ['memory', 'redis'] as const) {
  t.test(`${backplane}: a batch is stored in order and answered with each position; a retry is applied once`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane)
    const first = await postBatch(engine.http, 'run', batch('py-1', 1, [running('a'), running('b'), running('c')]))
    t.equal(first.status, 200)
    const epoch = (first.body.results[0] as { epoch: string }).epoch
    t.same(first.body.results, [{ n: 1, seq: 1, epoch }, { n: 2, seq: 2, epoch }, { n: 3, seq: 3, epoch }])

    const retried = await postBatch(dashboard.http, 'run', batch('py-1', 1, [running('a'), running('b'), running('c')]))
    t.same(retried.body.results, [{ n: 1, duplicate: true }, { n: 2, duplicate: true }, { n: 3, duplicate: true }], 'a retry through another instance')
    const overlapping = await postBatch(engine.http, 'run', batch('py-1', 3, [running('c'), running('d')]))
    t.same(overlapping.body.results, [{ n: 3, duplicate: true }, { n: 4, seq: 4, epoch }], 'what was stored is skipped, the rest applied')
    t.equal((await dashboard.app.dagStream.snapshot('run'))?.seq, 4, 'four events, not nine')

    const other = await postBatch(dashboard.http, 'run', batch('worker-2', 40, [running('e')]))
    t.same(other.body.results, [{ n: 40, seq: 5, epoch }], 'another producer has its own numbers, starting anywhere')

    const gap = await postBatch(engine.http, 'run', batch('py-1', 7, [running('x')]))
    t.equal(gap.status, 409)
    t.match(gap.body, { type: 'error', code: 'producer_gap', expected: 5, results: [], message: /must send number 5 next, not 7/ })
    t.equal((await engine.app.dagStream.snapshot('run'))?.seq, 5, 'nothing of the refused batch')
  })

  t.test(`${backplane}: a batch of 450 (stored in steps of 200) and a retry that overlaps its end`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane)
    const many = (from: number, count: number) => Array.from({ length: count }, (_, index) => running(`n${(from + index) % 7}`))
    const big = await postBatch(engine.http, 'big', batch('p', 1, many(1, 450)))
    t.equal(big.status, 200)
    t.same(big.body.results.map((result) => 'seq' in result ? result.seq : 0), Array.from({ length: 450 }, (_, index) => index + 1))
    const overlap = await postBatch(dashboard.http, 'big', batch('p', 401, many(401, 60)))
    t.equal(overlap.body.results.filter((result) => 'duplicate' in result).length, 50, '401 … 450 were stored')
    t.match(overlap.body.results.at(-1), { n: 460, seq: 460 })
    t.equal((await dashboard.app.dagStream.snapshot('big'))?.seq, 460)
  })

  t.test(`${backplane}: the feed drives the run: a decision taken on another instance reaches the engine, whose answer is the dashboard's ack`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane)
    const feed = await openFeed(t, engine.http, 'run')
    t.match(feed.key, /\./)
    await postBatch(dashboard.http, 'run', batch('py', 1, [running('review'), gate]))

    const viewer = await TestClient.open(dashboard.url('/api/dags/run/stream'))
    await viewer.waitFor(1)
    viewer.send({ type: 'human_decision', id: 'd1', node_id: 'review', gate_id: 'g1', decision: 'reject', feedback: 'too long' })
    const command = await feed.command(0)
    t.match(command, { type: 'human_decision', id: 'd1', node_id: 'review', gate_id: 'g1', decision: 'reject', feedback: 'too long' })
    const refused = await feed.answer(dashboard.http, 'd1', false, 'the draft is locked')
    t.equal(refused.status, 204, 'the answer reaches the feed\'s instance through any instance')
    await until(() => viewer.received.some((frame) => frame.type === 'error'), 'the refusal')
    t.match(viewer.received.find((frame) => frame.type === 'error'), { code: 'handler_failed', message: 'the draft is locked', id: 'd1' })

    viewer.send({ type: 'human_decision', id: 'd2', node_id: 'review', gate_id: 'g1', decision: 'approve' })
    const second = await feed.command(1)
    t.equal(second.id, 'd2')
    t.equal((await feed.answer(engine.http, 'd2', true)).status, 204)
    await until(() => viewer.received.some((frame) => frame.type === 'ack'), 'the ack')
    await until(() => viewer.received.some((frame) => frame.type === 'human_gate_resolved'), 'the gate resolved')
    t.match(viewer.received.find((frame) => frame.type === 'human_gate_resolved'), { gate_id: 'g1', decision: 'approve' })
    t.equal((await feed.answer(engine.http, 'd2', true)).status, 404, 'an answer is taken once')

    viewer.send({ type: 'human_decision', id: 'd3', node_id: 'review', gate_id: 'g1', decision: 'approve' })
    await until(() => viewer.received.filter((frame) => frame.type === 'error').length === 2, 'the second decision refused')
    t.match(viewer.received.filter((frame) => frame.type === 'error')[1], { code: 'gate_already_decided' }, 'settled once: the engine is not asked again')
    t.equal(feed.commands().length, 2)

    viewer.send({ type: 'pause_execution', id: 'p1' })
    const pause = await feed.command(2)
    t.match(pause, { type: 'pause_execution', id: 'p1' })
    await feed.answer(engine.http, 'p1', true)
    await until(() => viewer.received.some((frame) => frame.type === 'ack' && frame.id === 'p1'), 'the pause acked')
    viewer.close()
  })

  t.test(`${backplane}: a feed that drops leaves the run stalled within the lease; commands are refused; a feed again resumes it`, async (t) => {
    const { engine, dashboard } = await deployment(t, backplane, { engineLeaseMs: 300 })
    const feed = await openFeed(t, engine.http, 'run')
    t.equal(feed.leaseMs, 300)
    await postBatch(engine.http, 'run', batch('py', 1, [running('a'), gate]))
    const viewer = await TestClient.open(dashboard.url('/api/dags/run/stream'))
    await viewer.waitFor(1)
    viewer.send({ type: 'cancel_execution', id: 'c1' })
    await feed.command(0)
    const dropped = Date.now()
    feed.stream.abort()
    await until(() => viewer.received.some((frame) => frame.type === 'error'), 'the pending command answered')
    t.match(viewer.received.find((frame) => frame.type === 'error'), { code: 'engine_unavailable', id: 'c1' }, 'the feed ended before its answer')
    await until(() => viewer.received.some((frame) => frame.type === 'execution_status' && frame.status === 'stalled'), 'stalled')
    t.ok(Date.now() - dropped < 300 * 3, 'within the lease (and a watch tick)')
    viewer.send({ type: 'human_decision', id: 'd1', node_id: 'review', gate_id: 'g1', decision: 'approve' })
    await until(() => viewer.received.filter((frame) => frame.type === 'error').length === 2, 'refused while stalled')
    t.match(viewer.received.filter((frame) => frame.type === 'error')[1], { code: 'engine_unavailable' })

    await openFeed(t, dashboard.http, 'run')
    await until(() => viewer.received.some((frame) => frame.type === 'execution_status' && frame.status === 'running'), 'running again')
    viewer.close()
  })
}

t.test('off by default; the engine\'s own credential; the guards name what is wrong', async (t) => {
  const off = await build(t)
  t.equal((await postBatch(off.http, 'run', batch('p', 1, [running('a')]))).status, 404, 'no engine API unless asked')

  const { http, app } = await build(t, {
    authorize: () => false, // dashboards may not: the engine's credential is another
    engineApi: {
      authorize: (request) => {
        if (request.headers.authorization === undefined) throw new UnauthorizedError()
        if (request.headers.authorization === 'Bearer crash') throw new Error('the token store is down')
        return request.headers.authorization === 'Bearer engine' && true
      },
      rateLimit: { max: 10, timeWindow: 60_000 },
      bodyLimit: 4096
    }
  })
  const headers = { authorization: 'Bearer engine' }
  const post = (body: unknown) => postBatch(http, 'run', body, headers)
  t.match(await postBatch(http, 'run', batch('p', 1, [running('a')]), {}), { status: 401, body: { code: 'unauthorized' } })
  const failing = await postBatch(http, 'run', batch('p', 1, [running('a')]), { authorization: 'Bearer crash' })
  t.match(failing, { status: 500, body: { code: 'FST_DAG_STREAM_AUTHORIZE_FAILED', message: 'The credentials could not be checked' } }, 'authorize failing is a 500, its error logged, not shown')
  t.match(await postBatch(http, 'run', batch('p', 1, [running('a')]), { authorization: 'Bearer other' }), { status: 403, body: { code: 'forbidden' } })
  t.equal((await post(batch('p', 1, [running('a')]))).status, 200)

  const refusals: Array<[unknown, RegExp]> = [
    [[], /The body must be \{ producer, events/],
    [{ producer: 'p', events: [], extra: 1 }, /"extra" is not a field of a batch/],
    [{ producer: 'bad id', events: [running('a')] }, /"producer" must be 1 to 128 letters/],
    [{ events: [running('a')] }, /"producer" must be 1 to 128 letters, digits or \. _ : ~ -, got nothing/],
    [{ producer: 'p', events: [] }, /"events" must be an array of 1 to 1000 events/],
    [{ producer: 'p', events: [7] }, /"events.0" must be an event object/],
    [{ producer: 'p', events: [running('a')] }, /"events.0.n" must be the event's producer number/],
    [{ producer: 'p', events: [{ n: 2, ...running('a') }, { n: 4, ...running('b') }] }, /"events.1.n" must be 3/],
    [{ producer: 'p', events: [{ n: 2, type: 'node_state', node_id: 'a', status: 'sleeping' }] }, /"events.0": node_state: "status" must be one of/]
  ]
  for (const [body, message] of refusals) {
    const refused = await post(body)
    t.equal(refused.status, 400, JSON.stringify(body))
    t.match(refused.body, { type: 'error', code: 'invalid_message', message })
    t.notOk('stack' in refused.body)
  }
  t.match(await postJson(`${http}/api/dags/run/events`, '{"producer":', headers), { status: 400, body: { code: 'invalid_json' } })
  t.match(await post({ producer: 'p', events: [{ n: 2, type: 'error', message: 'x'.repeat(5000) }] }), { status: 413, body: { code: 'invalid_message', message: /larger than 4096 bytes/ } })
  t.match(await postJson(`${http}/api/dags/not%20an%20id/events`, batch('p', 2, [running('a')]), headers), { status: 400, body: { code: 'invalid_message' } })
  t.match(await post(batch('p', 2, [running('b')])), { status: 429, body: { code: 'rate_limited' } }, 'the 11th request that passed authorization, in the window')
  t.equal((await app.dagStream.snapshot('run'))?.seq, 1, 'only the first batch was stored')
})

t.test('answers: checked, and refused when nothing waits for them', async (t) => {
  const { http } = await build(t, { engineApi })
  const answer = (body: unknown) => postJson(`${http}/api/dags/run/engine`, body)
  t.match(await answer({ feed: 'x.y', id: 'c', ok: 'yes' }), { status: 400, body: { code: 'invalid_message', message: /answer: "ok"/ } })
  t.match(await answer({ feed: 'x.y', id: 'c', ok: true }), { status: 404, body: { code: 'stream_not_found' } }, 'an instance that is not there')
  const feed = await openFeed(t, http, 'run')
  t.match(await answer({ feed: feed.key, id: 'nothing', ok: true }), { status: 404, body: { code: 'stream_not_found' } })
  t.match(await postJson(`${http}/api/dags/run/engine`, { feed: feed.key, id: 'c', ok: true }, {}), { status: 403, body: { code: 'forbidden' } })
  t.match(await (await fetch(`${http}/api/dags/run/engine`)).json(), { code: 'forbidden' }, 'the feed too')
})

t.test('a command without id is given one; the sender is named; a refusal without a message has the default one', async (t) => {
  const { http, url } = await build(t, { engineApi, describeSender: () => ({ user: 'ada' }) })
  await postBatch(http, 'run', batch('p', 1, [running('a')]))
  const feed = await openFeed(t, http, 'run')
  const viewer = await TestClient.open(url('/api/dags/run/stream'))
  await viewer.waitFor(1)
  viewer.send({ type: 'pause_execution' })
  const pause = await feed.command(0)
  t.match(pause, { type: 'pause_execution', id: /./, sender: { user: 'ada' } })
  const elsewhere = await openFeed(t, http, 'other')
  t.match(await postJson(`${http}/api/dags/run/engine`, { feed: elsewhere.key, id: pause.id, ok: true }), { status: 404 }, 'the key of another DAG\'s feed')
  t.equal((await feed.answer(http, pause.id, false)).status, 204)
  viewer.close()
})

t.test('a feed ends when the credentials that opened it expire', async (t) => {
  const { http } = await build(t, { engineApi: { authorize: () => ({ allowed: true, expiresAt: Date.now() + 300 }) } })
  const feed = await openFeed(t, http, 'run')
  await until(() => feed.stream.ended, 'the feed ended', 5000)
  t.match(feed.stream.text, /event: close\ndata: \{"code":4401,"reason":"credentials expired"\}/)
})

t.test('a second feed for the DAG on the instance replaces the first; app.close() ends feeds', async (t) => {
  const { http, app } = await build(t, { engineApi })
  const first = await openFeed(t, http, 'run')
  const second = await openFeed(t, http, 'run')
  await until(() => first.stream.ended, 'the first feed ended')
  t.not(second.key, first.key)
  await app.close()
  await until(() => second.stream.ended, 'the second feed ended with the app')
})

t.test('a feed holds its heartbeat and lease while the engine is quiet', async (t) => {
  const { http, app } = await build(t, { engineApi, engineLeaseMs: 80, heartbeatMs: 100 })
  const feed = await openFeed(t, http, 'run')
  await postBatch(http, 'run', batch('p', 1, [running('a')]))
  await until(() => feed.stream.text.includes(': heartbeat'), 'a heartbeat')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await app.dagStream.snapshot('run'))?.status, 'running', 'never stalled while the feed is open')
  await postBatch(http, 'run', batch('p', 2, [{ type: 'execution_complete', results: {} }]))
  feed.stream.abort()
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await app.dagStream.snapshot('run'))?.status, 'completed', 'a finished run is not stalled when its feed goes')
})
