// The plugin against backplanes that answer slowly or fail, as a networked one (Redis) can.

import t from 'tap'
import { CloseCode, MemoryBackplane, type Replay } from '../lib/index.js'
import type { SequencedEvent } from '../schemas/index.js'
import { build, TestClient } from './helpers.js'

/**
 * An in-memory backplane whose replay answers only when released: reading the log either before the
 * wait (later events are not in the replay) or after it (they are in the replay and also live).
 */
class SlowReplayBackplane extends MemoryBackplane {
  release!: () => void
  readonly #gate = new Promise<void>((resolve) => { this.release = resolve })
  readonly #readFirst: boolean

  constructor (readFirst: boolean) {
    super({ historySize: 100, retainFinishedMs: 1000 })
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
    const backplane = new SlowReplayBackplane(readFirst)
    const { app, url } = await build(t, { backplane })
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
  const backplane = new SlowReplayBackplane(true)
  const { app, url } = await build(t, { backplane, maxBufferedBytes: 4096 })
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
  const { url } = await build(t, { backplane: new BrokenBackplane({ historySize: 10, retainFinishedMs: 1000 }) })
  const client = await TestClient.open(url('/api/dags/d/stream'))
  t.same(await client.closed, { code: CloseCode.INTERNAL_ERROR, reason: 'could not read the DAG log' })
})

t.test('a backplane that fails while a command runs closes the socket with 1011 (reconnect)', async (t) => {
  class FlakyBackplane extends MemoryBackplane {
    override async status (): Promise<undefined> {
      throw new Error('connection to the log store lost')
    }
  }
  const { app, url } = await build(t, { backplane: new FlakyBackplane({ historySize: 10, retainFinishedMs: 1000 }) })
  app.dagStream.onClientEvent(() => {})
  const client = await TestClient.open(url('/api/dags/d/stream'))
  await client.next()
  client.send({ type: 'pause_execution', id: 'p' })
  t.same(await client.closed, { code: CloseCode.INTERNAL_ERROR, reason: 'internal error' })
})
