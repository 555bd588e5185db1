import t from 'tap'
import { CloseCode } from '../lib/index.js'
import type { SequencedEvent } from '../schemas/index.js'
import { build, TestClient } from './helpers.js'

t.test('a stalled reader is cut off at maxBufferedBytes and told to resume; nothing is lost silently', async (t) => {
  const maxBufferedBytes = 256 * 1024
  const { app, url } = await build(t, { maxBufferedBytes })
  const stalled = await TestClient.open(url('/api/dags/d/stream'))
  const healthy = await TestClient.open(url('/api/dags/d/stream'))
  await stalled.next()
  await healthy.next()
  // The dashboard's tab is frozen: it reads nothing more from its socket.
  const tcp = (stalled.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket
  tcp.pause()

  const output = 'x'.repeat(1024)
  const total = 20_000 // ~20 MiB: far more than the kernel's socket buffers can hide
  for (let i = 0; i < total; i++) {
    void app.dagStream.broadcast('d', { type: 'node_state', node_id: `n${i % 100}`, status: 'running', output })
    // Yield often enough (20 KiB at a time) for a healthy reader in this process to keep up.
    if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  t.equal(app.dagStream.connections('d'), 1, 'the stalled socket left its room: the server stopped queueing for it')
  await healthy.waitFor(total + 1, 60_000)
  t.same((healthy.received.slice(1) as SequencedEvent[]).map((e) => e.seq), Array.from({ length: total }, (_, i) => i + 1), 'other viewers are not held back')

  tcp.resume()
  const { code } = await stalled.closed
  t.equal(code, CloseCode.SLOW_CONSUMER, 'the frozen client learns it must reconnect and resume')
  const got = stalled.received.slice(1) as SequencedEvent[]
  t.same(got.map((e) => e.seq), Array.from({ length: got.length }, (_, i) => i + 1), 'what it did get is a gapless prefix')
  t.ok(got.length < total / 2, `the server stopped sending after ${got.length} of ${total} events`)
  healthy.close()
})
