// redisBackplane's options: checked when it is called, with messages that say what to do; an
// application's own client is used and left open; keys are laid out for Redis Cluster.

import Fastify from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import dagStream, { BackplaneUnavailableError, InvalidOptionError } from '../../../lib/index.js'
import { dagKeys, indexKey, instanceChannel, listKeys, listScriptKeys } from '../../../lib/backplane/redis/keys.js'
import { DEFAULT_KEY_PREFIX, redisBackplane, type RedisBackplaneOptions } from '../../../lib/backplane/redis/index.js'
import { until } from '../../support/wait.js'

const REDIS_URL = 'redis://127.0.0.1:6379'

t.test('bad options throw at once, naming the option and the fix', async (t) => {
  const client = new Redis(REDIS_URL, { lazyConnect: true })
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /redisBackplane\(\) takes \{ url \} or \{ client \}/],
    [{}, /exactly one of "url" \(redis:\/\/host:port\) and "client"/],
    [{ url: REDIS_URL, client }, /exactly one of/],
    [{ url: 'http://127.0.0.1:6379' }, /"url" must look like redis:\/\/host:6379 or rediss:\/\/host:6380, got "http:/],
    [{ url: 'not a url' }, /"url" must look like/],
    [{ client: {} }, /"client" must be an ioredis Redis or Cluster instance/],
    [{ url: REDIS_URL, keyPrefix: 'app{1}' }, /"keyPrefix" must be 1-64 characters without spaces, "\{" or "\}", got "app\{1\}"/],
    [{ url: REDIS_URL, keyPrefix: '' }, /"keyPrefix"/],
    [{ url: REDIS_URL, probeMs: 0 }, /"probeMs" must be a positive integer, got 0/],
    [{ url: REDIS_URL, presenceTtlMs: 2 }, /"presenceTtlMs" must be an integer of at least 3 \(ms\), got 2/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => redisBackplane(options as RedisBackplaneOptions), { code: 'FST_DAG_STREAM_INVALID_OPTION', message }, String(message))
  }
  t.ok(new InvalidOptionError('x') instanceof TypeError)
  client.disconnect()
})

t.test('an unreachable Redis fails registration loudly', async (t) => {
  const app = Fastify({ logger: false })
  // Port 1 on loopback refuses at once.
  const error = await app.register(dagStream, { backplane: redisBackplane({ url: 'redis://127.0.0.1:1' }) }).ready().then(() => undefined, (e: unknown) => e)
  t.ok(error instanceof BackplaneUnavailableError)
  t.match(error, { statusCode: 503, message: /cannot reach Redis/ })
  await app.close()
})

t.test('an application\'s client: used for commands, duplicated for the subscriber, left open', async (t) => {
  const client = new Redis(REDIS_URL)
  t.teardown(() => client.disconnect())
  const keyPrefix = `options-${process.pid}`
  const app = Fastify({ logger: false })
  await app.register(dagStream, { backplane: redisBackplane({ client, keyPrefix }) })
  await app.ready()
  const sent = await app.dagStream.broadcast('d', { type: 'execution_status', status: 'running' })
  t.equal(await client.hget(dagKeys(keyPrefix, 'd').meta, 'seq'), '1', 'on the application\'s Redis, under its prefix')
  t.match(await app.dagStream.snapshot('d'), { seq: 1, epoch: sent.epoch, status: 'running' })
  await app.close()
  t.equal(client.status, 'ready', 'still open after app.close()')
  t.equal(await client.ping(), 'PONG')
  await client.del(...Object.values(dagKeys(keyPrefix, 'd')).slice(0, 4), ...listScriptKeys(listKeys(keyPrefix)))
})

t.test('Cluster-safe layout: every key and the channel of one DAG share its hash tag', async (t) => {
  const keys = dagKeys('app', 'run-42')
  for (const [name, key] of Object.entries(keys)) {
    // Redis Cluster hashes the part between the first { and the next }.
    t.equal(key.slice(key.indexOf('{') + 1, key.indexOf('}')), 'run-42', name)
    t.ok(key.startsWith('app:'), `${name} is under the prefix`)
  }
  t.equal(indexKey('app'), 'app:dags')
  // The list's other keys end in the tag {app:dags}, which Cluster hashes as it hashes the index's name.
  const list = listKeys('app')
  t.equal(list.index, 'app:dags', 'the index keeps its name')
  for (const key of [list.stamps, ...Object.values(list.byStatus)]) {
    t.ok(key.startsWith('app:dags:') && key.endsWith(':{app:dags}'), key)
  }
  t.equal(list.byStatus.failed, 'app:dags:status:failed:{app:dags}')
  t.equal(instanceChannel('app', 'i1'), 'app:instance:i1')
  t.equal(DEFAULT_KEY_PREFIX, 'dag-stream')
})

t.test('an application\'s client that is closed fails registration, naming the cause', async (t) => {
  const client = new Redis(REDIS_URL, { lazyConnect: true })
  client.disconnect()
  const app = Fastify({ logger: false })
  const error = await app.register(dagStream, { backplane: redisBackplane({ client }) }).ready().then(() => undefined, (e: unknown) => e)
  t.match(error, { code: 'FST_DAG_STREAM_BACKPLANE_UNAVAILABLE', message: /cannot reach Redis: the application's Redis client is closed/ })
  await app.close()
})

t.test('an application\'s client still reconnecting when the plugin registers: ready() waits for it', async (t) => {
  const client = new Redis(REDIS_URL, { retryStrategy: () => 300 })
  t.teardown(() => client.disconnect())
  await client.client('SETNAME', 'app-client')
  const admin = new Redis(REDIS_URL)
  t.teardown(() => admin.disconnect())
  await admin.client('KILL', 'ID', String(await client.client('ID')))
  await until(() => client.status !== 'ready', 'the application\'s client to see its connection killed')
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(dagStream, { backplane: redisBackplane({ client, keyPrefix: `reconnecting-${process.pid}` }) })
  await app.ready()
  t.equal(client.status, 'ready', 'registration waited for the application\'s client')
})
