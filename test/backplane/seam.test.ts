// The plugin against backplanes that answer slowly or fail, as a networked one (Redis) can.

import t from 'tap'
import { BackplaneUnavailableError, CloseCode, MemoryBackplane, type BackplaneSettings, type CommandExecutor, type LogListener, type Replay } from '../../lib/index.js'
import type { SequencedEvent } from '../../schemas/index.js'
import { until } from '../support/wait.js'
import { build, TestClient } from '../support/helpers.js'

/**
 * An in-memory backplane whose replay answers only when released: reading the log either before the
 * wait (later events are not in the replay) or after it (they are in the replay and also live).
 */
class SlowReplayBackplane extends MemoryBackplane {
  release!: () => void
  readonly #gate = new Promise<void>((resolve) => { this.release = resolve })
  readonly #readFirst: boolean

  constructor (settings: BackplaneSettings, readFirst: boolean) {
    super(settings)
    this.#readFirst = readFirst
  }

  override async replay (...args: Parameters<MemoryBackplane['replay']>): Promise<Replay> {
    if (this.#readFirst) {
      const replay = await super.replay(...args)
      await this.#gate
      return replay
    }
    await this.#gate
    return super.replay(...args)
  }
}

for (const readFirst of [true, false]) {
  t.test(`events appended while a resume is served arrive once each, in order (log read ${readFirst ? 'before' : 'after'} them)`, async (t) => {
    let backplane!: SlowReplayBackplane
    const { app, url } = await build(t, { backplane: { kind: 'slow', create: (settings) => (backplane = new SlowReplayBackplane(settings, readFirst)) } })
    for (let i = 0; i < 5; i++) await app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i}`, status: 'running' })
    const epoch = (await app.dagStream.snapshot('d'))?.epoch as string
    const client = await TestClient.open(url(`/api/dags/d/stream?since=2&epoch=${epoch}`))
    // The socket is in its room, its replay not yet delivered; the engine goes on meanwhile.
    for (let i = 5; i < 8; i++) await app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i}`, status: 'running' })
    backplane.release()
    t.match(await client.next(), { type: 'hello', recovered: true, seq: readFirst ? 5 : 8 })
    const events = (await client.waitFor(7)).slice(1) as SequencedEvent[]
    t.same(events.map((event) => event.seq), [3, 4, 5, 6, 7, 8])
    await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
    t.match((await client.waitFor(8))[7], { seq: 9 }, 'then live, with nothing repeated')
    client.close()
  })
}

t.test('a socket whose join takes too long for the live traffic is closed as a slow consumer', async (t) => {
  let backplane!: SlowReplayBackplane
  const { app, url } = await build(t, {
    backplane: { kind: 'slow', create: (settings) => (backplane = new SlowReplayBackplane(settings, true)) },
    maxBufferedBytes: 4096
  })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  for (let i = 0; i < 100; i++) await app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i}`, status: 'running', output: 'x'.repeat(100) })
  t.equal(app.dagStream.connections('d'), 0, 'it left its room as soon as its pending events passed the cap')
  backplane.release()
  t.equal((await client.closed).code, CloseCode.SLOW_CONSUMER)
  t.same(client.received, [], 'nothing half-delivered')
})

t.test('a backplane that fails to read the log closes the socket with 1011 (reconnect)', async (t) => {
  class BrokenBackplane extends MemoryBackplane {
    override async replay (): Promise<Replay> {
      throw new Error('connection to the log store lost')
    }
  }
  const { url } = await build(t, { backplane: { kind: 'broken', create: (settings) => new BrokenBackplane(settings) } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  t.same(await client.closed, { code: CloseCode.INTERNAL_ERROR, reason: 'could not read the DAG log' })
})

t.test('a backplane that fails while a command runs closes the socket with 1011 (reconnect)', async (t) => {
  class FlakyBackplane extends MemoryBackplane {
    override async status (): Promise<undefined> {
      throw new Error('connection to the log store lost')
    }
  }
  const { app, url } = await build(t, { backplane: { kind: 'flaky', create: (settings) => new FlakyBackplane(settings) } })
  app.dagStream.onClientEvent(() => {})
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.closed, { code: CloseCode.INTERNAL_ERROR, reason: 'internal error' })
})

t.test('a backplane that cannot subscribe closes the socket with 1011 and leaves no room behind', async (t) => {
  class DeafBackplane extends MemoryBackplane {
    override async subscribe (): Promise<() => void> {
      throw new Error('subscriber connection lost')
    }
  }
  const { app, url } = await build(t, { backplane: { kind: 'deaf', create: (settings) => new DeafBackplane(settings) } })
  const clients = await Promise.all([1, 2].map(() => TestClient.open(url('/api/dags/d/stream'))))
  for (const client of clients) t.same(await client.closed, { code: CloseCode.INTERNAL_ERROR, reason: 'could not read the DAG log' })
  t.equal(app.dagStream.connections('d'), 0)
})

t.test('a gap the backplane could not fill reaches the socket as resync_required, never silently', async (t) => {
  class LossyBackplane extends MemoryBackplane {
    override subscribe (dagId: string, listener: LogListener) {
      return super.subscribe(dagId, (entry) => {
        if (entry.seq !== 3) listener(entry)
      })
    }
  }
  const { app, url } = await build(t, { backplane: { kind: 'lossy', create: (settings) => new LossyBackplane(settings) } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  t.match(await client.next(), { type: 'hello', seq: 0 })
  for (let i = 0; i < 4; i++) await app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i}`, status: 'running' })
  const frames = (await client.waitFor(5)).slice(1)
  t.match(frames, [{ seq: 1 }, { seq: 2 }, { type: 'resync_required', seq: 3, reason: 'history_exceeded' }, { seq: 4 }])
  client.close()
})

