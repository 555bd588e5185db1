// The Redis backplane on a real Redis Cluster (three masters started by this test): the per-DAG
// scripts run on one slot each (a key outside the DAG's hash tag would fail with CROSSSLOT), pub/sub
// reaches every instance, and the list index (in a slot of its own) lists DAGs of every slot.

import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { Cluster, Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisBackplane } from '../../../lib/backplane/redis/index.js'
import { listKeys, listScriptKeys } from '../../../lib/backplane/redis/keys.js'
import dagStream from '../../../lib/index.js'
import type { ClientEvent } from '../../../schemas/index.js'
import { TestClient } from '../../support/helpers.js'
import { freePort, seqs, range } from '../../support/redis-helpers.js'
import { until } from '../../support/wait.js'

/** Three masters, slots spread over them, stopped when the test ends. */
async function startCluster (t: Test): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dag-stream-cluster-'))
  const ports: number[] = []
  // The cluster bus listens on port + 10000: keep both in range.
  await until(async () => {
    const port = await freePort()
    if (port < 55_000 && !ports.includes(port)) ports.push(port)
    return ports.length === 3
  }, 'three free ports under 55000', 10_000, 0)
  t.teardown(async () => {
    await Promise.all(ports.map(async (port) => {
      const redis = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      await redis.connect().then(() => redis.shutdown('NOSAVE')).catch(() => {})
      redis.disconnect()
    }))
    rmSync(dir, { recursive: true, force: true })
  })
  for (const port of ports) {
    await run('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
      '--logfile', join(dir, `${port}.log`)
    ])
  }
  for (const port of ports) await until(async () => (await ping(port)) === 'PONG', `redis-server on port ${port}`, 20_000, 100)
  await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'])
  await until(async () => {
    const redis = new Redis({ port: ports[0], lazyConnect: true })
    try {
      await redis.connect()
      return (await redis.cluster('INFO')).includes('cluster_state:ok')
    } catch {
      return false // not up yet
    } finally {
      redis.disconnect()
    }
  }, 'the cluster to be up', 20_000, 100)
  return ports
}

function run (command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))))
  })
}

async function ping (port: number): Promise<string | undefined> {
  const redis = new Redis({ port, lazyConnect: true, retryStrategy: () => null })
  try {
    await redis.connect()
    return await redis.ping()
  } catch {
    return undefined
  } finally {
    redis.disconnect()
  }
}

t.test('two instances on a three-master Cluster: one order, one snapshot, commands and gates across them, one list', async (t) => {
  const ports = await startCluster(t)
  const cluster = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })))
  t.teardown(() => cluster.disconnect())
  const keyPrefix = 'cluster-test'

  async function instance () {
    const app = Fastify({ logger: false })
    await app.register(dagStream, { backplane: redisBackplane({ client: cluster, keyPrefix }), historySize: 10 })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    return { app, port: (app.server.address() as { port: number }).port }
  }
  const engine = await instance()
  const viewer = await instance()
  const handled: ClientEvent[] = []
  engine.app.dagStream.onClientEvent((event) => {
    handled.push(event)
  })

  // Enough DAGs that they land on every master.
  const dagIds = Array.from({ length: 12 }, (_, index) => `run-${index}`)
  for (const dagId of dagIds) await engine.app.dagStream.broadcast(dagId, { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Ship?' } })
  const slots = new Set(await Promise.all(dagIds.map((dagId) => cluster.cluster('KEYSLOT', `${keyPrefix}:{${dagId}}:meta`))))
  t.ok(slots.size > 1, 'the DAGs live on different slots')

  const client = await TestClient.open(`ws://127.0.0.1:${viewer.port}/api/dags/run-0/stream?since=1&epoch=${(await engine.app.dagStream.snapshot('run-0'))?.epoch}`)
  t.match(await client.next(), { type: 'hello', recovered: true, seq: 1 })
  const appended = await Promise.all(range(30).map((n) => engine.app.dagStream.broadcast('run-0', { type: 'node_state', node_id: `n${n}`, status: 'running' })))
  t.same(appended.map((event) => event.seq), range(2, 31), 'one gapless order, in call order, past checkpoints')
  t.same(seqs((await client.waitFor(31)).slice(1)), range(2, 31), 'delivered across the Cluster, in order')
  t.same(await viewer.app.dagStream.snapshot('run-0'), await engine.app.dagStream.snapshot('run-0'), 'one snapshot')

  client.send({ type: 'human_decision', id: 'k', node_id: 'g', decision: 'approve' })
  client.send({ type: 'pause_execution', id: 'p' })
  // The acks come back over the engine's reply, the resolution over the DAG's channel: either may be first.
  const answers = (await client.waitFor(34)).slice(31)
  t.same(answers.map((frame) => 'id' in frame ? `${frame.type} ${frame.id}` : `${frame.type} ${(frame as { seq: number }).seq}`).sort(), ['ack k', 'ack p', 'human_gate_resolved 32'])
  t.same(handled.map((event) => event.type), ['human_decision', 'pause_execution'], 'handled by the engine\'s instance')

  const list = await (await fetch(`http://127.0.0.1:${viewer.port}/api/dags?limit=5`)).json() as { dags: Array<{ dag_id: string }>; total: number }
  t.equal(list.total, 12)
  t.equal(list.dags[0]?.dag_id, 'run-0', 'most recently updated first')

  // The list's keys (the index and its status sets) share one slot, so one script writes them all.
  const listSlots = new Set(await Promise.all(listScriptKeys(listKeys(keyPrefix)).map((key) => cluster.cluster('KEYSLOT', key))))
  t.equal(listSlots.size, 1, 'every key of the list in the index\'s slot')
  await engine.app.dagStream.broadcast('run-3', { type: 'execution_status', status: 'paused' })
  await engine.app.dagStream.broadcast('run-5', { type: 'execution_complete', results: {} })
  const filtered = await (await fetch(`http://127.0.0.1:${viewer.port}/api/dags?status=paused&status=completed&order=oldest`)).json() as typeof list
  t.same(filtered.dags.map((dag) => dag.dag_id), ['run-3', 'run-5'], 'filtered by status across the slots of the DAGs')
  t.equal(filtered.total, 2)
  t.match(await (await fetch(`http://127.0.0.1:${viewer.port}/api/dags?status=running&limit=5`)).json(), { total: 10 })
  client.close()
})
