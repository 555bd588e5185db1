// Metrics are off by default, and then prom-client (an optional peer dependency) is never loaded: an
// app that did not install it works, and one that did pays nothing for it. This file must not import
// prom-client itself.

import { createRequire } from 'node:module'
import Fastify from 'fastify'
import t from 'tap'
import dagStream from '../lib/index.js'
import { build, TestClient } from './helpers.js'

// prom-client is CommonJS: however it is imported, Node's CommonJS loader loads it, into this cache.
const require = createRequire(import.meta.url)
const promClient = require.resolve('prom-client')

t.test('without the metrics option prom-client is never loaded; with it, it is', async (t) => {
  t.notOk(promClient in require.cache, 'not loaded by importing the plugin')
  const { app, url, http } = await build(t, { heartbeatMs: 50 })
  app.dagStream.onClientEvent(() => {})
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Go?', options: ['approve'] } })
  client.send({ type: 'human_decision', id: 'h', node_id: 'g', decision: 'approve' })
  t.match(await client.waitFor(4), [{ type: 'hello' }, { seq: 1 }, { type: 'human_gate_resolved' }, { type: 'ack', id: 'h' }])
  t.equal((await fetch(`${http}/metrics`)).status, 404, 'no scrape route')
  await new Promise((resolve) => client.socket.once('ping', resolve))
  client.close()
  await client.closed
  t.notOk(promClient in require.cache, 'not loaded by streams, broadcasts, commands, gates or heartbeats')

  // The check can fail: the same cache shows prom-client once the option asks for it.
  const withMetrics = Fastify()
  await withMetrics.register(dagStream, { metrics: {} })
  await withMetrics.ready()
  t.ok(promClient in require.cache, 'loaded when metrics are on')
  await withMetrics.close()
})