t.test('a client event that meets an unavailable backplane is answered engine_unavailable; the socket stays open', async (t) => {
  class DownBackplane extends MemoryBackplane {
    override async status (): Promise<undefined> {
      throw new BackplaneUnavailableError('Redis is not connected')
    }
  }
  const { app, url } = await build(t, { backplane: { kind: 'down', create: (settings) => new DownBackplane(settings) } })
  app.dagStream.onClientEvent(() => {})
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.next(), { type: 'error', code: 'engine_unavailable', message: 'The backplane is unavailable: nothing was done, try again shortly', id: 'p' })
  await app.dagStream.broadcast('d', { type: 'execution_status', status: 'paused' })
  t.match(await client.next(), { type: 'execution_status', seq: 1 }, 'still streaming')
  client.close()
})

t.test('a decision that reaches the engine after its claim lapsed is refused, and no handler runs', async (t) => {
  let execute!: CommandExecutor
  const { app } = await build(t, {
    backplane: {
      kind: 'spy',
      create: (settings) => {
        execute = settings.execute
        return new MemoryBackplane(settings)
      }
    }
  })
  const handled: unknown[] = []
  app.dagStream.onClientEvent((event) => { handled.push(event) })
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Go?' } })
  // As a forwarded decision arrives on the engine's instance when its sender's claim has lapsed.
  t.same(await execute('d', { type: 'human_decision', id: 'late', node_id: 'g', decision: 'approve' }, { info: null }), {
    ok: false,
    code: 'gate_already_decided',
    message: 'The decision for "g" arrived after its claim lapsed'
  })
  t.same(handled, [])
})

t.test('a claim that cannot be renewed while the engine works is logged, and the decision still takes effect', async (t) => {
  let failing = false
  class FlakyGates extends MemoryBackplane {
    override updateGate: MemoryBackplane['updateGate'] = async (...args) => {
      if (failing) throw new BackplaneUnavailableError('Redis is not connected')
      return super.updateGate(...args)
    }
  }
  const logged: unknown[] = []
  const { app, url } = await build(t, { commandTimeoutMs: 300, backplane: { kind: 'flaky-gates', create: (settings) => new FlakyGates(settings) } }, (app) => {
    app.log.warn = (...args: unknown[]) => { logged.push(args[1]) }
  })
  const renewalFailed = 'fastify-dag-stream: could not renew a gate claim'
  app.dagStream.onClientEvent(async () => {
    failing = true
    // The engine works until a renewal (every 100 ms) has failed.
    await until(() => logged.includes(renewalFailed), 'a renewal to fail')
    failing = false
  })
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Go?' } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'human_decision', id: 'k', node_id: 'g', decision: 'approve' })
  t.match((await client.waitFor(3)).slice(1), [{ type: 'human_gate_resolved' }, { type: 'ack', id: 'k' }])
  t.ok(logged.includes(renewalFailed), 'the failed renewal was logged, and the decision took effect all the same')
  client.close()
})

t.test('an engine that renews its claim for ever is given up on after 30 leases; the gate stays claimed', async (t) => {
  // Each lease must outlast the pauses of a busy machine (a renewal comes every third of it): 30 × 250 ms
  // (150 ms lapsed under a load average of 11).
  const { app, url } = await build(t, { commandTimeoutMs: 250 })
  app.dagStream.onClientEvent(() => new Promise(() => {})) // a handler that never returns
  await app.dagStream.broadcast('d', { type: 'human_gate_waiting', node_id: 'g', presentation: { title: 'Go?' } })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  const sent = Date.now()
  client.send({ type: 'human_decision', id: 'k', node_id: 'g', decision: 'approve' })
  t.same(await client.next(), {
    type: 'error',
    code: 'engine_unavailable',
    message: 'The engine is still deciding the gate of "g": its outcome will show as human_gate_resolved',
    id: 'k'
  })
  t.ok(Date.now() - sent >= 30 * 250, 'after 30 leases, not at the first deadline')
  client.send({ type: 'human_decision', id: 'rival', node_id: 'g', decision: 'reject' })
  t.match(await client.next(), { type: 'error', code: 'gate_already_decided', id: 'rival' }, 'the live engine still holds the gate')
  client.close()
})
