// Metrics are off by default, and then prom-client (an optional peer dependency) is never loaded: an
// app that did not install it works, and one that did pays nothing for it. This file must not import
// prom-client itself.

import { createRequire } from 'node:module'
import Fastify from 'fastify'
import t from 'tap'
import dagStream, { ClosedError, CloseCode } from '../../lib/index.js'
import { until } from '../support/wait.js'
import { build, TestClient, upgradeStatus } from '../support/helpers.js'

// prom-client is CommonJS: however it is imported, Node's CommonJS loader loads it, into this cache.
const require = createRequire(import.meta.url)
const promClient = require.resolve('prom-client')

t.test('without the metrics option prom-client is never loaded; with it, it is', async (t) => {
  t.notOk(promClient in require.cache, 'not loaded by importing the plugin')
  const { app, url, http } = await build(t, { heartbeatMs: 50, retainFinishedMs: 20, rateLimit: { max: 3, timeWindow: 60_000 } })
  app.dagStream.onClientEvent(() => {})
  // A stream, a broadcast, a gate decided, a heartbeat.
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  const waiting = await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Go?', options: ['approve'] } })
  client.send({ type: 'human_decision', id: 'h', node_id: 'g', decision: 'approve' })
  t.match(await client.waitFor(4), [{ type: 'hello' }, { seq: 1 }, { type: 'human_gate_resolved' }, { type: 'ack', id: 'h' }])
  await new Promise((resolve) => client.socket.once('ping', resolve))
  // A resume, and a resync once the finished DAG's log is replaced.
  const resumed = await TestClient.open(url(`/api/dags/d/stream?since=${waiting.seq}&epoch=${waiting.epoch}`))
  t.match(await resumed.next(), { type: 'hello', recovered: true })
  await app.dagStream.broadcast('d', { type: 'execution_complete', results: null })
  await until(async () => (await app.dagStream.snapshot('d')) === undefined, 'the finished DAG to be evicted')
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.match(await resumed.waitFor(5), [{ type: 'hello' }, { seq: 2 }, { seq: 3 }, { type: 'resync_required' }, { seq: 1 }])
  // A refused upgrade, a stream the server closes, no scrape route.
  t.equal(await upgradeStatus(url('/api/dags/d/stream'), { origin: 'https://evil.example' }), 403)
  for (let i = 0; i < 4; i++) resumed.send({ type: 'pause_execution' })
  t.equal((await resumed.closed).code, CloseCode.POLICY_VIOLATION)
  t.equal((await fetch(`${http}/metrics`)).status, 404, 'no scrape route')
  client.close()
  await client.closed
  // A broadcast the backplane refuses.
  await app.close()
  await t.rejects(app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' }), ClosedError)
  t.notOk(promClient in require.cache, 'not loaded by anything the plugin does')

  // The check can fail: the same cache shows prom-client once the option asks for it.
  const withMetrics = Fastify()
  await withMetrics.register(dagStream, { metrics: {} })
  await withMetrics.ready()
  t.ok(promClient in require.cache, 'loaded when metrics are on')
  await withMetrics.close()
})
