import Fastify from 'fastify'
import t from 'tap'
import dagStream, { InvalidOptionError, MemoryBackplane, type BackplaneSettings, type DAGStreamOptions } from '../lib/index.js'
import { build, TestClient } from './support/helpers.js'

t.test('a bad option fails registration with a message that says what to do', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ prefix: 'api/dags' }, /"prefix" must be a path like "\/api\/dags"/],
    [{ prefix: '/api/dags/' }, /no trailing slash/],
    [{ authorize: true }, /"authorize" must be a function/],
    [{ allowedOrigins: 'https://a.example' }, /"allowedOrigins" must be an array/],
    [{ allowedOrigins: ['https://a.example/'] }, /exact origins .* got "https:\/\/a.example\/"/],
    [{ allowedOrigins: ['*'] }, /exact origins/],
    [{ maxPayload: 0 }, /"maxPayload" must be a positive integer, got 0/],
    [{ maxPayload: () => 1024 }, /"maxPayload" must be a positive integer, got a function/],
    [{ maxQueuedEvents: 0 }, /"maxQueuedEvents" must be a positive integer, got 0/],
    [{ heartbeatMs: 1.5 }, /"heartbeatMs" must be a positive integer/],
    [{ maxBufferedBytes: '1mb' }, /"maxBufferedBytes" must be a positive integer, got "1mb"/],
    [{ historySize: -1 }, /"historySize"/],
    [{ retainFinishedMs: Number.NaN }, /"retainFinishedMs" must be a positive integer, got NaN/],
    [{ rateLimit: 10 }, /"rateLimit" must be \{ max, timeWindow, maxInvalid\? \} or false/],
    [{ rateLimit: { max: 10 } }, /"rateLimit.timeWindow" must be a positive integer, got undefined/],
    [{ rateLimit: { max: 10, timeWindow: 1000, maxInvalid: 0 } }, /"rateLimit.maxInvalid"/],
    [{ backplane: { append () {} } }, /"backplane" must be 'memory' or a provider such as redisBackplane\(\{ url \}\)/],
    [{ backplane: 'redis' }, /"backplane" must be 'memory' or a provider/],
    [{ maxIdleMs: 0 }, /"maxIdleMs" must be a positive integer, got 0/],
    [{ commandTimeoutMs: '10s' }, /"commandTimeoutMs" must be a positive integer, got "10s"/],
    [{ describeSender: { user: 1 } }, /"describeSender" must be a function \(request\) => JSON/],
    [{ asyncapi: true }, /"asyncapi" must be false or \{ path: '\/asyncapi.json', title\?, version\? \}, got true/],
    [{ asyncapi: { path: 'asyncapi.json' } }, /"asyncapi" must be false or/],
    [{ metrics: true }, /"metrics" must be false or \{ registry\?, route\?, prefix\? \}, got true/],
    [{ metrics: { registry: { metrics () {} } } }, /"metrics.registry" must be a prom-client Registry \(new Registry\(\) from 'prom-client'\), got \{\}/],
    [{ metrics: { route: 'metrics' } }, /"metrics.route" must be a path like "\/metrics", or false to serve the registry yourself, got "metrics"/],
    [{ metrics: { route: true } }, /"metrics.route" must be a path/],
    [{ metrics: { prefix: '9lives_' } }, /"metrics.prefix" must start a Prometheus metric name \(letters, digits, _ and :, not a digit first\), got "9lives_"/],
    [{ metrics: { prefix: 'dag-stream_' } }, /"metrics.prefix" must start a Prometheus metric name/],
    [{ maxConnections: 0 }, /"maxConnections" must be a positive integer or Infinity \(no limit\), got 0/],
    [{ maxConnections: '100' }, /"maxConnections" must be a positive integer or Infinity \(no limit\), got "100"/],
    [{ maxConnectionsPerIp: 2.5 }, /"maxConnectionsPerIp" must be a positive integer or Infinity/],
    [{ maxConnectionsPerIp: Number.NEGATIVE_INFINITY }, /"maxConnectionsPerIp" must be a positive integer or Infinity \(no limit\), got -Infinity/],
    [{ connectionKey: 'x-forwarded-for' }, /"connectionKey" must be a function \(request\) => string, got "x-forwarded-for"/],
    [{ engineApi: null }, /"engineApi" must be false or \{ authorize: .*, got null/],
    [{ engineApi: true }, /"engineApi" must be false or \{ authorize: \(request, dagId\) => boolean, rateLimit\?, bodyLimit\? \}, got true/],
    [{ engineApi: { authorize: () => true, rateLimit: 5 } }, /"engineApi.rateLimit" must be \{ max, timeWindow \}, got 5/],
    [{ engineApi: { authorize: () => true, rateLimit: { max: 0 } } }, /"engineApi.rateLimit.max" must be a positive integer, got 0/],
    [{ engineApi: { authorize: () => true, bodyLimit: '1mb' } }, /"engineApi.bodyLimit" must be a positive integer, got "1mb"/],
    [{ outputFlushMs: 0 }, /"outputFlushMs" must be a positive integer, got 0/],
    [{ outputFlushMs: '50ms' }, /"outputFlushMs" must be a positive integer, got "50ms"/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    const error = await app.register(dagStream, options as DAGStreamOptions).ready().then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof InvalidOptionError, JSON.stringify(options))
    t.match(error, { code: 'FST_DAG_STREAM_INVALID_OPTION', message })
    await app.close()
  }
})

t.test('prefix moves every route', async (t) => {
  const { app, url, http } = await build(t, { prefix: '/v2/runs' })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.equal((await fetch(`${http}/v2/runs/d`)).status, 200)
  t.equal((await fetch(`${http}/v2/runs`)).status, 200)
  t.equal((await fetch(`${http}/api/dags/d`)).status, 404)
  const client = await TestClient.open(url('/v2/runs/d/stream'))
  t.match(await client.next(), { type: 'hello', seq: 1 })
  client.close()
})

t.test('a backplane provider is created with the plugin\'s settings and closed with the app', async (t) => {
  let created: MemoryBackplane | undefined
  let settings: BackplaneSettings | undefined
  const { app } = await build(t, {
    historySize: 7,
    retainFinishedMs: 1234,
    maxIdleMs: 5678,
    commandTimeoutMs: 910,
    backplane: { kind: 'test', create: (given) => (created = new MemoryBackplane((settings = given))) }
  })
  t.match(settings, { historySize: 7, retainFinishedMs: 1234, maxIdleMs: 5678, commandTimeoutMs: 910 })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.match(await created?.status('d'), { seq: 1, status: 'running' })
  await app.close()
  await t.rejects(created?.append('d', { type: 'execution_status', status: 'paused' }) as Promise<unknown>, { code: 'FST_DAG_STREAM_CLOSED' }, 'closed with the app')
})

t.test('the plugin is named and declares the Fastify version it supports', async (t) => {
  const meta = (dagStream as unknown as Record<symbol, { name: string; fastify: string }>)[Symbol.for('plugin-meta')]
  t.match(meta, { name: 'fastify-dag-stream', fastify: '5.x' })
})

t.test('asyncapi serves the protocol document for the configured prefix', async (t) => {
  const { http } = await build(t, { prefix: '/v2/runs', asyncapi: { path: '/docs/asyncapi.json', title: 'Runs', version: '2.0.0' } })
  const response = await fetch(`${http}/docs/asyncapi.json`)
  t.equal(response.status, 200)
  t.match(await response.json(), { asyncapi: '3.0.0', info: { title: 'Runs', version: '2.0.0' }, channels: { dagStream: { address: '/v2/runs/{id}/stream' } } })
  const off = await build(t)
  t.equal((await fetch(`${off.http}/docs/asyncapi.json`)).status, 404, 'off by default')
})

t.test('an app whose router cuts path segments shorter than an id fails registration, saying what to set', async (t) => {
  const short = Fastify({ routerOptions: { maxParamLength: 50 } })
  t.teardown(() => short.close())
  await t.rejects(async () => short.register(dagStream).ready(), { code: 'FST_DAG_STREAM_INVALID_OPTION', message: /routerOptions\.maxParamLength is 50: DAG ids of up to 100 characters could not be opened; set it to at least 100/ })
  const enough = Fastify({ routerOptions: { maxParamLength: 100 } })
  t.teardown(() => enough.close())
  await enough.register(dagStream).ready()
  t.pass('100 is enough')
})
